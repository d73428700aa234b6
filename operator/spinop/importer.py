"""`spinop import`: existing Spinnaker Kubernetes accounts → SpinnakerCluster/SpinnakerAccount YAML that adopts them.

Sources: a halconfig (`~/.hal/config`), a live Halyard (REST API, `read_halyard`), or a Terraform-style account list
(`.tfvars`, `.json`, `.yaml`: `environment = "dev"`, `accounts = [{name, namespace, ...}]`). Every account becomes a
`SourceAccount` in Halyard's JSON shape; `resolve_targets` finds which API server its kubeconfig points at (reading
files through a callable), and `plan_import` (pure) groups the accounts into clusters, derives tenants, builds the
objects (each marked `spec.adopt: true` with `spec.accountName` = the existing name) and an `ImportReport` of what
was carried over, what adoption will change in Spinnaker and what cannot be imported. The rules: docs/import.md.

Module-level imports stay light (stdlib and yaml): `spinop --help` builds this command's parser on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from spinop.api.v1alpha1 import Permissions, SpinnakerAccountSpec

API_VERSION = "spinop.io/v1alpha1"
TENANT_LABEL = ("spinop.io/tenant", "true")
IMPORTED_FROM = "spinop.io/imported-from"
DEFAULT_TENANT_PATTERN = "{tenant}-{environment}"
DEFAULT_ADMIN_SECRET = "{cluster}-admin-kubeconfig"
MAX_CLUSTER_NAME = 36

# What a SpinnakerAccount carries over (spinop manages these fields of the Spinnaker account).
CARRIED_FIELDS = frozenset(
    {
        "name",
        "environment",
        "namespaces",
        "omitNamespaces",
        "kinds",
        "omitKinds",
        "permissions",
        "onlySpinnakerManaged",
        "cacheThreads",
        "customResources",
        "providerVersion",
        "serviceAccount",
    }
)
# What adoption replaces: spinop's own kubeconfig (and its context) instead of the old one.
CREDENTIAL_FIELDS = frozenset({"kubeconfigFile", "kubeconfigContents", "context"})
MANAGED_PERMISSIONS = ("READ", "WRITE", "EXECUTE")
REMOTE_FILE_PREFIXES = ("encrypted:", "encryptedFile:", "configserver:")
_NOT_CARRIED_WHY = {
    "dockerRegistries": "used only by the V1 provider; clouddriver's V2 provider ignores it",
    "requiredGroupMembership": "deprecated in favour of permissions",
    "cluster": "names a cluster entry of the old kubeconfig, which spinop's kubeconfig does not have: remove it "
    "from the account before applying",
    "user": "names a user entry of the old kubeconfig, which spinop's kubeconfig does not have: remove it from the "
    "account before applying",
}
# Halyard's defaults (`spinop.halyard.model.account_to_halyard`): a field at its default is not worth reporting.
_DEFAULTS: dict[str, Any] = {
    "configureImagePullSecrets": True,
    "rawResourcesEndpointConfig": {"kindExpressions": [], "omitKindExpressions": []},
}
_LIST_NAMES = ("accounts", "spinnaker_accounts", "kubernetes_accounts")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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


# ---------------------------------------------------------------------------------------------- options, report


@dataclass(frozen=True)
class ImportOptions:
    cluster_map: Mapping[str, str] = field(default_factory=dict)
    """Key → SpinnakerCluster name. A key is an account name, a kubeconfig context, a kubeconfig cluster entry name
    or an API server URL (tried in that order)."""
    tenant_pattern: str = DEFAULT_TENANT_PATTERN
    """Derives the tenant from the remote namespace; also becomes the clusters' tenancy.namespacePattern."""
    tenant: str | None = None
    """Every account's tenant (MGMT namespace), unless tenant_map names another."""
    tenant_map: Mapping[str, str] = field(default_factory=dict)
    """Account name or remote namespace → tenant."""
    default_environment: str | None = None
    """The environment of accounts that have none."""
    admin_secret_name: str = DEFAULT_ADMIN_SECRET
    """Name of each cluster's admin kubeconfig Secret; {cluster} and {environment} are filled in."""
    reserved_namespaces: tuple[str, ...] = ("spinop-system", "devops")
    """Namespaces no account may target (the operator's own and the credentials namespace)."""


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any
    why: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {_short(self.before)} -> {_short(self.after)}" + (f" ({self.why})" if self.why else "")


@dataclass
class AccountResult:
    name: str
    source: str
    tenant: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    problems: list[str] = field(default_factory=list)
    """Why it cannot be imported (empty: it is adopted)."""
    not_carried: list[str] = field(default_factory=list)
    """Fields spinop does not manage: kept in Spinnaker as they are."""
    changes: list[FieldChange] = field(default_factory=list)
    """Fields spinop manages that adoption changes in Spinnaker (the credentials aside)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> bool:
        return not self.problems


@dataclass
class ClusterResult:
    name: str
    environment: str
    grouped_by: str
    server: str | None
    admin_secret: str
    accounts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    granted_namespaces: list[dict[str, str]] = field(default_factory=list)
    """The existing namespaces granted to a tenant (tenancy.existingNamespaces): {namespace, tenant, command}, where
    command is what this cluster's admin runs to confirm the grant (deploy/remote refuses spinop's writes there
    until then)."""


@dataclass
class ImportReport:
    accounts: list[AccountResult] = field(default_factory=list)
    clusters: list[ClusterResult] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.adopted]

    @property
    def skipped(self) -> list[AccountResult]:
        return [a for a in self.accounts if not a.adopted]

    def account(self, name: str) -> AccountResult:
        return next(a for a in self.accounts if a.name == name)

    def render(self) -> str:
        lines = [
            f"spinop import: {len(self.adopted)} of {len(self.accounts)} account(s) adopted on "
            f"{len(self.clusters)} SpinnakerCluster(s) for {len(self.tenants)} tenant(s); "
            f"{len(self.skipped)} not importable."
        ]
        if self.clusters:
            lines += ["", "SpinnakerClusters (create each admin kubeconfig Secret before applying):"]
            for c in self.clusters:
                lines.append(
                    f"  {c.name}: environment {c.environment}, {len(c.accounts)} account(s), grouped by {c.grouped_by}"
                )
                lines.append(
                    f"    admin kubeconfig: Secret {c.admin_secret} in the credentials namespace "
                    f"(deploy/remote/admin-kubeconfig.sh --cluster {c.name} ...)"
                )
                lines += [f"    note: {n}" for n in c.notes]
                if c.granted_namespaces:
                    lines.append("    its admin labels the imported namespaces for their tenants (on that cluster):")
                    lines += [f"      {g['command']}" for g in c.granted_namespaces]
        if self.adopted:
            lines += ["", "Adopted (spec.adopt: true; Spinnaker keeps the name, spinop issues new credentials):"]
            for a in self.adopted:
                lines.append(f"  {a.name} -> SpinnakerAccount {a.tenant}/{a.name} on {a.cluster}/{a.namespace}")
                if a.changes:
                    lines.append("    changes in Spinnaker: " + "; ".join(str(c) for c in a.changes))
                lines += [f"    not carried, kept in Spinnaker as is: {n}" for n in a.not_carried]
                lines += [f"    warning: {w}" for w in a.warnings]
        if self.skipped:
            lines += ["", "Not importable (left alone: spinop never touches an account no SpinnakerAccount adopts):"]
            for a in self.skipped:
                lines.append(f"  {a.name} ({a.source}):")
                lines += [f"    - {p}" for p in a.problems]
        lines += ["", *[f"note: {n}" for n in self.notes]] if self.notes else []
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": [vars(c) for c in self.clusters],
            "tenants": self.tenants,
            "accounts": [
                {**vars(a), "adopted": a.adopted, "changes": [vars(c) for c in a.changes]} for a in self.accounts
            ],
            "notes": self.notes,
        }


@dataclass
class ImportResult:
    objects: list[dict[str, Any]]
    report: ImportReport


# ------------------------------------------------------------------------------------------------------ planning


@dataclass
class _Candidate:
    source: SourceAccount
    result: AccountResult
    environment: str
    namespace: str
    group: tuple[str, str]
    """(how, key): how the cluster was chosen and by what."""
    explicit_cluster: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)


def plan_import(accounts: Sequence[SourceAccount], options: ImportOptions | None = None) -> ImportResult:
    """Group the accounts into SpinnakerClusters, give each a tenant, and build the objects that adopt them."""
    options = options or ImportOptions()
    report = ImportReport()
    candidates: list[_Candidate] = []
    seen: dict[str, str] = {}
    for account in accounts:
        result = AccountResult(account.name or "(unnamed)", account.source)
        report.accounts.append(result)
        if account.name and account.name in seen:
            result.problems.append(f"duplicate: the account {account.name} from {seen[account.name]} is used")
            continue
        seen[account.name] = account.source
        candidate = _candidate(account, result, options)
        if candidate is not None:
            candidates.append(candidate)

    clusters = _clusters(candidates)
    objects = _objects(candidates, clusters, options, report)
    report.accounts.sort(key=lambda a: (not a.adopted, a.cluster or "", a.name))
    return ImportResult(objects, report)


def _candidate(account: SourceAccount, result: AccountResult, options: ImportOptions) -> _Candidate | None:
    raw = account.account
    problems = result.problems
    if not account.name:
        problems.append("the account has no name")
    elif not _DNS_LABEL.match(account.name) or len(account.name) > 100:
        problems.append(
            "the name is not a DNS label of at most 100 characters (lowercase letters, digits and '-'): "
            "spec.accountName must be the existing name exactly, so this account cannot be adopted; rename it in "
            "Spinnaker first (pipelines refer to it by name)"
        )
    if str(raw.get("providerVersion") or "V2").upper() == "V1":
        problems.append("providerVersion V1: the V1 provider was removed in Spinnaker 1.21 and spinop writes V2")
    if raw.get("serviceAccount") is True:
        problems.append(
            "serviceAccount: true authenticates as clouddriver's own ServiceAccount; adopting it would switch it to a "
            "namespace-scoped token, not keep it"
        )
    namespaces = [str(n) for n in raw.get("namespaces") or []]
    if len(namespaces) != 1:
        shown = "none (all namespaces" + (
            f" except {', '.join(map(str, raw.get('omitNamespaces') or []))})" if raw.get("omitNamespaces") else ")"
        )
        problems.append(
            f"namespaces: {', '.join(namespaces) if namespaces else shown}: a SpinnakerAccount deploys to exactly one "
            "namespace; split it into one account per namespace in Spinnaker, or leave it unmanaged"
        )
    elif raw.get("omitNamespaces"):
        problems.append("omitNamespaces is set together with namespaces (Halyard refuses that); fix the account first")
    strings = [v for v in _walk(raw) if isinstance(v, str) and "${" in v]
    if strings:
        problems.append(f"unresolved Terraform expression {strings[0]!r}: give the account list literal values")
    environment = _text(raw.get("environment")) or options.default_environment
    if environment is None:
        problems.append(
            "no environment (Spinnaker then shows the account's name as its environment); set one in Spinnaker or "
            "pass --default-environment"
        )
    elif not _DNS_LABEL.match(environment) or len(environment) > 63:
        problems.append(
            f"environment {environment!r} is not a DNS label; a SpinnakerCluster's environment must be, and adoption "
            "would change it"
        )
    if problems:
        return None

    namespace = namespaces[0]
    result.namespace = namespace
    assert environment is not None
    explicit, group = _cluster_choice(account, environment, options)
    spec = _account_spec(raw, namespace)
    result.not_carried.extend(_not_carried(account))
    result.warnings.extend(_profile_warnings(raw))
    return _Candidate(account, result, environment, namespace, group, explicit, spec)


def _walk(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _cluster_choice(
    account: SourceAccount, environment: str, options: ImportOptions
) -> tuple[str | None, tuple[str, str]]:
    """(explicit SpinnakerCluster name or None, (how, key)) for grouping."""
    target = account.target
    keys = [account.name, account.context, target.context if target else None, account.cluster_hint]
    keys += [target.cluster_name, target.server] if target else []
    for key in keys:
        if key and key in options.cluster_map:
            return options.cluster_map[key], ("--cluster-map", key)
    if account.cluster_hint:
        return account.cluster_hint, ("the account list's cluster", account.cluster_hint)
    if target is not None:
        return None, ("server", target.server)
    if account.context:
        return None, ("context", account.context)
    return None, ("environment", environment)


def _account_spec(raw: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"namespace": namespace, "accountName": raw["name"], "adopt": True, "profile": "deployer"}
    permissions = raw.get("permissions") or {}
    carried = {
        key: _unique([str(r) for r in permissions.get(key) or []])
        for key in MANAGED_PERMISSIONS
        if permissions.get(key)
    }
    if carried:
        spec["permissions"] = carried
    if raw.get("kinds"):
        spec["kinds"] = _unique([str(k) for k in raw["kinds"]])
    if raw.get("omitKinds"):
        spec["omitKinds"] = _unique([str(k) for k in raw["omitKinds"]])
    # Halyard's defaults differ from spinop's (onlySpinnakerManaged: false there): always written out.
    spec["onlySpinnakerManaged"] = bool(raw.get("onlySpinnakerManaged", False))
    threads = raw.get("cacheThreads")
    spec["cacheThreads"] = 1 if threads is None else threads
    resources = [
        {k: v for k, v in r.items() if k in ("kubernetesKind", "spinnakerKind", "versioned") and v is not None}
        for r in raw.get("customResources") or []
        if isinstance(r, Mapping)
    ]
    if resources:
        spec["customResources"] = resources
    return spec


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _not_carried(account: SourceAccount) -> list[str]:
    out = []
    raw = account.account
    for key, value in raw.items():
        if key in CARRIED_FIELDS or key in CREDENTIAL_FIELDS or _is_default(key, value):
            continue
        why = _NOT_CARRIED_WHY.get(key, "spinop does not manage it")
        out.append(f"{key}: {_short(value)} ({why})")
    extra_permissions = sorted(
        k for k, v in (raw.get("permissions") or {}).items() if k not in MANAGED_PERMISSIONS and v
    )
    out += [
        f"permissions.{k}: {_short((raw.get('permissions') or {})[k])} (spinop manages READ, WRITE and EXECUTE only)"
        for k in extra_permissions
    ]
    if account.extra_keys:
        out.append(f"{', '.join(account.extra_keys)} (account-list keys that are not Spinnaker account fields)")
    return out


def _is_default(key: str, value: Any) -> bool:
    if value is None or value == [] or value == {}:
        return True
    return key in _DEFAULTS and value == _DEFAULTS[key]


def _profile_warnings(raw: Mapping[str, Any]) -> list[str]:
    from spinop.remote.profiles import DEPLOYER_KINDS

    readable = {k.lower() for k in DEPLOYER_KINDS}
    outside = [str(k) for k in raw.get("kinds") or [] if str(k).lower() not in readable]
    out = []
    if outside:
        out.append(
            f"kinds {', '.join(outside)} are beyond the deployer profile's RBAC: give the account spec.extraRules "
            "for them (allowed by the cluster's tenancy.allowedExtraRules), or clouddriver cannot cache them"
        )
    resources = [str(r.get("kubernetesKind")) for r in raw.get("customResources") or [] if isinstance(r, Mapping)]
    if resources:
        out.append(
            f"custom resources {', '.join(resources)} need spec.extraRules (allowed by the cluster's "
            "tenancy.allowedExtraRules) for the new credentials to read and deploy them"
        )
    return out


# ----------------------------------------------------------------------------------------------------- clusters


@dataclass
class _Cluster:
    name: str
    environment: str
    grouped_by: str
    candidates: list[_Candidate] = field(default_factory=list)


def _clusters(candidates: list[_Candidate]) -> dict[str, _Cluster]:
    """SpinnakerClusters by name. Explicit names (--cluster-map, an account list's `cluster`) are taken as given;
    otherwise accounts are grouped by their kubeconfig's server (else context) and environment."""
    clusters: dict[str, _Cluster] = {}
    by_key: dict[tuple[str, str], dict[str, list[_Candidate]]] = {}
    for c in candidates:
        if c.explicit_cluster is None:
            by_key.setdefault(c.group, {}).setdefault(c.environment, []).append(c)
    envs_elsewhere = Counter(env for per_env in by_key.values() for env in per_env)
    explicit_names = {c.explicit_cluster for c in candidates if c.explicit_cluster}
    taken: set[str] = set(explicit_names)
    for (how, key), per_env in sorted(by_key.items()):
        base = _base_name(per_env, how, key, envs_elsewhere)
        for env, members in sorted(per_env.items()):
            if len(per_env) == 1 and base == env and env not in taken:
                name = env
            else:
                name = _unique_name(base if len(per_env) == 1 else f"{base}-{env}", taken)
            taken.add(name)
            shown = {
                "server": f"the kubeconfig's server {key}",
                "context": f"kubeconfig context {key} (the kubeconfig was not readable)",
                "environment": f"environment {key} (no kubeconfig context or server known)",
            }[how]
            cluster = _Cluster(name, env, shown + (f", environment {env}" if len(per_env) > 1 else ""), members)
            clusters[name] = cluster

    for c in candidates:
        if c.explicit_cluster is None:
            continue
        how, key = c.group
        explicit = clusters.get(c.explicit_cluster)
        if explicit is None:
            explicit = clusters[c.explicit_cluster] = _Cluster(c.explicit_cluster, "", f"{how} {key}")
        explicit.candidates.append(c)
    for cluster in clusters.values():
        if cluster.environment:
            continue
        # An explicit cluster serves one environment: the most common among its accounts.
        counts = Counter(c.environment for c in cluster.candidates)
        cluster.environment = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        kept = []
        for c in cluster.candidates:
            if c.environment == cluster.environment:
                kept.append(c)
                continue
            c.result.problems.append(
                f"SpinnakerCluster {cluster.name} serves environment {cluster.environment}; this account's "
                f"environment {c.environment} would change: map it to another cluster with --cluster-map"
            )
        cluster.candidates = kept
    for c in candidates:
        if c.result.adopted:
            c.result.cluster = next(n for n, cl in clusters.items() if c in cl.candidates)
    return {name: cl for name, cl in clusters.items() if cl.candidates}


def _base_name(per_env: Mapping[str, list[_Candidate]], how: str, key: str, envs_elsewhere: Counter[str]) -> str:
    """A cluster's name: its environment when it is the only cluster of that environment, else its kubeconfig
    cluster entry (or context) as a DNS label."""
    if len(per_env) == 1:
        env = next(iter(per_env))
        if envs_elsewhere[env] == 1 and len(env) <= MAX_CLUSTER_NAME:
            return env
    first = next(iter(per_env.values()))[0].source
    label = first.target.cluster_name if how == "server" and first.target else key
    return _dns_label(label, MAX_CLUSTER_NAME - 9)


def _dns_label(text: str, limit: int) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower().split("://")[-1]).strip("-")
    label = re.sub(r"-{2,}", "-", label) or "cluster"
    if len(label) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        label = label[: limit - 7].rstrip("-") + "-" + digest
    return label


def _unique_name(name: str, taken: set[str]) -> str:
    name = name[:MAX_CLUSTER_NAME].rstrip("-")
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name[: MAX_CLUSTER_NAME - 3].rstrip('-')}-{n}"
        n += 1
    return candidate


# ------------------------------------------------------------------------------------------------------ objects


def derive_tenant(pattern: str, namespace: str, *, environment: str, cluster: str) -> str | None:
    """The {tenant} of `pattern` that makes it match `namespace` (the longest one), or None."""
    regex = ""
    tenant_seen = False
    for piece in re.split(r"(\{tenant\}|\{environment\}|\{cluster\}|\*)", pattern):
        if piece == "{tenant}":
            regex += "(?P=tenant)" if tenant_seen else "(?P<tenant>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
            tenant_seen = True
        elif piece == "{environment}":
            regex += re.escape(environment)
        elif piece == "{cluster}":
            regex += re.escape(cluster)
        elif piece == "*":
            regex += "[a-z0-9]+"  # one segment, as tenancy.namespacePattern's `*`
        else:
            regex += re.escape(piece)
    match = re.fullmatch(regex, namespace)
    return match.group("tenant") if match and tenant_seen else None


def _objects(
    candidates: list[_Candidate], clusters: dict[str, _Cluster], options: ImportOptions, report: ImportReport
) -> list[dict[str, Any]]:
    from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerCluster, validate_resource
    from spinop.api.v1alpha1.cluster import AdoptableAccount, ExistingNamespace
    from spinop.remote.plan import GRANTED_TENANT, grant_label_command
    from spinop.tenancy import AccountClaim, effective_permissions, is_system_namespace, tenancy_violations

    cluster_objects: list[dict[str, Any]] = []
    account_objects: list[dict[str, Any]] = []
    tenants: set[str] = set()
    for name in sorted(clusters):
        cluster = clusters[name]
        body, result = _cluster_object(cluster, options)
        model, errors = validate_resource(body)
        if model is None or not isinstance(model, SpinnakerCluster):
            for c in cluster.candidates:
                c.result.problems.append(
                    f"SpinnakerCluster {name} would be invalid: " + "; ".join(str(e) for e in errors)
                )
            continue
        claims: list[AccountClaim] = []
        for c in sorted(cluster.candidates, key=lambda c: c.source.name):
            if is_system_namespace(c.namespace, options.reserved_namespaces):
                c.result.problems.append(
                    f"namespace {c.namespace} is a system namespace (kube-*, default) or one of spinop's own "
                    f"({', '.join(options.reserved_namespaces)}): spinop never gives an account one; leave it unmanaged"
                )
                continue
            tenant = _tenant(c, cluster, options)
            if tenant is None:
                c.result.problems.append(
                    f"no tenant: namespace {c.namespace} does not match --tenant-pattern {options.tenant_pattern!r} "
                    f"(environment {cluster.environment}); pass --tenant-map {c.namespace}=TENANT or --tenant"
                )
                continue
            if not _DNS_LABEL.match(tenant) or len(tenant) > 63 or is_system_namespace(tenant):
                c.result.problems.append(f"tenant {tenant!r} cannot be an MGMT namespace of tenant accounts")
                continue
            account_body = _account_object(c, tenant, name)
            account, errors = validate_resource(account_body)
            if account is None or not isinstance(account, SpinnakerAccount):
                c.result.problems += [f"{e} (from the account's {_halyard_field(e.path)})" for e in errors]
                continue
            # The cluster lets exactly this tenant adopt exactly this account (tenancy.adoptableAccounts).
            adoptable = AdoptableAccount(account_name=account.spec.effective_account_name, tenant=tenant)
            # ... and use the namespace it deploys to, which spinop did not create (tenancy.existingNamespaces).
            listed = [
                ExistingNamespace.model_validate(g) for g in body["spec"]["tenancy"].get("existingNamespaces", [])
            ]
            new_grant = not any(g.namespace == account.spec.namespace for g in listed)
            if new_grant:
                listed.append(ExistingNamespace(namespace=account.spec.namespace, tenant=tenant))
            tenancy = model.spec.tenancy.model_copy(
                update={"adoptable_accounts": [adoptable], "existing_namespaces": listed}
            )
            violations = tenancy_violations(
                account.spec,
                tenant=tenant,
                name=account_body["metadata"]["name"],
                tenant_labels=dict([TENANT_LABEL]),
                cluster_name=name,
                cluster=model.spec.model_copy(update={"tenancy": tenancy}),
                winners=claims,
                reserved=options.reserved_namespaces,
            )
            if violations:
                c.result.problems += [f"{v.reason}: {e}" for v in violations for e in v.errors]
                continue
            body["spec"]["tenancy"].setdefault("adoptableAccounts", []).append(
                {"accountName": adoptable.account_name, "tenant": tenant}
            )
            if new_grant:
                body["spec"]["tenancy"].setdefault("existingNamespaces", []).append(
                    {"namespace": account.spec.namespace, "tenant": tenant}
                )
                # The remote admin's half of the grant: deploy/remote's admission policy needs the namespace's label.
                command = grant_label_command(account.spec.namespace, tenant)
                result.granted_namespaces.append(
                    {"namespace": account.spec.namespace, "tenant": tenant, "command": command}
                )
            claims.append(AccountClaim.from_resource(account))
            c.result.tenant = tenant
            permissions = effective_permissions(account.spec, tenant=tenant, cluster_name=name, cluster=model.spec)
            c.result.changes = adoption_changes(c.source.account, account.spec, cluster.environment, permissions)
            account_objects.append(account_body)
            result.accounts.append(c.source.name)
            tenants.add(tenant)
        if result.accounts:
            cluster_objects.append(body)
            report.clusters.append(result)
        for c in cluster.candidates:
            if not c.result.adopted:
                c.result.cluster = None
    report.tenants = sorted(tenants)
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": tenant, "labels": dict([TENANT_LABEL])},
        }
        for tenant in report.tenants
    ]
    if report.adopted:
        report.notes.append(
            "adoption replaces each account's credentials: spinop creates ServiceAccount spinop-<account> with a "
            "Role in the account's namespace and writes its own kubeconfig (context = the account name) to "
            "Spinnaker; the old ServiceAccounts, tokens and kubeconfig files stay until you retire them "
            "(docs/import.md)"
        )
    if any(c.granted_namespaces for c in report.clusters):
        report.notes.append(
            "the imported accounts' namespaces exist and spinop did not create them: each cluster's admin confirms "
            f"its grants by labelling them ({GRANTED_TENANT}=<tenant>, the commands listed per cluster); until then "
            "those accounts report NamespaceGrantNotLabelled and nothing is created in them (docs/import.md)"
        )
    account_objects.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    return [*namespaces, *cluster_objects, *account_objects]


def _cluster_object(cluster: _Cluster, options: ImportOptions) -> tuple[dict[str, Any], ClusterResult]:
    targets = {c.source.target for c in cluster.candidates if c.source.target is not None}
    servers = sorted({t.server for t in targets})
    notes = []
    spec: dict[str, Any] = {
        "kubeconfigSecretRef": {
            "name": options.admin_secret_name.format(cluster=cluster.name, environment=cluster.environment),
            "key": "kubeconfig",
        },
        "environment": cluster.environment,
    }
    server = servers[0] if len(servers) == 1 else None
    if len(servers) > 1:
        notes.append(f"its accounts' kubeconfigs point at several servers ({', '.join(servers)}): spec.server omitted")
    if server and not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", server):
        notes.append(f"server {server} is not an https URL: spec.server omitted")
        server = None
    if server:
        spec["server"] = server
        cas = {t.certificate_authority_data for t in targets if t.server == server}
        if len(cas) == 1 and None not in cas:
            spec["certificateAuthorityData"] = cas.pop()
        else:
            notes.append("no single inline CA in the old kubeconfigs: the admin kubeconfig's CA is used")
    unknown = [c.source.name for c in cluster.candidates if c.source.target is None]
    if unknown:
        reasons = sorted({c.source.target_note or "" for c in cluster.candidates if c.source.target is None})
        notes.append(
            f"server unknown for {', '.join(sorted(unknown))}: {'; '.join(r for r in reasons if r)}; check that this "
            "cluster is the one they deploy to (--cluster-map KEY=CLUSTER groups explicitly)"
        )
    sharing = Counter(c.namespace for c in cluster.candidates)
    tenancy: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": dict([TENANT_LABEL])},
        "namespacePattern": options.tenant_pattern,
    }
    if any(n > 1 for n in sharing.values()):
        tenancy["allowNamespaceSharing"] = True
        notes.append("allowNamespaceSharing: true, because accounts of one tenant share a namespace")
    spec["tenancy"] = tenancy
    sources = sorted({c.source.source for c in cluster.candidates})
    body = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerCluster",
        "metadata": {"name": cluster.name, "annotations": {IMPORTED_FROM: ", ".join(sources)}},
        "spec": spec,
    }
    result = ClusterResult(
        cluster.name, cluster.environment, cluster.grouped_by, server, spec["kubeconfigSecretRef"]["name"]
    )
    result.notes = notes
    return body, result


def _tenant(c: _Candidate, cluster: _Cluster, options: ImportOptions) -> str | None:
    for key in (c.source.name, c.namespace):
        if key in options.tenant_map:
            return options.tenant_map[key]
    if options.tenant:
        return options.tenant
    return derive_tenant(options.tenant_pattern, c.namespace, environment=cluster.environment, cluster=cluster.name)


def _account_object(c: _Candidate, tenant: str, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerAccount",
        "metadata": {
            "name": c.source.name,
            "namespace": tenant,
            "annotations": {IMPORTED_FROM: c.source.source},
        },
        "spec": {"cluster": cluster, **c.spec},
    }


_SPEC_TO_HALYARD = {
    "spec.namespace": "namespaces",
    "spec.accountName": "name",
    "spec.permissions": "permissions",
    "spec.kinds": "kinds",
    "spec.omitKinds": "omitKinds",
    "spec.cacheThreads": "cacheThreads",
    "spec.customResources": "customResources",
    "spec.onlySpinnakerManaged": "onlySpinnakerManaged",
    "metadata.name": "name",
}


def _halyard_field(path: str) -> str:
    for prefix, key in _SPEC_TO_HALYARD.items():
        if path.startswith(prefix):
            return key
    return path


def adoption_changes(
    existing: Mapping[str, Any], spec: SpinnakerAccountSpec, environment: str, permissions: Permissions
) -> list[FieldChange]:
    """What adopting `existing` with this SpinnakerAccount spec changes in Spinnaker, the credentials aside.

    `permissions`: the account's effective ones (`tenancy.effective_permissions`).

    Computed with the operator's own functions (`desired_spinnaker_account`, `merge_account`), so it is what the
    reconcile will write, not a second opinion of it.
    """
    from spinop.controllers.accounts import desired_spinnaker_account
    from spinop.halyard.model import account_to_halyard
    from spinop.redact import Redacted
    from spinop.spinnaker.desired import AccountOwner, merge_account

    desired = desired_spinnaker_account(
        AccountOwner("", "", ""), spec, environment, Redacted(""), "", permissions=permissions
    )
    before = _comparable(account_to_halyard(existing))
    after = _comparable(account_to_halyard(merge_account(dict(existing), desired)))
    return [
        FieldChange(key, before.get(key), after.get(key), _CHANGE_WHY.get(key, ""))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


_CHANGE_WHY = {
    "kinds": "the account allowed every kind; spinop lists the kinds its deployer credentials can read, so "
    "clouddriver never probes kinds it cannot list",
    "environment": "a SpinnakerAccount's environment is its cluster's",
    "permissions": "an account without READ or WRITE roles is open to every Spinnaker user (Fiat); spinop gives it "
    "the cluster's tenancy.accountPermissions (default READ and WRITE: [tenant]) unless spec.permissions says more",
    "customResources": "spinop writes every entry in full (spinnakerKind unclassified and versioned false are "
    "clouddriver's defaults)",
}


def _comparable(account: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in account.items() if k not in CREDENTIAL_FIELDS}
    out["serviceAccount"] = bool(out.get("serviceAccount"))  # absent and false mean the same to Halyard
    return out


def _short(value: Any, limit: int = 120) -> str:
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) <= limit:
        return text
    if isinstance(value, list):
        return text[: limit - 30].rsplit(",", 1)[0] + f", ...] ({len(value)} items)"
    return text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------------------- output


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(dict(o), sort_keys=False) for o in objects)


def object_file_name(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [str(obj["kind"]).lower(), *([meta["namespace"]] if meta.get("namespace") else []), meta["name"]]
    return "-".join(parts) + ".yaml"


def label_script_name(cluster: str) -> str:
    return f"remote-namespace-labels-{cluster}.sh"


def label_script(cluster: ClusterResult) -> str:
    """The commands the admin of `cluster`'s remote cluster runs to confirm its existingNamespaces grants."""
    where = f" (server {cluster.server})" if cluster.server else ""
    return (
        "#!/bin/sh\n"
        f"# Generated by `spinop import`. Run as the admin of SpinnakerCluster {cluster.name}'s cluster{where}, e.g.\n"
        f"#   KUBECONFIG=<its admin kubeconfig> sh {label_script_name(cluster.name)}\n"
        "# The imported accounts deploy to these namespaces, which spinop did not create: deploy/remote lets spinop\n"
        "# write there only for the tenant the namespace is labelled for (docs/import.md).\n"
        "set -e\n" + "".join(f"{g['command']}\n" for g in cluster.granted_namespaces)
    )


def write_directory(
    directory: Path, objects: Sequence[Mapping[str, Any]], report: ImportReport | None = None
) -> list[Path]:
    """One file per object plus a kustomization.yaml listing them (`kubectl apply -k DIR`), and per remote cluster
    with granted namespaces the script of its admin's labels (not a resource: it runs against the remote cluster)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        path = directory / object_file_name(obj)
        path.write_text(yaml.safe_dump(dict(obj), sort_keys=False))
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.name for p in written],
    }
    scripts = []
    for cluster in report.clusters if report else []:
        if cluster.granted_namespaces:
            script = directory / label_script_name(cluster.name)
            script.write_text(label_script(cluster))
            scripts.append(script)
    path = directory / "kustomization.yaml"
    steps = "create the admin kubeconfig Secrets"
    if scripts:
        steps += ", run each remote-namespace-labels-<cluster>.sh on its cluster"
    path.write_text(
        f"# Generated by `spinop import`: review, {steps}, then `kubectl apply -k .`\n"
        + yaml.safe_dump(kustomization, sort_keys=False)
    )
    return [*written, *scripts, path]


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


# ----------------------------------------------------------------------------------------------------------- CLI


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.rpartition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_import_command(sub: Any) -> None:
    """Register `spinop import` on the top-level subparsers."""
    parser = sub.add_parser(
        "import",
        help="turn existing Spinnaker Kubernetes accounts into SpinnakerCluster/SpinnakerAccount YAML that adopts them",
        description="Read existing Spinnaker Kubernetes accounts (a halconfig, a live Halyard, or a Terraform-style "
        "account list) and write SpinnakerClusters, SpinnakerAccounts (spec.adopt: true, spec.accountName = the "
        "existing name) and tenant Namespaces as YAML; a report of what was carried over, what adoption changes "
        "and what cannot be imported goes to stderr. Nothing is changed anywhere. See docs/import.md.",
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a halconfig (~/.hal/config), a Halyard kubernetes provider JSON, or an account list (.tfvars, "
        ".json, .yaml)",
    )
    parser.add_argument("--halyard-url", default=None, help="read a live Halyard daemon, e.g. http://localhost:8064")
    parser.add_argument("--deployment", default=None, help="Halyard deployment (default: the current one)")
    parser.add_argument(
        "--path-map",
        action="append",
        type=_pair,
        default=[],
        metavar="FROM=TO",
        help="read kubeconfig files under FROM (on the Halyard host) from TO here (repeatable)",
    )
    parser.add_argument(
        "--cluster-map",
        action="append",
        type=_pair,
        default=[],
        metavar="KEY=CLUSTER",
        help="put accounts in SpinnakerCluster CLUSTER by account name, kubeconfig context, kubeconfig cluster "
        "name or server URL (repeatable)",
    )
    parser.add_argument(
        "--tenant-pattern",
        default=DEFAULT_TENANT_PATTERN,
        help="derive each account's tenant (MGMT namespace) from its namespace; also the clusters' "
        "tenancy.namespacePattern (default: %(default)s)",
    )
    parser.add_argument("--tenant", default=None, help="put every account in this tenant (MGMT namespace)")
    parser.add_argument(
        "--tenant-map",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=TENANT",
        help="the tenant of one account (by account name or namespace) (repeatable)",
    )
    parser.add_argument("--default-environment", default=None, help="environment of accounts that have none")
    parser.add_argument(
        "--admin-secret-name",
        default=DEFAULT_ADMIN_SECRET,
        help="each cluster's admin kubeconfig Secret; {cluster} and {environment} are filled in (default: %(default)s)",
    )
    parser.add_argument("-o", "--output", default=None, help="write one file per object and a kustomization.yaml here")
    parser.add_argument(
        "--report-format", choices=["text", "json"], default="text", help="the report on stderr (default: text)"
    )
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    import asyncio

    if not args.sources and not args.halyard_url:
        print("spinop import: give a SOURCE file or --halyard-url", file=sys.stderr)
        return 2
    if "{tenant}" not in args.tenant_pattern:
        print("spinop import: --tenant-pattern must contain {tenant}", file=sys.stderr)
        return 2
    try:
        args.admin_secret_name.format(cluster="c", environment="e")
    except (KeyError, IndexError, ValueError):
        print("spinop import: --admin-secret-name may only use {cluster} and {environment}", file=sys.stderr)
        return 2
    try:
        accounts: list[SourceAccount] = []
        if args.halyard_url:
            accounts += asyncio.run(read_halyard(args.halyard_url, deployment=args.deployment))
        for source in args.sources:
            accounts += load_source(Path(source), deployment=args.deployment)
    except SourceError as err:
        print(f"spinop import: {err}", file=sys.stderr)
        return 1
    accounts = resolve_targets(accounts, file_reader(args.path_map))
    options = ImportOptions(
        cluster_map=dict(args.cluster_map),
        tenant_pattern=args.tenant_pattern,
        tenant=args.tenant,
        tenant_map=dict(args.tenant_map),
        default_environment=args.default_environment,
        admin_secret_name=args.admin_secret_name,
    )
    result = plan_import(accounts, options)
    if args.output:
        written = write_directory(Path(args.output), result.objects, result.report)
        grants = any(c.granted_namespaces for c in result.report.clusters)
        labels = ", run each remote-namespace-labels-<cluster>.sh on its cluster" if grants else ""
        result.report.notes.append(
            f"wrote {len(written)} files to {args.output}: review{labels}, then kubectl apply -k"
        )
    elif result.objects:
        sys.stdout.write(to_yaml(result.objects))
    if args.report_format == "json":
        sys.stderr.write(json.dumps(result.report.to_json(), indent=2, default=str) + "\n")
    else:
        sys.stderr.write(result.report.render())
    return 0
