"""One component owns Spinnaker sync: it batches account changes and applies them as one serialized change set.

Account reconciles `submit` the account they want and `remove` the ones being deleted. Changes collect until no new
one arrived for `quiet` seconds (or `max_wait` passed since the first), then the backend applies the whole batch:
for Halyard one config mutation at a time and ONE clouddriver deploy. Outcomes are written to each account's
`SpinnakerSynced` condition; failures are retried with backoff and nothing else is lost: the account stays in the
desired set until it is applied.

Ownership: spinop changes only Spinnaker accounts in its inventory (`spinnaker.inventory`), or ones a
SpinnakerAccount adopts explicitly. A name already in Spinnaker that spinop did not create is reported, never
touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from spinop import metrics
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import format_time
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from spinop.spinnaker.inventory import Inventory, InventoryConflict, InventoryEntry, InventoryTooLarge

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------ backend API


@dataclass(frozen=True)
class Upsert:
    desired: DesiredSpinnakerAccount
    existing: dict[str, Any] | None  # the live account, None when Spinnaker does not have it yet
    owned: bool = False  # in spinop's inventory before this batch, and confirmed stored or adopted


@dataclass(frozen=True)
class Removal:
    owner: AccountOwner
    name: str
    # spinop saw a write of this account succeed at least once. If not (its write-ahead entry's write failed or was
    # never sent), the name may hold someone else's account: a backend deletes it only when it can tell it is spinop's.
    confirmed: bool = True


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: Reason = Reason.Synced
    message: str = ""
    needs_user: bool = False  # the change was refused for its content: retrying the same content will not help
    disown: bool = False  # the name turned out to be someone else's: drop the inventory entry this batch wrote ahead


def someone_elses(name: str) -> Outcome:
    """The outcome for a name spinop wrote ahead but found holding someone else's account (every backend says it
    so): refused, and the write-ahead entry dropped."""
    return Outcome(
        False,
        Reason.AccountExistsInSpinnaker,
        f"someone else created a Spinnaker account named {name} while spinop was creating it; spinop will not change "
        "it. Choose another spec.accountName, or set spec.adopt: true to take it over.",
        needs_user=True,
        disown=True,
    )


@dataclass(frozen=True)
class ChangeRecord:
    """The backend change that carried a batch (a Halyard deploy, or an accounts-API batch)."""

    id: str
    backend: str
    started_at: datetime.datetime
    finished_at: datetime.datetime
    outcome: str


@dataclass
class BatchResult:
    outcomes: dict[str, Outcome]
    change: ChangeRecord | None = None


class SpinnakerBackend(Protocol):
    name: str

    async def list_accounts(self) -> dict[str, dict[str, Any]]:
        """Every Kubernetes account Spinnaker has now, by name (spinop's and everyone else's)."""
        ...

    async def apply(self, upserts: list[Upsert], removals: list[Removal]) -> BatchResult:
        """Apply a batch; must report an outcome for every name in it."""
        ...

    def needs_write(self, desired: DesiredSpinnakerAccount, live: dict[str, Any] | None) -> bool:
        """Whether Spinnaker's copy of the account differs from what spinop wants (drift, or never written)."""
        ...


class BackendUnavailable(Exception):
    """The backend cannot be reached at all; the whole batch is retried later."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ----------------------------------------------------------------------------------------------------- the component


class SyncState(Enum):
    SYNCED = "synced"
    PENDING = "pending"


#: (owner, status, reason, message, fields) → writes the account's SpinnakerSynced condition.
Reporter = Callable[[AccountOwner, str, str, str, dict[str, Any]], Awaitable[None]]

RETRY_DELAYS = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)


@dataclass
class _Pending:
    desired: DesiredSpinnakerAccount | None = None  # None: removal
    owner: AccountOwner | None = None
    attempts: int = 0
    not_before: float = 0.0
    queued_at: float = 0.0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def due_since(self) -> float:
        """When this change became ready to apply (a retry only counts once its backoff has passed)."""
        return max(self.queued_at, self.not_before)


class SpinnakerSync:
    def __init__(
        self,
        backend: SpinnakerBackend,
        inventory: Inventory,
        report: Reporter,
        *,
        quiet_seconds: float = 10.0,
        max_wait_seconds: float = 60.0,
        drift_interval_seconds: float = 300.0,
    ) -> None:
        self.backend = backend
        self.inventory = inventory
        self.report = report
        self.quiet = quiet_seconds
        self.max_wait = max_wait_seconds
        self.drift_interval = drift_interval_seconds
        self.entries: dict[str, InventoryEntry] = {}
        self.desired: dict[str, DesiredSpinnakerAccount] = {}
        self.pending: dict[str, _Pending] = {}
        self.inflight: dict[str, _Pending] = {}  # the changes the running batch applies
        self.last_change: ChangeRecord | None = None
        self.batches = 0
        self._changed = asyncio.Event()
        self._last_submit = 0.0
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    # -- lifecycle

    async def start(self) -> None:
        self.entries = await asyncio.to_thread(self.inventory.load)
        self._loaded.set()
        self._task = asyncio.create_task(self._run(), name="spinnaker-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- what account reconciles call

    def queue_depth(self) -> int:
        return len(self.pending)

    def applied_fingerprint(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return entry.kubeconfig_fingerprint if entry and entry.state == "present" else None

    def submit(self, desired: DesiredSpinnakerAccount) -> SyncState:
        """Declare the account an owner wants; SYNCED when Spinnaker already has exactly that."""
        self.desired[desired.name] = desired
        entry = self.entries.get(desired.name)
        queued = self.pending.get(desired.name)
        in_sync = (
            entry is not None
            and entry.state == "present"
            and entry.owner_uid == desired.owner.uid
            and entry.content_key == desired.content_key()
        )
        if in_sync:
            if queued is not None and queued.desired is not None:
                del self.pending[desired.name]  # an older queued change is superseded
            return SyncState.SYNCED
        running = self.inflight.get(desired.name)
        if (
            queued is None
            and running is not None
            and running.desired is not None
            and running.desired.content_key() == desired.content_key()
        ):
            return SyncState.PENDING  # the running batch is applying exactly this
        if queued is None or queued.desired is None or queued.desired.content_key() != desired.content_key():
            if entry is None:
                why = "new account"
            elif entry.owner_uid != desired.owner.uid:
                why = "new owner"
            elif entry.state != "present":
                why = f"not applied yet ({entry.state})"
            elif entry.kubeconfig_fingerprint != desired.kubeconfig_fingerprint:
                why = "new credentials"
            else:
                why = "changed settings"
            log.info("Spinnaker account %s queued for the next batch: %s", desired.name, why)
            self._enqueue(desired.name, _Pending(desired=desired, owner=desired.owner))
        return SyncState.PENDING

    async def remove(self, owner: AccountOwner, name: str) -> None:
        """Remove the Spinnaker account `name` of `owner`; returns once Spinnaker no longer has it."""
        await self._loaded.wait()
        if self.desired.get(name) is not None and self.desired[name].owner.uid == owner.uid:
            del self.desired[name]
        entry = self.entries.get(name)
        running = self.inflight.get(name)
        being_created = running is not None and running.desired is not None and running.owner == owner
        if (entry is None or entry.owner_uid != owner.uid) and not being_created:
            queued = self.pending.get(name)
            if queued is not None and queued.owner == owner:
                del self.pending[name]
            return  # never registered by this owner: nothing to remove in Spinnaker
        # Registered, or being registered by the running batch: queue the removal (it runs after that batch).
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        queued = self.pending.get(name)
        if queued is None or queued.desired is not None:
            queued = _Pending(desired=None, owner=owner)
            self._enqueue(name, queued)
        queued.waiters.append(waiter)
        await asyncio.shield(waiter)

    def _enqueue(self, name: str, item: _Pending) -> None:
        now = time.monotonic()
        previous = self.pending.get(name)
        if previous is not None:
            item.waiters = previous.waiters + item.waiters
        item.queued_at = now
        self.pending[name] = item
        self._last_submit = now
        metrics.SPINNAKER_QUEUE.set(len(self.pending))
        self._changed.set()

    # -- the batching loop

    async def _run(self) -> None:
        next_drift_check = time.monotonic() + self.drift_interval
        while True:
            try:
                await self._wait_for_batch(next_drift_check)
                if time.monotonic() >= next_drift_check:
                    next_drift_check = time.monotonic() + self.drift_interval
                    await self._check_drift()
                await self._run_batch()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything; the batch is retried
                log.exception("Spinnaker sync batch failed unexpectedly; retrying in 10s")
                await asyncio.sleep(10)

    async def _wait_for_batch(self, next_drift_check: float) -> None:
        while True:
            now = time.monotonic()
            due = [p for p in self.pending.values() if p.not_before <= now]
            if due:
                quiet_until = self._last_submit + self.quiet
                deadline = min(quiet_until, min(p.due_since() for p in due) + self.max_wait)
                if now >= deadline:
                    return
                timeout = deadline - now
            else:
                later = [p.not_before for p in self.pending.values()]
                timeout = max(0.05, min([*later, next_drift_check]) - now)
                if now >= next_drift_check:
                    return
            self._changed.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that races with
            # the event, and stop() would then wait for the next drift check.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait()

    async def _check_drift(self) -> None:
        """Re-apply accounts someone edited or deleted in Spinnaker behind spinop's back."""
        try:
            live = await self.backend.list_accounts()
        except BackendUnavailable:
            return
        for name, desired in list(self.desired.items()):
            entry = self.entries.get(name)
            if entry is None or entry.state != "present" or name in self.pending:
                continue
            if self.backend.needs_write(desired, live.get(name)):
                log.info("Spinnaker account %s drifted from its SpinnakerAccount; re-applying", name)
                entry.content_key = ""  # forces the next submit/batch to write it again
                self._enqueue(name, _Pending(desired=desired, owner=desired.owner))

    async def _run_batch(self) -> None:
        now = time.monotonic()
        batch = {name: item for name, item in self.pending.items() if item.not_before <= now}
        if not batch:
            return
        for name in batch:
            del self.pending[name]
        metrics.SPINNAKER_QUEUE.set(len(self.pending))
        metrics.SPINNAKER_BATCH_SIZE.observe(len(batch))
        self.inflight = dict(batch)
        try:
            await self._apply_batch(batch)
        finally:
            self.inflight = {}

    async def _apply_batch(self, batch: dict[str, _Pending]) -> None:
        try:
            live = await self.backend.list_accounts()
        except BackendUnavailable as err:
            await self._fail_all(batch, err.reason, err.message)
            return

        upserts: list[Upsert] = []
        removals: list[Removal] = []
        decided: dict[str, Outcome] = {}  # settled here, without asking the backend
        for name, item in batch.items():
            entry = self.entries.get(name)
            if item.desired is None:
                assert item.owner is not None
                if entry is None or entry.owner_uid != item.owner.uid:
                    # remove() queued this while a batch that might have created the account for this owner ran;
                    # that batch refused or failed it, so the name holds nothing of this owner's (perhaps someone
                    # else's account, which a DELETE by name would destroy).
                    decided[name] = Outcome(True)
                    continue
                removals.append(Removal(item.owner, name, confirmed=entry.state == "present" or entry.applied_at != ""))
                continue
            desired = item.desired
            ours = entry is not None
            if name in live and not ours and not desired.adopt:
                decided[name] = Outcome(
                    False,
                    Reason.AccountExistsInSpinnaker,
                    f"Spinnaker already has an account named {name} that spinop did not create; spinop will not "
                    "change it. Choose another spec.accountName, or set spec.adopt: true to take it over.",
                    needs_user=True,
                )
                continue
            # An entry still "adding" was only written ahead: the account may be someone else's (the backend checks).
            upserts.append(Upsert(desired, live.get(name), owned=entry is not None and entry.state != "adding"))

        # Write-ahead: the inventory knows about every account before Spinnaker does.
        for upsert in upserts:
            d = upsert.desired
            entry = self.entries.get(d.name)
            if entry is None:
                self.entries[d.name] = InventoryEntry(
                    owner_uid=d.owner.uid, owner=d.owner.ref, state="adding", adopted=d.name in live
                )
            elif entry.owner_uid != d.owner.uid:
                entry.owner_uid, entry.owner = d.owner.uid, d.owner.ref
        for removal in removals:
            if removal.name in self.entries:
                self.entries[removal.name].state = "deleting"
        if upserts or removals:
            try:
                await asyncio.to_thread(self.inventory.save, self.entries)
            except InventoryConflict:
                # Someone else (a replica that was active before this one) changed the inventory: the ownership
                # decisions above used a stale copy. Reload, and plan the same changes again.
                log.warning("the Spinnaker inventory changed elsewhere; reloading it and planning the batch again")
                self.entries = await asyncio.to_thread(self.inventory.load)
                for name, item in batch.items():
                    if name not in self.pending:
                        self._enqueue(name, item)
                return
            except InventoryTooLarge as err:
                # Nothing was recorded, so nothing changes in Spinnaker. Accounts the inventory already holds, and
                # deletions (which make room), go again at once without the new ones; each new one is refused.
                log.error("%s", err)
                self.entries = await asyncio.to_thread(self.inventory.load)
                # The tenant's words name no size or count of the whole installation (the log has them).
                message = (
                    "spinop's Spinnaker inventory is full and cannot record this account. Nothing was changed in "
                    "Spinnaker for it; a platform admin deletes unused SpinnakerAccounts or serves further tenants "
                    "from a second spinop installation. spinop retries"
                )
                fresh = {u.desired.name for u in upserts if u.desired.name not in self.entries}
                for name, item in batch.items():
                    if name in self.pending:
                        continue
                    if fresh and name not in fresh:
                        self._enqueue(name, item)
                        continue
                    if item.desired is not None:
                        await self.report(item.desired.owner, "False", Reason.InventoryFull, message, {})
                    self._retry(name, item, Outcome(False, Reason.InventoryFull, message))
                return

        result = BatchResult(outcomes={})
        if upserts or removals:
            started = time.monotonic()
            try:
                result = await self.backend.apply(upserts, removals)
            except BackendUnavailable as err:
                result = BatchResult(
                    outcomes={u.desired.name: Outcome(False, err.reason, err.message) for u in upserts}
                    | {r.name: Outcome(False, err.reason, err.message) for r in removals}
                )
        self.batches += 1
        if upserts or removals:
            ok = result.change is not None and all(o.ok for o in result.outcomes.values())
            metrics.SPINNAKER_CHANGES.labels(self.backend.name, "succeeded" if ok else "failed").inc()
            metrics.SPINNAKER_CHANGE_SECONDS.labels(self.backend.name).observe(time.monotonic() - started)
        if result.change is not None:
            self.last_change = result.change

        finished = _now()
        for upsert in upserts:
            d = upsert.desired
            outcome = result.outcomes.get(d.name, Outcome(False, Reason.NoOutcome, "the backend reported nothing"))
            if outcome.ok:
                self.entries[d.name] = InventoryEntry(
                    owner_uid=d.owner.uid,
                    owner=d.owner.ref,
                    state="present",
                    content_key=d.content_key(),
                    kubeconfig_fingerprint=d.kubeconfig_fingerprint,
                    applied_at=format_time(finished),
                    adopted=self.entries[d.name].adopted,
                    deploy_id=result.change.id if result.change else "",
                )
            elif outcome.disown and not upsert.owned:
                self.entries.pop(d.name, None)
        for removal in removals:
            outcome = result.outcomes.get(
                removal.name, Outcome(False, Reason.NoOutcome, "the backend reported nothing")
            )
            if outcome.ok:
                self.entries.pop(removal.name, None)
        if upserts or removals:
            await self._save_outcomes(upserts, removals, result)

        # Report and reschedule.
        for name, item in batch.items():
            outcome = decided.get(name) or result.outcomes.get(name) or Outcome(False, Reason.NoOutcome, "")
            if item.desired is None:
                if outcome.ok:
                    for waiter in item.waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                else:
                    self._retry(name, item, outcome)
                continue
            owner = item.desired.owner
            if outcome.ok:
                await self.report(owner, "True", Reason.Synced, *self._synced(result.change))
            else:
                await self.report(owner, "False", outcome.reason, outcome.message, {})
                if not outcome.needs_user:
                    self._retry(name, item, outcome)

    async def _save_outcomes(self, upserts: list[Upsert], removals: list[Removal], result: BatchResult) -> None:
        """Persist what Spinnaker now has; on a conflict, lay the same outcomes over a fresh copy and save again."""
        for _attempt in range(5):
            try:
                await asyncio.to_thread(self.inventory.save, self.entries)
                return
            except InventoryConflict:
                log.warning("the Spinnaker inventory changed elsewhere; merging this batch's outcomes into it")
                applied = {u.desired.name: self.entries.get(u.desired.name) for u in upserts}
                self.entries = await asyncio.to_thread(self.inventory.load)
                for name, entry in applied.items():
                    outcome = result.outcomes.get(name, Outcome(False))
                    if entry is not None and outcome.ok:
                        self.entries[name] = entry
                    elif outcome.disown and not any(u.owned for u in upserts if u.desired.name == name):
                        self.entries.pop(name, None)
                for removal in removals:
                    if result.outcomes.get(removal.name, Outcome(False)).ok:
                        self.entries.pop(removal.name, None)
        raise InventoryConflict("the Spinnaker inventory keeps changing under spinop (two active operators?)")

    def _retry(self, name: str, item: _Pending, outcome: Outcome) -> None:
        if name in self.pending:  # a newer change replaced it meanwhile
            self.pending[name].waiters += item.waiters
            return
        delay = RETRY_DELAYS[min(item.attempts, len(RETRY_DELAYS) - 1)]
        item.attempts += 1
        item.not_before = time.monotonic() + delay
        log.warning(
            "Spinnaker change for %s failed (%s: %s); retrying in %.0fs", name, outcome.reason, outcome.message, delay
        )
        self._enqueue(name, item)

    async def _fail_all(self, batch: dict[str, _Pending], reason: Reason, message: str) -> None:
        for name, item in batch.items():
            if item.desired is not None:
                await self.report(item.desired.owner, "False", reason, message, {})
            self._retry(name, item, Outcome(False, reason, message))

    def _synced(self, change: ChangeRecord | None) -> tuple[str, dict[str, Any]]:
        if change is None:
            return f"Spinnaker has this account ({self.backend.name})", {"lastAppliedToSpinnaker": format_time(_now())}
        return synced_report(
            backend=change.backend,
            change_id=change.id,
            finished_at=format_time(change.finished_at),
            applied_at=format_time(_now()),
            started_at=format_time(change.started_at),
            outcome=change.outcome,
        )


def synced_report(
    *,
    backend: str,
    change_id: str | None,
    finished_at: str,
    applied_at: str,
    started_at: str | None = None,
    outcome: str = "Succeeded",
) -> tuple[str, dict[str, Any]]:
    """The Synced condition's message and the status fields of an account Spinnaker has, built here only: for the
    batch's own report and for a reconcile that re-affirms it (the same words and fields either way)."""
    fields: dict[str, Any] = {"lastAppliedToSpinnaker": applied_at}
    if change_id is not None:
        fields["lastDeploy"] = {
            "id": change_id,
            "backend": backend,
            **({"startedAt": started_at} if started_at is not None else {}),
            "finishedAt": finished_at,
            "outcome": outcome,
        }
    return f"applied by {backend} change {change_id or '-'} finished at {finished_at}", fields


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
