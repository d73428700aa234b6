"""Types shared by the three spinop.io/v1alpha1 kinds: base models, conditions, policy rules, durations.

The models here are the single source of truth for `crds/*.yaml` (see `spinop.api.crdgen`). A rule that the CRD
enforces with CEL (`x-kubernetes-validations`) is mirrored by a pydantic validator next to it, so that the webhook,
the reconcile and the unit tests reject exactly what the apiserver rejects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from spinop.api.reasons import Reason

# ---------------------------------------------------------------------------------------------------------------------
# CEL rules and schema extras


@dataclass(frozen=True)
class CelRule:
    """One `x-kubernetes-validations` entry. `field_path` is relative to the schema node that carries the rule."""

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = str(self.reason)  # a plain str: crdgen's YAML dumper refuses a Reason member
        return out


def cel(*rules: CelRule) -> dict[str, Any]:
    """Schema extra carrying CEL rules, for `Field(json_schema_extra=...)` or `ConfigDict(json_schema_extra=...)`."""
    return {"x-kubernetes-validations": [r.to_schema() for r in rules]}


LIST_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error for a model validator that names the offending field below the model.

    pydantic reports a model validator's error at the model's own location; `spinop.api.errors` appends
    `ctx["field"]` so the path says which field is wrong, as the CRD's CEL `fieldPath` does.
    """
    return PydanticCustomError("spinop_field", "{message}", {"message": message, "field": field})


# ---------------------------------------------------------------------------------------------------------------------
# Base models

_ALIASES = ConfigDict(
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
)


class SpecModel(BaseModel):
    """Base of everything under `spec`: camelCase JSON names, unknown fields refused.

    `null` values are dropped before validation, as the apiserver prunes nulls of non-nullable fields before
    defaulting: `profile: null` means "use the default" in both places.
    """

    model_config = ConfigDict(**_ALIASES, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class StatusModel(BaseModel):
    """Base of everything under `status`: lenient, unknown fields ignored (status is reconstructible)."""

    model_config = ConfigDict(**_ALIASES, extra="ignore")


_T = TypeVar("_T")


def unique_items(values: list[_T]) -> list[_T]:
    """Refuse duplicates, as `x-kubernetes-list-type: set` does."""
    seen: list[_T] = []
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate value {value!r}: each entry may appear only once")
        seen.append(value)
    return values


# ---------------------------------------------------------------------------------------------------------------------
# Scalars

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# Hours, minutes and seconds only (a subset of Go's time.ParseDuration, which CEL's duration() uses), at most five
# digits per unit so that no value overflows.
DURATION_PATTERN = r"^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$"
MAX_CLUSTER_NAME_LENGTH = 36
"""A SpinnakerCluster name is a DNS label of at most 36 characters, so `<cluster>-<namespace>` fits in 100."""

DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
ClusterName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CLUSTER_NAME_LENGTH, pattern=DNS_LABEL_PATTERN)
]
Duration = Annotated[str, StringConstraints(min_length=2, max_length=18, pattern=DURATION_PATTERN)]

_DURATION_PART = re.compile(r"([0-9]+)([hms])")


def parse_duration(value: str) -> timedelta:
    """Parse a duration string such as `24h`, `90m` or `1h30m` (the CRD's duration format) into a timedelta."""
    if not value or not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration like 24h, 90m or 1h30m")
    unit = {"h": "hours", "m": "minutes", "s": "seconds"}
    return timedelta(**{unit[u]: int(n) for n, u in _DURATION_PART.findall(value)})


def format_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`, rounded down to whole seconds: 8h0m0s is written `8h`."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{seconds}s" if seconds else "")
    return out or "0s"


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times (a naive time is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(format_time, return_type=str)]
"""An RFC 3339 time, written in UTC with second precision as Kubernetes does (`2026-01-02T03:04:05Z`)."""

Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]


# ---------------------------------------------------------------------------------------------------------------------
# Conditions


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One observation of the object's state, in the shape of metav1.Condition."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Type of condition in CamelCase, e.g. Ready. Each type appears at most once.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Why the condition has this status: one CamelCase word meant for programs and kubectl.",
    )
    message: str | None = Field(
        default=None,
        max_length=32768,
        description="What happened, for people; when status is False it says what to fix.",
    )
    last_transition_time: Timestamp | None = Field(
        default=None, description="When status last changed (not when the condition was last written)."
    )
    observed_generation: Int64 | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation this condition was computed for; older means it may be stale.",
    )


CONDITIONS_SCHEMA_EXTRA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


def conditions_field(description: str) -> Any:
    return Field(
        default_factory=list, max_length=16, description=description, json_schema_extra=CONDITIONS_SCHEMA_EXTRA
    )


def observed_generation_field() -> Any:
    return Field(
        default=None,
        ge=0,
        description="The metadata.generation that spinop last reconciled; status describes that generation.",
    )


# ---------------------------------------------------------------------------------------------------------------------
# RBAC-like rules


class Profile(StrEnum):
    """The RBAC profile a SpinnakerAccount's credentials get in its target namespace (defined in spinop.remote)."""

    DEPLOYER = "deployer"
    READONLY = "readonly"


_FORBIDDEN_VERBS = ("*", "escalate", "bind", "impersonate")

POLICY_RULE_CEL = (
    CelRule(
        rule="!self.verbs.exists(v, v in ['*', 'escalate', 'bind', 'impersonate'])",
        message="verbs must be listed explicitly and must not include '*', 'escalate', 'bind' or 'impersonate'",
        field_path=".verbs",
        reason=Reason.FieldValueForbidden,
    ),
    CelRule(
        rule="!self.resources.exists(r, r.contains('*'))",
        message="resources must be named explicitly (e.g. deployments or deployments/scale); '*' is not allowed",
        field_path=".resources",
        reason=Reason.FieldValueForbidden,
    ),
    CelRule(
        rule="!self.apiGroups.exists(g, g == '*')",
        message="apiGroups must be named explicitly ('' is the core group); '*' is not allowed",
        field_path=".apiGroups",
        reason=Reason.FieldValueForbidden,
    ),
)

ApiGroup = Annotated[str, StringConstraints(max_length=253, pattern=r"^(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9*][-a-z0-9.*/]*$")]
Verb = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^([a-z]+|\*)$")]


class PolicyRule(SpecModel):
    """A Kubernetes RBAC rule limited to named API groups, resources and verbs (no wildcards, no escalation)."""

    model_config = ConfigDict(json_schema_extra=cel(*POLICY_RULE_CEL))

    api_groups: Annotated[list[ApiGroup], AfterValidator(unique_items)] = Field(
        min_length=1,
        max_length=16,
        description='API groups the rule applies to, e.g. ["apps"]; "" is the core group (pods, services...). '
        "'*' is not allowed.",
        json_schema_extra=LIST_SET,
    )
    resources: Annotated[list[ResourceName], AfterValidator(unique_items)] = Field(
        min_length=1,
        max_length=32,
        description='Resources, lowercase plural, e.g. ["deployments", "deployments/scale"]. \'*\' is not allowed.',
        json_schema_extra=LIST_SET,
    )
    verbs: Annotated[list[Verb], AfterValidator(unique_items)] = Field(
        min_length=1,
        max_length=16,
        description='Verbs, e.g. ["get", "list", "watch", "create", "update", "patch", "delete"]. '
        "'*', escalate, bind and impersonate are not allowed.",
        json_schema_extra=LIST_SET,
    )

    @model_validator(mode="after")
    def _no_wildcards_or_escalation(self) -> PolicyRule:
        bad_verbs = [v for v in self.verbs if v in _FORBIDDEN_VERBS]
        if bad_verbs:
            raise field_error("verbs", POLICY_RULE_CEL[0].message + f" (got {', '.join(bad_verbs)})")
        if any("*" in r for r in self.resources):
            raise field_error("resources", POLICY_RULE_CEL[1].message)
        if "*" in self.api_groups:
            raise field_error("apiGroups", POLICY_RULE_CEL[2].message)
        return self

    def triples(self) -> list[tuple[str, str, str]]:
        """Every (apiGroup, resource, verb) this rule grants."""
        return [(g, r, v) for g in self.api_groups for r in self.resources for v in self.verbs]


# ---------------------------------------------------------------------------------------------------------------------
# Spinnaker permissions

Role = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Roles = Annotated[list[Role], AfterValidator(unique_items)]


def _roles_field(alias: str, what: str) -> Any:
    return Field(
        default=None,
        alias=alias,
        max_length=64,
        description=f"Spinnaker (Fiat) roles that may {what}. Omitted: no role is granted this permission.",
        json_schema_extra=LIST_SET,
    )


AUTHORIZATIONS = ("READ", "WRITE", "EXECUTE", "CREATE")
"""Fiat's `Authorization` enum (fiat-core .../fiat/model/Authorization.java): the only permission keys there are."""

PERMISSION_KEYS_CEL = CelRule(
    rule="self.all(k, k in " + str(list(AUTHORIZATIONS)) + ")",
    message="permission keys are READ, WRITE, EXECUTE and CREATE, uppercase, as Fiat spells them; any other key "
    "(ADMIN, lowercase read, ...) would be dropped and leave the object open to every Spinnaker user",
    reason=Reason.FieldValueForbidden,
)


def permissions_schema(schema: dict[str, Any]) -> None:
    """A map with an allowlisted key set instead of fixed properties: the apiserver would silently prune an unknown
    key (ADMIN, lowercase read) from an object schema, so the key check must be a CEL rule over map keys."""
    roles = schema["properties"]["READ"]
    schema.pop("properties")
    schema.pop("additionalProperties", None)
    schema["additionalProperties"] = {k: v for k, v in roles.items() if k not in ("default", "description")}
    schema["maxProperties"] = len(AUTHORIZATIONS)
    schema.setdefault("x-kubernetes-validations", []).append(PERMISSION_KEYS_CEL.to_schema())


class Permissions(SpecModel):
    """Fiat permissions: which Spinnaker roles may read, write, execute or create. Keys are uppercase, as Fiat
    expects; any other key is refused (Fiat's Authorization enum has exactly these four)."""

    model_config = ConfigDict(json_schema_extra=permissions_schema)

    read: Roles | None = _roles_field("READ", "see it")
    write: Roles | None = _roles_field("WRITE", "change it")
    execute: Roles | None = _roles_field("EXECUTE", "run pipelines with it")
    create: Roles | None = _roles_field("CREATE", "create things under it")

    @model_validator(mode="before")
    @classmethod
    def _only_fiat_keys(cls, data: Any) -> Any:
        # Field names (read, write) would validate by name too; only Fiat's uppercase keys are accepted.
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in AUTHORIZATIONS)
            if unknown:
                raise ValueError(PERMISSION_KEYS_CEL.message + f" (got {', '.join(unknown)})")
        return data

    def granted(self) -> dict[str, tuple[str, ...]]:
        """The roles per key as Fiat keeps them (Permissions.Builder: trimmed, lowercased, blanks dropped, empty
        keys dropped); sorted. Empty means unrestricted: Fiat then gives every user every authorization."""
        out: dict[str, tuple[str, ...]] = {}
        for key, roles in zip(AUTHORIZATIONS, (self.read, self.write, self.execute, self.create), strict=True):
            kept = sorted({r.strip().lower() for r in roles or () if r.strip()})
            if kept:
                out[key] = tuple(kept)
        return out


# ---------------------------------------------------------------------------------------------------------------------
# Object metadata and the resource envelope


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta spinop reads. Everything else is kept as is."""

    model_config = ConfigDict(**_ALIASES, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    finalizers: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0

    def to_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            out["priority"] = self.priority
        return out


def condition_column(name: str, condition: str, field: str = "status") -> PrinterColumn:
    return PrinterColumn(
        name=name,
        type="string",
        json_path=f'.status.conditions[?(@.type=="{condition}")].{field}',
        description=f"The {field} of the {condition} condition.",
    )


AGE_COLUMN = PrinterColumn(
    name="Age", type="date", json_path=".metadata.creationTimestamp", description="Time since creation."
)


class CustomResource(BaseModel):
    """Base of the three kinds: the envelope (apiVersion, kind, metadata) plus CRD facts used by `crdgen`."""

    model_config = ConfigDict(**_ALIASES, extra="forbid")

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SINGULAR: ClassVar[str]
    SHORT_NAMES: ClassVar[tuple[str, ...]]
    SCOPE: ClassVar[Literal["Namespaced", "Cluster"]]
    CATEGORIES: ClassVar[tuple[str, ...]] = ("spinnaker",)
    DESCRIPTION: ClassVar[str]
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]]
    ROOT_VALIDATIONS: ClassVar[tuple[CelRule, ...]] = ()
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = ()
    """JSON paths the apiserver can filter lists by (CRD `selectableFields`, `fieldSelector=spec.x=y`)."""

    api_version: Literal["spinop.io/v1alpha1"] = "spinop.io/v1alpha1"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def to_dict(self) -> dict[str, Any]:
        """The object as the Kubernetes API shows it: camelCase, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def unique_by(items: Sequence[Any], key: str, field: str) -> None:
    """Raise a field error if two items share `key` (a map-list key in the CRD)."""
    seen: set[Any] = set()
    for item in items:
        value = getattr(item, key)
        if value in seen:
            raise field_error(field, f"duplicate entry {value!r}: each {field} entry needs a distinct key")
        seen.add(value)
