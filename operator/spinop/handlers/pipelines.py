"""SpinnakerPipeline handlers: reconcile on every change, the drift pass, and the finalizer."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import kopf

from spinop.controllers import pipelines
from spinop.controllers.context import OperatorContext
from spinop.handlers.indexes import PIPELINES, cluster_specs, pipeline_inputs
from spinop.handlers.retry import api_failures_retried

log = logging.getLogger("spinop")

#: How often the drift pass looks (in memory, no API calls) whether the namespace's accounts or applications changed.
SCOPE_POLL_SECONDS = 2.0


def _inputs(ctx: OperatorContext, body: kopf.Body, indexes: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    namespace = body.metadata.namespace or ""
    application = str((body.get("spec") or {}).get("application") or "")
    accounts, claims = pipeline_inputs(indexes, namespace, application)
    clusters = cluster_specs(indexes, accounts)
    scope = pipelines.scope_inputs(namespace, application, accounts, claims, ctx.config.pipelines, clusters)
    return accounts, claims, scope


def _current_scope(ctx: OperatorContext, body: kopf.Body, indexes: Mapping[str, Any]) -> Any:
    """The scope inputs, computed once per poll tick per (namespace, application) and shared by its pipelines."""
    tick = int(time.monotonic() // SCOPE_POLL_SECONDS)
    cache: dict[tuple[str, str], tuple[int, Any]] = ctx.extras.setdefault("pipeline_scope_cache", {})
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
    ctx.extras.setdefault("pipeline_scopes", {})[body.metadata.uid] = scope
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
    ctx.extras.setdefault("pipeline_due", {})[body.metadata.uid] = time.monotonic() + delay


@kopf.daemon(*PIPELINES, id="drift", cancellation_timeout=10.0)
async def pipeline_drift(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    """Compare with Gate on a jittered schedule, and at once when the namespace's accounts or applications change."""
    ctx: OperatorContext = memo["ctx"]
    uid = body.metadata.uid
    due: dict[str, float] = ctx.extras.setdefault("pipeline_due", {})
    scopes: dict[str, Any] = ctx.extras.setdefault("pipeline_scopes", {})
    due.setdefault(uid, time.monotonic() + pipelines.drift_interval(ctx) * random.uniform(0.5, 1.0))
    try:
        while not await stopped.wait(min(SCOPE_POLL_SECONDS, max(0.0, due[uid] - time.monotonic()))):
            if time.monotonic() < due[uid] and uid in scopes and _current_scope(ctx, body, indexes) == scopes[uid]:
                continue
            try:
                delay = await _reconcile(ctx, body, indexes)
            except kopf.TemporaryError as err:
                delay = err.delay or 30
            except Exception:
                log.exception("drift pass of SpinnakerPipeline %s failed", body.metadata.name)
                delay = 60
            due[uid] = time.monotonic() + delay * random.uniform(0.9, 1.1)
    finally:
        due.pop(uid, None)
        scopes.pop(uid, None)


@kopf.on.delete(*PIPELINES, id="finalize")
async def pipeline_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await pipelines.finalize(memo["ctx"], body)
