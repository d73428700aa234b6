"""Tenant namespace guardrails: what an account's reconcile applies, and the cluster-wide rollout of a policy change.

Two paths keep guardrails in place, both through the same pure planner (`remote.plan`):
- each SpinnakerAccount's reconcile (create, update, the periodic drift pass) plans them with everything else it
  owns on the remote cluster (`account_guardrails`, `guardrails_condition`);
- a change of SpinnakerCluster `spec.tenancy.guardrails` starts one background rollout per cluster
  (`GuardrailRollouts`) that visits every tenant namespace of that cluster with bounded concurrency, at a bounded
  rate, and reports progress in the cluster's `status.guardrails` after each batch. Accounts are not woken for a
  guardrail-only change, so a thousand of them never hit one apiserver at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.accounts.guardrails import CONDITION
from spinop.api.labels import CREATED_NAMESPACE
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerClusterSpec, format_time, validate_resource
from spinop.errors import SpinopError
from spinop.kube.clients import call
from spinop.kube.status import ConditionUpdate, ObjectRef, utcnow
from spinop.remote import apply as remote_apply
from spinop.remote.cluster import ClusterConnection, RemoteCluster
from spinop.remote.guardrails import effective_guardrails, namespace_annotations
from spinop.remote.plan import DesiredRemote, Owner, plan_namespace_guardrails

log = logging.getLogger(__name__)

# -------------------------------------------------------------------------------------------------------- pacing


class RateLimiter:
    """At most `per_second` acquisitions per second (a token bucket of one: evenly spaced, no bursts)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self._next = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self.clock()
            if self._next > now:
                await self.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ------------------------------------------------------------------------------------------------------- rollout

Outcome = Literal["updated", "unmanaged", "failed"]


@dataclass(frozen=True)
class Tenant:
    """The accounts targeting one namespace of the cluster (usually one; several when the cluster allows sharing)."""

    namespace: str
    accounts: tuple[SpinnakerAccount, ...]

    @property
    def uids(self) -> list[str]:
        return sorted(a.metadata.uid or "" for a in self.accounts)


def tenants_of(cluster_name: str, bodies: Iterable[Mapping[str, Any]]) -> list[Tenant]:
    """Valid, not-deleting SpinnakerAccounts of this cluster, grouped by target namespace (sorted, deterministic)."""
    grouped: dict[str, list[SpinnakerAccount]] = {}
    for body in bodies:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            continue
        model, _ = validate_resource(dict(body))
        if isinstance(model, SpinnakerAccount) and model.spec.cluster == cluster_name:
            grouped.setdefault(model.spec.namespace, []).append(model)
    return [Tenant(ns, tuple(accounts)) for ns, accounts in sorted(grouped.items())]


def converge_namespace(remote: RemoteCluster, cluster_name: str, policy: Any, tenant: Tenant) -> Outcome:
    """Bring one tenant namespace's guardrails to `policy` (a Guardrails model), as its creating account wants them.

    A namespace that does not exist (yet) or is going away counts as updated: its account creates it with the
    current policy. One spinop did not create (or whose creator is gone) is unmanaged.
    """
    try:
        observed = remote_apply.observe_guardrails(remote, tenant.namespace)
        if observed.namespace is None or (observed.namespace.get("status") or {}).get("phase") == "Terminating":
            return "updated"
        annotations = (observed.namespace.get("metadata") or {}).get("annotations") or {}
        creator = next((a for a in tenant.accounts if a.metadata.uid == annotations.get(CREATED_NAMESPACE)), None)
        if creator is None:
            return "unmanaged"
        meta, spec = creator.metadata, creator.spec
        labels, objects = effective_guardrails(policy, spec.guardrails)
        desired = DesiredRemote(
            owner=Owner(
                cluster_name, meta.namespace or "", meta.name or "", meta.uid or "", spec.effective_account_name
            ),
            namespace=tenant.namespace,
            profile=spec.profile,
            namespace_labels=labels,
            namespace_annotations=namespace_annotations(policy, meta.namespace or ""),
            guardrails=objects,
        )
        plan = plan_namespace_guardrails(desired, observed)
        if plan.actions:
            remote_apply.apply(remote, plan.actions)
            log.info(
                "guardrails of %s on %s: %s",
                tenant.namespace,
                cluster_name,
                "; ".join(a.describe() for a in plan.actions),
            )
        return "updated"
    except SpinopError as err:
        log.warning("guardrails of %s on cluster %s not updated: %s", tenant.namespace, cluster_name, err.message)
        return "failed"


def list_account_bodies(mgmt: k8s.ApiClient, tenants: Iterable[str]) -> list[dict[str, Any]]:
    """The SpinnakerAccounts of these MGMT namespaces, page by page (per namespace, so that an operator restricted
    to some namespaces needs no cluster-wide list)."""
    custom = k8s.CustomObjectsApi(mgmt)
    items: list[dict[str, Any]] = []
    for namespace in tenants:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500}
            if token:
                kwargs["_continue"] = token
            page = call(custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "spinnakeraccounts", **kwargs)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    return items


@dataclass
class Progress:
    generation: int
    total: int
    started_at: str
    counts: Counter[str] = field(default_factory=Counter)
    finished_at: str | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "generation": self.generation,
            "total": self.total,
            "updated": self.counts["updated"],
            "unmanaged": self.counts["unmanaged"],
            "failed": self.counts["failed"],
            "startedAt": self.started_at,
            # Explicitly null while running: status is merge-patched, so an omitted key would keep the last value.
            "finishedAt": self.finished_at,
        }
        return out

    def condition(self) -> ConditionUpdate:
        done = sum(self.counts.values())
        summary = (
            f"generation {self.generation}: {self.counts['updated']} of {self.total} tenant namespaces updated"
            + (f", {self.counts['unmanaged']} not created by spinop (left alone)" if self.counts["unmanaged"] else "")
            + (f", {self.counts['failed']} failed (retried)" if self.counts["failed"] else "")
        )
        if self.finished_at is None:
            return ConditionUpdate(CONDITION, "False", Reason.RollingOut, f"{summary}; {self.total - done} to go")
        if self.counts["failed"]:
            return ConditionUpdate(CONDITION, "False", Reason.NamespacesFailed, summary)
        return ConditionUpdate(CONDITION, "True", Reason.Applied, summary)


def _stamp() -> str:
    return format_time(utcnow())


class GuardrailRollouts:
    """At most one rollout per SpinnakerCluster; a newer generation replaces a running one."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self._done: dict[str, int] = {}  # cluster -> generation this process rolled out completely

    def current(self, name: str) -> int | None:
        running = self._running.get(name)
        return running[0] if running and not running[1].done() else None

    def needed(self, name: str, generation: int, status: Mapping[str, Any]) -> bool:
        """Whether `generation` still has to reach the cluster's namespaces: not running, not done, and status does
        not say so either (after a restart)."""
        if generation in (self.current(name), self._done.get(name)):
            return False
        reported = status.get("guardrails") or {}
        return not (
            reported.get("generation") == generation and reported.get("finishedAt") and not reported.get("failed")
        )

    def start(self, name: str, generation: int, rollout: Awaitable[None]) -> None:
        self.cancel(name)
        self._done.pop(name, None)
        task = asyncio.get_running_loop().create_task(_logged(name, rollout), name=f"guardrails-{name}-{generation}")
        self._running[name] = (generation, task)

    def finished(self, name: str, generation: int) -> None:
        self._done[name] = generation

    def cancel(self, name: str) -> None:
        running = self._running.pop(name, None)
        if running is not None and not running[1].done():
            running[1].cancel()


async def _logged(name: str, rollout: Awaitable[None]) -> None:
    try:
        await rollout
    except asyncio.CancelledError:
        raise
    except (SpinopError, ApiException, OSError) as err:
        log.warning("guardrail rollout to cluster %s stopped (retried on the next probe): %s", name, err)


def rollouts_of(ctx: Any) -> GuardrailRollouts:
    rollouts: GuardrailRollouts = ctx.guardrail_rollouts
    return rollouts


async def roll_out(
    ctx: Any,
    ref: ObjectRef,
    connection: ClusterConnection,
    generation: int,
    spec: SpinnakerClusterSpec,
    tenants: Sequence[str],
) -> None:
    """Converge every tenant namespace of one cluster to `spec.tenancy.guardrails`, batched and rate-limited.

    `tenants`: the MGMT namespaces with SpinnakerAccounts on this cluster (from the operator's index).
    """
    rollouts = rollouts_of(ctx)
    settings = ctx.config.guardrail_rollout
    name = connection.name
    bodies = await asyncio.to_thread(list_account_bodies, ctx.mgmt, tenants)
    targets = tenants_of(name, bodies)
    progress = Progress(generation, len(targets), _stamp())

    async def report() -> None:
        if rollouts.current(name) != generation:
            return  # replaced by a newer generation: its rollout reports
        await asyncio.to_thread(
            ctx.cluster_status.update, ref, conditions=[progress.condition()], fields={"guardrails": progress.fields()}
        )

    await report()
    try:
        remote = await asyncio.to_thread(ctx.clusters.get, connection)
    except SpinopError as err:
        progress.counts["failed"] = len(targets)
        progress.finished_at = _stamp()
        await report()
        log.warning("guardrail rollout to cluster %s postponed: %s", name, err.message)
        return
    limiter = RateLimiter(settings.per_second)
    slots = asyncio.Semaphore(settings.concurrency)
    policy = spec.tenancy.guardrails

    async def one(tenant: Tenant) -> Outcome:
        async with slots:
            await limiter.acquire()
            async with contextlib.AsyncExitStack() as stack:
                for uid in tenant.uids:  # the account's own reconcile never runs on this namespace meanwhile
                    await stack.enter_async_context(ctx.locks.hold(uid))
                return await asyncio.to_thread(converge_namespace, remote, name, policy, tenant)

    for batch in batches(targets, settings.batch_size):
        progress.counts.update(await asyncio.gather(*(one(t) for t in batch)))
        if len(targets) > settings.batch_size:
            await report()
    progress.finished_at = _stamp()
    await report()
    if not progress.counts["failed"]:
        rollouts.finished(name, generation)
    log.info("guardrail rollout to cluster %s: %s", name, progress.condition().message)
