"""What one reconcile of a SpinnakerPipeline does (pure, no I/O): the verdict before anything reaches Gate
(`guard_refusal`), then, against the live pipeline, confirm, save, restore drift or report it (`decide`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spinop.api.conditions import raw_condition
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import DriftPolicy, SpinnakerPipelineSpec
from spinop.config import PipelineSettings
from spinop.errors import InvalidRequest, SpinopError, Waiting

from .claims import PipelineClaim, owns_application
from .drift import compare
from .guard import check_pipeline
from .paths import Violation
from .render import LOCK_PREFIX, RenderRefused, render_desired
from .scope import Tenancy

MAX_MESSAGE = 3000


class Action(enum.Enum):
    CONFIRM = "confirm"  # Spinnaker already has the desired pipeline
    CREATE = "create"  # save a pipeline Spinnaker does not have
    UPDATE = "update"  # save a new generation of the spec
    RESTORE = "restore"  # Enforce: save over a change made in Spinnaker (or re-create a deleted pipeline)
    REPORT = "report"  # Report: leave Spinnaker's version, set InSync=False


@dataclass(frozen=True)
class Decision:
    action: Action
    paths: tuple[str, ...] = ()  # what differs, as paths into the resource
    missing: bool = False  # the pipeline spinop saved is gone from Spinnaker


@dataclass(frozen=True)
class Observed:
    """What the resource's own status says about earlier reconciles."""

    pipeline_id: str | None
    saved_generation: int | None
    drifted: bool
    last_synced_at: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Observed:
        status = body.get("status") or {}
        synced = raw_condition(status, "Synced") or {}
        in_sync = raw_condition(status, "InSync") or {}
        generation = synced.get("observedGeneration")
        return cls(
            pipeline_id=status.get("pipelineId") or None,
            saved_generation=generation if synced.get("status") == "True" and isinstance(generation, int) else None,
            drifted=in_sync.get("status") == "False",
            last_synced_at=status.get("lastSyncedAt"),
        )


def decide(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    policy: DriftPolicy,
    saved_generation: int | None,
    generation: int | None,
    saved_before: bool,
) -> Decision:
    """What to do with one pipeline. `saved_generation`: the generation spinop last saved (Synced=True), if any;
    `saved_before`: spinop saved this pipeline id at some point (status.pipelineId)."""
    spec_unchanged = saved_generation is not None and saved_generation == generation
    if live is None:
        if saved_before and spec_unchanged:
            if policy == DriftPolicy.REPORT:
                return Decision(Action.REPORT, ("spec.pipeline",), missing=True)
            return Decision(Action.RESTORE, ("spec.pipeline",), missing=True)
        return Decision(Action.CREATE)
    paths = tuple(resource_path(p) for p in compare(desired, live))
    if not paths:
        return Decision(Action.CONFIRM)
    if not spec_unchanged:
        return Decision(Action.UPDATE, paths)
    if policy == DriftPolicy.ENFORCE:
        return Decision(Action.RESTORE, paths)
    return Decision(Action.REPORT, paths)


def resource_path(path: str) -> str:
    """A path into the saved pipeline body (`stages[0].account`) as a path into the resource."""
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if path in ("", "$"):
        return "spec.pipeline"
    if head in ("name", "application"):
        return f"spec.{path}"
    if head in ("id", "locked"):
        return path  # spinop's own fields
    return f"spec.pipeline{path}" if path.startswith("[") else f"spec.pipeline.{path}"


def same_name(a: Any, b: str) -> bool:
    """Front50 compares pipeline names trimmed and ignoring case."""
    return isinstance(a, str) and a.strip().lower() == b.strip().lower()


def managed_by(config: Mapping[str, Any]) -> str | None:
    """`<namespace>/<name>` of the SpinnakerPipeline that saved a pipeline (from its `locked` description)."""
    locked = config.get("locked")
    description = locked.get("description") if isinstance(locked, Mapping) else None
    if isinstance(description, str) and description.startswith(LOCK_PREFIX):
        return description[len(LOCK_PREFIX) :]
    return None


def name_holder(
    configs: Iterable[dict[str, Any]],
    live: Mapping[str, Any] | None,
    *,
    spec: SpinnakerPipelineSpec,
    pipeline_id: str,
    owner: str,
    claims: Iterable[PipelineClaim],
) -> dict[str, Any] | None:
    """The pipeline of another id holding `spec.name` that spec.adopt takes over, or None when no other id holds
    the name; raises InvalidRequest when the name is ambiguous, another SpinnakerPipeline's, or not adopted."""
    holders = [c for c in configs if c.get("id") != pipeline_id and same_name(c.get("name"), spec.name)]
    if not holders:
        return None
    ids = ", ".join(str(c.get("id")) for c in holders)
    if len(holders) > 1:
        raise InvalidRequest(
            f"spec.name: {len(holders)} pipelines in application {spec.application} are named {spec.name!r} "
            f"ignoring case (ids {ids}); acting on one would be a guess: remove the duplicates in Spinnaker first",
            reason=Reason.PipelineNameAmbiguous,
        )
    holder = holders[0]
    manager = managed_by(holder)
    if manager and manager != owner and any(c.owner == manager for c in claims):
        mine = manager.partition("/")[0] == owner.partition("/")[0]
        raise InvalidRequest(
            f"spec.name: pipeline {spec.name!r} in application {spec.application} belongs to "
            f"{f'SpinnakerPipeline {manager}' if mine else 'a SpinnakerPipeline of another namespace'}; choose "
            "another spec.name",
            reason=Reason.PipelineNameTaken,
        )
    who = holder.get("lastModifiedBy") or "someone"
    if not spec.adopt:
        raise InvalidRequest(
            f"spec.name: application {spec.application} already has a pipeline named {spec.name!r} (id {ids}, "
            f"last changed by {who}) that spinop did not create; set spec.adopt: true to take it over, or choose "
            "another spec.name",
            reason=Reason.PipelineNameTaken,
        )
    if live is not None:
        raise InvalidRequest(
            f"spec.name: spinop's pipeline {pipeline_id} exists and pipeline {ids} is named {spec.name!r}; "
            "rename or delete one of them in Spinnaker",
            reason=Reason.PipelineNameTaken,
        )
    return holder


def describe_violations(violations: Iterable[Violation]) -> str:
    text = "; ".join(str(v) for v in violations)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def guard_refusal(
    spec: SpinnakerPipelineSpec,
    *,
    namespace: str,
    owner: str,
    pipeline_id: str,
    tenancy: Tenancy,
    settings: PipelineSettings,
) -> SpinopError | None:
    """The reconcile's verdict before anything reaches Gate: the body rendered and guarded, the application claim,
    and whether accounts still on their way would change the answer. Refusals name the exact paths."""
    try:
        body = render_desired(spec, pipeline_id=pipeline_id, owner=owner)
    except RenderRefused as err:
        return InvalidRequest(describe_violations(err.violations), reason=Reason.InvalidSpec)
    violations = check_pipeline(body, tenancy.scope)
    allowed, why = owns_application(namespace, spec.application, tenancy.claims, settings)
    if not allowed:
        # The guard says only "not owned"; say who owns it instead.
        rest = [v for v in violations if v.path != "spec.application"]
        return InvalidRequest(
            describe_violations([Violation("spec.application", why), *rest]), reason=Reason.ApplicationNotOwned
        )
    if violations and tenancy.pending_scope is not None and not check_pipeline(body, tenancy.pending_scope):
        # Refused only because accounts of the namespace are still on their way: wait for them, nothing is saved.
        return Waiting(
            f"waiting for SpinnakerAccount {', '.join(tenancy.pending_accounts)} to become Ready; "
            f"until then: {describe_violations(violations)}",
            reason=Reason.WaitingForAccount,
            retry_after=10,
        )
    if violations:
        reason = (
            Reason.ApplicationNotOwned
            if any(v.path == "spec.application" for v in violations)
            else Reason.PipelineRefused
        )
        return InvalidRequest(describe_violations(violations), reason=reason)
    return None
