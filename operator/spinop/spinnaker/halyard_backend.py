"""The Halyard backend: one batch = kubeconfig delivery, serialized account writes, ONE clouddriver deploy.

Kubeconfig delivery (Halyard copies each account's kubeconfigFile at deploy time, contracts/halyard.md §4, so a
file must exist in the Halyard pod when the deploy runs, and a rotated token reaches clouddriver only with the
next deploy):
- `exec`: spinop writes `<kubeconfig_dir>/<account>.yaml` into the Halyard pod through pods/exec. Immediate and
  exact, but spinop needs `get` and `create` on `pods/exec` of the Halyard pod.
- `mounted`: spinop writes kubeconfigs into sharded Secrets (`<prefix>-<n>`, key `<account>.yaml`) in the Halyard
  pod's namespace; the Halyard pod mounts them all (a projected volume, no subPath) at `mounted_dir`. No exec
  rights needed, but the kubelet refreshes mounted Secrets only eventually, so spinop waits `mounted_sync_seconds`
  before a deploy that carries changed credentials.
Config changes go through the daemon's REST API (or `hal` over exec); account fields spinop does not manage are
kept as they are (whole-account PUT of the live account with spinop's fields laid over it). Over REST a burst is ONE
provider write (read the provider, lay this batch's accounts over it, PUT it, read it back once): Halyard loads,
validates and saves the whole halconfig on every config task, so per-account writes cost N whole-config saves.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import MANAGED_BY
from spinop.api.reasons import Reason
from spinop.config import HalyardSettings, OperatorConfig
from spinop.halyard import (
    HalyardClient,
    HalyardError,
    HalyardNotFound,
    HalyardNotSupported,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardTaskOverdue,
    HalyardUnavailable,
    KubeExecClient,
    account_to_halyard,
)
from spinop.halyard.errors import reason_for
from spinop.halyard.model import unknown_account_fields
from spinop.kube.clients import call, get_or_none
from spinop.redact import Redacted
from spinop.spinnaker.desired import DesiredSpinnakerAccount, merge_account
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

CLOUDDRIVER = ("clouddriver",)
CLOUDDRIVER_HA = ("clouddriver-caching", "clouddriver-rw", "clouddriver-ro", "clouddriver-ro-deck")


def clouddriver_services(deployment: dict[str, Any]) -> list[str]:
    """Only clouddriver needs a redeploy for account changes: its HA split when Halyard deploys it that way."""
    ha = ((deployment.get("deploymentEnvironment") or {}).get("haServices") or {}).get("clouddriver") or {}
    if not ha.get("enabled"):
        return list(CLOUDDRIVER)
    names = list(CLOUDDRIVER_HA)
    if ha.get("disableClouddriverRoDeck"):
        names.remove("clouddriver-ro-deck")
    return names


# An account named in a Halyard problem: its location (`default.provider.kubernetes.<name>`) or "kubernetes account X".
_NAMED_ACCOUNT = re.compile(r"kubernetes(?:\.|\s+account\s+\"?)([a-z0-9][a-z0-9-]*)")
_NOT_ACCOUNTS = frozenset({"account", "accounts", "provider", "enabled", "primaryaccount"})


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9-]){re.escape(name)}(?![A-Za-z0-9-])")


def _only_about(text: str, account: str, others: Iterable[str]) -> str | None:
    """`text` as `account`'s status may show it: None when it is about other accounts only, else with any other
    account's name masked (one failed batch must not tell each tenant about the others' accounts)."""
    names = {n for n in others if n != account}
    names |= {n for n in _NAMED_ACCOUNT.findall(text) if n != account and n not in _NOT_ACCOUNTS}
    named = [n for n in names if _word(n).search(text)]
    if not named:
        return text
    if not _word(account).search(text):
        return None
    for name in sorted(named, key=len, reverse=True):
        text = _word(name).sub("<another account>", text)
    return text


def _problem_text(err: HalyardError, account: str | None = None, others: Iterable[str] = ()) -> str:
    """Halyard's problems as one line; with `account`, only what concerns that account (see `_only_about`)."""
    problems = err.blocking or err.problems
    if not problems:
        if account is None:
            return str(err)
        return _only_about(str(err), account, others) or "Halyard reported a problem with another account"
    parts, hidden = [], 0
    for p in problems:
        text = f"{p.severity.name}: {p.message}"
        if p.location:
            text += f" (at {p.location})"
        if p.remediation:
            text += f"; remediation: {p.remediation}"
        if account is not None:
            own = _only_about(text, account, others)
            if own is None:
                hidden += 1
                continue
            text = own
        parts.append(text)
    if hidden:
        parts.append(f"{hidden} problem(s) with other accounts of the same Halyard deploy (not shown here)")
    return "; ".join(parts)


class HalyardBackend:
    name = "halyard"

    def __init__(
        self,
        settings: HalyardSettings,
        config_client: HalyardClient,
        file_client: HalyardClient | None,
        mgmt: ApiClient,
    ) -> None:
        self.settings = settings
        self.client = config_client
        self.files = file_client
        self.mgmt = mgmt
        self.deploys = 0
        self.config_writes = 0  # provider writes Halyard accepted (REST bursts)
        self._provider_enabled = False

    @classmethod
    def from_config(cls, config: OperatorConfig, mgmt: ApiClient) -> HalyardBackend:
        settings = config.halyard
        exec_client = None
        if settings.transport == "exec" or settings.kubeconfig_delivery == "exec":
            configuration = copy.copy(mgmt.configuration)
            if settings.exec_server:
                configuration.host = settings.exec_server
            exec_client = HalyardClient.exec(
                KubeExecClient.from_configuration(
                    configuration, settings.pod_namespace, settings.pod_name, settings.container
                ),
                deployment=settings.deployment,
            )
        if settings.transport == "rest":
            config_client = HalyardClient.rest(settings.url, deployment=settings.deployment)
        else:
            assert exec_client is not None
            config_client = exec_client
        return cls(settings, config_client, exec_client, mgmt)

    async def close(self) -> None:
        await self.client.close()
        if self.files is not None and self.files is not self.client:
            await self.files.close()

    # ----------------------------------------------------------------------------------------------- reading

    async def list_accounts(self) -> dict[str, dict[str, Any]]:
        try:
            accounts = await self.client.list_accounts()
        except HalyardUnavailable as err:
            raise BackendUnavailable(Reason.HalyardUnavailable, f"Halyard cannot be reached: {err}") from None
        except HalyardError as err:
            raise BackendUnavailable(
                Reason.HalyardError, f"Halyard could not list accounts: {_problem_text(err)}"
            ) from None
        return {str(a["name"]): a for a in accounts if a.get("name")}

    def kubeconfig_path(self, name: str) -> str:
        if self.settings.kubeconfig_delivery == "mounted":
            return f"{self.settings.mounted_dir.rstrip('/')}/{name}.yaml"
        return f"{self.settings.kubeconfig_dir.rstrip('/')}/{name}.yaml"

    def holds_our_kubeconfig_file(self, name: str, stored: Mapping[str, Any] | None) -> bool:
        """Whether a stored account reads the kubeconfig file spinop writes for this name (in either delivery's
        directory): spinop's write whose answer was lost. spinop's accounts carry no kubeconfigContents to compare
        (Halyard copies the file at deploy time); an account someone else created names a file of theirs, or holds
        its kubeconfig inline."""
        if stored is None:
            return False
        ours = {
            f"{directory.rstrip('/')}/{name}.yaml"
            for directory in (self.settings.kubeconfig_dir, self.settings.mounted_dir)
        }
        return stored.get("kubeconfigFile") in ours

    def _someone_elses(self, upsert: Upsert, live: Mapping[str, Any] | None) -> bool:
        """An unconfirmed name (a write-ahead entry: spinop's earlier write failed, or someone created the name
        between spinop's listing and its write) that Halyard holds with someone else's account."""
        return (
            live is not None
            and not upsert.owned
            and not upsert.desired.adopt
            and not self.holds_our_kubeconfig_file(upsert.desired.name, live)
        )

    async def _ours_to_delete(self, name: str) -> bool:
        """For an unconfirmed removal: whether Halyard's account of this name is spinop's (or there is none, and the
        delete only makes sure). Raises HalyardError when Halyard cannot say."""
        try:
            stored = await self.client.get_account(name)
        except HalyardNotFound:
            return True
        return self.holds_our_kubeconfig_file(name, stored)

    def account_body(self, desired: DesiredSpinnakerAccount, live: dict[str, Any] | None) -> dict[str, Any]:
        merged = merge_account(live, desired)
        merged["kubeconfigFile"] = self.kubeconfig_path(desired.name)
        merged.pop("kubeconfigContents", None)
        return account_to_halyard(merged)

    def needs_write(self, desired: DesiredSpinnakerAccount, live: dict[str, Any] | None) -> bool:
        return live is None or self.account_body(desired, live) != account_to_halyard(live)

    # ---------------------------------------------------------------------------------------------- applying

    async def _ensure_provider_enabled(self) -> None:
        """Accounts of a disabled provider are never loaded by clouddriver: enable it once, as `hal … enable` does."""
        if self._provider_enabled:
            return
        provider = await self.client.get_provider()
        if not provider.get("enabled"):
            await self.client.set_provider_enabled(True, validate=self.settings.validate_changes)
            log.info("enabled Halyard's kubernetes provider")
        self._provider_enabled = True

    async def apply(self, upserts: list[Upsert], removals: list[Removal]) -> BatchResult:
        started = _now()
        outcomes: dict[str, Outcome] = {}
        try:
            # A deploy spinop lost sight of (Halyard unreachable mid-poll, or an operator restart) may still run;
            # Halyard has no locking, so nothing is changed until it ends.
            await self.client.wait_idle(self.settings.deploy_timeout_minutes * 60)
        except HalyardError as err:
            raise BackendUnavailable(reason_for(err), f"waiting for Halyard's running task: {err}") from None
        per_account = not self.client.writes_whole_provider
        if upserts and per_account:
            try:
                await self._ensure_provider_enabled()
            except HalyardError as err:
                raise BackendUnavailable(
                    reason_for(err), f"could not enable Halyard's kubernetes provider: {err}{self._airgap_hint(err)}"
                ) from None
        for upsert in upserts:  # before any kubeconfig is delivered for it
            if self._someone_elses(upsert, upsert.existing):
                outcomes[upsert.desired.name] = someone_elses(upsert.desired.name)
        delivered = await self._deliver(upserts, removals, outcomes)
        changed: list[str] = []
        validate = self.settings.validate_changes
        if not per_account:
            changed = await self._write_provider(upserts, removals, outcomes)
        for upsert in upserts if per_account else ():
            name = upsert.desired.name
            if name in outcomes:
                continue
            try:
                body = self.account_body(upsert.desired, upsert.existing)
                if upsert.existing is None:
                    await self.client.add_account(body, validate=validate)
                elif self.needs_write(upsert.desired, upsert.existing):
                    await self.client.replace_account(name, body, validate=validate)
                else:
                    changed.append(name)
                    continue
                dropped = await self._confirm_written(upsert, body)
                if dropped is not None:
                    outcomes[name] = dropped
                    continue
                changed.append(name)
            except HalyardRejected as err:
                outcomes[name] = Outcome(
                    False,
                    Reason.HalyardRejected,
                    f"Halyard refused the account: {_problem_text(err, name)}",
                    needs_user=True,
                )
            except HalyardNotSupported as err:
                outcomes[name] = Outcome(
                    False,
                    Reason.HalTransportCannotExpress,
                    f"{err}. spinop changed nothing; use the rest transport for this account, or remove what `hal` "
                    "cannot express (EXECUTE/CREATE roles) from the account in Spinnaker first",
                    needs_user=True,
                )
            except HalyardError as err:
                outcomes[name] = Outcome(
                    False,
                    reason_for(err),
                    f"Halyard could not apply the account: {_problem_text(err, name)}{self._airgap_hint(err)}",
                )
        for removal in removals if per_account else ():
            try:
                if not removal.confirmed and not await self._ours_to_delete(removal.name):
                    outcomes[removal.name] = Outcome(True)  # nothing of spinop's there: left as it is
                    continue
                await self.client.delete_account(removal.name, validate=validate)
                changed.append(removal.name)
            except HalyardNotFound:
                changed.append(removal.name)
            except HalyardError as err:
                outcomes[removal.name] = Outcome(
                    False, reason_for(err), f"Halyard could not delete it: {_problem_text(err, removal.name)}"
                )
        if not changed:
            # Removals left as they were (someone else's account) still take spinop's file for the name away.
            await self._forget_files([r.name for r in removals if outcomes.get(r.name, Outcome(False)).ok])
            return BatchResult(outcomes)

        if delivered and self.settings.kubeconfig_delivery == "mounted" and self.settings.mounted_sync_seconds > 0:
            # The kubelet refreshes mounted Secrets eventually; the deploy must copy the new files, not the old.
            await asyncio.sleep(self.settings.mounted_sync_seconds)
        try:
            deployment = await self.client.get_deployment()
            services = self.settings.service_names or clouddriver_services(deployment)
            result = await self.client.deploy(services, self.settings.deploy_timeout_minutes, validate=validate)
        except HalyardError as err:
            batch = [*changed, *(u.desired.name for u in upserts), *(r.name for r in removals)]
            for name in changed:
                outcomes[name] = Outcome(
                    False,
                    Reason.DeployFailed if not isinstance(err, HalyardUnavailable) else Reason.HalyardUnavailable,
                    "the account is in Halyard's config but the clouddriver deploy failed: "
                    f"{_problem_text(err, name, batch)}; "
                    f"spinop retries the deploy{self._airgap_hint(err)}",
                )
            return BatchResult(outcomes)
        self.deploys += 1
        finished = _now()
        change = ChangeRecord(
            id=result.uuid or f"hal-deploy-{finished.strftime('%Y%m%dT%H%M%SZ')}",
            backend=f"halyard deploy of {', '.join(services)}",
            started_at=started,
            finished_at=finished,
            outcome="Succeeded",
        )
        for name in changed:
            outcomes[name] = Outcome(True)
        await self._forget_files([r.name for r in removals if outcomes[r.name].ok])
        log.info("Halyard deploy %s carried %d account change(s)", change.id, len(changed))
        return BatchResult(outcomes, change)

    def _airgap_hint(self, err: HalyardError) -> str:
        timed_out = isinstance(err, HalyardTaskFailed) and err.state == "TIMED_OUT"
        overdue = isinstance(err, HalyardTaskOverdue) and err.stage in (None, "Running validation")
        if not self.settings.validate_changes or not (timed_out or overdue):
            return ""
        return (
            ". A validated change that times out is what a Halyard without internet access does (its validation "
            "waits for the Spinnaker version list and BOM); if Halyard is air-gapped, set halyard.validate: false"
        )

    async def _write_provider(
        self, upserts: list[Upsert], removals: list[Removal], outcomes: dict[str, Outcome]
    ) -> list[str]:
        """The burst as one provider write: read the provider, lay this batch's accounts over it (every other
        account goes back exactly as Halyard returned it), PUT it once, read it back once. Returns the names the
        deploy must carry; every other name of the batch gets its outcome in `outcomes`."""
        try:
            provider = await self.client.get_provider()
        except HalyardError as err:
            raise BackendUnavailable(
                reason_for(err), f"could not read Halyard's kubernetes provider: {_problem_text(err)}"
            ) from None
        live = {str(a.get("name")): a for a in provider.get("accounts") or [] if isinstance(a, dict)}
        batch = [*(u.desired.name for u in upserts), *(r.name for r in removals)]
        changes: dict[str, dict[str, Any] | None] = {}  # name -> account body, None = delete
        unchanged: list[str] = []
        for upsert in upserts:
            name = upsert.desired.name
            if name in outcomes:
                continue
            if self._someone_elses(upsert, live.get(name)):
                outcomes[name] = someone_elses(name)
                continue
            body = self.account_body(upsert.desired, live.get(name))
            unknown = unknown_account_fields(body)
            if unknown:
                outcomes[name] = Outcome(
                    False,
                    Reason.HalyardRejected,
                    f"{', '.join(unknown)} is not a field of Halyard's KubernetesAccount; Halyard would drop it "
                    "silently, so spinop sent nothing for this account",
                    needs_user=True,
                )
            elif name in live and body == account_to_halyard(live[name]):
                unchanged.append(name)
            else:
                changes[name] = body
        theirs = [
            r.name
            for r in removals
            if r.name in live and not r.confirmed and not self.holds_our_kubeconfig_file(r.name, live[r.name])
        ]
        for name in theirs:
            outcomes[name] = Outcome(True)  # nothing of spinop's there: left as it is
        gone = [r.name for r in removals if r.name not in live]
        changes |= {r.name: None for r in removals if r.name in live and r.name not in theirs}
        if not changes:
            return [*unchanged, *gone]
        written = await self._put_provider(provider, list(changes), changes, outcomes, batch)
        if not written:
            return [*unchanged, *gone]
        return [*unchanged, *gone, *await self._confirm_provider(upserts, written, changes, live, outcomes)]

    async def _put_provider(
        self,
        provider: dict[str, Any],
        group: list[str],
        changes: dict[str, dict[str, Any] | None],
        outcomes: dict[str, Outcome],
        batch: list[str],
    ) -> list[str]:
        """Write `group` of `changes` over `provider` in one task; returns the names Halyard stored. A refused
        write is bisected, so one bad account costs its own refusal (on its own status) and never blocks the
        rest; a refused write saves nothing (Halyard reverts before its save), so halves start from `provider`."""
        body = _provider_with(provider, {n: changes[n] for n in group})
        try:
            await self.client.set_provider(body, validate=self.settings.validate_changes)
        except HalyardRejected as err:
            if len(group) == 1 or not _located_in(err, group):
                # Halyard locates every account problem at the account (`<deployment>.provider.kubernetes.<name>`);
                # one located at none of these accounts would refuse every half too, so bisecting cannot help.
                for name in group:
                    verb = "refused the account" if changes[name] is not None else "could not delete it"
                    outcomes[name] = Outcome(
                        False,
                        Reason.HalyardRejected,
                        f"Halyard {verb}: {_problem_text(err, name, batch)}",
                        needs_user=True,
                    )
                return []
            half = len(group) // 2
            first = await self._put_provider(provider, group[:half], changes, outcomes, batch)
            provider = _provider_with(provider, {n: changes[n] for n in first})
            return first + await self._put_provider(provider, group[half:], changes, outcomes, batch)
        except HalyardError as err:
            for name in group:
                outcomes[name] = Outcome(
                    False,
                    reason_for(err),
                    f"Halyard could not apply the account: {_problem_text(err, name, batch)}{self._airgap_hint(err)}",
                )
            return []
        self.config_writes += 1
        self._provider_enabled = bool(body.get("enabled"))
        return group

    async def _confirm_provider(
        self,
        upserts: list[Upsert],
        written: list[str],
        changes: dict[str, dict[str, Any] | None],
        before: dict[str, dict[str, Any]],
        outcomes: dict[str, Outcome],
    ) -> list[str]:
        """One read-back for the whole burst: a managed field Halyard did not keep (it drops unknown fields without
        a problem) refuses that account, and every such account is put back as it was in one more write."""
        try:
            stored = await self.client.get_provider()
        except HalyardError as err:
            for name in written:
                outcomes[name] = Outcome(
                    False, reason_for(err), f"could not read the account back from Halyard: {_problem_text(err)}"
                )
            return []
        now = {str(a.get("name")): a for a in stored.get("accounts") or [] if isinstance(a, dict)}
        desired = {u.desired.name: u.desired for u in upserts}
        confirmed: list[str] = []
        lost: dict[str, list[str]] = {}
        for name in written:
            body = changes[name]
            if body is None:
                confirmed.append(name)
                continue
            live = account_to_halyard(now[name]) if name in now else {}
            wanted = [*desired[name].managed_fields(), "kubeconfigFile"]
            missing = sorted(k for k in wanted if k in body and live.get(k) != body[k])
            if missing:
                lost[name] = missing
            else:
                confirmed.append(name)
        if not lost:
            return confirmed
        undo = {name: copy.deepcopy(before.get(name)) for name in lost}
        try:
            await self.client.set_provider(_provider_with(stored, undo), validate=False)
            self.config_writes += 1
            undone = "spinop put the account back as it was"
        except HalyardError as err:
            undone = f"spinop could not put the account back as it was ({_problem_text(err)})"
        for name, missing in lost.items():
            log.warning("Halyard did not keep field(s) %s of account %s", ", ".join(missing), name)
            outcomes[name] = _dropped(missing, undone)
        return confirmed

    async def _confirm_written(self, upsert: Upsert, body: dict[str, Any]) -> Outcome | None:
        """Read the account back: Halyard drops fields it does not know without a problem (its request mapper
        ignores unknown properties; an older Halyard lacks newer fields). A field spinop manages that did not stick
        is refused here, and the account is put back as it was, so no deploy carries it half-applied."""
        name = upsert.desired.name
        try:
            live = account_to_halyard(await self.client.get_account(name))
        except HalyardError as err:
            return Outcome(
                False, reason_for(err), f"could not read the account back from Halyard: {_problem_text(err)}"
            )
        wanted = [*upsert.desired.managed_fields(), "kubeconfigFile"]
        lost = sorted(k for k in wanted if k in body and live.get(k) != body[k])
        if not lost:
            return None
        try:
            if upsert.existing is None:
                await self.client.delete_account(name, validate=False)
            else:
                await self.client.replace_account(name, account_to_halyard(upsert.existing), validate=False)
            undone = "spinop put the account back as it was"
        except HalyardError as err:
            undone = f"spinop could not put the account back as it was ({_problem_text(err)})"
        log.warning("Halyard did not keep field(s) %s of account %s", ", ".join(lost), name)
        return _dropped(lost, undone)

    async def _deliver(self, upserts: list[Upsert], removals: list[Removal], outcomes: dict[str, Outcome]) -> bool:
        """Put every upserted account's kubeconfig where Halyard reads it (those without an outcome yet); True when
        any content was written."""
        upserts = [u for u in upserts if u.desired.name not in outcomes]
        if not upserts:
            return False
        if self.settings.kubeconfig_delivery == "mounted":
            try:
                await asyncio.to_thread(self._write_shards, upserts, [])
            except ApiException as err:
                for u in upserts:
                    outcomes[u.desired.name] = Outcome(
                        False,
                        Reason.KubeconfigDeliveryFailed,
                        f"could not write the mounted kubeconfig Secrets: HTTP {err.status}",
                    )
                return False
            return True
        assert self.files is not None
        for upsert in upserts:
            content = Redacted(upsert.desired.kubeconfig.reveal().encode())
            try:
                await self.files.write_file(self.kubeconfig_path(upsert.desired.name), content, 0o600)
            except HalyardError as err:
                outcomes[upsert.desired.name] = Outcome(
                    False,
                    Reason.KubeconfigDeliveryFailed,
                    f"could not write the kubeconfig into the Halyard pod: {err}",
                )
        return True

    async def _forget_files(self, names: Sequence[str]) -> None:
        if not names:
            return
        if self.settings.kubeconfig_delivery == "mounted":
            try:
                await asyncio.to_thread(self._write_shards, [], list(names))
            except ApiException as err:
                log.warning(
                    "could not remove kubeconfigs of deleted accounts from the mounted Secrets: HTTP %s", err.status
                )
            return
        assert self.files is not None
        for name in names:
            try:
                await self.files.remove_file(self.kubeconfig_path(name))
            except HalyardError as err:
                log.warning("could not remove the kubeconfig of deleted account %s from the Halyard pod: %s", name, err)

    # -------------------------------------------------------------------------------------- mounted delivery

    def shard_of(self, name: str) -> str:
        return f"{self.settings.mounted_secret_prefix}-{zlib.crc32(name.encode()) % self.settings.mounted_shards}"

    def _write_shards(self, upserts: list[Upsert], removed: list[str]) -> None:
        core = k8s.CoreV1Api(self.mgmt)
        changes: dict[str, dict[str, str | None]] = {}
        for u in upserts:
            changes.setdefault(self.shard_of(u.desired.name), {})[f"{u.desired.name}.yaml"] = base64.b64encode(
                u.desired.kubeconfig.reveal().encode()
            ).decode()
        for name in removed:
            changes.setdefault(self.shard_of(name), {})[f"{name}.yaml"] = None
        namespace = self.settings.pod_namespace
        for shard, data in changes.items():
            existing = get_or_none(core.read_namespaced_secret, shard, namespace)
            if existing is None:
                body = k8s.V1Secret(
                    metadata=k8s.V1ObjectMeta(name=shard, namespace=namespace, labels={MANAGED_BY: "spinop"}),
                    type="Opaque",
                    data={k: v for k, v in data.items() if v is not None},
                )
                call(core.create_namespaced_secret, namespace, body)
            else:
                # JSON merge patch: a null value removes the key.
                call(core.patch_namespaced_secret, shard, namespace, {"data": data})


def _dropped(lost: list[str], undone: str) -> Outcome:
    return Outcome(
        False,
        Reason.HalyardDroppedField,
        f"Halyard accepted the account but did not keep {', '.join(lost)} (this Halyard's KubernetesAccount "
        f"lacks the field, or changes it); {undone} and deploys nothing for it. Upgrade Halyard to a release "
        "that has the field",
        needs_user=True,
    )


def _located_in(err: HalyardError, names: Sequence[str]) -> bool:
    """Whether a blocking problem of `err` is located at one of the accounts `names`."""
    suffixes = tuple(f".{name}" for name in names)
    return any(p.location and p.location.endswith(suffixes) for p in err.blocking or err.problems)


def _provider_with(provider: dict[str, Any], changes: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """`provider` with the named accounts replaced (None: removed, absent: appended); every other account and
    provider field exactly as given. Adding an account enables the provider, as `hal … enable` would."""
    out = {k: v for k, v in provider.items() if k != "accounts"}
    accounts: list[Any] = []
    for account in provider.get("accounts") or []:
        name = account.get("name") if isinstance(account, dict) else None
        if name in changes:
            if changes[name] is not None:
                accounts.append(changes[name])
        else:
            accounts.append(account)
    present = {a.get("name") for a in provider.get("accounts") or [] if isinstance(a, dict)}
    accounts += [body for name, body in changes.items() if name not in present and body is not None]
    out["accounts"] = accounts
    if any(body is not None for body in changes.values()):
        out["enabled"] = True
    return out


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
