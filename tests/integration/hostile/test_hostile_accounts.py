"""Hostile SpinnakerAccounts (tests/integration/hostile/account_corpus.py) applied by a tenant restricted by real
MGMT RBAC (a ServiceAccount bound to deploy/base's spinop-tenant-edit, TokenRequest token), against the real
operator with the Halyard stand-in: each is refused naming its field, by the apiserver's schema or in the account's
Ready condition, and leaves nothing behind (no remote namespace, no credentials Secret, no Spinnaker account).

And the safe default that makes the permission cases matter: an account without spec.permissions reaches Spinnaker
with READ and WRITE for its tenant's role only (Fiat opens an account without roles to every user).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.api.crdgen import repo_crd_dir
from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.hostile.account_corpus import CORPUS, HostileAccount
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.standin import add_unmanaged_account, halyard_settings
from tests.integration.reliability.tenant import Answer, Tenant
from tests.integration.spinnaker.standins import HalyardStandinProcess

REMOTE = "dev"


@pytest.fixture(scope="module")
def halyard(tmp_path_factory: pytest.TempPathFactory, mgmt: Cluster) -> Iterator[HalyardStandinProcess]:
    standin = HalyardStandinProcess.start(tmp_path_factory.mktemp("halyard"), mgmt.kubeconfig)
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def operator(
    halyard: HalyardStandinProcess, start_operator: Callable[..., OperatorProcess], operator_kubeconfig: Path
) -> Iterator[OperatorProcess]:
    # No webhook: the reconcile is the authority, as when the webhook is down or bypassed.
    process = start_operator(
        {"spinnaker_backend": "halyard", "drift_interval_seconds": 30, "halyard": halyard_settings(halyard)}
    )
    yield process
    process.stop()


@dataclass
class World:
    mgmt: Cluster
    remote: Cluster
    halyard: HalyardStandinProcess
    tenant: Tenant
    a: str
    b: str
    open: str
    closed: str
    legacy: str
    holder_account_name: str

    def target(self, suffix: str) -> str:
        # `*` in a namespacePattern is one segment of a-z0-9.
        return f"{self.a}-dev-{suffix.replace('-', '')}"[:63]

    def account(self, name: str, target: str | None = None, **spec: Any) -> dict[str, Any]:
        return objects.spinnaker_account(self.a, name, self.open, target or self.target(name), **spec)


@pytest.fixture(scope="module")
def world(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    halyard: HalyardStandinProcess,
    admin_kubeconfig_secrets: dict[str, str],
    namespaces_to_reap: list[tuple[Cluster, str]],
) -> Iterator[World]:
    a = mgmt.create_namespace("ha", objects.TENANT_LABEL)
    b = mgmt.create_namespace("hb", objects.TENANT_LABEL)
    suffix = objects.short_id()
    open_, closed = f"ho-{suffix}", f"hc-{suffix}"
    secret = admin_kubeconfig_secrets[REMOTE]
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            open_,
            secret,
            REMOTE,
            tenancy={
                "namespacePattern": "{tenant}-{environment}-*",
                "allowedProfiles": ["deployer"],
                "allowedExtraRules": [
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}
                ],
            },
        ),
    )
    objects.create(
        mgmt,
        objects.spinnaker_cluster(closed, secret, REMOTE, tenancy={"namespaceSelector": {"matchLabels": {"x": "y"}}}),
    )
    legacy = f"legacy-{suffix}"
    add_unmanaged_account(halyard, legacy, "legacy")
    objects.create(mgmt, objects.spinnaker_account(b, "holder", open_, f"{b}-dev-holder", deletionPolicy="Delete"))
    holder = objects.wait_condition(mgmt, "SpinnakerAccount", "holder", b, "Ready", timeout=180)
    tenant = Tenant(mgmt, a)
    handle = World(
        mgmt, remotes[REMOTE], halyard, tenant, a, b, open_, closed, legacy, holder["status"]["spinnakerAccountName"]
    )
    yield handle
    tenant.close()
    for ns in (a, b):
        listed = mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "spinnakeraccounts")["items"]
        for item in listed:
            objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns)
        for item in listed:
            objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns, timeout=180)
    for name in (open_, closed):
        objects.delete(mgmt, "SpinnakerCluster", name)
    for ns in (a, b):
        mgmt.delete_namespace(ns)
        namespaces_to_reap.append((mgmt, ns))


# ------------------------------------------------------------------------------------------------------- checking


def _names(body: dict[str, Any]) -> tuple[str, str]:
    spec = body.get("spec") or {}
    return str(spec.get("accountName") or f"{spec.get('cluster')}-{spec.get('namespace')}"), str(spec.get("namespace"))


def left_behind(w: World, body: dict[str, Any]) -> list[str]:
    """A refused account leaves no remote namespace, no credentials Secret and no Spinnaker account."""
    if body.get("kind") != "SpinnakerAccount":
        return []
    account_name, namespace = _names(body)
    problems = []
    own = account_name not in (w.holder_account_name, w.legacy)
    if own:
        try:
            w.mgmt.core.read_namespaced_secret(f"spinop-{account_name}", CREDENTIALS_NAMESPACE)
            problems.append(f"credentials Secret spinop-{account_name} exists")
        except ApiException as err:
            if err.status != 404:
                raise
        if account_name in w.halyard.accounts():
            problems.append(f"Halyard has an account {account_name}")
    if namespace.startswith(w.a) or (namespace.startswith(w.b) and namespace != f"{w.b}-dev-holder"):
        try:
            w.remote.core.read_namespace(namespace)
            problems.append(f"remote namespace {namespace} exists")
        except ApiException as err:
            if err.status != 404:
                raise
    if not own and account_name == w.legacy:
        legacy = w.halyard.accounts().get(w.legacy) or {}
        if legacy.get("namespaces") != ["legacy"]:
            problems.append(f"the unmanaged Spinnaker account {w.legacy} was changed: {legacy}")
    return problems


def names_field(case: HostileAccount, message: str) -> bool:
    return any(field in message for field in case.field.split("|"))


def apply(w: World, case: HostileAccount, name: str) -> tuple[dict[str, Any], Answer]:
    body = case.build(w, name)
    if not case.as_admin:
        return body, w.tenant.create(body)
    try:
        return body, Answer(True, obj=objects.create(w.mgmt, body))
    except ApiException as err:
        message = str((json.loads(err.body or "{}") or {}).get("message") or err.reason)
        return body, Answer(False, int(err.status or 0), message)


# --------------------------------------------------------------------------------------------------------- tests


def test_the_corpus_is_large_and_each_case_names_a_field() -> None:
    assert len(CORPUS) >= 12
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    assert all(c.field for c in CORPUS)


@pytest.mark.timeout(600)
def test_every_hostile_account_is_refused_naming_its_field_and_leaves_nothing(world: World) -> None:
    # The shared control planes may have had older CRDs applied meanwhile (another checkout's test session).
    world.mgmt.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(repo_crd_dir()))
    world.mgmt.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/spinnakerclusters.spinop.io")
    problems: list[str] = []
    admitted: dict[str, HostileAccount] = {}
    created_clusters: list[str] = []
    for case in CORPUS:
        name = f"x-{case.id}"[:63] if not case.as_admin else f"x-{objects.short_id()}-{case.id}"[:36].rstrip("-")
        _, answer = apply(world, case, name)
        if answer.accepted:
            if case.as_admin:
                created_clusters.append(name)
                problems.append(f"{case.id}: the cluster policy was accepted")
            else:
                admitted[name] = case
        elif not names_field(case, answer.message):
            problems.append(f"{case.id}: refused without naming {case.field}: {answer}")

    def refused(name: str, case: HostileAccount) -> dict[str, Any] | None:
        obj = objects.get(world.mgmt, "SpinnakerAccount", name, world.a)
        ready = objects.condition(obj, "Ready") or {}
        wanted = ready.get("status") == "False" and (not case.reason or ready.get("reason") in case.reason.split("|"))
        return obj if wanted else None

    def all_refused() -> bool:
        return all(refused(name, case) for name, case in admitted.items())

    with contextlib.suppress(AssertionError):  # the loop below says which one is not
        wait_for(all_refused, timeout=240, interval=2, what="every admitted hostile account refused in status")
    for name, case in admitted.items():
        obj = refused(name, case)
        if obj is None:
            now = objects.condition(objects.get(world.mgmt, "SpinnakerAccount", name, world.a), "Ready")
            problems.append(f"{case.id}: admitted and not refused with {case.reason or 'a reason'}; Ready: {now}")
            continue
        message = (objects.condition(obj, "Ready") or {}).get("message") or ""
        if not names_field(case, message):
            problems.append(f"{case.id}: the condition does not name {case.field}: {message[:300]}")
    for name in created_clusters:
        objects.delete(world.mgmt, "SpinnakerCluster", name)
    for case in CORPUS:
        problems += [f"{case.id}: {p}" for p in left_behind(world, case.build(world, f"x-{case.id}"[:63]))]
    try:
        objects.wait_condition(world.mgmt, "SpinnakerAccount", "holder", world.b, "Ready", timeout=120)
    except AssertionError as err:
        problems.append(f"the other tenant's account is no longer Ready: {err}")
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(300)
def test_an_account_without_permissions_reaches_spinnaker_closed_to_other_tenants(world: World) -> None:
    """Fiat (Permissions.isRestricted) gives every user every authorization on an account without roles; the
    cluster's default (READ and WRITE: [{tenant}]) must be what Halyard holds."""
    answer = world.tenant.create(world.account("plain", deletionPolicy="Delete"))
    assert answer.accepted, answer
    obj = objects.wait_condition(world.mgmt, "SpinnakerAccount", "plain", world.a, "Ready", timeout=180)
    name = obj["status"]["spinnakerAccountName"]
    stored = wait_for(lambda: world.halyard.accounts().get(name), timeout=60, what=f"Halyard account {name}")
    assert stored.get("permissions") == {"READ": [world.a], "WRITE": [world.a]}


@pytest.mark.timeout(300)
def test_a_refusal_never_names_the_other_tenants_objects(world: World) -> None:
    """Taking the other tenant's Spinnaker account name is refused; the refusal says the name is taken, not by
    which namespace or object (before: "held by SpinnakerAccount <their namespace>/<their object>")."""
    taken = world.holder_account_name
    answer = world.tenant.create(world.account("alias", accountName=taken))
    if answer.accepted:
        obj = objects.wait_condition(world.mgmt, "SpinnakerAccount", "alias", world.a, "Ready", "False", timeout=180)
        message = (objects.condition(obj, "Ready") or {}).get("message") or ""
    else:
        message = answer.message
    assert "spec.accountName" in message, message
    # What the tenant typed may come back (the name, the namespace it is the default of); whose it is may not.
    assert f"{world.b}/holder" not in message and f"tenant {world.b}" not in message, message
    assert "SpinnakerAccount holder" not in message, message
    assert taken not in world.halyard.accounts() or world.halyard.accounts()[taken].get("namespaces") == [
        f"{world.b}-dev-holder"
    ]


@pytest.mark.timeout(300)
def test_a_failed_halyard_deploy_tells_an_account_nothing_about_other_tenants(world: World) -> None:
    """One failing Halyard deploy used to write the same message (every problem of the batch) into every
    account's status: here the problem is about the other tenant's account, so this tenant learns only that
    something else in the deploy failed."""
    other = world.holder_account_name
    world.halyard.faults(
        fail_next={
            "message": f"No context specified in kubernetes account {other} and no 'current-context' in "
            f"/home/spinnaker/.hal/spinop/kubeconfigs/{other}.yaml",
            "match": "Apply deployment",
        }
    )
    try:
        assert world.tenant.create(world.account("batch", deletionPolicy="Delete")).accepted
        obj = objects.wait_condition(
            world.mgmt, "SpinnakerAccount", "batch", world.a, "SpinnakerSynced", "False", "DeployFailed", timeout=180
        )
    finally:
        world.halyard.clear_faults()
    message = (objects.condition(obj, "SpinnakerSynced") or {}).get("message") or ""
    assert other not in message and world.b not in message, message
    assert "problem(s) with other accounts of the same Halyard deploy" in message, message
    objects.wait_condition(world.mgmt, "SpinnakerAccount", "batch", world.a, "Ready", timeout=180)
