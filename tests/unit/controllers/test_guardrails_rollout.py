"""The guardrail rollout: who is visited, how fast and how many at once, and what status says.

The remote side is replaced by a recording `converge_namespace`; `tests/integration/test_guardrails.py` runs the
real thing against real clusters.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from spinop.api.v1alpha1 import SpinnakerClusterSpec
from spinop.config import OperatorConfig
from spinop.controllers import guardrails as rollout
from spinop.controllers.clusters import only_guardrails_changed
from spinop.controllers.context import KeyedLocks
from spinop.kube.status import ObjectRef
from spinop.remote.cluster import ClusterConnection

CLUSTER = "dev"


def account(name: str, namespace: str, *, cluster: str = CLUSTER, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "team-a", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": meta,
        "spec": {"cluster": cluster, "namespace": namespace},
    }


def cluster_spec(**guardrails: Any) -> SpinnakerClusterSpec:
    return SpinnakerClusterSpec.model_validate(
        {"kubeconfigSecretRef": {"name": "k"}, "environment": "dev", "tenancy": {"guardrails": guardrails}}
    )


# ------------------------------------------------------------------------------------------------- who is visited


def test_tenants_are_the_clusters_live_accounts_grouped_by_namespace() -> None:
    bodies = [
        account("b", "team-a-dev-b"),
        account("a", "team-a-dev-a"),
        account("a2", "team-a-dev-a"),  # shares the namespace
        account("gone", "team-a-dev-gone", deleting=True),
        account("elsewhere", "team-a-dev-x", cluster="prod"),
        {**account("broken", "team-a-dev-broken"), "spec": {"cluster": CLUSTER, "namespace": "Not A Label"}},
    ]
    tenants = rollout.tenants_of(CLUSTER, bodies)
    assert [(t.namespace, [a.metadata.name for a in t.accounts]) for t in tenants] == [
        ("team-a-dev-a", ["a", "a2"]),
        ("team-a-dev-b", ["b"]),
    ]
    assert tenants[0].uids == ["uid-a", "uid-a2"]


# ------------------------------------------------------------------------------------------------------- pacing


async def test_the_rate_limiter_spaces_acquisitions_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = rollout.RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await limiter.acquire()
    assert slept == [0.25] * 4  # the first goes at once, then one every 1/4 s
    now[0] += 10  # idle time does not build up a burst
    await limiter.acquire()
    await limiter.acquire()
    assert slept == [0.25] * 5


def test_batches() -> None:
    assert rollout.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert rollout.batches([], 3) == []


# ------------------------------------------------------------------------------------------------------ rollout


@dataclass
class FakeStatus:
    writes: list[dict[str, Any]] = field(default_factory=list)

    def update(self, ref: ObjectRef, *, conditions: Any = (), fields: Any = None, **_: Any) -> None:
        self.writes.append({"conditions": list(conditions), **(fields or {})})


class FakeClusters:
    def get(self, connection: ClusterConnection) -> str:
        return f"client-for-{connection.name}"


@dataclass
class FakeContext:
    config: OperatorConfig
    mgmt: Any = None
    clusters: FakeClusters = field(default_factory=FakeClusters)
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    cluster_status: FakeStatus = field(default_factory=FakeStatus)
    guardrail_rollouts: rollout.GuardrailRollouts = field(default_factory=rollout.GuardrailRollouts)


async def run_rollout(
    monkeypatch: pytest.MonkeyPatch, namespaces: int, settings: dict[str, Any], outcome: Any = "updated"
) -> tuple[FakeContext, dict[str, Any]]:
    bodies = [account(f"a{i}", f"team-a-dev-{i}") for i in range(namespaces)]
    monkeypatch.setattr(rollout, "list_account_bodies", lambda mgmt, tenants: bodies if tenants == ["team-a"] else [])
    seen: dict[str, Any] = {"active": 0, "most": 0, "namespaces": []}
    lock = threading.Lock()

    def converge(remote: Any, cluster: str, policy: Any, tenant: rollout.Tenant) -> str:
        with lock:
            seen["active"] += 1
            seen["most"] = max(seen["most"], seen["active"])
            seen["namespaces"].append(tenant.namespace)
        time.sleep(0.03)
        with lock:
            seen["active"] -= 1
        return outcome(tenant) if callable(outcome) else outcome

    monkeypatch.setattr(rollout, "converge_namespace", converge)

    class RecordingLimiter(rollout.RateLimiter):
        async def acquire(self) -> None:
            await super().acquire()
            seen["admitted"].append(time.monotonic())

    seen["admitted"] = []
    monkeypatch.setattr(rollout, "RateLimiter", RecordingLimiter)
    ctx = FakeContext(OperatorConfig.model_validate({"guardrail_rollout": settings}))
    ref = ObjectRef("spinnakerclusters", "SpinnakerCluster", CLUSTER)
    rollouts = rollout.rollouts_of(ctx)
    spec = cluster_spec()
    run = rollout.roll_out(ctx, ref, ClusterConnection(CLUSTER, "k"), 3, spec, ["team-a"])
    rollouts.start(CLUSTER, 3, run)
    task = rollouts._running[CLUSTER][1]
    await asyncio.wait_for(task, timeout=10)
    return ctx, seen


async def test_a_rollout_is_bounded_paced_batched_and_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, seen = await run_rollout(monkeypatch, 7, {"concurrency": 2, "per_second": 50, "batch_size": 3})
    assert sorted(seen["namespaces"]) == [f"team-a-dev-{i}" for i in range(7)]
    assert seen["most"] <= 2
    admitted = seen["admitted"]
    assert len(admitted) == 7 and admitted[-1] - admitted[0] >= 6 / 50 * 0.9, admitted  # no faster than per_second
    progress = [w["guardrails"] for w in ctx.cluster_status.writes]
    # A start, one write per batch of 3, the end.
    assert [p["updated"] for p in progress] == [0, 3, 6, 7, 7]
    assert all(p["total"] == 7 and p["generation"] == 3 for p in progress)
    assert [p["finishedAt"] is None for p in progress] == [True, True, True, True, False]
    first, last = ctx.cluster_status.writes[0]["conditions"][0], ctx.cluster_status.writes[-1]["conditions"][0]
    assert (first.type, first.status, first.reason) == ("GuardrailsApplied", "False", "RollingOut")
    assert first.message == "generation 3: 0 of 7 tenant namespaces updated; 7 to go"
    assert (last.status, last.reason, last.message) == (
        "True",
        "Applied",
        "generation 3: 7 of 7 tenant namespaces updated",
    )
    assert rollout.rollouts_of(ctx).needed(CLUSTER, 3, {}) is False  # done in this process


async def test_failures_and_unmanaged_namespaces_are_counted_and_failures_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes = {"team-a-dev-0": "unmanaged", "team-a-dev-1": "failed"}
    ctx, _ = await run_rollout(
        monkeypatch, 3, {"batch_size": 10}, outcome=lambda t: outcomes.get(t.namespace, "updated")
    )
    final = ctx.cluster_status.writes[-1]
    assert {k: final["guardrails"][k] for k in ("total", "updated", "unmanaged", "failed")} == {
        "total": 3,
        "updated": 1,
        "unmanaged": 1,
        "failed": 1,
    }
    condition = final["conditions"][0]
    assert (condition.status, condition.reason) == ("False", "NamespacesFailed")
    assert "1 not created by spinop (left alone), 1 failed (retried)" in condition.message
    assert rollout.rollouts_of(ctx).needed(CLUSTER, 3, {"guardrails": final["guardrails"]}) is True


def test_a_generation_is_needed_until_status_says_it_reached_every_namespace() -> None:
    rollouts = rollout.GuardrailRollouts()
    done = {"guardrails": {"generation": 4, "finishedAt": "2026-01-01T00:00:00Z", "failed": 0}}
    assert rollouts.needed("dev", 4, done) is False
    assert rollouts.needed("dev", 5, done) is True
    assert rollouts.needed("dev", 4, {"guardrails": {**done["guardrails"], "finishedAt": None}}) is True
    assert rollouts.needed("dev", 4, {}) is True


async def test_a_newer_generation_replaces_a_running_rollout() -> None:
    rollouts = rollout.GuardrailRollouts()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    rollouts.start("dev", 1, forever())
    await started.wait()
    first = rollouts._running["dev"][1]
    assert rollouts.current("dev") == 1 and rollouts.needed("dev", 1, {}) is False
    rollouts.start("dev", 2, asyncio.sleep(0))
    await asyncio.sleep(0)
    assert first.cancelled() or first.cancelling()
    rollouts.cancel("dev")


def test_only_a_guardrail_change_spares_the_accounts_a_wake_up() -> None:
    quota = {"resourceQuota": {"hard": {"pods": "1"}}}
    base: dict[str, Any] = {"environment": "dev", "tenancy": {"namespacePattern": "{tenant}-x", "guardrails": {}}}
    guardrails = {**base, "tenancy": {"namespacePattern": "{tenant}-x", "guardrails": quota}}
    pattern = {**base, "tenancy": {"namespacePattern": "{tenant}-y", "guardrails": {}}}
    assert only_guardrails_changed(base, guardrails)
    assert not only_guardrails_changed(base, pattern)
    assert not only_guardrails_changed(None, base)
