"""SpinnakerPipeline: one idempotent reconcile for every trigger (create, update, resume, the drift pass), and the
finalizer.

reconcile: validate → tenant scope (`pipelines.scope`: Ready accounts of the namespace, the applications it owns,
admin grants) → the deterministic id → the Gate steps (`controllers.pipeline_save`: guard, application, name
conflicts, decide, save, read back) → status and Events. finalize deletes the pipeline spinop saved, by id.

Application ownership (`pipelines.claims`): the Gate side agrees with the claims: applications spinop creates carry
the creating namespace in `spinopNamespace`, and spinop never writes into one that names another namespace (or that
spinop did not create, unless granted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from spinop.api.reasons import EventReason, Reason
from spinop.api.v1alpha1 import SpinnakerPipeline, validate_resource
from spinop.controllers.context import OperatorContext
from spinop.controllers.pipeline_save import Outcome, PipelineWork, delete_by_id, save_to_spinnaker
from spinop.controllers.retry import next_pass, temporary
from spinop.errors import InvalidRequest, SpinopError
from spinop.gate import GateError
from spinop.gate.errors import to_spinop_error
from spinop.kube.events import post_event, write_status_then_events
from spinop.kube.status import ConditionUpdate, Event, ObjectRef, Transition
from spinop.pipelines import pipeline_id
from spinop.pipelines.claims import PipelineClaim
from spinop.pipelines.decision import Observed
from spinop.pipelines.scope import tenancy_for
from spinop.tenancy import AccountClaim

PLURAL = "spinnakerpipelines"
KIND = "SpinnakerPipeline"


# ------------------------------------------------------------------------------------------------ the reconcile


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    account_claims: Iterable[AccountClaim],
    pipeline_claims: Iterable[PipelineClaim],
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> float:
    """Bring one SpinnakerPipeline to its declared state; returns seconds until the next drift check.

    Raises kopf.TemporaryError for failures time can fix; refusals only a user can fix are reported in status
    and rechecked by the drift pass (at once when the namespace's accounts or applications change).
    """
    ref = _ref(body)
    meta = body["metadata"]
    generation = meta.get("generation")
    interval = drift_interval(ctx)
    resource, errors = validate_resource(dict(body))
    if resource is None or not isinstance(resource, SpinnakerPipeline):
        message = "; ".join(f"{e.path}: {e.message}" for e in errors) or "the object could not be read"
        await _write_status(ctx, ref, Outcome().fail(InvalidRequest(message, reason=Reason.InvalidSpec)), generation)
        return interval
    namespace, name = meta["namespace"], meta["name"]
    tenancy = tenancy_for(body, account_claims, pipeline_claims, ctx.config.pipelines, clusters)
    observed = Observed.of(body)
    async with ctx.locks.hold(ref.uid or ref.name), ctx.slots:
        out = Outcome()
        if ctx.gate is None:
            out.fail(
                InvalidRequest(
                    "this spinop installation has no Gate configured (gate.url), so it cannot save pipelines",
                    reason=Reason.GateNotConfigured,
                )
            )
        else:
            work = PipelineWork(
                ctx=ctx,
                gate=ctx.gate,
                namespace=namespace,
                name=name,
                spec=resource.spec,
                tenancy=tenancy,
                observed=observed,
                generation=generation,
                pipeline_id=observed.pipeline_id or pipeline_id(namespace, name),
                out=out,
            )
            try:
                await save_to_spinnaker(work)
            except SpinopError as err:
                out.fail(err, saved=observed.saved_generation == generation)
            except GateError as err:
                out.fail(to_spinop_error(err), saved=observed.saved_generation == generation)
        await _write_status(ctx, ref, out, generation)
    return next_pass(out.error, interval)


def drift_interval(ctx: OperatorContext) -> float:
    return ctx.config.pipelines.drift_interval_seconds or ctx.config.drift_interval_seconds


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(PLURAL, KIND, meta["name"], meta.get("namespace"), meta.get("uid"))


def _announce(t: Transition) -> Event | None:
    if t.type == "Ready" or (t.status == "False" and t.type == "Synced"):
        kind = "Normal" if t.status == "True" else "Warning"
        reason = t.reason if t.type == "Ready" else EventReason.SyncedFalse
        return (kind, reason, f"{t.type}: {t.message}")
    return None


async def _write_status(ctx: OperatorContext, ref: ObjectRef, out: Outcome, generation: int | None) -> None:
    await asyncio.to_thread(
        write_status_then_events, ctx.mgmt, ctx.pipeline_status, ref, out, generation=generation, announce=_announce
    )


# ------------------------------------------------------------------------------------------------------ finalizer


async def finalize(ctx: OperatorContext, body: Mapping[str, Any]) -> None:
    """Delete the pipeline spinop saved (by its id, confirmed through the list); never an application."""
    ref = _ref(body)
    spec, status = body.get("spec") or {}, body.get("status") or {}
    saved_id, application = status.get("pipelineId"), spec.get("application")
    if not saved_id or not isinstance(application, str):
        return  # spinop never saved anything for this resource
    if ctx.gate is None:
        await asyncio.to_thread(
            post_event,
            ctx.mgmt,
            ref,
            type_="Warning",
            reason=EventReason.PipelineKept,
            message=f"no Gate is configured, so pipeline {saved_id} stays in application {application}",
        )
        return
    gate = ctx.gate
    async with ctx.locks.hold(ref.uid or ref.name):
        try:
            deleted = await delete_by_id(gate, application, str(spec.get("name", "")), saved_id)
        except GateError as err:
            failure = to_spinop_error(err)
            await asyncio.to_thread(
                ctx.pipeline_status.update,
                ref,
                conditions=[ConditionUpdate("Synced", "False", failure.reason, f"deleting: {failure.message}")],
            )
            raise temporary(failure) from None
    message = (
        f"deleted pipeline {saved_id} from application {application} (the application stays)"
        if deleted
        else f"pipeline {saved_id} was already gone from application {application}"
    )
    await asyncio.to_thread(
        post_event, ctx.mgmt, ref, type_="Normal", reason=EventReason.PipelineDeleted, message=message
    )
