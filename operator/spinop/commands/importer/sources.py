"""Where `spinop import`'s accounts come from: a halconfig (`~/.hal/config`), a live Halyard (REST API,
`read_halyard`), or a Terraform-style account list (`.tfvars`, `.json`, `.yaml`: `environment = "dev"`,
`accounts = [{name, namespace, ...}]`). Every account becomes a `SourceAccount` in Halyard's JSON shape;
`resolve_targets` finds which API server its kubeconfig points at, reading files through a callable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REMOTE_FILE_PREFIXES = ("encrypted:", "encryptedFile:", "configserver:")
_LIST_NAMES = ("accounts", "spinnaker_accounts", "kubernetes_accounts")


class SourceError(Exception):
    """A source cannot be read or understood; the message says which and why."""


# ---------------------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class KubeconfigTarget:
    """Where an account's kubeconfig points: its context's cluster entry."""

    server: str
    cluster_name: str
    context: str
    certificate_authority_data: str | None = None


@dataclass(frozen=True)
class SourceAccount:
    """One Spinnaker Kubernetes account as found in a source, in Halyard's JSON shape (camelCase keys)."""

    account: Mapping[str, Any]
    source: str
    cluster_hint: str | None = None
    """An account list's file-level `cluster`: the SpinnakerCluster name, as --cluster-map would give it."""
    extra_keys: tuple[str, ...] = ()
    """Keys of an account-list entry that mean nothing to Spinnaker (Terraform-only settings): reported."""
    base_dir: Path | None = None
    """Where relative kubeconfig paths resolve (Halyard resolves them against the hal config directory)."""
    target: KubeconfigTarget | None = None
    target_note: str | None = None
    """Why `target` is unknown, for the report."""

    @property
    def name(self) -> str:
        return str(self.account.get("name") or "")

    @property
    def context(self) -> str | None:
        value = self.account.get("context")
        return str(value) if value else None


def accounts_from_document(
    doc: Any, source: str, *, deployment: str | None = None, base_dir: Path | None = None
) -> list[SourceAccount]:
    """The accounts of one parsed document: a halconfig, a Halyard kubernetes provider, or an account list."""
    if isinstance(doc, Mapping) and "deploymentConfigurations" in doc:
        return _halconfig_accounts(doc, source, deployment, base_dir)
    if isinstance(doc, Mapping) and isinstance(doc.get("providers"), Mapping):  # one deployment's configuration
        doc = doc["providers"].get("kubernetes") or {"enabled": False, "accounts": []}
    if isinstance(doc, Mapping) and "accounts" in doc and "enabled" in doc:  # `hal config provider kubernetes -o json`
        return [
            SourceAccount(dict(a), source, base_dir=base_dir) for a in doc.get("accounts") or [] if isinstance(a, dict)
        ]
    return _account_list_accounts(doc, source, base_dir)


def _halconfig_accounts(
    doc: Mapping[str, Any], source: str, deployment: str | None, base_dir: Path | None
) -> list[SourceAccount]:
    deployments = [d for d in doc.get("deploymentConfigurations") or [] if isinstance(d, Mapping)]
    wanted = deployment or doc.get("currentDeployment") or (deployments[0].get("name") if deployments else None)
    chosen = next((d for d in deployments if d.get("name") == wanted), None)
    if chosen is None:
        names = ", ".join(str(d.get("name")) for d in deployments) or "none"
        raise SourceError(f"{source}: no deployment {wanted!r} in the halconfig (deployments: {names})")
    provider = (chosen.get("providers") or {}).get("kubernetes") or {}
    where = f"{source} (deployment {wanted})"
    return [
        SourceAccount(dict(a), where, base_dir=base_dir) for a in provider.get("accounts") or [] if isinstance(a, dict)
    ]


def _account_list_accounts(doc: Any, source: str, base_dir: Path | None) -> list[SourceAccount]:
    """A Terraform-style list: `{environment, cluster?, context?, kubeconfig_file?, accounts: [...]}` or a bare list."""
    defaults: Mapping[str, Any] = {}
    entries: Any = doc
    if isinstance(doc, Mapping):
        key = next((k for k in _LIST_NAMES if k in doc), None)
        if key is None:
            raise SourceError(
                f"{source}: neither a halconfig (deploymentConfigurations), a Halyard provider (enabled, accounts) "
                f"nor an account list ({', '.join(_LIST_NAMES)}: [...])"
            )
        defaults, entries = doc, doc[key]
    if not isinstance(entries, list):
        raise SourceError(f"{source}: the account list is not a list")
    hint = _text(defaults.get("cluster"))
    # File-level values are what the Halyard Job passed for every account (`--environment`, `--context`, ...).
    shared = {
        key: value
        for key, value in (
            ("environment", _text(defaults.get("environment"))),
            ("context", _text(defaults.get("context"))),
            ("kubeconfigFile", _text(defaults.get("kubeconfig_file") or defaults.get("kubeconfigFile"))),
        )
        if value
    }
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise SourceError(f"{source}: accounts[{i}] is not an object")
        account, extra = normalize_list_entry(entry)
        out.append(
            SourceAccount(
                {**shared, **account},
                source,
                cluster_hint=hint,
                extra_keys=extra,
                base_dir=base_dir,
            )
        )
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_ENTRY_ALIASES = {
    "kubeconfig": "kubeconfigFile",
    "kubeconfigPath": "kubeconfigFile",
    "oauthScopes": "oAuthScopes",
    "oauthServiceAccount": "oAuthServiceAccount",
}
_PERMISSION_KEYS = {
    "readPermissions": "READ",
    "writePermissions": "WRITE",
    "executePermissions": "EXECUTE",
    "createPermissions": "CREATE",
}


def normalize_list_entry(entry: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """One account-list entry in Halyard's shape: snake_case keys accepted, `namespace: x` for `namespaces: [x]`,
    `read_permissions`/`write_permissions`/`execute_permissions` (hal's flag names) for `permissions`. Returns the
    account and the keys that have no meaning in Spinnaker."""
    from spinop.halyard.model import ACCOUNT_FIELDS

    known = set(ACCOUNT_FIELDS)
    account: dict[str, Any] = {}
    permissions: dict[str, Any] = {}
    extra = []
    for raw_key, value in entry.items():
        key = _ENTRY_ALIASES.get(_camel(str(raw_key)), _camel(str(raw_key)))
        if key == "namespace":
            account["namespaces"] = [value] if value else []
        elif key in _PERMISSION_KEYS:
            permissions[_PERMISSION_KEYS[key]] = value
        elif key == "permissions" and isinstance(value, Mapping):
            permissions.update({str(k).upper(): v for k, v in value.items()})
        elif key in ("customResources", "cachingPolicies", "dockerRegistries") and isinstance(value, list):
            account[key] = [
                {_camel(str(k)): v for k, v in item.items()} if isinstance(item, Mapping) else item for item in value
            ]
        elif key == "rawResourcesEndpointConfig" and isinstance(value, Mapping):
            account[key] = {_camel(str(k)): v for k, v in value.items()}
        elif key in known:
            account[key] = value
        else:
            extra.append(str(raw_key))
    if permissions:
        account["permissions"] = permissions
    return account, tuple(extra)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# ------------------------------------------------------------------------------------------- kubeconfig targets

FileReader = Callable[[str, Path | None], tuple[str | None, str | None]]
"""(path, base directory) → (the file's text, None) or (None, why it cannot be read)."""


def file_reader(path_map: Sequence[tuple[str, str]] = ()) -> FileReader:
    """Read kubeconfig files on this machine; `path_map` rewrites Halyard-host prefixes to local copies, e.g.
    ("/home/spinnaker/.hal", "./hal-copy") after `kubectl cp spinnaker/spin-halyard-0:/home/spinnaker/.hal ./hal-copy`.
    """

    def read(path: str, base_dir: Path | None) -> tuple[str | None, str | None]:
        local = path
        for prefix, replacement in path_map:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                local = replacement + path[len(prefix.rstrip("/")) :]
                break
        candidate = Path(local).expanduser()
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        try:
            return candidate.read_text(), None
        except OSError as err:
            shown = path if str(candidate) == path else f"{path} (read as {candidate})"
            return None, f"kubeconfig {shown} is not readable here ({err.strerror or err}); pass --path-map"

    return read


def resolve_target(account: SourceAccount, read: FileReader) -> SourceAccount:
    """The account with `target` set when its kubeconfig can be read, else `target_note` saying why not."""
    raw = account.account
    if raw.get("serviceAccount") is True:
        return _with_target(account, None, "authenticates with clouddriver's own ServiceAccount (no kubeconfig)")
    contents = raw.get("kubeconfigContents")
    path = raw.get("kubeconfigFile")
    if contents:
        text: str | None = str(contents)
        note = None
    elif not path:
        return _with_target(account, None, "no kubeconfigFile (in Halyard: ~/.kube/config of the daemon's user)")
    elif str(path).startswith(REMOTE_FILE_PREFIXES):
        return _with_target(account, None, f"kubeconfig {path} is a secret reference that only Spinnaker resolves")
    else:
        text, note = read(str(path), account.base_dir)
    if text is None:
        return _with_target(account, None, note)
    try:
        target = kubeconfig_target(yaml.safe_load(text), account.context)
    except ValueError as err:
        return _with_target(account, None, f"kubeconfig {path or '(inline)'}: {err}")
    return _with_target(account, target, None)


def _with_target(account: SourceAccount, target: KubeconfigTarget | None, note: str | None) -> SourceAccount:
    return SourceAccount(
        account.account,
        account.source,
        account.cluster_hint,
        account.extra_keys,
        account.base_dir,
        target,
        note,
    )


def kubeconfig_target(config: Any, context: str | None) -> KubeconfigTarget:
    """The server, cluster entry name and CA of `context` (or the current-context) in a parsed kubeconfig."""
    if not isinstance(config, Mapping):
        raise ValueError("not a kubeconfig")
    name = context or config.get("current-context")
    if not name:
        raise ValueError("the account sets no context and the file has no current-context")
    entry = _named(config.get("contexts"), name, "context")
    cluster_name = str(entry.get("cluster") or "")
    cluster = _named(config.get("clusters"), cluster_name, "cluster")
    server = str(cluster.get("server") or "")
    if not server:
        raise ValueError(f"cluster {cluster_name!r} has no server")
    ca = cluster.get("certificate-authority-data")
    return KubeconfigTarget(server.rstrip("/"), cluster_name, str(name), str(ca) if ca else None)


def _named(entries: Any, name: str, what: str) -> Mapping[str, Any]:
    for entry in entries or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            inner = entry.get(what)
            if isinstance(inner, Mapping):
                return inner
    raise ValueError(f"no {what} named {name!r}")


def resolve_targets(accounts: Iterable[SourceAccount], read: FileReader) -> list[SourceAccount]:
    return [resolve_target(a, read) for a in accounts]


# ------------------------------------------------------------------------------------------------ reading sources


def load_source(path: Path, *, deployment: str | None = None) -> list[SourceAccount]:
    """Parse one file: a halconfig, a Halyard provider JSON, or an account list (.tfvars, .json, .yaml)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise SourceError(f"{path}: {err.strerror or err}") from None
    if path.suffix == ".tfvars" or path.name.endswith(".tfvars.hcl"):
        doc = parse_tfvars(text, str(path))
    elif path.suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise SourceError(f"{path}: not JSON: {err}") from None
    else:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SourceError(f"{path}: not YAML: {err}") from None
    return accounts_from_document(doc, str(path), deployment=deployment, base_dir=path.resolve().parent)


def parse_tfvars(text: str, source: str) -> dict[str, Any]:
    """A .tfvars file's variables as plain values (python-hcl2)."""
    try:
        import hcl2
        from hcl2.utils import SerializationOptions
    except ImportError:
        raise SourceError(
            f"{source}: reading .tfvars needs the python-hcl2 package (pip install 'python-hcl2>=8.1'); or give the "
            "same list as JSON (terraform console: jsonencode(var.accounts)) or YAML"
        ) from None
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    try:
        return dict(hcl2.loads(text, serialization_options=options))
    except Exception as err:  # the parser raises lark's own errors
        raise SourceError(f"{source}: not valid HCL: {err}") from None


async def read_halyard(url: str, *, deployment: str | None = None) -> list[SourceAccount]:
    """The Kubernetes accounts of a live Halyard, through its daemon's REST API (read only)."""
    from spinop.halyard import HalyardClient, HalyardError

    async with HalyardClient.rest(url, deployment=deployment) as client:
        try:
            name = deployment or await client.current_deployment()
            provider = await client.get_provider(name)
        except HalyardError as err:
            raise SourceError(f"Halyard at {url}: {err}") from None
    where = f"Halyard {url} (deployment {name})"
    return [SourceAccount(dict(a), where) for a in provider.get("accounts") or [] if isinstance(a, dict)]
