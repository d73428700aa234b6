"""The Gate steps of one SpinnakerPipeline reconcile, after the controller (controllers/pipelines.py) validated the
resource and built its tenant scope: tenant guard (`pipelines.decision.guard_refusal`; a refusal sends nothing to
Gate) → the application (created with spec.applicationSettings when missing; an existing one is used only if spinop
created it for this namespace or an admin granted it) → name conflicts (another id holding the name is refused unless
spec.adopt) → decide (`pipelines.decision.decide`): confirm, save, restore drift or report it → save through Gate
(staleCheck, read back) → what status and Events say. And the finalizer's delete by id. The pure steps live in
`spinop.pipelines`; this module does the Gate I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinop.api.reasons import EventReason, Reason
from spinop.api.v1alpha1 import SpinnakerPipelineSpec, format_time
from spinop.controllers.context import OperatorContext
from spinop.errors import InvalidRequest, SpinopError, Waiting
from spinop.gate import GateClient, GateDuplicateName, GateSaveStillRunning, GateStale
from spinop.gate.errors import GateUnroutablePath
from spinop.kube.status import StatusReport, utcnow
from spinop.pipelines import TenantScope, check_pipeline, compare
from spinop.pipelines.claims import (
    PipelineClaim,
    application_attributes,
    creation_settings,
    existing_application_refusal,
)
from spinop.pipelines.decision import (
    MAX_MESSAGE,
    Action,
    Decision,
    Observed,
    decide,
    describe_violations,
    guard_refusal,
    name_holder,
    resource_path,
)
from spinop.pipelines.render import render_desired
from spinop.pipelines.scope import Tenancy

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3


@dataclass
class Outcome(StatusReport):
    def fail(self, error: SpinopError, *, saved: bool = False) -> Outcome:
        """Report a failure. When the current generation was already saved and time can fix the failure (Gate is
        down during a drift pass), Synced stays True: only the comparison is unknown."""
        if saved and not error.needs_user:
            self.set("InSync", "Unknown", error.reason, f"cannot compare with Spinnaker: {error.message}")
        else:
            self.set("Synced", "False", error.reason, error.message)
        self.error = error
        return self


def _now() -> str:
    return format_time(utcnow())


# ---------------------------------------------------------------------------------------------- the Gate steps


@dataclass
class PipelineWork:
    """One reconcile's inputs, after validation."""

    ctx: OperatorContext
    gate: GateClient
    namespace: str
    name: str
    spec: SpinnakerPipelineSpec
    tenancy: Tenancy
    observed: Observed
    generation: int | None
    pipeline_id: str
    out: Outcome

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def scope(self) -> TenantScope:
        return self.tenancy.scope

    @property
    def claims(self) -> list[PipelineClaim]:
        return self.tenancy.claims

    def render(self, live: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return render_desired(self.spec, pipeline_id=self.pipeline_id, owner=self.owner, live=live)


async def save_to_spinnaker(work: PipelineWork) -> None:
    refused = guard_refusal(
        work.spec,
        namespace=work.namespace,
        owner=work.owner,
        pipeline_id=work.pipeline_id,
        tenancy=work.tenancy,
        settings=work.ctx.config.pipelines,
    )
    if refused is not None:
        raise refused

    await _ensure_application(work)
    configs = await work.gate.list_pipeline_configs(work.spec.application)
    live = next((c for c in configs if c.get("id") == work.pipeline_id), None)
    live = await _resolve_name_conflicts(work, configs, live)

    decision = decide(
        work.render(live),
        live,
        policy=work.spec.drift_policy,
        saved_generation=work.observed.saved_generation,
        generation=work.generation,
        saved_before=work.observed.pipeline_id == work.pipeline_id,
    )
    if decision.action is Action.REPORT:
        _report_drift(work, decision, live)
        return
    stored = live if decision.action is Action.CONFIRM else await _save(work, live)
    assert stored is not None
    _record_saved(work, decision, live, stored)


def _drift_message(work: PipelineWork, decision: Decision, live: Mapping[str, Any] | None) -> str:
    if decision.missing:
        return f"pipeline {work.spec.name!r} was deleted in Spinnaker"
    editor = (live or {}).get("lastModifiedBy") or "someone"
    return f"pipeline {work.spec.name!r} was changed in Spinnaker by {editor}: {', '.join(decision.paths)}"


def _report_drift(work: PipelineWork, decision: Decision, live: Mapping[str, Any] | None) -> None:
    """driftPolicy Report: leave Spinnaker's version, say what differs and who changed it."""
    out = work.out
    message = f"{_drift_message(work, decision, live)}; driftPolicy is Report, so spinop leaves it"
    out.set("InSync", "False", Reason.Drifted, message[:MAX_MESSAGE])
    if not work.observed.drifted:
        out.fields["driftDetectedAt"] = _now()
        out.events.append(("Warning", EventReason.DriftDetected, message))
    if live is not None:
        out.fields["lastModifiedBy"] = live.get("lastModifiedBy")


def _record_saved(
    work: PipelineWork, decision: Decision, live: Mapping[str, Any] | None, stored: Mapping[str, Any]
) -> None:
    """Status and Events after Spinnaker was found or made equal to the resource."""
    out, spec = work.out, work.spec
    if decision.action is not Action.CONFIRM or not work.observed.last_synced_at:
        out.fields["lastSyncedAt"] = _now()
    if decision.action is Action.RESTORE:
        out.fields["driftDetectedAt"] = _now()
        restored = "re-created it" if decision.missing else "restored it"
        out.events.append(
            (
                "Warning",
                EventReason.DriftRestored,
                f"{_drift_message(work, decision, live)}; {restored} (driftPolicy Enforce)",
            )
        )
    elif decision.action is Action.CREATE:
        out.events.append(
            (
                "Normal",
                EventReason.PipelineCreated,
                f"saved pipeline {spec.name!r} as {work.pipeline_id} in {spec.application}",
            )
        )
    elif decision.action is Action.UPDATE:
        changed = ", ".join(decision.paths)
        out.events.append(("Normal", EventReason.PipelineUpdated, f"saved generation {work.generation}: {changed}"))
    out.fields["pipelineId"] = work.pipeline_id
    out.fields["lastModifiedBy"] = stored.get("lastModifiedBy")
    out.set(
        "Synced",
        "True",
        Reason.Saved,
        f"Spinnaker has pipeline {spec.name!r} (id {work.pipeline_id}) in application {spec.application}",
    )
    left = compare(work.render(stored), stored)
    if left:
        # Spinnaker stored something differently from what was sent, in a way spinop does not know to ignore.
        paths = ", ".join(resource_path(p) for p in left)
        log.warning("pipeline %s: Spinnaker stored %s differently from what spinop saved", work.owner, paths)
        out.set("InSync", "False", Reason.Drifted, f"Spinnaker stores these fields differently: {paths}"[:MAX_MESSAGE])
    else:
        out.set("InSync", "True", Reason.InSync, "the pipeline in Spinnaker equals this resource")


async def _ensure_application(work: PipelineWork) -> None:
    """Create the application when missing; refuse one spinop did not create for this namespace."""
    spec, gate, settings = work.spec, work.gate, work.ctx.config.pipelines
    app = await gate.get_application(spec.application)
    if app is None:
        own = creation_settings(work.namespace, spec.application, spec.application_settings, work.claims)
        attributes = application_attributes(spec.application, work.namespace, own, settings)
        await gate.run_task(
            {
                "application": spec.application,
                "description": f"Create application {spec.application} (spinop, for {work.owner})",
                "job": [{"type": "createApplication", "application": attributes}],
            }
        )
        work.out.events.append(
            (
                "Normal",
                EventReason.ApplicationCreated,
                f"created Spinnaker application {spec.application} for {work.namespace}",
            )
        )
        return
    refused = existing_application_refusal(app.attributes, spec.application, work.namespace, settings)
    if refused is not None:
        raise refused


async def _resolve_name_conflicts(
    work: PipelineWork, configs: list[dict[str, Any]], live: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Refuse a name held by another pipeline id, or adopt that pipeline when spec.adopt says so."""
    holder = name_holder(
        configs, live, spec=work.spec, pipeline_id=work.pipeline_id, owner=work.owner, claims=work.claims
    )
    if holder is None:
        return live
    work.pipeline_id = str(holder["id"])
    violations = check_pipeline(work.render(holder), work.scope)  # the id decides which runAsUser is its own
    if violations:
        raise InvalidRequest(describe_violations(violations), reason=Reason.PipelineRefused)
    who = holder.get("lastModifiedBy") or "someone"
    work.out.events.append(
        (
            "Normal",
            EventReason.PipelineAdopted,
            f"took over pipeline {work.spec.name!r} (id {holder['id']}, last changed by {who})",
        )
    )
    return holder


async def _save(work: PipelineWork, live: dict[str, Any] | None) -> dict[str, Any]:
    """Save (staleCheck when updating) and read back; re-read and retry when someone saved in between."""
    gate, application = work.gate, work.spec.application
    for _attempt in range(SAVE_ATTEMPTS):
        stamp = live.get("lastModified") if live else None
        try:
            await gate.save_pipeline(work.render(live), stale_check=live is not None)
        except GateStale:
            live = await gate.find_pipeline(application, work.pipeline_id)
            continue
        except GateSaveStillRunning:
            # The save may still complete: read back instead of saving again.
            stored = await gate.wait_for_pipeline(
                application,
                work.pipeline_id,
                newer_than=stamp if isinstance(stamp, int) else None,
                within=gate.settings.save_timeout,
            )
            if stored is None:
                raise Waiting(
                    "Gate has not finished saving the pipeline yet; spinop reads it back before saving again",
                    reason=Reason.SaveStillRunning,
                    retry_after=10,
                ) from None
            return stored
        stored = await gate.find_pipeline(application, work.pipeline_id)
        if stored is None:
            raise Waiting(
                f"Gate accepted the save but does not list pipeline {work.pipeline_id} yet",
                reason=Reason.SaveNotVisible,
                retry_after=5,
            )
        return stored
    raise Waiting(
        "the pipeline kept changing in Spinnaker while spinop saved it (staleCheck); trying again",
        reason=Reason.PipelineStale,
        retry_after=5,
    )


# ------------------------------------------------------------------------------------------------------ deletion


async def delete_by_id(gate: GateClient, application: str, name: str, saved_id: str) -> bool:
    """Delete our pipeline. Gate deletes by name: a shared name, or one Gate cannot take in a URL (a rename in the
    UI to e.g. 'a;b'), is renamed to a unique routable one first."""
    try:
        return await gate.delete_pipeline(application, name, pipeline_id=saved_id)
    except (GateDuplicateName, GateUnroutablePath):
        return await _delete_under_unique_name(gate, application, saved_id)


async def _delete_under_unique_name(gate: GateClient, application: str, saved_id: str) -> bool:
    """Gate deletes by name; when another pipeline shares ours (ignoring case), rename ours first."""
    live = await gate.find_pipeline(application, saved_id)
    if live is None:
        return False
    unique = f"spinop-deleting-{saved_id}"
    renamed = {k: v for k, v in live.items() if k != "index"}
    renamed["name"] = unique
    await gate.save_pipeline(renamed, stale_check=True)
    return await gate.delete_pipeline(application, unique, pipeline_id=saved_id)
