"""Everything handlers share, built once at start-up and kept in kopf's `memo`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient

from spinop.api.v1alpha1 import (
    DriftPolicy,
    SpinnakerAccountStatus,
    SpinnakerClusterStatus,
    SpinnakerPipelineSpec,
)
from spinop.config import OperatorConfig
from spinop.controllers.guardrails import GuardrailRollouts
from spinop.credentials.store import StoredCredentials
from spinop.gate import GateClient
from spinop.kube.status import StatusWriter
from spinop.remote.cluster import RemoteClusters
from spinop.remote.plan import DesiredRemote, ObservedRemote
from spinop.remote.proof import LastProof, Versions
from spinop.remote.watch import RemoteWatches
from spinop.spinnaker.sync import SpinnakerSync


def pipeline_ready_inputs(obj: dict[str, Any]) -> tuple[str, ...]:
    """What a SpinnakerPipeline's Ready depends on, from the object as stored (InSync only under Enforce)."""
    try:
        policy = DriftPolicy((obj.get("spec") or {}).get("driftPolicy") or DriftPolicy.ENFORCE)
    except ValueError:
        policy = DriftPolicy.ENFORCE
    return SpinnakerPipelineSpec.model_construct(drift_policy=policy).ready_inputs()


class KeyedLocks:
    """One asyncio.Lock per object uid: a handler and the periodic pass never reconcile one object at once."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]


@dataclass
class Schedule:
    """When each object's next periodic pass is due (time.monotonic() seconds), by uid."""

    due: dict[str, float] = field(default_factory=dict)

    def after(self, uid: str, delay: float, jitter: float = 0.0) -> None:
        """The next pass of `uid` in `delay` seconds, spread by ±`jitter` (a fraction) so objects do not march."""
        self.due[uid] = time.monotonic() + delay * random.uniform(1 - jitter, 1 + jitter)

    def first(self, uid: str, interval: float) -> None:
        """A new daemon's first pass: within the second half of one interval unless a change handler set it."""
        self.due.setdefault(uid, time.monotonic() + interval * random.uniform(0.5, 1.0))

    def seconds_left(self, uid: str) -> float:
        return max(0.0, self.due[uid] - time.monotonic())

    def forget(self, uid: str) -> None:
        self.due.pop(uid, None)


@dataclass(frozen=True)
class AccountMemory:
    """What the last successful pass of one account saw, so that an idle pass can skip the reads and the proof.

    In memory only: after a restart each account's first pass reads and proves once more, as every pass used to.
    """

    desired: DesiredRemote
    observed: ObservedRemote
    observed_versions: Versions
    observed_at: datetime.datetime
    stored: StoredCredentials
    proof: LastProof | None


@dataclass
class OperatorContext:
    config: OperatorConfig
    mgmt: ApiClient
    clusters: RemoteClusters
    sync: SpinnakerSync | None
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    gate: GateClient | None = None  # None: no Gate configured (pipelines report GateNotConfigured)
    watches: RemoteWatches | None = None  # None: remote_watches is off (drift waits for the periodic pass)
    # When each object's next periodic pass is due, by uid (time.monotonic()): see handlers/periodic.py.
    account_schedule: Schedule = field(default_factory=Schedule)
    pipeline_schedule: Schedule = field(default_factory=Schedule)
    # The pipeline scope inputs each pipeline was last reconciled with (its drift pass runs early when they change),
    # and those inputs per (namespace, application) and poll tick, shared by the application's pipelines.
    pipeline_scopes: dict[str, Any] = field(default_factory=dict)
    pipeline_scope_cache: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    guardrail_rollouts: GuardrailRollouts = field(default_factory=GuardrailRollouts)
    # By account uid: what its last successful pass saw (an idle pass then costs no API request).
    account_memory: dict[str, AccountMemory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.config.reconcile_concurrency)
        self.account_status = StatusWriter(self.mgmt, lambda obj: SpinnakerAccountStatus.READY_INPUTS)
        self.cluster_status = StatusWriter(self.mgmt, lambda obj: SpinnakerClusterStatus.READY_INPUTS)
        self.pipeline_status = StatusWriter(self.mgmt, pipeline_ready_inputs)

    def wakeup(self, uid: str) -> asyncio.Event:
        return self.wakeups.setdefault(uid, asyncio.Event())

    def wake(self, uid: str) -> None:
        """Make the periodic pass of one object run now (e.g. after its SpinnakerCluster changed)."""
        self.wakeup(uid).set()
