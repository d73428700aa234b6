"""Typed values the Halyard client speaks: problems, task results and the Kubernetes account model.

The account model follows contract §3 field for field (JSON keys as Halyard spells them). `account_to_halyard`
renders the *complete* form that `hal … account add` would produce for the same input (empty lists present,
`configureImagePullSecrets: true`, `onlySpinnakerManaged: false`, `cacheThreads: 1`, permissions as sorted role
sets with empty keys dropped), so the REST and exec transports store identical accounts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PERMISSION_KEYS = ("READ", "WRITE", "EXECUTE", "CREATE")


class Severity(enum.IntEnum):
    NONE = 0
    INFO = 1
    WARNING = 2
    ERROR = 3
    FATAL = 4

    @classmethod
    def parse(cls, value: object) -> Severity:
        try:
            return cls[str(value).upper()]
        except KeyError:
            return cls.FATAL  # an unknown severity is treated as the worst, never silently ignored


@dataclass(frozen=True)
class Problem:
    """One entry of Halyard's problemSet."""

    message: str
    severity: Severity
    location: str | None = None
    remediation: str | None = None
    options: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Problem:
        return cls(
            message=str(raw.get("message") or ""),
            severity=Severity.parse(raw.get("severity")),
            location=raw.get("location"),
            remediation=raw.get("remediation"),
            options=tuple(raw.get("options") or ()),
        )

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        fix = f" (remediation: {self.remediation})" if self.remediation else ""
        return f"{self.severity.name}{where}: {self.message}{fix}"


@dataclass(frozen=True)
class TaskSummary:
    """A child task of a DaemonTask (e.g. one "Deploy spin-<svc>" of a deploy)."""

    name: str
    state: str
    uuid: str | None = None
    last_event: str | None = None


@dataclass(frozen=True)
class TaskResult:
    """The outcome of a successful Halyard operation. WARNINGs are kept in `problems` and `warnings`."""

    operation: str
    state: str
    uuid: str | None = None
    problems: tuple[Problem, ...] = ()
    body: Any = None
    events: tuple[str, ...] = ()
    children: tuple[TaskSummary, ...] = ()
    transport: str = ""

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.WARNING)

    @property
    def changed(self) -> bool:
        """False when the operation was a no-op (e.g. an edit with nothing to change)."""
        return self.state != "UNCHANGED"


def _summarize_task(raw: Mapping[str, Any]) -> TaskSummary:
    events = raw.get("events") or []
    last = events[-1] if events else None
    last_event = None
    if isinstance(last, Mapping):
        last_event = ": ".join(str(x) for x in (last.get("stage"), last.get("message")) if x)
    return TaskSummary(str(raw.get("name")), str(raw.get("state")), raw.get("uuid"), last_event)


def task_children(raw: Mapping[str, Any]) -> tuple[TaskSummary, ...]:
    return tuple(_summarize_task(c) for c in raw.get("children") or () if isinstance(c, Mapping))


def task_events(raw: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for e in raw.get("events") or ():
        if isinstance(e, Mapping):
            out.append(": ".join(str(x) for x in (e.get("stage"), e.get("message")) if x))
    return tuple(out)


# -- the Kubernetes account ---------------------------------------------------------------------------------


class _HalyardModel(BaseModel):
    """Python names in code, Halyard's camelCase keys on the wire (both accepted when parsing)."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="forbid")


class CustomResource(_HalyardModel):
    kubernetes_kind: str | None = None
    spinnaker_kind: str | None = None
    versioned: bool = False


class CachingPolicy(_HalyardModel):
    kubernetes_kind: str | None = None
    max_entries_per_agent: int = 0


class RawResourcesEndpointConfig(_HalyardModel):
    kind_expressions: list[str] = Field(default_factory=list)
    omit_kind_expressions: list[str] = Field(default_factory=list)


class DockerRegistryReference(_HalyardModel):
    account_name: str
    namespaces: list[str] = Field(default_factory=list)


class KubernetesAccount(_HalyardModel):
    """`KubernetesAccount` of Halyard's config model (contract §3); unknown fields are refused."""

    name: str
    environment: str | None = None
    required_group_membership: list[str] = Field(default_factory=list)
    permissions: dict[Literal["READ", "WRITE", "EXECUTE", "CREATE"], list[str]] = Field(default_factory=dict)
    provider_version: Literal["V1", "V2"] = "V2"
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    service_account: bool | None = None
    kubeconfig_file: str | None = None
    # Passed verbatim to clouddriver and possibly a credential: kept out of repr.
    kubeconfig_contents: str | None = Field(default=None, repr=False)
    kubectl_path: str | None = None
    kubectl_request_timeout_seconds: int | None = None
    namespaces: list[str] = Field(default_factory=list)
    omit_namespaces: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    omit_kinds: list[str] = Field(default_factory=list)
    only_spinnaker_managed: bool = False
    custom_resources: list[CustomResource] = Field(default_factory=list)
    caching_policies: list[CachingPolicy] = Field(default_factory=list)
    cache_threads: int = 1
    cache_interval_seconds: int | None = None
    cache_all_application_relationships: bool | None = None
    configure_image_pull_secrets: bool = True
    check_permissions_on_startup: bool | None = None
    live_manifest_calls: bool | None = None
    raw_resources_endpoint_config: RawResourcesEndpointConfig = Field(default_factory=RawResourcesEndpointConfig)
    o_auth_service_account: str | None = None
    o_auth_scopes: list[str] = Field(default_factory=list)
    naming_strategy: str | None = None
    skin: str | None = None
    debug: bool | None = None
    docker_registries: list[DockerRegistryReference] = Field(default_factory=list)

    def to_halyard(self) -> dict[str, Any]:
        return account_to_halyard(self.model_dump(by_alias=True, exclude_none=True))

    @classmethod
    def from_halyard(cls, raw: Mapping[str, Any]) -> KubernetesAccount:
        data = dict(raw)
        for old, new in (("oauthScopes", "oAuthScopes"), ("oauthServiceAccount", "oAuthServiceAccount")):
            if old in data:
                data.setdefault(new, data.pop(old))
        return cls.model_validate(data)


ACCOUNT_FIELDS = tuple(f.alias or name for name, f in KubernetesAccount.model_fields.items())
# The daemon binds request bodies with FAIL_ON_UNKNOWN_PROPERTIES off: any other key is dropped without a word.
# Older spellings Halyard still reads (setters kept for backwards compatibility) count as known.
LEGACY_ACCOUNT_FIELDS = ("oauthScopes", "oauthServiceAccount")
NESTED_ACCOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    "customResources": tuple(f.alias or n for n, f in CustomResource.model_fields.items()),
    "cachingPolicies": tuple(f.alias or n for n, f in CachingPolicy.model_fields.items()),
    "rawResourcesEndpointConfig": tuple(f.alias or n for n, f in RawResourcesEndpointConfig.model_fields.items()),
    "dockerRegistries": tuple(f.alias or n for n, f in DockerRegistryReference.model_fields.items()),
}


def unknown_account_fields(raw: Mapping[str, Any]) -> list[str]:
    """Keys of an account body that Halyard's `KubernetesAccount` (and its parents) does not have, nested ones as
    `customResources[0].kind`: Halyard would drop them silently, so they must never be sent."""
    known = set(ACCOUNT_FIELDS) | set(LEGACY_ACCOUNT_FIELDS)
    unknown = [str(k) for k in raw if k not in known]
    for key, fields in NESTED_ACCOUNT_FIELDS.items():
        value = raw.get(key)
        items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                where = key if isinstance(value, Mapping) else f"{key}[{i}]"
                unknown += [f"{where}.{k}" for k in item if k not in fields]
    return unknown


_LIST_DEFAULTS = (
    "requiredGroupMembership",
    "namespaces",
    "omitNamespaces",
    "kinds",
    "omitKinds",
    "customResources",
    "cachingPolicies",
    "oAuthScopes",
    "dockerRegistries",
)
_SCALAR_DEFAULTS = {
    "providerVersion": "V2",
    "cacheThreads": 1,
    "configureImagePullSecrets": True,
    "onlySpinnakerManaged": False,
}


def account_to_halyard(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical, complete Halyard JSON of an account (see the module docstring). Unknown keys are kept as
    they are here; the client refuses to send them (`unknown_account_fields`), since Halyard would drop them."""
    out: dict[str, Any] = {k: v for k, v in raw.items() if v is not None}
    for key in _LIST_DEFAULTS:
        out.setdefault(key, [])
    for key, default in _SCALAR_DEFAULTS.items():
        out.setdefault(key, default)
    if out.get("context") == "":
        del out["context"]
    permissions = out.get("permissions") or {}
    if isinstance(permissions, Mapping):
        out["permissions"] = {
            k: sorted(set(v)) for k, v in permissions.items() if isinstance(v, list | tuple | set) and v
        }
    rre = out.get("rawResourcesEndpointConfig") or {}
    if isinstance(rre, Mapping):
        out["rawResourcesEndpointConfig"] = {
            **{k: v for k, v in rre.items() if v is not None},
            "kindExpressions": list(rre.get("kindExpressions") or []),
            "omitKindExpressions": list(rre.get("omitKindExpressions") or []),
        }
    crs = out.get("customResources")
    if isinstance(crs, list):
        out["customResources"] = [
            {k: v for k, v in {**{"versioned": False}, **c}.items() if v is not None} if isinstance(c, Mapping) else c
            for c in crs
        ]
    registries = out.get("dockerRegistries")
    if isinstance(registries, list):
        out["dockerRegistries"] = [
            {**{"namespaces": []}, **{k: v for k, v in r.items() if v is not None}} if isinstance(r, Mapping) else r
            for r in registries
        ]
    return out


AccountInput = KubernetesAccount | Mapping[str, Any]


def account_json(account: AccountInput) -> dict[str, Any]:
    if isinstance(account, KubernetesAccount):
        return account.to_halyard()
    return account_to_halyard(account)
