"""SpinnakerCluster handlers: reconcile on change and a periodic reachability probe."""

from __future__ import annotations

import logging
import random
from typing import Any

import kopf

from spinop.controllers import clusters
from spinop.controllers.context import OperatorContext
from spinop.controllers.guardrails import rollouts_of
from spinop.handlers.indexes import CLUSTERS, claims

log = logging.getLogger("spinop")


async def _run_cluster(
    body: kopf.Body, memo: kopf.Memo, index: kopf.Index[Any, Any], spec_changed: bool, wake_accounts: bool = True
) -> float:
    return await clusters.reconcile(
        memo["ctx"], body, claims=claims(index), spec_changed=spec_changed, wake_accounts=wake_accounts
    )


@kopf.on.resume(*CLUSTERS, id="reconcile")
@kopf.on.create(*CLUSTERS, id="reconcile")
@kopf.on.update(*CLUSTERS, id="reconcile")
async def cluster_changed(body: kopf.Body, memo: kopf.Memo, reason: str, old: Any, new: Any, **indexes: Any) -> None:
    guardrails_only = reason == "update" and clusters.only_guardrails_changed(
        (old or {}).get("spec"), (new or {}).get("spec")
    )
    await _run_cluster(body, memo, indexes["account_claims"], spec_changed=True, wake_accounts=not guardrails_only)


@kopf.daemon(*CLUSTERS, id="probe", cancellation_timeout=10.0)
async def cluster_probe(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **indexes: Any) -> None:
    ctx: OperatorContext = memo["ctx"]
    delay = ctx.config.cluster_probe_seconds
    try:
        while not await stopped.wait(delay * random.uniform(0.9, 1.1)):
            try:
                delay = await _run_cluster(body, memo, indexes["account_claims"], spec_changed=False)
            except kopf.TemporaryError as err:
                delay = err.delay or 15
            except Exception:
                log.exception("probe of SpinnakerCluster %s failed", body.metadata.name)
                delay = 60
    finally:
        rollouts_of(ctx).cancel(body.metadata.name)  # the cluster is gone or the operator stops
        if ctx.watches is not None:
            ctx.watches.stop(body.metadata.name)
