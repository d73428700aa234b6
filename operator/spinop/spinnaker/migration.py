"""Move spinop's accounts from Halyard's config to Spinnaker's account management API, never leaving a gap.

Clouddriver merges the definitions it stores (the API) with the accounts of its static configuration (what
Halyard deploys), contract §2, so an account can be in both for a while. The order makes it visible throughout:
1. store every spinop account that Halyard has as a definition (`POST /credentials`, restore with PUT), with the
   kubeconfig from spinop's credentials Secret inline;
2. wait one poller period, so clouddriver has loaded the definitions while the static copies are still there;
3. delete them from Halyard's config and redeploy clouddriver ONCE (the Halyard backend's own batch).
Only accounts in spinop's inventory move; accounts someone else added with `hal` stay in Halyard untouched.
Every step is idempotent: a failed attempt is simply run again (a definition that is there already is updated).
Step 3 deletes from Halyard's config first and deploys after; the names are written to the ConfigMap
`spinop-halyard-migration` before, and cleared after the deploy, so a crash in between still ends in the deploy
(otherwise the running clouddriver would keep static copies that the config no longer has).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import MANAGED_BY
from spinop.config import OperatorConfig
from spinop.credentials import store
from spinop.gate import GateClient, GateError
from spinop.kube.clients import call, get_or_none
from spinop.spinnaker.account_definitions import ACCOUNT_TYPE, gate_failure, to_definition
from spinop.spinnaker.desired import AccountOwner
from spinop.spinnaker.halyard_backend import HalyardBackend
from spinop.spinnaker.inventory import Inventory, InventoryEntry
from spinop.spinnaker.sync import BackendUnavailable, Removal

log = logging.getLogger(__name__)

MARKER = "spinop-halyard-migration"
PENDING_KEY = "pending-removal.json"


class MigrationIncomplete(Exception):
    """The migration could not finish this time; nothing was lost (accounts are still in Halyard) and it is retried."""


@dataclass(frozen=True)
class MigrationPlan:
    move: tuple[str, ...]  # in Halyard and spinop's: store as definitions, then remove from Halyard
    drop: tuple[str, ...]  # in Halyard but being deleted by spinop: only remove from Halyard


def plan_migration(entries: dict[str, InventoryEntry], in_halyard: set[str]) -> MigrationPlan:
    """Which of Halyard's accounts are spinop's to move (pure)."""
    ours = sorted(name for name in entries if name in in_halyard)
    return MigrationPlan(
        move=tuple(n for n in ours if entries[n].state != "deleting"),
        drop=tuple(n for n in ours if entries[n].state == "deleting"),
    )


def _owner(entry: InventoryEntry) -> AccountOwner:
    namespace, _, name = entry.owner.partition("/")
    return AccountOwner(namespace, name, entry.owner_uid)


class HalyardMigration:
    def __init__(
        self,
        halyard: HalyardBackend,
        inventory: Inventory,
        mgmt: ApiClient,
        *,
        operator_namespace: str,
        credentials_namespace: str,
    ) -> None:
        self.halyard = halyard
        self.inventory = inventory
        self.mgmt = mgmt
        self.operator_namespace = operator_namespace
        self.credentials_namespace = credentials_namespace

    @classmethod
    def from_config(cls, config: OperatorConfig, mgmt: ApiClient) -> HalyardMigration:
        return cls(
            HalyardBackend.from_config(config, mgmt),
            Inventory(mgmt, config.operator_namespace),
            mgmt,
            operator_namespace=config.operator_namespace,
            credentials_namespace=config.credentials_namespace,
        )

    async def run(self, gate: GateClient, *, reload_seconds: float) -> MigrationPlan:
        try:
            return await self._run(gate, reload_seconds)
        finally:
            await self.halyard.close()

    async def _run(self, gate: GateClient, reload_seconds: float) -> MigrationPlan:
        entries = await asyncio.to_thread(self.inventory.load)
        try:
            in_halyard = set(await self.halyard.list_accounts())
        except BackendUnavailable as err:
            raise MigrationIncomplete(f"Halyard: {err.message}") from None
        plan = plan_migration(entries, in_halyard)
        pending = await asyncio.to_thread(self._pending)
        if not plan.move and not plan.drop and not pending:
            log.info("migration from Halyard: none of spinop's accounts is in Halyard's config; nothing to move")
            return plan
        log.info(
            "migration from Halyard: moving %d account(s) to the account management API, dropping %d being deleted",
            len(plan.move),
            len(plan.drop),
        )
        halyard_accounts = await self.halyard.list_accounts()
        for name in plan.move:
            await self._store(gate, name, halyard_accounts[name])
        if plan.move and reload_seconds > 0:
            # Clouddriver must have loaded the definitions before the static copies go (contract §2: it merges both).
            await asyncio.sleep(reload_seconds)
        remove = sorted({*plan.move, *plan.drop, *pending})
        await asyncio.to_thread(self._set_pending, remove)
        nobody = AccountOwner("", "", "")  # only the name matters to Halyard
        result = await self.halyard.apply(
            [], [Removal(_owner(entries[name]) if name in entries else nobody, name) for name in remove]
        )
        failed = {name: o for name, o in result.outcomes.items() if not o.ok}
        if failed:
            first = next(iter(failed.values()))
            raise MigrationIncomplete(
                f"the accounts are stored in the account management API but Halyard could not remove "
                f"{len(failed)} of them ({first.reason}: {first.message}); retrying"
            )
        await asyncio.to_thread(self._set_pending, [])
        change = result.change.id if result.change else "-"
        log.info("migration from Halyard finished: %d account(s) moved, Halyard deploy %s", len(plan.move), change)
        return plan

    async def _store(self, gate: GateClient, name: str, halyard_account: dict[str, object]) -> None:
        credentials = await asyncio.to_thread(
            store.read_credentials, self.mgmt, self.credentials_namespace, store.secret_name(name)
        )
        if credentials is None:
            raise MigrationIncomplete(
                f"the credentials Secret of account {name} ({self.credentials_namespace}/{store.secret_name(name)}) "
                "is missing; its SpinnakerAccount's next reconcile writes it again"
            )
        body = to_definition(halyard_account, credentials.kubeconfig)
        try:
            await gate.update_account(body)  # PUT /credentials is clouddriver's upsert: new, or from an earlier attempt
        except GateError as err:
            outcome = gate_failure(err, action=f"stored account {name} ({ACCOUNT_TYPE})")
            raise MigrationIncomplete(f"{outcome.reason}: {outcome.message}") from None

    # -- the names whose removal deploy may not have happened yet (a crash between config change and deploy)

    def _pending(self) -> set[str]:
        cm = get_or_none(k8s.CoreV1Api(self.mgmt).read_namespaced_config_map, MARKER, self.operator_namespace)
        return set(json.loads(((cm.data or {}) if cm else {}).get(PENDING_KEY) or "[]"))

    def _set_pending(self, names: list[str]) -> None:
        core = k8s.CoreV1Api(self.mgmt)
        body = k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name=MARKER, namespace=self.operator_namespace, labels={MANAGED_BY: "spinop"}),
            data={PENDING_KEY: json.dumps(names)},
        )
        try:
            if get_or_none(core.read_namespaced_config_map, MARKER, self.operator_namespace) is None:
                call(core.create_namespaced_config_map, self.operator_namespace, body)
            else:
                call(core.replace_namespaced_config_map, MARKER, self.operator_namespace, body)
        except ApiException as err:
            raise MigrationIncomplete(
                f"cannot write ConfigMap {self.operator_namespace}/{MARKER}: HTTP {err.status} (spinop's Role needs "
                "create, get and update on it)"
            ) from None
