"""SpinnakerPipeline: a Spinnaker pipeline kept in sync from a custom resource in the tenant's MGMT namespace.

The kind is SpinnakerPipeline, not Pipeline, so that `kubectl get pipelines` never collides with Tekton.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1.common import (
    AGE_COLUMN,
    CelRule,
    Condition,
    CustomResource,
    Int64,
    Permissions,
    PrinterColumn,
    SpecModel,
    StatusModel,
    Timestamp,
    cel,
    condition_column,
    conditions_field,
    field_error,
    observed_generation_field,
)

APPLICATION_PATTERN = r"^[a-z][a-z0-9-]*$"
# An allowlist: letters, marks, digits, symbols, brackets, dashes, connectors and quotes of any script, plus space
# (never at either end) and ! " & ' * , . : @. Everything else is refused, among it each character Gate cannot take
# in DELETE /pipelines/{app}/{name}: Tomcat refuses %2F and backslashes (400), Spring Security's StrictHttpFirewall
# ; % control characters and U+2028/U+2029 (500), and ? # end the path. RE2 (apiserver) and Rust regex (pydantic).
_PIPELINE_NAME_CHARACTER = r"\p{L}\p{M}\p{N}\p{S}\p{Pc}\p{Pd}\p{Ps}\p{Pe}\p{Pi}\p{Pf}" + "!\"&'*,.:@"
PIPELINE_NAME_PATTERN = f"^[{_PIPELINE_NAME_CHARACTER}]([{_PIPELINE_NAME_CHARACTER} ]*[{_PIPELINE_NAME_CHARACTER}])?$"
_PIPELINE_NAME_ROUTABLE = CelRule(
    rule="!(self in ['.', '..']) && !['/', '\\\\', ';', '%', '?', '#'].exists(c, self.contains(c))",
    message="name must not be '.' or '..' and must not contain / \\ ; % ? #: Gate refuses such a name in the URL "
    "that deletes the pipeline (DELETE /pipelines/{app}/{name}), so the pipeline could be saved but never deleted",
)
RESERVED_PIPELINE_KEYS = ("id", "application", "name")
# Bounds on the free-form body (a real pipeline is a few levels and kilobytes deep; Deck's own are < 20 levels).
# Depth: the apiserver accepts 10,000 levels, far past what Python's recursive json/copy handle by default.
# Size, as JSON with non-ASCII escaped (how kopf stores it): kopf keeps the spec in its last-handled-configuration
# annotation, `kubectl apply` in last-applied-configuration, and all annotations together may hold 256 KiB.
MAX_PIPELINE_DEPTH = 100
MAX_PIPELINE_BYTES = 96 * 1024
MAX_PIPELINE_KEYS = 256


def _shown(link: tuple[str, Any] | None) -> str:
    """A path kept as (part, parent) links, shortened for a message: `stages[0].a.a.….a`."""
    parts: list[str] = []
    while link is not None:
        parts.append(link[0])
        link = link[1]
    parts.reverse()
    if len(parts) > 8:
        parts = [*parts[:5], "…", *parts[-2:]]
    return "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(parts))


def pipeline_body_problem(body: Any) -> str | None:
    """Why a pipeline body is too deep or too large, or None. Iterative: any shape or depth gives an answer, never a
    RecursionError."""
    stack: list[tuple[Any, int, tuple[str, Any] | None]] = [(body, 1, None)]
    seen = 0  # values taken off the stack
    while stack:
        value, depth, link = stack.pop()
        seen += 1
        if depth > MAX_PIPELINE_DEPTH:
            return (
                f"is nested more than {MAX_PIPELINE_DEPTH} levels deep (at {_shown(link)}); a Spinnaker pipeline "
                "needs far fewer"
            )
        if isinstance(value, dict | list) and seen + len(stack) + len(value) > MAX_PIPELINE_BYTES // 2:
            # Each value takes 2 bytes of JSON at least: stop before walking (and sizing) a body that cannot fit.
            return (
                f"has more than {MAX_PIPELINE_BYTES // 2} values, so more than {MAX_PIPELINE_BYTES} bytes as JSON; at "
                f"most {MAX_PIPELINE_BYTES} bytes are accepted"
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1, (str(k), link)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, (f"[{i}]", link)) for i, v in enumerate(value))
    size = len(json.dumps(body, separators=(",", ":"), default=str))
    if size > MAX_PIPELINE_BYTES:
        return f"is {size} bytes as JSON; at most {MAX_PIPELINE_BYTES} bytes are accepted"
    return None


class DriftPolicy(StrEnum):
    ENFORCE = "Enforce"
    REPORT = "Report"


class ApplicationSettings(SpecModel):
    """Settings for the Spinnaker application, used when spinop has to create it."""

    email: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="Owner email of the application, shown in Spinnaker.",
    )
    permissions: Permissions | None = Field(
        default=None,
        description="Which Spinnaker roles may READ, WRITE and EXECUTE the application. Omitted: unrestricted.",
    )


_APPLICATION_IMMUTABLE = CelRule(
    rule="self == oldSelf",
    message="application is immutable: create a new SpinnakerPipeline for another application",
)
_PIPELINE_BODY_CEL = (
    CelRule(
        rule="!has(self.id)",
        message="pipeline.id must not be set: spinop derives a stable pipeline id from this resource (shown in "
        "status.pipelineId)",
        field_path=".id",
        reason=Reason.FieldValueForbidden,
    ),
    CelRule(
        rule="!has(self.application)",
        message="pipeline.application must not be set: use spec.application",
        field_path=".application",
        reason=Reason.FieldValueForbidden,
    ),
    CelRule(
        rule="!has(self.name)",
        message="pipeline.name must not be set: use spec.name",
        field_path=".name",
        reason=Reason.FieldValueForbidden,
    ),
)
_RESERVED_PROPERTY_DESCRIPTION = "Not allowed here: set by spinop from the resource."
PIPELINE_BODY_SCHEMA: dict[str, Any] = {
    "x-kubernetes-preserve-unknown-fields": True,
    # Declared (as strings) only so that CEL can see them: CEL cannot read fields that are merely preserved.
    "properties": {
        key: {"type": "string", "maxLength": 1024, "description": _RESERVED_PROPERTY_DESCRIPTION}
        for key in RESERVED_PIPELINE_KEYS
    },
    **cel(*_PIPELINE_BODY_CEL),
}


class SpinnakerPipelineSpec(SpecModel):
    """The pipeline spinop keeps in Spinnaker: which application, which name, and its body."""

    application: str = Field(
        min_length=1,
        max_length=63,
        pattern=APPLICATION_PATTERN,
        description="The Spinnaker application (lowercase letters, digits and '-', starting with a letter, at "
        "most 63). spinop creates it if missing (see applicationSettings). An application belongs to the first "
        "MGMT namespace that claims it. Immutable.",
        json_schema_extra=cel(_APPLICATION_IMMUTABLE),
    )
    name: str = Field(
        min_length=1,
        max_length=256,
        pattern=PIPELINE_NAME_PATTERN,
        description="The pipeline's name in the application (1-256 characters: letters, digits, symbols, brackets, "
        "dashes, underscores, quotes, spaces (not at either end) and ! & * , . : @; not '.' or '..'; none of "
        "/ \\ ; % ? # or control characters, which Gate refuses in the URL that deletes a pipeline). Unique in the "
        "application, ignoring case. Renaming keeps the pipeline's id and history.",
        json_schema_extra=cel(_PIPELINE_NAME_ROUTABLE),
    )
    pipeline: dict[str, Any] = Field(
        max_length=MAX_PIPELINE_KEYS,
        description="The Spinnaker pipeline body, as in the UI's 'Edit as JSON': stages, triggers, parameterConfig, "
        "expectedArtifacts, notifications, limitConcurrent, ... It must not set id, application or name (they "
        "come from this resource). Every account it names must belong to a Ready SpinnakerAccount in this "
        "namespace, or the save is refused. At most "
        f"{MAX_PIPELINE_DEPTH} levels deep, {MAX_PIPELINE_BYTES // 1024} KiB as JSON and {MAX_PIPELINE_KEYS} "
        "top-level keys.",
        json_schema_extra=PIPELINE_BODY_SCHEMA,
    )
    drift_policy: DriftPolicy = Field(
        default=DriftPolicy.ENFORCE,
        description="What to do when the pipeline in Spinnaker differs from this resource (e.g. edited in the UI). "
        "Enforce (default): save this resource's version again. Report: leave Spinnaker's version and set the "
        "InSync condition to False (reason Drifted) until they agree.",
    )
    adopt: bool = Field(
        default=False,
        description="Take over an existing pipeline of the same name in the application that spinop did not "
        "create. Default false: such a name conflict is refused and the existing pipeline is left alone.",
    )
    application_settings: ApplicationSettings | None = Field(
        default=None,
        description="Used only when spinop creates the application: owner email and permissions. An existing "
        "application is not changed.",
    )

    @field_validator("name")
    @classmethod
    def _routable_name(cls, name: str) -> str:
        if name in (".", ".."):
            raise PydanticCustomError("pipeline_name", _PIPELINE_NAME_ROUTABLE.message)
        return name

    @field_validator("pipeline")
    @classmethod
    def _no_reserved_keys(cls, body: dict[str, Any]) -> dict[str, Any]:
        for rule, key in zip(_PIPELINE_BODY_CEL, RESERVED_PIPELINE_KEYS, strict=True):
            if key in body:
                raise field_error(key, rule.message)
        return body

    @field_validator("pipeline")
    @classmethod
    def _bounded(cls, body: dict[str, Any]) -> dict[str, Any]:
        problem = pipeline_body_problem(body)
        if problem is not None:
            raise field_error("", problem)
        return body

    def update_errors(self, old: SpinnakerPipelineSpec) -> list[FieldError]:
        """The CRD's transition rules: what an update from `old` to this spec may not change."""
        if self.application != old.application:
            return [FieldError("spec.application", _APPLICATION_IMMUTABLE.message)]
        return []

    def ready_inputs(self) -> tuple[str, ...]:
        """Conditions the Ready summary depends on: drift counts only when spinop is asked to enforce."""
        if self.drift_policy == DriftPolicy.ENFORCE:
            return ("Synced", "InSync")
        return ("Synced",)


class SpinnakerPipelineStatus(StatusModel):
    """What spinop last saved and observed in Spinnaker."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = ("Ready", "Synced", "InSync")

    observed_generation: Int64 | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "Synced: the current generation was saved through Gate (False with the reason when the save or the tenant "
        "guard refused it). InSync: the pipeline in Spinnaker equals this resource (False, reason Drifted, after a "
        "UI edit). Ready: summary, True when Synced is True and, under driftPolicy Enforce, InSync is True."
    )
    pipeline_id: str | None = Field(default=None, max_length=256, description="The pipeline's id in Spinnaker.")
    last_synced_at: Timestamp | None = Field(
        default=None, description="When spinop last saved or confirmed the pipeline."
    )
    last_modified_by: str | None = Field(
        default=None, max_length=256, description="Who last changed the pipeline in Spinnaker (Front50)."
    )
    drift_detected_at: Timestamp | None = Field(
        default=None, description="When spinop last found Spinnaker's pipeline different from this resource."
    )


class SpinnakerPipeline(CustomResource):
    KIND: ClassVar[str] = "SpinnakerPipeline"
    PLURAL: ClassVar[str] = "spinnakerpipelines"
    SINGULAR: ClassVar[str] = "spinnakerpipeline"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("sppipeline",)
    SCOPE: ClassVar[Literal["Namespaced", "Cluster"]] = "Namespaced"
    DESCRIPTION: ClassVar[str] = (
        "SpinnakerPipeline keeps one Spinnaker pipeline equal to this resource: spinop saves it through Gate with a "
        "stable id, creates the application if missing, restores or reports edits made in the UI, and deletes the "
        "pipeline when the resource is deleted. It may only use accounts of Ready SpinnakerAccounts in the same "
        "namespace."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Application", "string", ".spec.application", "The Spinnaker application."),
        PrinterColumn("Pipeline", "string", ".spec.name", "The pipeline name."),
        condition_column("Ready", "Ready"),
        PrinterColumn("Last Synced", "date", ".status.lastSyncedAt", "When spinop last saved or confirmed it."),
        AGE_COLUMN,
    )

    kind: Literal["SpinnakerPipeline"] = "SpinnakerPipeline"
    spec: SpinnakerPipelineSpec = Field(description="Desired state, written by the tenant.")
    status: SpinnakerPipelineStatus = Field(
        default_factory=SpinnakerPipelineStatus, description="Observed state, written by spinop."
    )
