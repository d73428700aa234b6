"""The accounts-api backend: Spinnaker's account management API through Gate (`/credentials`), zero deploys.

How an account reaches clouddriver (contracts/accounts-and-rbac.md §2, checked against clouddriver's
CredentialsController/AccountDefinitionService): spinop stores the account definition with `POST /credentials`
(create: refused when clouddriver already has the name, so spinop never overwrites an account someone created
meanwhile), `PUT /credentials` (an upsert) or `DELETE /credentials/{name}`; the body names its type in `"type"`.
Clouddriver's credentials poller loads changed definitions on its next cycle. The kubeconfig travels inline as
`kubeconfigContents`, so a rotated token changes the definition and the poller reloads it: rotation needs no deploy.
(A kork `encrypted:` reference would keep the token out of clouddriver's database, but clouddriver decrypts it
through a session cache that lives as long as the process, so a secret rotated behind an unchanged reference is not
picked up; see docs/spinnaker-backends.md.)

A batch (the sync's quiet window) is one list call, the writes with bounded concurrency (Gate's 429s are handled
by the client), then one wait: new accounts until `GET /credentials` shows them (clouddriver loaded them), updated
ones for one poller period, so that a replaced token is revoked only once clouddriver has the new one.

Ownership is the sync's: an account name clouddriver has from its static configuration (halconfig) is reported by
`list_accounts` too, so spinop refuses a name it does not own whichever way it reached Spinnaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient

from spinop.api.reasons import Reason
from spinop.config import AccountsApiSettings, OperatorConfig
from spinop.gate import (
    GateAccountExists,
    GateClient,
    GateError,
    GateUnavailable,
)
from spinop.spinnaker.account_definitions import (
    ACCOUNT_TYPE,
    STORAGE_SETTINGS,
    account_definition,
    definition_differs,
    gate_failure,
    holds_our_kubeconfig,
    kubernetes_view,
    unavailable,
)
from spinop.spinnaker.desired import DesiredSpinnakerAccount
from spinop.spinnaker.migration import HalyardMigration, MigrationIncomplete
from spinop.spinnaker.sync import (
    BackendUnavailable,
    BatchResult,
    ChangeRecord,
    Outcome,
    Removal,
    Upsert,
    someone_elses,
)

log = logging.getLogger(__name__)

BACKEND = "accounts-api"
MIGRATION_RETRY_DELAYS = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)


# ---------------------------------------------------------------------------------------------------- backend


@dataclass
class _Batch:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused_connection: GateError | None = None  # once Gate refuses connections, nothing more is sent


class AccountsApiBackend:
    name = BACKEND

    def __init__(
        self,
        settings: AccountsApiSettings,
        gate: GateClient | None,
        *,
        config: OperatorConfig | None = None,
        mgmt: ApiClient | None = None,
    ) -> None:
        self.settings = settings
        self._gate = gate
        self._owns_gate = False
        self._config = config
        self._mgmt = mgmt
        self.changes = 0
        self._sequence = itertools.count(1)
        self._static: set[str] = set()
        self._recently_deleted: dict[str, float] = {}
        self._migration_lock = asyncio.Lock()
        self._migrated = not settings.migrate_from_halyard
        self._migration_task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, config: OperatorConfig, mgmt: ApiClient, gate: GateClient | None = None) -> AccountsApiBackend:
        """`gate`: the operator's GateClient (built from `config.gate`); built here on first use when not given."""
        return cls(config.accounts_api, gate, config=config, mgmt=mgmt)

    def start(self) -> None:
        """Start background work: the migration from Halyard when `migrate_from_halyard` is set."""
        if not self._migrated and self._migration_task is None:
            self._migration_task = asyncio.get_running_loop().create_task(
                self._migrate_until_done(), name="spinnaker-migration"
            )

    async def close(self) -> None:
        if self._migration_task is not None:
            self._migration_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._migration_task
        if self._owns_gate and self._gate is not None:
            await self._gate.close()

    async def _client(self) -> GateClient:
        if self._gate is None:
            self._owns_gate = True
            from spinop.gate.factory import GateConfigError, build_gate

            if self._config is None or self._mgmt is None:
                raise BackendUnavailable(Reason.GateNotConfigured, "the accounts-api backend has no Gate client")
            try:
                self._gate = await build_gate(self._config, self._mgmt)
            except GateConfigError as err:
                raise BackendUnavailable(err.reason, err.message) from None
            if self._gate is None:
                raise BackendUnavailable(
                    Reason.GateNotConfigured, "spinnaker_backend accounts-api needs gate.url (and gate.auth_secret)"
                )
        return self._gate

    # ------------------------------------------------------------------------------------------------ reading

    async def list_accounts(self) -> dict[str, dict[str, Any]]:
        """Stored definitions, plus accounts clouddriver has from static config (halconfig) under names not stored."""
        await self._ensure_migrated()
        gate = await self._client()
        try:
            stored = {str(a["name"]): a for a in await gate.list_accounts(ACCOUNT_TYPE) if a.get("name")}
            loaded = kubernetes_view(await gate.list_credentials(expand=False))
        except GateError as err:
            raise unavailable(err, "listed Spinnaker's accounts") from None
        self._forget_old_deletions()
        self._static = {n for n in loaded if n not in stored and n not in self._recently_deleted}
        return stored | {name: dict(loaded[name]) for name in self._static}

    def needs_write(self, desired: DesiredSpinnakerAccount, live: dict[str, Any] | None) -> bool:
        return live is None or desired.name in self._static or definition_differs(desired, live)

    def _forget_old_deletions(self) -> None:
        # A deleted account stays loaded until clouddriver's next poll; it is not someone's static account.
        horizon = time.monotonic() - max(self.settings.reload_seconds, self.settings.load_timeout_seconds, 60.0)
        for name, at in list(self._recently_deleted.items()):
            if at < horizon:
                del self._recently_deleted[name]

    # ---------------------------------------------------------------------------------------------- applying

    async def apply(self, upserts: list[Upsert], removals: list[Removal]) -> BatchResult:
        started = _now()
        gate = await self._client()
        batch = _Batch()
        slots = asyncio.Semaphore(self.settings.concurrency)

        async def upsert(item: Upsert) -> None:
            async with slots:
                await self._upsert(gate, item, batch)

        async def remove(item: Removal) -> None:
            async with slots:
                await self._remove(gate, item.name, batch)

        await asyncio.gather(*(upsert(u) for u in upserts), *(remove(r) for r in removals))
        written_at = time.monotonic()
        await self._await_loaded(gate, batch)
        if batch.updated and self.settings.reload_seconds > 0:
            # Clouddriver shows no revision of what it loaded: one poller period is the only evidence there is.
            await asyncio.sleep(max(0.0, written_at + self.settings.reload_seconds - time.monotonic()))

        changed = len(batch.created) + len(batch.updated) + len(batch.deleted)
        for name in [*batch.created, *batch.updated, *batch.deleted, *batch.unchanged]:
            batch.outcomes.setdefault(name, Outcome(True))
        if not changed:
            return BatchResult(batch.outcomes)
        self.changes += 1
        finished = _now()
        failed = sum(1 for o in batch.outcomes.values() if not o.ok)
        change = ChangeRecord(
            id=f"{BACKEND}-{finished.strftime('%Y%m%dT%H%M%SZ')}-{next(self._sequence)}",
            backend=BACKEND,
            started_at=started,
            finished_at=finished,
            outcome="Succeeded"
            if not failed
            else f"Succeeded for {len(batch.outcomes) - failed} of {len(batch.outcomes)}",
        )
        log.info(
            "%s change %s carried %d account change(s) (%d created, %d updated, %d deleted), no deploy",
            BACKEND,
            change.id,
            changed,
            len(batch.created),
            len(batch.updated),
            len(batch.deleted),
        )
        return BatchResult(batch.outcomes, change)

    async def _upsert(self, gate: GateClient, item: Upsert, batch: _Batch) -> None:
        desired = item.desired
        name = desired.name
        static = name in self._static
        if static and desired.adopt:
            batch.outcomes[name] = Outcome(
                False,
                Reason.AccountInStaticConfig,
                f"Spinnaker's account {name} comes from clouddriver's configuration files (halconfig), not from the "
                "account management API, so the accounts-api backend cannot take it over. Remove it from halconfig "
                "first (one deploy), or choose another spec.accountName",
                needs_user=True,
            )
            return
        existing = None if static else item.existing
        if existing is not None and not definition_differs(desired, existing):
            batch.unchanged.append(name)
            return
        if existing is not None and not (item.owned or desired.adopt or holds_our_kubeconfig(desired, existing)):
            # Only written ahead by an earlier attempt, and what is stored is not spinop's write: someone else's.
            batch.outcomes[name] = someone_elses(name)
            return
        if batch.refused_connection is not None:
            batch.outcomes[name] = gate_failure(batch.refused_connection, action=f"wrote account {name}")
            return
        body = account_definition(desired, existing)
        try:
            if existing is None:
                try:
                    await gate.create_account(body)  # POST, not PUT: never overwrites a name someone just took
                    batch.created.append(name)
                except GateAccountExists:
                    await self._after_concurrent_create(gate, item, batch)
            else:
                await gate.update_account(body)
                batch.updated.append(name)
        except GateError as err:
            self._note_refusal(err, batch)
            batch.outcomes[name] = gate_failure(err, action=f"wrote account {name}")
        else:
            self._recently_deleted.pop(name, None)

    async def _after_concurrent_create(self, gate: GateClient, item: Upsert, batch: _Batch) -> None:
        """POST found the name taken after the batch's listing: converge only if the account is spinop's own.

        Spinop's own: in its inventory before this batch (an earlier attempt stored it), or deleted by spinop a
        moment ago and still loaded. Anyone else's is refused unless the SpinnakerAccount adopts it explicitly.
        """
        desired = item.desired
        name = desired.name
        stored = await gate.list_accounts(ACCOUNT_TYPE, page_size=1, starting_name=name, pages=1)
        current = next((a for a in stored if a.get("name") == name), None)
        ours = item.owned or holds_our_kubeconfig(desired, current)
        ours = ours or (current is None and name in self._recently_deleted)
        if current is None and not ours and name not in kubernetes_view(await gate.list_credentials(expand=False)):
            # Neither stored nor loaded: the refusal was not about this name after all (e.g. a failed insert).
            batch.outcomes[name] = gate_failure(GateAccountExists(f"POST {name} failed"), action=f"wrote {name}")
            return
        if not ours and (not desired.adopt or current is None):  # nothing stored: static config, never adoptable
            batch.outcomes[name] = someone_elses(name)
            return
        if current is not None and not definition_differs(desired, current):
            batch.created.append(name)
            return
        await gate.update_account(account_definition(desired, current))  # PUT: clouddriver's upsert
        batch.created.append(name)

    async def _remove(self, gate: GateClient, name: str, batch: _Batch) -> None:
        if batch.refused_connection is not None:
            batch.outcomes[name] = gate_failure(batch.refused_connection, action=f"deleted account {name}")
            return
        try:
            await gate.delete_account(name)  # False (404) means it is gone already: the same outcome
        except GateError as err:
            self._note_refusal(err, batch)
            batch.outcomes[name] = gate_failure(err, action=f"deleted account {name}")
            return
        batch.deleted.append(name)
        self._recently_deleted[name] = time.monotonic()

    @staticmethod
    def _note_refusal(err: GateError, batch: _Batch) -> None:
        refused = isinstance(err, GateUnavailable) and err.status is None and not err.may_have_reached
        if refused and batch.refused_connection is None:
            batch.refused_connection = err

    async def _await_loaded(self, gate: GateClient, batch: _Batch) -> None:
        """Wait until clouddriver shows every created account (its poller loaded the definition)."""
        waiting = set(batch.created)
        if not waiting or self.settings.load_timeout_seconds <= 0:
            return
        deadline = time.monotonic() + self.settings.load_timeout_seconds
        interval = 0.2
        while True:
            with contextlib.suppress(GateError):
                waiting -= set(kubernetes_view(await gate.list_credentials(expand=False)))
            if not waiting or time.monotonic() >= deadline:
                break
            await asyncio.sleep(interval)
            interval = min(interval * 2, 5.0)
        for name in sorted(waiting):
            batch.created.remove(name)
            batch.outcomes[name] = Outcome(
                False,
                Reason.NotLoadedByClouddriver,
                f"Spinnaker stored account {name} but clouddriver did not load it within "
                f"{self.settings.load_timeout_seconds:.0f}s. Clouddriver loads stored Kubernetes accounts only with "
                f"{STORAGE_SETTINGS}, and its credentials poller on (credentials.poller.enabled, "
                "credentials.poller.types.kubernetes.reloadFrequencyMs)",
            )

    # --------------------------------------------------------------------------------------------- migration

    async def _ensure_migrated(self) -> None:
        if self._migrated:
            return
        async with self._migration_lock:
            if self._migrated:
                return
            assert self._config is not None and self._mgmt is not None
            migration = HalyardMigration.from_config(self._config, self._mgmt)
            try:
                await migration.run(await self._client(), reload_seconds=self.settings.reload_seconds)
            except MigrationIncomplete as err:
                raise BackendUnavailable(Reason.MigratingFromHalyard, str(err)) from None
            self._migrated = True

    async def _migrate_until_done(self) -> None:
        for attempt in itertools.count():
            try:
                await self._ensure_migrated()
                return
            except BackendUnavailable as err:
                delay = MIGRATION_RETRY_DELAYS[min(attempt, len(MIGRATION_RETRY_DELAYS) - 1)]
                log.warning(
                    "migration from Halyard unfinished (%s: %s); next attempt in %.0fs", err.reason, err.message, delay
                )
                await asyncio.sleep(delay)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
