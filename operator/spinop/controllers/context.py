"""Everything handlers share, built once at start-up and kept in kopf's `memo`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient

from spinop.api.v1alpha1 import SpinnakerAccountStatus, SpinnakerClusterStatus
from spinop.config import OperatorConfig
from spinop.kube.status import StatusWriter
from spinop.remote.cluster import RemoteClusters
from spinop.spinnaker.sync import SpinnakerSync


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
class OperatorContext:
    config: OperatorConfig
    mgmt: ApiClient
    clusters: RemoteClusters
    sync: SpinnakerSync | None
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.config.reconcile_concurrency)
        self.account_status = StatusWriter(self.mgmt, lambda obj: SpinnakerAccountStatus.READY_INPUTS)
        self.cluster_status = StatusWriter(self.mgmt, lambda obj: SpinnakerClusterStatus.READY_INPUTS)

    def wakeup(self, uid: str) -> asyncio.Event:
        return self.wakeups.setdefault(uid, asyncio.Event())

    def wake(self, uid: str) -> None:
        """Make the periodic pass of one object run now (e.g. after its SpinnakerCluster changed)."""
        self.wakeup(uid).set()
