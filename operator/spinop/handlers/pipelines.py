"""SpinnakerPipeline handlers: reconcile on every change, the drift pass, and the finalizer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from spinop.controllers import pipelines
from spinop.controllers.context import OperatorContext
from spinop.handlers.indexes import PIPELINES, cluster_specs, pipeline_inputs
from spinop.handlers.periodic import run_periodic
from spinop.handlers.retry import api_failures_retried
from spinop.pipelines.scope import scope_inputs

log = logging.getLogger("spinop")

#: How often the drift pass looks (in memory, no API calls) whether the namespace's accounts or applications changed.
SCOPE_POLL_SECONDS = 2.0


def _inputs(ctx: OperatorContext, body: kopf.Body, indexes: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    namespace = body.metadata.namespace or ""
    application = str((body.get("spec") or {}).get("application") or "")
    accounts, claims = pipeline_inputs(indexes, namespace, application)
    clusters = cluster_specs(indexes, accounts)
    scope = scope_inputs(namespace, application, accounts, claims, ctx.config.pipelines, clusters)
    return accounts, claims, scope


def _current_scope(ctx: OperatorContext, body: kopf.Body, indexes: Mapping[str, Any]) -> Any:
    """The scope inputs, computed once per poll tick per (namespace, application) and shared by its pipelines."""
    tick = int(time.monotonic() // SCOPE_POLL_SECONDS)
    cache = ctx.pipeline_scope_cache
    key = (body.metadata.namespace or "", str((body.get("spec") or {}).get("application") or "").lower())
    hit = cache.get(key)
    if hit is not None and hit[0] == tick:
        return hit[1]
    if len(cache) > 4096:
        for old in [k for k, (t, _) in cache.items() if t < tick]:
            del cache[old]
    value = _inputs(ctx, body, indexes)[2]
    cache[key] = (tick, value)
    return value


async def _reconcile(ctx: OperatorContext, body: kopf.Body, indexes: Mapping[str, Any]) -> float:
    accounts, claims, scope = _inputs(ctx, body, indexes)
    ctx.pipeline_scopes[body.metadata.uid] = scope
    with api_failures_retried():
        return await pipelines.reconcile(
            ctx, body, account_claims=accounts, pipeline_claims=claims, clusters=cluster_specs(indexes, accounts)
        )


@kopf.on.resume(*PIPELINES, id="reconcile")
@kopf.on.create(*PIPELINES, id="reconcile")
@kopf.on.update(*PIPELINES, id="reconcile")
async def pipeline_changed(body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    ctx: OperatorContext = memo["ctx"]
    delay = await _reconcile(ctx, body, indexes)
    ctx.pipeline_schedule.after(body.metadata.uid, delay)


@kopf.daemon(*PIPELINES, id="drift", cancellation_timeout=10.0)
async def pipeline_drift(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    """Compare with Gate on a jittered schedule, and at once when the namespace's accounts or applications change
    (polled in memory every SCOPE_POLL_SECONDS, no API calls)."""
    ctx: OperatorContext = memo["ctx"]
    uid = body.metadata.uid

    def scope_changed() -> bool:
        return uid not in ctx.pipeline_scopes or _current_scope(ctx, body, indexes) != ctx.pipeline_scopes[uid]

    try:
        await run_periodic(
            stopped,
            uid=uid,
            schedule=ctx.pipeline_schedule,
            interval=pipelines.drift_interval(ctx),
            reconcile=lambda: _reconcile(ctx, body, indexes),
            what=f"SpinnakerPipeline {body.metadata.namespace}/{body.metadata.name}",
            poll_seconds=SCOPE_POLL_SECONDS,
            due_early=scope_changed,
        )
    finally:
        ctx.pipeline_scopes.pop(uid, None)


@kopf.on.delete(*PIPELINES, id="finalize")
async def pipeline_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await pipelines.finalize(memo["ctx"], body)
