"""The Spinnaker sync component, against an in-memory Spinnaker (our `SpinnakerBackend` protocol) and inventory.

What is asserted is the effect: which accounts the in-memory Spinnaker holds, what the inventory persisted and
when, which batches reached the backend, and the conditions reported. Quiet windows are tens of milliseconds, and
every wait is a poll with a deadline (`eventually`).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from spinop.api.reasons import Reason
from spinop.redact import Redacted
from spinop.spinnaker import sync as sync_module
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount, merge_account
from spinop.spinnaker.inventory import Inventory, InventoryEntry, InventoryTooLarge
from spinop.spinnaker.sync import (
    BackendUnavailable,
    BatchResult,
    ChangeRecord,
    Outcome,
    Removal,
    SpinnakerSync,
    SyncState,
    Upsert,
)

QUIET = 0.03
WITHIN = 3.0

WEB = AccountOwner("team-a", "web", "uid-web")
API = AccountOwner("team-b", "api", "uid-api")


# --------------------------------------------------------------------------------------------------- test doubles


class MemoryInventory(Inventory):
    """Our inventory persistence, in memory: what `load` returns and every snapshot `save` wrote."""

    def __init__(self, entries: dict[str, InventoryEntry] | None = None) -> None:
        self.stored: dict[str, InventoryEntry] = copy.deepcopy(entries or {})
        self.saves: list[dict[str, InventoryEntry]] = []

    def load(self) -> dict[str, InventoryEntry]:
        return copy.deepcopy(self.stored)

    def save(self, entries: dict[str, InventoryEntry]) -> None:
        self.stored = copy.deepcopy(entries)
        self.saves.append(self.stored)

    def states(self) -> dict[str, str]:
        return {name: entry.state for name, entry in self.stored.items()}


@dataclass
class Batch:
    """One call of `apply`, as the backend saw it."""

    upserts: list[str]
    removals: list[str]
    at: float
    persisted: dict[str, str]  # the inventory's persisted states when Spinnaker was asked to change
    unconfirmed: list[str] = field(default_factory=list)  # removals of names spinop never saw written
    contents: dict[str, str] = field(default_factory=dict)  # name -> content key applied


class MemorySpinnaker:
    """A Spinnaker holding Kubernetes accounts in a dict; applies a batch as one change."""

    name = "memory"

    def __init__(self, inventory: MemoryInventory) -> None:
        self.inventory = inventory
        self.accounts: dict[str, dict[str, Any]] = {}
        self.batches: list[Batch] = []
        self.failures: dict[str, list[Outcome]] = {}  # name -> outcomes to report instead of applying, in order
        self.unavailable: BackendUnavailable | None = None
        self.listing_gate: asyncio.Event | None = None  # list_accounts waits for it when set up
        self.apply_gate: asyncio.Event | None = None  # apply waits for it when set up
        self.lists = 0

    async def list_accounts(self) -> dict[str, dict[str, Any]]:
        self.lists += 1
        if self.listing_gate is not None:
            await self.listing_gate.wait()
        if self.unavailable is not None:
            raise self.unavailable
        return copy.deepcopy(self.accounts)

    async def apply(self, upserts: list[Upsert], removals: list[Removal]) -> BatchResult:
        started = datetime.datetime.now(datetime.UTC)
        self.batches.append(
            Batch(
                upserts=[u.desired.name for u in upserts],
                removals=[r.name for r in removals],
                unconfirmed=[r.name for r in removals if not r.confirmed],
                at=time.monotonic(),
                persisted=self.inventory.states(),
                contents={u.desired.name: u.desired.content_key() for u in upserts},
            )
        )
        if self.apply_gate is not None:
            await self.apply_gate.wait()
        if self.unavailable is not None:
            raise self.unavailable
        outcomes: dict[str, Outcome] = {}
        for upsert in upserts:
            name = upsert.desired.name
            if self.failures.get(name):
                outcomes[name] = self.failures[name].pop(0)
                continue
            self.accounts[name] = merge_account(upsert.existing, upsert.desired)
            outcomes[name] = Outcome(True)
        for removal in removals:
            if self.failures.get(removal.name):
                outcomes[removal.name] = self.failures[removal.name].pop(0)
                continue
            self.accounts.pop(removal.name, None)
            outcomes[removal.name] = Outcome(True)
        change = ChangeRecord(
            id=f"change-{len(self.batches)}",
            backend=self.name,
            started_at=started,
            finished_at=datetime.datetime.now(datetime.UTC),
            outcome="succeeded",
        )
        return BatchResult(outcomes, change)

    def needs_write(self, desired: DesiredSpinnakerAccount, live: dict[str, Any] | None) -> bool:
        return live is None or merge_account(live, desired) != live

    def applied(self) -> list[str]:
        return [name for batch in self.batches for name in batch.upserts]


@dataclass(frozen=True)
class Report:
    owner: AccountOwner
    status: str
    reason: str
    message: str
    fields: dict[str, Any]


class Reports:
    """The SpinnakerSynced conditions the sync wrote, in order."""

    def __init__(self) -> None:
        self.written: list[Report] = []

    async def __call__(
        self, owner: AccountOwner, status: str, reason: str, message: str, fields: dict[str, Any]
    ) -> None:
        self.written.append(Report(owner, status, reason, message, fields))

    def of(self, owner: AccountOwner) -> list[Report]:
        return [r for r in self.written if r.owner == owner]

    def last(self, owner: AccountOwner) -> Report | None:
        mine = self.of(owner)
        return mine[-1] if mine else None


@dataclass
class World:
    inventory: MemoryInventory
    spinnaker: MemorySpinnaker
    reports: Reports
    sync: SpinnakerSync

    def settled(self) -> bool:
        return not self.sync.inflight and self.sync.queue_depth() == 0


Start = Callable[..., Awaitable[World]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[World] = []

    async def make(
        entries: dict[str, InventoryEntry] | None = None,
        live: dict[str, dict[str, Any]] | None = None,
        *,
        quiet: float = QUIET,
        max_wait: float = 5.0,
        drift: float = 300.0,
        inventory: MemoryInventory | None = None,
    ) -> World:
        inventory = inventory or MemoryInventory(entries)
        spinnaker = MemorySpinnaker(inventory)
        spinnaker.accounts.update(copy.deepcopy(live or {}))
        reports = Reports()
        sync = SpinnakerSync(
            spinnaker,
            inventory,
            reports,
            quiet_seconds=quiet,
            max_wait_seconds=max_wait,
            drift_interval_seconds=drift,
        )
        await sync.start()
        world = World(inventory, spinnaker, reports, sync)
        started.append(world)
        return world

    yield make
    for world in started:
        await stop(world.sync)


async def stop(sync: SpinnakerSync) -> None:
    # A stop() racing a wake-up of the loop can be lost (see test_stop_right_after_a_submit_ends_the_loop); stopping
    # again once the loop is idle ends it, so that bug fails its own test and not every other one.
    stopping = asyncio.ensure_future(sync.stop())
    await asyncio.wait({stopping}, timeout=0.2)
    if not stopping.done():
        await sync.stop()
    await stopping


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> tuple[float, ...]:
    delays = (0.05, 0.15, 0.3)
    monkeypatch.setattr(sync_module, "RETRY_DELAYS", delays)
    return delays


async def eventually(check: Callable[[], bool], within: float = WITHIN, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what or check}")
        await asyncio.sleep(0.005)


def account(name: str = "dev-web", owner: AccountOwner = WEB, **changes: Any) -> DesiredSpinnakerAccount:
    base = DesiredSpinnakerAccount(
        owner=owner,
        name=name,
        environment="dev",
        namespace=f"ns-{name}",
        context=name,
        kubeconfig=Redacted(f"kubeconfig of {name}"),
        kubeconfig_fingerprint="sha256:1111",
        kinds=("deployment", "service"),
    )
    return dataclasses.replace(base, **changes)


async def applied(world: World, desired: DesiredSpinnakerAccount) -> None:
    """Submit and wait until Spinnaker holds it and the sync is idle."""
    assert world.sync.submit(desired) is SyncState.PENDING
    await eventually(
        lambda: world.spinnaker.accounts.get(desired.name) == merge_account(None, desired) and world.settled(),
        what=f"{desired.name} applied",
    )


# ----------------------------------------------------------------------------------------------- applying a change


async def test_a_new_account_reaches_spinnaker_and_is_reported(start: Start) -> None:
    world = await start()
    desired = account()
    await applied(world, desired)

    assert [b.upserts for b in world.spinnaker.batches] == [["dev-web"]]
    entry = world.inventory.stored["dev-web"]
    assert (entry.state, entry.owner_uid, entry.owner) == ("present", "uid-web", "team-a/web")
    assert entry.content_key == desired.content_key() and entry.kubeconfig_fingerprint == "sha256:1111"
    assert entry.deploy_id == "change-1" and not entry.adopted
    assert world.sync.applied_fingerprint("dev-web") == "sha256:1111"

    await eventually(lambda: world.reports.last(WEB) is not None)
    report = world.reports.last(WEB)
    assert report is not None and (report.status, report.reason) == ("True", "Synced")
    assert "change-1" in report.message
    assert report.fields["lastDeploy"]["id"] == "change-1" and report.fields["lastDeploy"]["backend"] == "memory"
    assert "lastAppliedToSpinnaker" in report.fields


async def test_an_applied_account_is_in_sync_and_queues_nothing(start: Start) -> None:
    world = await start()
    await applied(world, account())
    assert world.sync.submit(account()) is SyncState.SYNCED
    assert world.sync.queue_depth() == 0


@pytest.mark.parametrize(
    "change",
    [{"kubeconfig_fingerprint": "sha256:2222"}, {"kinds": ("deployment",)}, {"owner": API}],
    ids=["new-credentials", "changed-settings", "new-owner"],
)
async def test_any_change_spinnaker_should_see_is_applied_again(start: Start, change: dict[str, Any]) -> None:
    world = await start()
    await applied(world, account())
    changed = account(**change)
    await applied(world, changed)
    assert len(world.spinnaker.batches) == 2
    entry = world.inventory.stored["dev-web"]
    assert entry.content_key == changed.content_key() and entry.owner_uid == changed.owner.uid
    assert world.sync.submit(changed) is SyncState.SYNCED


# --------------------------------------------------------------------------------------------------------- batching


async def test_a_burst_of_changes_is_one_backend_change(start: Start) -> None:
    world = await start()
    names = [f"acct-{i}" for i in range(8)]
    for name in names:
        world.sync.submit(account(name))
    await eventually(lambda: set(names) <= set(world.spinnaker.accounts) and world.settled())
    assert len(world.spinnaker.batches) == 1
    assert sorted(world.spinnaker.batches[0].upserts) == names


async def test_changes_keep_collecting_until_a_quiet_window_passes(start: Start) -> None:
    quiet = 0.2
    world = await start(quiet=quiet)
    for name in ("a", "b", "c"):
        world.sync.submit(account(name))
        last_submit = time.monotonic()
        await asyncio.sleep(quiet / 2)  # the scenario: changes arriving closer together than the quiet window
    await eventually(lambda: len(world.spinnaker.batches) == 1 and world.settled())
    (batch,) = world.spinnaker.batches
    assert sorted(batch.upserts) == ["a", "b", "c"]
    assert batch.at - last_submit >= quiet - 0.01


async def test_max_wait_bounds_how_long_a_steady_stream_is_held_back(start: Start) -> None:
    # The quiet window is far longer than the gaps of the stream, even on a loaded machine whose event loop runs
    # late: only max_wait can end the first batch.
    world = await start(quiet=1.0, max_wait=0.3)
    first = time.monotonic()
    stream_ends = first + 1.0
    i = 0
    while time.monotonic() < stream_ends:
        world.sync.submit(account(f"acct-{i}"))
        i += 1
        await asyncio.sleep(0.03)  # the scenario: a change every 30 ms, never quiet for a second
    await eventually(lambda: {f"acct-{n}" for n in range(i)} <= set(world.spinnaker.accounts) and world.settled())
    first_batch = world.spinnaker.batches[0]
    assert 0.3 - 0.01 <= first_batch.at - first < 1.0, first_batch.at - first  # before the stream ended
    assert len(world.spinnaker.batches) >= 2
    assert sorted(name for b in world.spinnaker.batches for name in b.upserts) == sorted(f"acct-{n}" for n in range(i))


async def test_a_change_superseded_before_its_batch_is_applied_in_its_latest_form_only(start: Start) -> None:
    world = await start(quiet=0.1)
    world.sync.submit(account(kinds=("pod",)))
    world.sync.submit(account(kinds=("deployment",)))
    assert world.sync.queue_depth() == 1
    await eventually(lambda: world.spinnaker.batches != [] and world.settled())
    assert len(world.spinnaker.batches) == 1
    assert world.spinnaker.accounts["dev-web"]["kinds"] == ["deployment"]


async def test_reverting_a_queued_change_cancels_it(start: Start) -> None:
    world = await start()
    await applied(world, account())
    world.sync.quiet = 10.0  # hold the next batch back while the change is reverted
    assert world.sync.submit(account(kinds=("pod",))) is SyncState.PENDING
    assert world.sync.queue_depth() == 1
    assert world.sync.submit(account()) is SyncState.SYNCED
    assert world.sync.queue_depth() == 0


async def test_a_change_being_applied_is_not_queued_again(start: Start) -> None:
    world = await start()
    world.spinnaker.apply_gate = asyncio.Event()
    world.sync.submit(account())
    await eventually(lambda: len(world.spinnaker.batches) == 1)
    assert world.sync.submit(account()) is SyncState.PENDING
    assert world.sync.queue_depth() == 0
    world.spinnaker.apply_gate.set()
    await eventually(world.settled)
    assert len(world.spinnaker.batches) == 1
    assert world.sync.submit(account()) is SyncState.SYNCED


async def test_a_different_change_arriving_while_one_is_applied_follows_it(start: Start) -> None:
    world = await start()
    world.spinnaker.apply_gate = asyncio.Event()
    world.sync.submit(account())
    await eventually(lambda: len(world.spinnaker.batches) == 1)
    newer = account(kubeconfig_fingerprint="sha256:2222")
    assert world.sync.submit(newer) is SyncState.PENDING
    assert world.sync.queue_depth() == 1
    world.spinnaker.apply_gate.set()
    await eventually(lambda: len(world.spinnaker.batches) == 2 and world.settled())
    assert world.spinnaker.batches[1].contents == {"dev-web": newer.content_key()}
    assert world.sync.applied_fingerprint("dev-web") == "sha256:2222"


async def test_a_retry_waiting_for_its_backoff_does_not_cut_short_the_quiet_window_of_new_changes(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One account keeps failing (its retry parked for a while); later changes must still be batched together.
    monkeypatch.setattr(sync_module, "RETRY_DELAYS", (30.0,))
    world = await start(quiet=0.2, max_wait=0.4)
    world.spinnaker.failures["broken"] = [Outcome(False, Reason.HalyardRejected, "boom")] * 5
    world.sync.submit(account("broken"))
    await eventually(lambda: len(world.spinnaker.batches) == 1 and world.sync.queue_depth() == 1)
    await asyncio.sleep(0.5)  # the scenario: the next changes come more than max_wait after that retry was queued
    world.sync.submit(account("first"))
    await asyncio.sleep(0.05)
    world.sync.submit(account("second"))
    await eventually(lambda: {"first", "second"} <= set(world.spinnaker.accounts))
    later = [b.upserts for b in world.spinnaker.batches[1:]]
    assert later == [["first", "second"]], later


# ------------------------------------------------------------------------------------------------------- ownership


async def test_an_account_spinop_did_not_create_is_refused_and_left_alone(start: Start) -> None:
    theirs = {"name": "dev-web", "context": "admin", "namespaces": ["kube-system"]}
    world = await start(live={"dev-web": theirs})
    assert world.sync.submit(account()) is SyncState.PENDING
    await eventually(lambda: world.reports.last(WEB) is not None and world.settled())

    report = world.reports.last(WEB)
    assert report is not None and (report.status, report.reason) == ("False", "AccountExistsInSpinnaker")
    assert "adopt" in report.message
    assert world.spinnaker.accounts["dev-web"] == theirs
    assert world.spinnaker.batches == []  # the backend was never asked to change anything
    assert "dev-web" not in world.inventory.stored
    assert world.sync.queue_depth() == 0  # only the user can fix it: not retried

    await asyncio.wait_for(world.sync.remove(WEB, "dev-web"), WITHIN)  # never ours: nothing to remove
    assert world.spinnaker.accounts["dev-web"] == theirs


async def test_adopting_takes_the_account_over_and_keeps_what_spinop_does_not_manage(start: Start) -> None:
    theirs = {"name": "dev-web", "context": "admin", "cachingPolicies": [{"kubernetesKind": "pod"}]}
    world = await start(live={"dev-web": theirs})
    desired = account(adopt=True)
    world.sync.submit(desired)
    await eventually(lambda: world.inventory.states().get("dev-web") == "present" and world.settled())
    assert world.spinnaker.accounts["dev-web"] == merge_account(theirs, desired)
    assert world.spinnaker.accounts["dev-web"]["cachingPolicies"] == [{"kubernetesKind": "pod"}]
    assert world.inventory.stored["dev-web"].adopted is True


async def test_an_account_left_half_added_by_a_crash_is_still_ours(start: Start) -> None:
    entries = {"dev-web": InventoryEntry(owner_uid="uid-web", owner="team-a/web", state="adding")}
    world = await start(entries, live={"dev-web": {"name": "dev-web", "context": "stale"}})
    assert world.sync.applied_fingerprint("dev-web") is None
    world.sync.submit(account())
    await eventually(lambda: world.inventory.states().get("dev-web") == "present" and world.settled())
    assert world.spinnaker.accounts["dev-web"]["context"] == "dev-web"
    report = world.reports.last(WEB)
    assert report is not None and report.status == "True"


async def test_removing_an_account_spinop_never_saw_written_asks_the_backend_to_check_it_is_spinops(
    start: Start,
) -> None:
    # A write-ahead entry whose write failed (or never went out before a crash): the name may hold someone else's
    # account, so the removal says so and the backend deletes only what it can tell is spinop's
    # (tests/unit/halyard/test_backend_ownership.py). One applied once stays confirmed through failed removals.
    entries = {
        "dev-web": InventoryEntry(owner_uid="uid-web", owner="team-a/web", state="adding"),
        "dev-api": InventoryEntry(
            owner_uid="uid-api", owner="team-b/api", state="deleting", applied_at="2026-12-06T04:00:00Z"
        ),
    }
    world = await start(entries, live={"dev-web": {"name": "dev-web"}, "dev-api": {"name": "dev-api"}})
    await asyncio.wait_for(asyncio.gather(world.sync.remove(WEB, "dev-web"), world.sync.remove(API, "dev-api")), WITHIN)
    assert sorted(world.spinnaker.batches[-1].removals) == ["dev-api", "dev-web"]
    assert world.spinnaker.batches[-1].unconfirmed == ["dev-web"]


# ------------------------------------------------------------------------------------------------ write-ahead log


async def test_the_inventory_knows_an_account_before_spinnaker_does(start: Start) -> None:
    world = await start()
    await applied(world, account())
    assert world.spinnaker.batches[0].persisted == {"dev-web": "adding"}
    assert world.inventory.states() == {"dev-web": "present"}


async def test_the_inventory_marks_a_removal_before_spinnaker_drops_the_account(start: Start) -> None:
    world = await start()
    await applied(world, account())
    await asyncio.wait_for(world.sync.remove(WEB, "dev-web"), WITHIN)
    assert world.spinnaker.batches[-1].removals == ["dev-web"]
    assert world.spinnaker.batches[-1].persisted == {"dev-web": "deleting"}
    assert "dev-web" not in world.spinnaker.accounts
    assert world.inventory.stored == {}


# ------------------------------------------------------------------------------------------------- failures, retry


async def test_a_failed_change_is_retried_with_growing_backoff_until_it_succeeds(
    start: Start, fast_retries: tuple[float, ...]
) -> None:
    world = await start()
    failure = Outcome(False, Reason.DeployFailed, "clouddriver did not come up")
    world.spinnaker.failures["dev-web"] = [failure, failure, failure]
    world.sync.submit(account())
    await eventually(lambda: world.spinnaker.accounts.get("dev-web") is not None and world.settled())

    assert len(world.spinnaker.batches) == 4
    gaps = [b.at - a.at for a, b in zip(world.spinnaker.batches, world.spinnaker.batches[1:], strict=False)]
    for gap, delay in zip(gaps, fast_retries, strict=True):
        assert gap >= delay - 0.01, (gaps, fast_retries)
    assert [(r.status, r.reason) for r in world.reports.of(WEB)] == [
        ("False", "DeployFailed"),
        ("False", "DeployFailed"),
        ("False", "DeployFailed"),
        ("True", "Synced"),
    ]


async def test_a_failed_change_is_not_recorded_as_applied(start: Start) -> None:
    world = await start()
    world.spinnaker.failures["dev-web"] = [Outcome(False, Reason.DeployFailed, "no")]
    world.sync.submit(account())
    await eventually(lambda: world.reports.last(WEB) is not None)
    assert world.inventory.states() == {"dev-web": "adding"}
    assert world.sync.applied_fingerprint("dev-web") is None
    assert world.sync.queue_depth() == 1  # waiting for its retry
    assert world.sync.submit(account()) is SyncState.PENDING
    assert world.sync.queue_depth() == 1  # the same change is not queued twice


async def test_a_change_refused_for_its_content_waits_for_the_user(start: Start) -> None:
    world = await start()
    refusal = Outcome(False, Reason.HalyardRejected, "kind 'Foo' is unknown", needs_user=True)
    world.spinnaker.failures["dev-web"] = [refusal]
    world.sync.submit(account(kinds=("Foo",)))
    await eventually(lambda: world.reports.last(WEB) is not None and world.settled())
    report = world.reports.last(WEB)
    assert report is not None and (report.status, report.reason, report.message) == (
        "False",
        "HalyardRejected",
        "kind 'Foo' is unknown",
    )
    assert world.sync.queue_depth() == 0 and len(world.spinnaker.batches) == 1

    await applied(world, account())  # the user fixed the spec
    assert world.inventory.states() == {"dev-web": "present"}


async def test_an_unreachable_backend_fails_the_whole_batch_and_it_is_retried(
    start: Start, fast_retries: tuple[float, ...]
) -> None:
    world = await start()
    world.spinnaker.unavailable = BackendUnavailable(Reason.HalyardUnavailable, "connection refused")
    world.sync.submit(account("a"))
    world.sync.submit(account("b", owner=API))
    await eventually(lambda: world.reports.last(WEB) is not None and world.reports.last(API) is not None)
    for owner in (WEB, API):
        report = world.reports.last(owner)
        assert report is not None and (report.status, report.reason) == ("False", "HalyardUnavailable")
    assert world.spinnaker.batches == []
    assert world.sync.queue_depth() == 2

    world.spinnaker.unavailable = None
    await eventually(lambda: {"a", "b"} <= set(world.spinnaker.accounts) and world.settled())
    assert world.inventory.states() == {"a": "present", "b": "present"}


async def test_an_apply_that_loses_the_backend_midway_is_retried(start: Start, fast_retries: tuple[float, ...]) -> None:
    world = await start()
    world.spinnaker.apply_gate = asyncio.Event()
    world.sync.submit(account())
    await eventually(lambda: len(world.spinnaker.batches) == 1)
    world.spinnaker.unavailable = BackendUnavailable(Reason.HalyardUnavailable, "connection reset")
    world.spinnaker.apply_gate.set()
    await eventually(lambda: world.reports.last(WEB) is not None)
    report = world.reports.last(WEB)
    assert report is not None and (report.status, report.reason) == ("False", "HalyardUnavailable")
    world.spinnaker.unavailable = None
    await eventually(lambda: "dev-web" in world.spinnaker.accounts and world.settled())


# -------------------------------------------------------------------------------------------------------- removal


async def test_remove_returns_once_spinnaker_no_longer_has_the_account(start: Start) -> None:
    world = await start()
    await applied(world, account("a"))
    await applied(world, account("b"))
    removals = [asyncio.create_task(world.sync.remove(WEB, name)) for name in ("a", "b")]
    await asyncio.wait_for(asyncio.gather(*removals), WITHIN)
    assert world.spinnaker.accounts == {}
    assert world.inventory.stored == {}
    assert sorted(world.spinnaker.batches[-1].removals) == ["a", "b"]  # removed together
    assert world.sync.submit(account("a")) is SyncState.PENDING  # forgotten: a new submit is a new account


async def test_a_failed_removal_is_retried_and_remove_waits_for_it(
    start: Start, fast_retries: tuple[float, ...]
) -> None:
    world = await start()
    await applied(world, account())
    world.spinnaker.failures["dev-web"] = [Outcome(False, Reason.DeployFailed, "no")]
    removal = asyncio.create_task(world.sync.remove(WEB, "dev-web"))
    await eventually(lambda: world.spinnaker.batches[-1].removals == ["dev-web"])
    assert not removal.done()
    await asyncio.wait_for(removal, WITHIN)
    assert "dev-web" not in world.spinnaker.accounts
    assert [b.removals for b in world.spinnaker.batches[1:]] == [["dev-web"], ["dev-web"]]


async def test_removing_an_account_never_applied_only_drops_the_queued_change(start: Start) -> None:
    world = await start(quiet=10.0)
    world.sync.submit(account())
    assert world.sync.queue_depth() == 1
    await asyncio.wait_for(world.sync.remove(WEB, "dev-web"), WITHIN)
    assert world.sync.queue_depth() == 0 and world.sync.inflight == {}
    assert world.spinnaker.batches == []


async def test_an_owner_cannot_remove_an_account_that_belongs_to_another(start: Start) -> None:
    world = await start()
    await applied(world, account())
    await asyncio.wait_for(world.sync.remove(API, "dev-web"), WITHIN)
    assert "dev-web" in world.spinnaker.accounts
    assert world.inventory.states() == {"dev-web": "present"}
    assert world.sync.queue_depth() == 0


async def test_removing_while_the_account_is_being_created_still_removes_it(start: Start) -> None:
    # The batch that creates the account is already running (listing Spinnaker's accounts) when the SpinnakerAccount
    # is deleted: remove() must not return while Spinnaker is about to get the account.
    world = await start()
    world.spinnaker.listing_gate = asyncio.Event()
    world.sync.submit(account())
    await eventually(lambda: world.spinnaker.lists >= 1 and "dev-web" in world.sync.inflight)
    removal = asyncio.create_task(world.sync.remove(WEB, "dev-web"))
    await asyncio.sleep(0)  # let remove() start: it must now wait for the batch
    world.spinnaker.listing_gate.set()
    await asyncio.wait_for(removal, WITHIN)
    await eventually(world.settled)
    assert "dev-web" not in world.spinnaker.accounts, "remove() returned, but the account was created afterwards"
    assert "dev-web" not in world.inventory.stored


async def test_removing_while_a_batch_refuses_someone_elses_account_never_deletes_it(start: Start) -> None:
    # The race of tests/integration/spinnaker/test_accounts_api_wire.py (a hostile tenant claims the name another
    # Spinnaker user holds): the SpinnakerAccount is deleted while a batch that carries its name is running, so
    # remove() queues a removal in case that batch creates the account. The batch refuses it as someone else's;
    # the queued removal must then find nothing of this owner's to delete.
    theirs = {"name": "dev-web", "context": "admin", "namespaces": ["payments"]}
    world = await start(live={"dev-web": theirs})
    world.spinnaker.listing_gate = asyncio.Event()
    world.sync.submit(account())
    await eventually(lambda: world.spinnaker.lists >= 1 and "dev-web" in world.sync.inflight)
    removal = asyncio.create_task(world.sync.remove(WEB, "dev-web"))
    await asyncio.sleep(0)
    world.spinnaker.listing_gate.set()
    await asyncio.wait_for(removal, WITHIN)
    await eventually(world.settled)
    assert world.spinnaker.accounts["dev-web"] == theirs
    assert [b.removals for b in world.spinnaker.batches if b.removals] == []
    assert "dev-web" not in world.inventory.stored


# ----------------------------------------------------------------------------------------------------------- drift


@pytest.mark.parametrize("edit", ["changed", "deleted"])
async def test_an_account_changed_behind_spinops_back_is_reapplied(start: Start, edit: str) -> None:
    world = await start(drift=0.1)
    desired = account()
    await applied(world, desired)
    if edit == "changed":
        world.spinnaker.accounts["dev-web"]["kinds"] = ["pod", "secret"]
    else:
        del world.spinnaker.accounts["dev-web"]
    await eventually(
        lambda: world.spinnaker.accounts.get("dev-web") == merge_account(None, desired) and world.settled()
    )
    assert len(world.spinnaker.batches) == 2
    assert world.inventory.stored["dev-web"].content_key == desired.content_key()
    assert world.sync.submit(desired) is SyncState.SYNCED


async def test_a_reconcile_while_a_drift_repair_waits_to_be_retried_does_not_cancel_it(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The account's reconcile submits the same spec it always did; Spinnaker still has the edited copy.
    monkeypatch.setattr(sync_module, "RETRY_DELAYS", (0.3,))
    world = await start(drift=0.05)
    desired = account()
    await applied(world, desired)
    world.spinnaker.failures["dev-web"] = [Outcome(False, Reason.DeployFailed, "no")]
    world.spinnaker.accounts["dev-web"]["kinds"] = ["pod"]
    await eventually(lambda: len(world.spinnaker.batches) == 2 and world.sync.queue_depth() == 1, what="repair failed")
    assert world.sync.submit(desired) is SyncState.PENDING
    assert world.sync.queue_depth() == 1
    await eventually(lambda: world.spinnaker.accounts["dev-web"]["kinds"] == ["deployment", "service"])


async def test_drift_checks_leave_accounts_in_sync_alone(start: Start) -> None:
    world = await start(drift=0.05)
    await applied(world, account())
    lists = world.spinnaker.lists
    await eventually(lambda: world.spinnaker.lists >= lists + 3)  # three drift checks later
    assert len(world.spinnaker.batches) == 1
    assert world.sync.queue_depth() == 0


async def test_accounts_spinop_does_not_own_are_not_drift(start: Start) -> None:
    theirs = {"name": "legacy", "context": "admin"}
    world = await start(live={"legacy": theirs}, drift=0.05)
    await applied(world, account())
    lists = world.spinnaker.lists
    world.spinnaker.accounts["legacy"]["context"] = "edited"
    await eventually(lambda: world.spinnaker.lists >= lists + 3)
    assert world.spinnaker.applied() == ["dev-web"]
    assert world.spinnaker.accounts["legacy"] == {"name": "legacy", "context": "edited"}


# ------------------------------------------------------------------------------------------------------- lifecycle


async def test_stop_right_after_a_submit_ends_the_loop(start: Start) -> None:
    # The operator's cleanup handler calls stop(); when the loop was just woken by a submit, asyncio.wait_for (Python
    # 3.11) returns the finished wait and drops the cancellation, and the loop sleeps until its next drift check.
    world = await start(drift=300.0)
    await applied(world, account("running"))  # the loop is up and waiting for changes
    world.sync.submit(account())
    stopping = asyncio.ensure_future(world.sync.stop())
    await asyncio.wait({stopping}, timeout=0.5)
    assert stopping.done(), "stop() is still waiting for the sync loop to end"


async def test_stop_when_idle_ends_the_loop(start: Start) -> None:
    world = await start()
    await applied(world, account())
    stopping = asyncio.ensure_future(world.sync.stop())
    await asyncio.wait({stopping}, timeout=1.0)
    assert stopping.done()


def test_the_synced_report_is_the_same_for_the_batch_and_a_reaffirming_reconcile() -> None:
    from spinop.spinnaker.sync import synced_report

    message, fields = synced_report(
        backend="halyard", change_id="d-1", finished_at="2026-01-01T00:00:05Z", applied_at="2026-01-01T00:00:05Z"
    )
    assert message == "applied by halyard change d-1 finished at 2026-01-01T00:00:05Z"
    assert fields == {
        "lastAppliedToSpinnaker": "2026-01-01T00:00:05Z",
        "lastDeploy": {"id": "d-1", "backend": "halyard", "finishedAt": "2026-01-01T00:00:05Z", "outcome": "Succeeded"},
    }
    message, fields = synced_report(backend="halyard", change_id=None, finished_at="t", applied_at="t")
    assert message == "applied by halyard change - finished at t" and fields == {"lastAppliedToSpinnaker": "t"}


# ------------------------------------------------------------------------------------------------- a full inventory


class FullInventory(MemoryInventory):
    """Holds at most `capacity` entries, as a ConfigMap holds at most 1 MiB (spinnaker/inventory.py)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def save(self, entries: dict[str, InventoryEntry]) -> None:
        if len(entries) > self.capacity:
            raise InventoryTooLarge(f"the Spinnaker inventory of {len(entries)} accounts is too large")
        super().save(entries)


async def test_a_full_inventory_refuses_new_accounts_and_still_applies_the_ones_it_holds(
    start: Start, fast_retries: tuple[float, ...]
) -> None:
    inventory = FullInventory(capacity=1)
    world = await start(inventory=inventory)
    await applied(world, account())
    newcomer = AccountOwner("team-b", "api", "uid-new")

    # One batch: a change to the account the inventory holds, and a new account that does not fit.
    world.sync.submit(account(kinds=("deployment",)))
    world.sync.submit(account("dev-new", owner=newcomer))
    await eventually(lambda: (r := world.reports.last(newcomer)) is not None and r.reason == "InventoryFull")
    report = world.reports.last(newcomer)
    assert report is not None and report.status == "False" and "Nothing was changed in Spinnaker" in report.message
    assert "accounts is" not in report.message  # the installation's size is not the tenant's business
    await eventually(lambda: world.spinnaker.accounts["dev-web"]["kinds"] == ["deployment"], what="held one applied")
    assert "dev-new" not in world.spinnaker.accounts and set(inventory.stored) == {"dev-web"}

    # Deleting the account that filled it makes room: the retry then adds the new one.
    await asyncio.wait_for(world.sync.remove(WEB, "dev-web"), WITHIN)
    # The backend holds the account before the sync confirms it in the inventory: wait for the confirmation.
    await eventually(
        lambda: "dev-new" in world.spinnaker.accounts and inventory.states() == {"dev-new": "present"},
        what="the new account applied and confirmed once there is room",
    )
