"""SpinnakerAccount handlers: reconcile on every change, a periodic pass, and the finalizer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import kopf

from spinop.controllers import accounts
from spinop.controllers.context import OperatorContext
from spinop.handlers.indexes import ACCOUNTS, claims, one
from spinop.handlers.retry import api_failures_retried

log = logging.getLogger("spinop")


async def _reconcile_account(body: kopf.Body, memo: kopf.Memo, indexes: Mapping[str, Any]) -> float:
    ctx: OperatorContext = memo["ctx"]
    spec = body.get("spec") or {}
    namespaces, clusters = indexes["namespace_labels"], indexes["spinnaker_clusters"]
    judge = accounts.TenancyJudge(
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
    ctx.extras.setdefault("due", {})[body.metadata.uid] = time.monotonic() + delay


@kopf.daemon(*ACCOUNTS, id="periodic", cancellation_timeout=10.0)
async def account_periodic(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    """Drift repair, re-verification and credential renewal: the same reconcile, on a jittered schedule."""
    ctx: OperatorContext = memo["ctx"]
    uid = body.metadata.uid
    due: dict[str, float] = ctx.extras.setdefault("due", {})
    due.setdefault(uid, time.monotonic() + ctx.config.drift_interval_seconds * random.uniform(0.5, 1.0))
    wake = ctx.wakeup(uid)
    try:
        while not stopped:
            await _sleep_until(stopped, wake, due[uid])
            if stopped:
                break
            wake.clear()
            try:
                delay = await _reconcile_account(body, memo, indexes)
            except kopf.TemporaryError as err:
                delay = err.delay or 30
            except Exception:
                log.exception("periodic reconcile of SpinnakerAccount %s failed", body.metadata.name)
                delay = 60
            due[uid] = time.monotonic() + delay * random.uniform(0.9, 1.1)
    finally:
        due.pop(uid, None)
        ctx.wakeups.pop(uid, None)


async def _sleep_until(stopped: kopf.DaemonStopped, wake: asyncio.Event, deadline: float) -> None:
    timeout = max(0.0, deadline - time.monotonic())
    waiters = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter


@kopf.on.delete(*ACCOUNTS, id="finalize")
async def account_deleted(body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    ctx: OperatorContext = memo["ctx"]
    await accounts.finalize(
        ctx,
        body,
        claims=claims(indexes["account_claims"]),
        cluster_body=one(indexes["spinnaker_clusters"], (body.get("spec") or {}).get("cluster")),
    )
