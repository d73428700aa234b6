"""SpinnakerAccount handlers: reconcile on every change, a periodic pass, and the finalizer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from spinop import tenancy
from spinop.controllers import accounts
from spinop.controllers.context import OperatorContext
from spinop.handlers.indexes import ACCOUNTS, claims, one
from spinop.handlers.periodic import run_periodic
from spinop.handlers.retry import api_failures_retried

log = logging.getLogger("spinop")


async def _reconcile_account(body: kopf.Body, memo: kopf.Memo, indexes: Mapping[str, Any]) -> float:
    ctx: OperatorContext = memo["ctx"]
    spec = body.get("spec") or {}
    namespaces, clusters = indexes["namespace_labels"], indexes["spinnaker_clusters"]
    judge = tenancy.TenancyJudge(
        namespace_labels={name: one(namespaces, name) or {} for name in namespaces},
        cluster_bodies={name: one(clusters, name) for name in clusters},
        reserved=ctx.config.reserved_namespaces,
    )
    with api_failures_retried():
        return await accounts.reconcile(
            ctx,
            body,
            claims=claims(indexes["account_claims"]),
            cluster_body=one(clusters, spec.get("cluster")),
            tenant_labels=one(namespaces, body.metadata.namespace) or {},
            judge=judge,
        )


@kopf.on.resume(*ACCOUNTS, id="reconcile")
@kopf.on.create(*ACCOUNTS, id="reconcile")
@kopf.on.update(*ACCOUNTS, id="reconcile")
async def account_changed(body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    ctx: OperatorContext = memo["ctx"]
    delay = await _reconcile_account(body, memo, indexes)
    ctx.account_schedule.after(body.metadata.uid, delay)


@kopf.daemon(*ACCOUNTS, id="periodic", cancellation_timeout=10.0)
async def account_periodic(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    """Drift repair, re-verification and credential renewal: the same reconcile, on a jittered schedule, or at once
    when woken (`OperatorContext.wake`)."""
    ctx: OperatorContext = memo["ctx"]
    uid = body.metadata.uid
    try:
        await run_periodic(
            stopped,
            uid=uid,
            schedule=ctx.account_schedule,
            interval=ctx.config.drift_interval_seconds,
            reconcile=lambda: _reconcile_account(body, memo, indexes),
            what=f"SpinnakerAccount {body.metadata.namespace}/{body.metadata.name}",
            wake=ctx.wakeup(uid),
        )
    finally:
        ctx.wakeups.pop(uid, None)
        ctx.account_memory.pop(uid, None)


@kopf.on.delete(*ACCOUNTS, id="finalize")
async def account_deleted(body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    ctx: OperatorContext = memo["ctx"]
    await accounts.finalize(
        ctx,
        body,
        claims=claims(indexes["account_claims"]),
        cluster_body=one(indexes["spinnaker_clusters"], (body.get("spec") or {}).get("cluster")),
    )
