"""A tenant's fleet of SpinnakerAccounts spread over the remote clusters, and the invariants a rollout must end in.

Every check reads the truth where it lives (the remote clusters, MGMT's Secrets, the Halyard stand-in's halconfig
and deploy records), never the operator's own claims, and returns every problem at once so a failure tells the
whole story.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.api.labels import ACCOUNT_NAMESPACE, OWNER_UID
from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster
from tests.integration.reliability.hygiene import SecretRecorder, kubeconfig_token
from tests.integration.reliability.standin import halconfig_account_names, succeeded_deploys
from tests.integration.spinnaker.standins import HalyardStandinProcess

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass
class Fleet:
    mgmt: Cluster
    remotes: dict[str, Cluster]
    tenant: str  # the tenant's MGMT namespace
    clusters: dict[str, str]  # environment -> SpinnakerCluster name
    env_of: dict[str, str] = field(default_factory=dict)  # account (CR) name -> environment
    #: Orphaned credentials Secrets that existed before this fleet (another suite's): reported, not blamed on it.
    orphans_before: set[str] = field(default_factory=set)

    def target(self, env: str, name: str) -> str:
        return f"{self.tenant}-{env}-{name}"

    def spinnaker_name(self, name: str) -> str:
        env = self.env_of[name]
        return f"{self.clusters[env]}-{self.target(env, name)}"

    def create(self, name: str, env: str, **spec: Any) -> None:
        self.env_of[name] = env
        spec.setdefault("deletionPolicy", "Delete")
        objects.create(
            self.mgmt,
            objects.spinnaker_account(self.tenant, name, self.clusters[env], self.target(env, name), **spec),
        )

    def delete(self, name: str) -> None:
        objects.delete(self.mgmt, "SpinnakerAccount", name, self.tenant)

    def listed(self) -> dict[str, dict[str, Any]]:
        items = self.mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, self.tenant, "spinnakeraccounts")
        return {item["metadata"]["name"]: item for item in items["items"]}

    def wait_ready(self, names: Iterable[str], timeout: float) -> dict[str, dict[str, Any]]:
        return wait_all(self, names, "Ready", "True", timeout=timeout)


def ready(obj: dict[str, Any] | None) -> bool:
    return (objects.condition(obj, "Ready") or {}).get("status") == "True"


def wait_all(
    fleet: Fleet,
    names: Iterable[str],
    type_: str,
    status: str,
    *,
    reasons: Sequence[str] | None = None,
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """Until every named account has the condition (one list per poll, not a get per account)."""
    wanted = list(names)
    deadline = time.monotonic() + timeout
    while True:
        listed = fleet.listed()
        done = {
            name: listed[name]
            for name in wanted
            if (cond := objects.condition(listed.get(name), type_))
            and cond.get("status") == status
            and (reasons is None or cond.get("reason") in reasons)
        }
        if len(done) == len(wanted):
            return done
        if time.monotonic() > deadline:
            missing = {
                name: {
                    c["type"]: f"{c['status']} {c.get('reason')}: {str(c.get('message'))[:160]}"
                    for c in ((listed.get(name) or {}).get("status") or {}).get("conditions") or []
                    if c["type"] in ("Ready", type_)
                }
                for name in wanted
                if name not in done
            }
            raise AssertionError(
                f"timed out after {timeout:.0f}s: {len(missing)} of {len(wanted)} accounts lack {type_}={status}"
                f"{f' ({reasons})' if reasons else ''}: {dict(list(missing.items())[:12])}"
            )
        time.sleep(1)


def wait_gone(fleet: Fleet, names: Iterable[str], timeout: float) -> None:
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while wanted & set(fleet.listed()):
        if time.monotonic() > deadline:
            left = sorted(wanted & set(fleet.listed()))
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {len(left)} deletions: {left[:12]}")
        time.sleep(1)


def stored_token(mgmt: Cluster, account: dict[str, Any]) -> str | None:
    ref = (account.get("status") or {}).get("credentialsSecretRef")
    if not ref:
        return None
    try:
        return kubeconfig_token(objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"]))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _count(items: Sequence[Any], what: str, uid: str, where: str) -> list[str]:
    problems = []
    if len(items) != 1:
        problems.append(f"{where}: {len(items)} {what}(s), expected exactly one: {[i.metadata.name for i in items]}")
    for item in items:
        if (item.metadata.labels or {}).get(OWNER_UID) != uid:
            problems.append(f"{where}: {what} {item.metadata.name} is not labelled with its owner {uid}")
    return problems


def remote_problems(fleet: Fleet, name: str, account: dict[str, Any]) -> list[str]:
    """Exactly one ServiceAccount, Role and RoleBinding in the account's namespace, each labelled with its owner."""
    env = fleet.env_of[name]
    remote, ns = fleet.remotes[env], fleet.target(env, name)
    uid = account["metadata"]["uid"]
    where = f"{env}/{ns}"
    service_accounts = [
        sa
        for sa in remote.core.list_namespaced_service_account(ns).items
        if (sa.metadata.labels or {}).get("app.kubernetes.io/managed-by") == "spinop"
    ]
    return (
        _count(service_accounts, "spinop ServiceAccount", uid, where)
        + _count(remote.rbac.list_namespaced_role(ns).items, "Role", uid, where)
        + _count(remote.rbac.list_namespaced_role_binding(ns).items, "RoleBinding", uid, where)
    )


def gone_problems(fleet: Fleet, name: str) -> list[str]:
    """A deleted account left nothing: no ServiceAccount/Role/RoleBinding of its name on the remote cluster."""
    env = fleet.env_of[name]
    remote, ns = fleet.remotes[env], fleet.target(env, name)
    object_name = f"spinop-{fleet.spinnaker_name(name)}"
    try:
        if remote.core.read_namespace(ns).metadata.deletion_timestamp is not None:
            return []  # deletionPolicy Delete: the namespace and everything in it are on their way out
    except ApiException as err:
        if err.status == 404:
            return []
        raise
    problems = []
    for kind, read in (
        ("ServiceAccount", remote.core.read_namespaced_service_account),
        ("Role", remote.rbac.read_namespaced_role),
        ("RoleBinding", remote.rbac.read_namespaced_role_binding),
    ):
        try:
            obj = read(object_name, ns)
        except ApiException as err:
            if err.status == 404:
                continue
            raise
        if obj.metadata.deletion_timestamp is None:
            problems.append(f"deleted account {name}: {kind} {ns}/{object_name} is still on {env}")
    return problems


def orphaned_credentials(mgmt: Cluster) -> dict[str, str]:
    """Owner-labelled Secrets in the credentials namespace whose SpinnakerAccount does not exist: name -> owner."""
    uids = {
        item["metadata"]["uid"]
        for item in mgmt.custom.list_cluster_custom_object(GROUP, VERSION, "spinnakeraccounts")["items"]
    }
    return {
        secret.metadata.name: secret.metadata.labels[OWNER_UID]
        for secret in mgmt.core.list_namespaced_secret(CREDENTIALS_NAMESPACE, label_selector=OWNER_UID).items
        if secret.metadata.labels[OWNER_UID] not in uids and secret.metadata.deletion_timestamp is None
    }


def credentials_problems(fleet: Fleet, live: dict[str, dict[str, Any]]) -> list[str]:
    """No orphaned credentials: every owner-labelled Secret in the credentials namespace belongs to an existing
    SpinnakerAccount (orphans older than the fleet aside), and this tenant has exactly one per live account."""
    problems = [
        f"orphaned credentials Secret {name}: owner {owner} does not exist"
        for name, owner in orphaned_credentials(fleet.mgmt).items()
        if name not in fleet.orphans_before
    ]
    secrets = fleet.mgmt.core.list_namespaced_secret(CREDENTIALS_NAMESPACE, label_selector=OWNER_UID).items
    mine = [s for s in secrets if (s.metadata.labels or {}).get(ACCOUNT_NAMESPACE) == fleet.tenant]
    expected = {f"spinop-{fleet.spinnaker_name(n)}" for n in live}
    names = Counter(s.metadata.name for s in mine)
    if set(names) != expected or any(c > 1 for c in names.values()):
        problems.append(
            f"credentials Secrets of tenant {fleet.tenant}: extra {sorted(set(names) - expected)}, "
            f"missing {sorted(expected - set(names))}"
        )
    return problems


def spinnaker_problems(
    fleet: Fleet, halyard: HalyardStandinProcess, live: dict[str, dict[str, Any]], gone: Iterable[str]
) -> list[str]:
    """Halyard has each live account exactly once and no deleted one; the last successful deploy carried every
    live account with the token stored in MGMT; each account's status.lastDeploy names a deploy that carried it;
    and no two Halyard mutations ever overlapped."""
    problems = []
    names = halconfig_account_names(halyard)
    duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
    if duplicates:
        problems.append(f"duplicate Spinnaker accounts in the halconfig: {duplicates}")
    expected = {fleet.spinnaker_name(n) for n in live}
    mine = {n for n in names if fleet.tenant in n}
    if mine != expected:
        problems.append(
            f"halconfig accounts of tenant {fleet.tenant}: extra {sorted(mine - expected)}, "
            f"missing {sorted(expected - mine)}"
        )
    stale = sorted({fleet.spinnaker_name(n) for n in gone} & set(names))
    if stale:
        problems.append(f"deleted accounts still in the halconfig: {stale}")

    deploys = succeeded_deploys(halyard)
    if not deploys:
        return [*problems, "no successful Halyard deploy at all"]
    last = deploys[-1]
    carried = {a["name"] for a in last["accounts"]}
    by_uuid = {d["taskUuid"]: d for d in deploys}
    for name, account in live.items():
        spinnaker_name = fleet.spinnaker_name(name)
        if spinnaker_name not in carried:
            problems.append(f"{name}: Ready but not carried by the last successful deploy {last['taskUuid']}")
            continue
        copied = (last.get("kubeconfigs") or {}).get(spinnaker_name) or {}
        if kubeconfig_token(copied.get("content") or "") != stored_token(fleet.mgmt, account):
            problems.append(f"{name}: clouddriver's copy of the kubeconfig is not the one stored in MGMT")
        deploy_id = ((account.get("status") or {}).get("lastDeploy") or {}).get("id")
        record = by_uuid.get(deploy_id or "")
        if record is None or spinnaker_name not in {a["name"] for a in record["accounts"]}:
            problems.append(f"{name}: status.lastDeploy.id {deploy_id} is not a successful deploy that carried it")
    return problems


def overlap_problems(halyard: HalyardStandinProcess) -> list[str]:
    overlaps = halyard.concurrency()["overlaps"]
    return [f"Halyard saw overlapping mutations: {overlaps[:5]}"] if overlaps else []


def rollout_problems(
    fleet: Fleet,
    halyard: HalyardStandinProcess,
    live: Iterable[str],
    gone: Iterable[str] = (),
    *,
    overlaps: bool = True,
) -> list[str]:
    """Everything a finished rollout must satisfy (the accounts in `live` are expected Ready); `overlaps=False`
    leaves the Halyard concurrency report to the caller."""
    listed = fleet.listed()
    live_names, gone_names = list(live), list(gone)
    problems = [f"{n}: not Ready" for n in live_names if not ready(listed.get(n))]
    problems += [f"deleted account {n} still exists" for n in gone_names if n in listed]
    accounts = {n: listed[n] for n in live_names if n in listed}
    for name, account in accounts.items():
        problems += remote_problems(fleet, name, account)
    for name in gone_names:
        problems += gone_problems(fleet, name)
    problems += credentials_problems(fleet, accounts)
    problems += spinnaker_problems(fleet, halyard, accounts, gone_names)
    if overlaps:
        problems += overlap_problems(halyard)
    return problems


def reasons_seen(recorder: SecretRecorder, tenant: str, names: Iterable[str], since: float) -> set[str]:
    """Every reason a False SpinnakerSynced/Ready condition of the named accounts showed since `since`, from every
    status version the recorder saw (a poll could miss a reason that lasted a second)."""
    wanted = {f"spinnakeraccounts {tenant}/{name}" for name in names}
    seen: set[str] = set()
    for record in recorder.records_since(since):
        if record.source not in wanted:
            continue
        status = json.loads(record.text).get("status") or {}
        seen.update(
            str(c.get("reason"))
            for c in status.get("conditions") or []
            if c.get("type") in ("SpinnakerSynced", "Ready") and c.get("status") == "False"
        )
    return seen
