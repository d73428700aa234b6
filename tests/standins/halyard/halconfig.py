"""The halconfig as the test double of the Halyard daemon stores it: strict parsing and Halyard's rendering.

Mirrors contract §3: the file is `~/.hal/config` in Halyard's YAML layout, parsed strictly (unknown keys fail,
like `StrictObjectMapper`), nulls omitted when written, and the `KubernetesAccount.getKubeconfigFile()` quirk
(an unset kubeconfigFile is rendered as `<home>/.kube/config` unless `serviceAccount` is true).

Internally everything is plain dicts holding the *field values* (None = Java null); `serialize_*` applies
Halyard's getters and drops nulls, which is what both the YAML file and the REST responses show.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .problems import ConfigNotFound, HalException, Problem, Severity

KUBERNETES_ACCOUNT_CLASS = "com.netflix.spinnaker.halyard.config.model.v1.providers.kubernetes.KubernetesAccount"
PERMISSION_KEYS = ("READ", "WRITE", "EXECUTE", "CREATE")
PROVIDER_VERSIONS = ("V1", "V2")

PROVIDER_NAMES = (
    "appengine",
    "aws",
    "ecs",
    "azure",
    "cloudrun",
    "dcos",
    "dockerRegistry",
    "google",
    "huaweicloud",
    "kubernetes",
    "tencentcloud",
    "oraclebmcs",
    "oracle",
    "cloudfoundry",
)
DEPLOYMENT_KEYS = (
    "name",
    "version",
    "providers",
    "deploymentEnvironment",
    "persistentStorage",
    "features",
    "metricStores",
    "notifications",
    "timezone",
    "ci",
    "repository",
    "security",
    "artifacts",
    "pubsub",
    "canary",
    "spinnaker",
    "webhook",
    "stats",
    "plugins",
    "telemetry",
)
FEATURE_KEYS = (
    "chaos",
    "pipelineTemplates",
    "artifacts",
    "artifactsRewrite",
    "mineCanary",
    "infrastructureStages",
    "travis",
    "wercker",
    "managedPipelineTemplatesV2UI",
    "gremlin",
)
HALCONFIG_KEYS = ("halyardVersion", "currentDeployment", "deploymentConfigurations")


class HalconfigError(ValueError):
    """Input Halyard's strict Jackson mapper would refuse; the message names the offending field."""


def _fail(where: str, message: str) -> HalconfigError:
    return HalconfigError(f"{message} (at {where})")


def _str(v: Any, where: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):  # Jackson coerces scalars into String fields
        return str(v).lower() if isinstance(v, bool) else str(v)
    raise _fail(where, f"Cannot deserialize value of type `java.lang.String` from {type(v).__name__}")


def _bool(v: Any, where: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str) and v in ("true", "false"):
        return v == "true"
    raise _fail(where, f"Cannot deserialize value of type `java.lang.Boolean` from {v!r}")


def _int(v: Any, where: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise _fail(where, f"Cannot deserialize value of type `int` from {v!r}")
    try:
        return int(v)
    except ValueError:
        raise _fail(where, f"Cannot deserialize value of type `int` from String {v!r}") from None


def _strlist(v: Any, where: str) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _fail(where, f"Cannot deserialize value of type `java.util.List` from {type(v).__name__}")
    return [s for i, item in enumerate(v) if (s := _str(item, f"{where}[{i}]")) is not None]


def _object(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _fail(where, f"Cannot deserialize an object from {type(v).__name__}")
    return v


def _strict_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str, java_class: str) -> None:
    for key in obj:
        if key not in allowed:
            raise HalconfigError(
                f'Unrecognized field "{key}" (class {java_class}), not marked as ignorable '
                f"({len(allowed)} known properties: {', '.join(allowed)}) (at {where})"
            )


def _provider_version(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if v not in PROVIDER_VERSIONS:
        raise _fail(where, f"Cannot deserialize value of type `ProviderVersion` from {v!r}: not one of V1, V2")
    return str(v)


def _permissions(v: Any, where: str) -> dict[str, list[str]] | None:
    if v is None:
        return None
    obj = _object(v, where)
    out: dict[str, list[str]] = {}
    for key, roles in obj.items():
        if key not in PERMISSION_KEYS:
            raise _fail(
                where,
                f"Cannot deserialize Map key of type `Authorization` from String {key!r}: "
                f"not one of {', '.join(PERMISSION_KEYS)}",
            )
        out[key] = _strlist(roles, f"{where}.{key}") or []
    return out


def _custom_resources(v: Any, where: str) -> list[dict[str, Any]] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _fail(where, "customResources must be a list")
    out = []
    for i, item in enumerate(v):
        w = f"{where}[{i}]"
        obj = _object(item, w)
        _strict_keys(obj, ("kubernetesKind", "spinnakerKind", "versioned"), w, "CustomKubernetesResource")
        out.append(
            {
                "kubernetesKind": _str(obj.get("kubernetesKind"), w),
                "spinnakerKind": _str(obj.get("spinnakerKind"), w),
                "versioned": bool(_bool(obj.get("versioned"), w)),
            }
        )
    return out


def _caching_policies(v: Any, where: str) -> list[dict[str, Any]] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _fail(where, "cachingPolicies must be a list")
    out = []
    for i, item in enumerate(v):
        w = f"{where}[{i}]"
        obj = _object(item, w)
        _strict_keys(obj, ("kubernetesKind", "maxEntriesPerAgent"), w, "KubernetesCachingPolicy")
        out.append(
            {
                "kubernetesKind": _str(obj.get("kubernetesKind"), w),
                "maxEntriesPerAgent": _int(obj.get("maxEntriesPerAgent"), w) or 0,
            }
        )
    return out


def _raw_resources(v: Any, where: str) -> dict[str, Any] | None:
    if v is None:
        return None
    obj = _object(v, where)
    _strict_keys(obj, ("kindExpressions", "omitKindExpressions"), where, "RawResourcesEndpointConfig")
    return {
        "kindExpressions": _strlist(obj.get("kindExpressions"), f"{where}.kindExpressions"),
        "omitKindExpressions": _strlist(obj.get("omitKindExpressions"), f"{where}.omitKindExpressions"),
    }


def _docker_registries(v: Any, where: str) -> list[dict[str, Any]] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _fail(where, "dockerRegistries must be a list")
    out = []
    for i, item in enumerate(v):
        w = f"{where}[{i}]"
        obj = _object(item, w)
        _strict_keys(obj, ("accountName", "namespaces"), w, "DockerRegistryReference")
        out.append(
            {
                "accountName": _str(obj.get("accountName"), w),
                "namespaces": _strlist(obj.get("namespaces"), f"{w}.namespaces") or [],
            }
        )
    return out


# (JSON/YAML key, parser, Java field initializer) in the order Halyard writes them.
_Parser = Callable[[Any, str], Any]
ACCOUNT_FIELDS: tuple[tuple[str, _Parser, Any], ...] = (
    ("name", _str, None),
    ("environment", _str, None),
    ("requiredGroupMembership", _strlist, []),
    ("providerVersion", _provider_version, "V2"),
    ("permissions", _permissions, {}),
    ("dockerRegistries", _docker_registries, []),
    ("context", _str, None),
    ("cluster", _str, None),
    ("user", _str, None),
    ("configureImagePullSecrets", _bool, None),
    ("serviceAccount", _bool, None),
    ("cacheThreads", _int, 1),
    ("cacheIntervalSeconds", _int, None),
    ("namespaces", _strlist, []),
    ("omitNamespaces", _strlist, []),
    ("kinds", _strlist, []),
    ("omitKinds", _strlist, []),
    ("customResources", _custom_resources, []),
    ("cachingPolicies", _caching_policies, []),
    ("kubeconfigFile", _str, None),
    ("kubeconfigContents", _str, None),
    ("kubectlPath", _str, None),
    ("kubectlRequestTimeoutSeconds", _int, None),
    ("checkPermissionsOnStartup", _bool, None),
    ("rawResourcesEndpointConfig", _raw_resources, {"kindExpressions": None, "omitKindExpressions": None}),
    ("cacheAllApplicationRelationships", _bool, None),
    ("liveManifestCalls", _bool, None),
    ("oAuthServiceAccount", _str, None),
    ("oAuthScopes", _strlist, None),
    ("namingStrategy", _str, None),
    ("skin", _str, None),
    ("onlySpinnakerManaged", _bool, None),
    ("debug", _bool, None),
)
ACCOUNT_KEYS = tuple(k for k, _, _ in ACCOUNT_FIELDS)
# Older spellings still read (setters kept for backwards compatibility), never written.
ACCOUNT_ALIASES = {"oauthScopes": "oAuthScopes", "oauthServiceAccount": "oAuthServiceAccount"}


# Nested account objects and their keys, for dropping what a request body's lenient mapper would not bind.
_NESTED_ACCOUNT_KEYS: dict[str, tuple[str, ...]] = {
    "customResources": ("kubernetesKind", "spinnakerKind", "versioned"),
    "cachingPolicies": ("kubernetesKind", "maxEntriesPerAgent"),
    "rawResourcesEndpointConfig": ("kindExpressions", "omitKindExpressions"),
    "dockerRegistries": ("accountName", "namespaces"),
}


def drop_unknown_account_keys(raw: Any, absent: tuple[str, ...] = ()) -> Any:
    """What the daemon's `DefaultObjectMapper` (FAIL_ON_UNKNOWN_PROPERTIES false) binds from a request body: unknown
    keys, nested ones included, vanish without a word. `absent` names fields this emulated Halyard build lacks."""
    if not isinstance(raw, dict):
        return raw
    known = set(ACCOUNT_KEYS + tuple(ACCOUNT_ALIASES)) - set(absent)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            continue
        nested = _NESTED_ACCOUNT_KEYS.get(key)
        if nested is not None and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in nested}
        elif nested is not None and isinstance(value, list):
            value = [{k: v for k, v in i.items() if k in nested} if isinstance(i, dict) else i for i in value]
        out[key] = value
    return out


def drop_unknown_provider_keys(name: str, raw: Any, absent: tuple[str, ...] = ()) -> Any:
    """The same lenient binding for a provider body (`ProviderController` converts it with the default mapper)."""
    if name != "kubernetes" or not isinstance(raw, dict):
        return raw
    out = {k: v for k, v in raw.items() if k in ("enabled", "accounts", "primaryAccount")}
    if isinstance(out.get("accounts"), list):
        out["accounts"] = [drop_unknown_account_keys(a, absent) for a in out["accounts"]]
    return out


def normalize_account(raw: Any, where: str = "account") -> dict[str, Any]:
    """Deserialize a KubernetesAccount strictly (unknown keys and wrong types raise HalconfigError)."""
    obj = _object(raw, where)
    _strict_keys(obj, ACCOUNT_KEYS + tuple(ACCOUNT_ALIASES), where, KUBERNETES_ACCOUNT_CLASS)
    out: dict[str, Any] = {}
    for key, parse, default in ACCOUNT_FIELDS:
        present = [k for k in (key, *[a for a, t in ACCOUNT_ALIASES.items() if t == key]) if k in obj]
        if present:
            value = parse(obj[present[-1]], f"{where}.{key}")
            if key == "cacheThreads" and value is None:
                value = 0  # a primitive int: null reads as 0
            out[key] = value
        else:
            out[key] = copy.deepcopy(default)
    return out


def uses_service_account(account: dict[str, Any]) -> bool:
    return bool(account.get("serviceAccount"))


def effective_kubeconfig_file(account: dict[str, Any], home: str) -> str | None:
    """`KubernetesAccount.getKubeconfigFile()`: the default path fills in unless serviceAccount is true."""
    if uses_service_account(account):
        return None
    value = account.get("kubeconfigFile")
    return value if value else f"{home}/.kube/config"


def _drop_nulls(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def serialize_account(account: dict[str, Any], home: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ACCOUNT_KEYS:
        value = copy.deepcopy(account.get(key))
        if key == "kubeconfigFile":
            value = effective_kubeconfig_file(account, home)
        elif key == "customResources" and value is not None:
            value = [_drop_nulls(cr) for cr in value]
        elif key == "cachingPolicies" and value is not None:
            value = [_drop_nulls(cp) for cp in value]
        elif key == "rawResourcesEndpointConfig" and value is not None:
            value = _drop_nulls(value)
        elif key == "dockerRegistries" and value is not None:
            value = [_drop_nulls(d) for d in value]
        if value is not None:
            out[key] = value
    return out


def normalize_kubernetes_provider(raw: Any, where: str) -> dict[str, Any]:
    obj = _object(raw, where)
    _strict_keys(
        obj,
        ("enabled", "accounts", "primaryAccount"),
        where,
        "com.netflix.spinnaker.halyard.config.model.v1.providers.kubernetes.KubernetesProvider",
    )
    accounts = obj.get("accounts") or []
    if not isinstance(accounts, list):
        raise _fail(f"{where}.accounts", "accounts must be a list")
    return {
        "enabled": bool(_bool(obj.get("enabled"), f"{where}.enabled")),
        "accounts": [normalize_account(a, f"{where}.accounts[{i}]") for i, a in enumerate(accounts)],
        "primaryAccount": _str(obj.get("primaryAccount"), f"{where}.primaryAccount"),
    }


def normalize_other_provider(raw: Any, where: str) -> dict[str, Any]:
    """Other providers are kept opaque, but their account names take part in the duplicate-name check."""
    obj = copy.deepcopy(_object(raw, where))
    obj["enabled"] = bool(_bool(obj.get("enabled"), f"{where}.enabled"))
    accounts = obj.get("accounts") or []
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        raise _fail(f"{where}.accounts", "accounts must be a list of objects")
    obj["accounts"] = accounts
    return obj


def normalize_provider(name: str, raw: Any, where: str) -> dict[str, Any]:
    if name == "kubernetes":
        return normalize_kubernetes_provider(raw, where)
    return normalize_other_provider(raw, where)


def primary_account(provider: dict[str, Any]) -> str | None:
    names = [a.get("name") for a in provider.get("accounts", [])]
    if not names:
        return None
    stored = provider.get("primaryAccount")
    return stored if stored in names else names[0]


def serialize_provider(name: str, provider: dict[str, Any], home: str) -> dict[str, Any]:
    if name != "kubernetes":
        out = copy.deepcopy(provider)
        if out.get("accounts"):
            out["primaryAccount"] = primary_account(provider)
        return _drop_nulls(out)
    return _drop_nulls(
        {
            "enabled": provider["enabled"],
            "accounts": [serialize_account(a, home) for a in provider["accounts"]],
            "primaryAccount": primary_account(provider),
        }
    )


def normalize_deployment(raw: Any, where: str = "deploymentConfiguration") -> dict[str, Any]:
    obj = copy.deepcopy(_object(raw, where))
    _strict_keys(
        obj, DEPLOYMENT_KEYS, where, "com.netflix.spinnaker.halyard.config.model.v1.node.DeploymentConfiguration"
    )
    out: dict[str, Any] = {"name": _str(obj.get("name", "default"), f"{where}.name") or "default"}
    out["version"] = _str(obj.get("version", ""), f"{where}.version")
    providers_raw = _object(obj.get("providers") or {}, f"{where}.providers")
    _strict_keys(
        providers_raw,
        PROVIDER_NAMES,
        f"{where}.providers",
        "com.netflix.spinnaker.halyard.config.model.v1.node.Providers",
    )
    providers: dict[str, Any] = {}
    for pname in PROVIDER_NAMES:
        praw = providers_raw.get(pname) or {"enabled": False, "accounts": []}
        providers[pname] = normalize_provider(pname, praw, f"{where}.providers.{pname}")
    out["providers"] = providers
    features = _object(obj.get("features") or {}, f"{where}.features")
    _strict_keys(
        features, FEATURE_KEYS, f"{where}.features", "com.netflix.spinnaker.halyard.config.model.v1.node.Features"
    )
    out["features"] = {k: _bool(features.get(k), f"{where}.features.{k}") for k in FEATURE_KEYS}
    out["features"]["chaos"] = bool(out["features"]["chaos"])  # a primitive boolean
    for key in DEPLOYMENT_KEYS:
        if key not in out and key in obj:
            out[key] = obj[key]
    return out


def serialize_deployment(dep: dict[str, Any], home: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": dep["name"], "version": dep.get("version")}
    out["providers"] = {p: serialize_provider(p, dep["providers"][p], home) for p in PROVIDER_NAMES}
    for key in DEPLOYMENT_KEYS:
        if key in ("name", "version", "providers"):
            continue
        if key == "features":
            out["features"] = _drop_nulls(dep["features"])
        elif dep.get(key) is not None:
            out[key] = copy.deepcopy(dep[key])
    return _drop_nulls(out)


def normalize_halconfig(raw: Any) -> dict[str, Any]:
    obj = _object(raw if raw is not None else {}, "halconfig")
    _strict_keys(obj, HALCONFIG_KEYS, "halconfig", "com.netflix.spinnaker.halyard.config.model.v1.node.Halconfig")
    deps = obj.get("deploymentConfigurations") or []
    if not isinstance(deps, list):
        raise _fail("halconfig.deploymentConfigurations", "must be a list")
    return {
        "halyardVersion": _str(obj.get("halyardVersion"), "halconfig.halyardVersion"),
        "currentDeployment": _str(obj.get("currentDeployment", "default"), "halconfig.currentDeployment"),
        "deploymentConfigurations": [
            normalize_deployment(d, f"deploymentConfigurations[{i}]") for i, d in enumerate(deps)
        ],
    }


def serialize_halconfig(hc: dict[str, Any], home: str) -> dict[str, Any]:
    return _drop_nulls(
        {
            "halyardVersion": hc.get("halyardVersion"),
            "currentDeployment": hc.get("currentDeployment"),
            "deploymentConfigurations": [serialize_deployment(d, home) for d in hc["deploymentConfigurations"]],
        }
    )


def default_halconfig(halyard_version: str, spinnaker_version: str) -> dict[str, Any]:
    return normalize_halconfig(
        {
            "halyardVersion": halyard_version,
            "currentDeployment": "default",
            "deploymentConfigurations": [
                {
                    "name": "default",
                    "version": spinnaker_version,
                    "providers": {},
                    "deploymentEnvironment": {
                        "size": "SMALL",
                        "type": "Distributed",
                        "location": "spinnaker",
                        "imageVariant": "SLIM",
                        "updateVersions": True,
                    },
                    "persistentStorage": {"persistentStoreType": "s3"},
                    "features": {"chaos": False},
                    "timezone": "America/Los_Angeles",
                }
            ],
        }
    )


# libyaml when present: with 1,000 accounts the pure-Python parser spends seconds on every task, which would make
# the stand-in, not the code under test, the bottleneck of the benchmarks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


class HalconfigStore:
    """`~/.hal/config` on disk. Every load sees the file as it is now, as each Halyard task loads its own copy.

    The parsed file is remembered (as JSON, so every load gets its own copy) under the file's inode, mtime and size:
    building Python objects from 1,000 accounts of YAML took most of a second per task, which made this stand-in,
    not the code under test, the bottleneck of the benchmarks. Any write, ours or a test's, changes that key.
    """

    def __init__(self, path: Path, home: str) -> None:
        self.path = path
        self.home = home
        self._parsed: tuple[tuple[int, int, int], str] | None = None

    def _file_key(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> dict[str, Any]:
        try:
            key = self._file_key()
            if self._parsed is not None and self._parsed[0] == key:
                loaded: dict[str, Any] = json.loads(self._parsed[1])
                return loaded
            text = self.path.read_text()
        except FileNotFoundError:
            raise HalException([Problem(f"No halconfig found at {self.path.name}", Severity.FATAL)]) from None
        try:
            hc = normalize_halconfig(load_yaml(text))
            self._parsed = (key, json.dumps(hc))
            return hc
        except (HalconfigError, yaml.YAMLError) as e:
            raise HalException(
                [
                    Problem(
                        f"Could not translate your halconfig: {e}",
                        Severity.FATAL,
                        remediation="Fix or remove the offending key in ~/.hal/config.",
                    )
                ]
            ) from None

    def save(self, hc: dict[str, Any]) -> None:
        serialized = serialize_halconfig(hc, self.home)
        key = self.write_text(dump_yaml(serialized))
        # What the next load would parse from that YAML: the same plain data, normalized the same way.
        self._parsed = (key, json.dumps(normalize_halconfig(json.loads(json.dumps(serialized)))))

    def read_text(self) -> str:
        return self.path.read_text()

    def write_text(self, text: str) -> tuple[int, int, int]:
        """Atomic replace, like Halyard's `atomicWrite`. Returns the new file's (inode, mtime, size)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                st = os.fstat(f.fileno())  # of this very file: a write by someone else after the rename differs
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return (st.st_ino, st.st_mtime_ns, st.st_size)


def find_deployment(hc: dict[str, Any], name: str) -> dict[str, Any]:
    for dep in hc["deploymentConfigurations"]:
        if dep["name"] == name:
            return dep
    raise ConfigNotFound([Problem(f'No deployment with name "{name}" could be found', Severity.FATAL)])


def find_provider(dep: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in dep["providers"]:
        raise ConfigNotFound([Problem(f'No provider with name "{name}" could be found', Severity.FATAL)])
    return dep["providers"][name]
