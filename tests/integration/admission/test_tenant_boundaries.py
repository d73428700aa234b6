"""Issue 16: tenants played as hostile, each by a ServiceAccount bound only to deploy/base's spinop-tenant-edit.

Tenants `<t>` and `<t>-a` share a SpinnakerCluster whose pattern is `{tenant}-*`. Each attack is refused with the
field at fault (admission 403, or a status condition when the reconcile decides) and leaves nothing behind: no
remote namespace, ServiceAccount or credentials, no rotation.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
import pytest

from spinop import GROUP, VERSION
from spinop.api.labels import GRANTED_TENANT
from tests.integration import objects
from tests.integration.admission.conftest import ADMISSION_SETTINGS, wait_webhook_ready
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.tenant import Answer, Tenant

MAX_ON_MISSING_CLUSTERS = 2


@pytest.fixture(scope="module")
def operator(
    webhook_configurations: None, start_operator: Callable[..., OperatorProcess], mgmt: Cluster
) -> OperatorProcess:
    settings = {
        **ADMISSION_SETTINGS,
        "drift_interval_seconds": 5,
        "min_rotation_interval_seconds": 600,
        "max_accounts_on_missing_clusters": MAX_ON_MISSING_CLUSTERS,
    }
    operator = start_operator(settings, kubeconfig=mgmt.kubeconfig)  # managed webhook config: admin
    wait_webhook_ready(mgmt)
    return operator


@dataclass
class World:
    short: Tenant  # tenant <t>
    long: Tenant  # tenant <t>-a: its namespaces and names start with <t>-
    cluster: str  # on dev, pattern {tenant}-*
    legacy_account: str  # an adoptableAccounts grant for <t>-a

    @property
    def t(self) -> str:
        return self.short.namespace

    @property
    def ta(self) -> str:
        return self.long.namespace

    def account(self, tenant: Tenant, name: str, target: str, **spec: Any) -> dict[str, Any]:
        return objects.spinnaker_account(tenant.namespace, name, self.cluster, target, **spec)


def _exact_namespace(mgmt: Cluster, name: str) -> str:
    mgmt.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=objects.TENANT_LABEL)))
    return name


@pytest.fixture()
def world(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    admin_kubeconfig_secrets: dict[str, str],
    namespaces_to_reap: list[tuple[Cluster, str]],
) -> Iterator[World]:
    suffix = objects.short_id()
    t = _exact_namespace(mgmt, f"tb{suffix}")
    ta = _exact_namespace(mgmt, f"tb{suffix}-a")
    cluster = f"tb-{suffix}"
    legacy = f"legacy{suffix}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            cluster,
            admin_kubeconfig_secrets["dev"],
            "dev",
            tenancy={
                "namespacePattern": "{tenant}-*",
                "maxCacheThreadsPerTenant": 2,
                "adoptableAccounts": [{"accountName": legacy, "tenant": ta}],
            },
        ),
    )
    short, long = Tenant(mgmt, t), Tenant(mgmt, ta)
    yield World(short, long, cluster, legacy)
    if operator.proc is not None and operator.proc.poll() is not None:
        operator.start()  # a test failed while the operator was down: finalizers need it
    for ns in (t, ta):
        for item in mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "spinnakeraccounts")["items"]:
            objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns)
    for ns in (t, ta):
        for item in mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "spinnakeraccounts")["items"]:
            objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", cluster)
    short.close()
    long.close()
    for ns in (t, ta):
        mgmt.delete_namespace(ns)
        namespaces_to_reap.append((mgmt, ns))
    dev = remotes["dev"]
    for item in dev.core.list_namespace(label_selector="app.kubernetes.io/managed-by=spinop").items:
        if item.metadata.name.startswith(f"tb{suffix}"):
            dev.delete_namespace(item.metadata.name)


def _refused(answer: Answer, field: str) -> str:
    assert not answer.accepted, f"the tenant's request was accepted: {answer}"
    assert answer.code == 403, answer
    assert field in answer.message, answer
    return answer.message


def _absent(mgmt: Cluster, tenant: Tenant, name: str) -> None:
    assert objects.get(mgmt, "SpinnakerAccount", name, tenant.namespace) is None


def _no_remote_namespace(remote: Cluster, name: str) -> None:
    assert remote.namespace_gone(name), f"namespace {name} exists on the remote cluster"


# --- item 1 -------------------------------------------------------------------------------------------------------


def test_a_wildcard_does_not_reach_the_longer_tenants_namespace(
    world: World, mgmt: Cluster, remotes: dict[str, Cluster]
) -> None:
    target = f"{world.ta}-prod"  # <t>-a-prod: <t>-* used to match it
    message = _refused(world.short.create(world.account(world.short, "reach", target)), "spec.namespace")
    assert "NamespaceNotAllowed" in message and f"{world.t}-<any of a-z0-9>" in message
    _absent(mgmt, world.short, "reach")
    _no_remote_namespace(remotes["dev"], target)
    # The owner gets it.
    assert world.long.create(world.account(world.long, "mine", target)).accepted
    objects.wait_condition(mgmt, "SpinnakerAccount", "mine", world.ta, "Ready", timeout=120)
    labels = remotes["dev"].core.read_namespace(target).metadata.labels
    assert labels["spinop.io/tenant"] == world.ta  # every namespace spinop creates records its tenant


# --- item 2 -------------------------------------------------------------------------------------------------------


def test_an_existing_namespace_needs_the_admins_grant(
    world: World, mgmt: Cluster, remotes: dict[str, Cluster], namespaces_to_reap: list[tuple[Cluster, str]]
) -> None:
    dev = remotes["dev"]
    existing = f"{world.t}-legacy"  # matches <t>-*, but spinop did not create it (someone else's, or squatted)
    dev.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=existing)))
    try:
        assert world.short.create(world.account(world.short, "grab", existing)).accepted
        account = objects.wait_condition(
            mgmt, "SpinnakerAccount", "grab", world.t, "RemoteProvisioned", "False", reason="NamespaceNotGranted"
        )
        message = objects.condition(account, "RemoteProvisioned")["message"]  # type: ignore[index]
        assert "spec.tenancy.existingNamespaces" in message and existing in message
        assert (
            dev.core.list_namespaced_service_account(existing, label_selector="app.kubernetes.io/managed-by").items
            == []
        )
        assert dev.rbac.list_namespaced_role_binding(existing).items == []
        assert "credentialsSecretRef" not in (account.get("status") or {})

        # The platform admin grants it in MGMT; the remote cluster's admin has not confirmed it there yet (deploy/remote
        # refuses spinop's writes in it until the namespace is labelled for the tenant): still nothing is created.
        objects.patch(
            mgmt,
            "SpinnakerCluster",
            world.cluster,
            None,
            {"spec": {"tenancy": {"existingNamespaces": [{"namespace": existing, "tenant": world.t}]}}},
        )
        account = objects.wait_condition(
            mgmt, "SpinnakerAccount", "grab", world.t, "RemoteProvisioned", "False", reason="NamespaceGrantNotLabelled"
        )
        message = objects.condition(account, "RemoteProvisioned")["message"]  # type: ignore[index]
        assert f"kubectl label namespace {existing} {GRANTED_TENANT}={world.t}" in message
        assert (
            dev.core.list_namespaced_service_account(existing, label_selector="app.kubernetes.io/managed-by").items
            == []
        )
        assert dev.rbac.list_namespaced_role_binding(existing).items == []
        assert "credentialsSecretRef" not in (account.get("status") or {})

        # The remote admin labels it: the same account now provisions there, every object labelled for the tenant.
        dev.core.patch_namespace(existing, {"metadata": {"labels": {GRANTED_TENANT: world.t}}})
        objects.wait_condition(mgmt, "SpinnakerAccount", "grab", world.t, "RemoteProvisioned", timeout=120)
        (sa,) = dev.core.list_namespaced_service_account(existing, label_selector="app.kubernetes.io/managed-by").items
        assert sa.metadata.labels["spinop.io/tenant"] == world.t
        # Granted to <t> only: tenant <t>-a may not name it, whatever the pattern.
        message = _refused(world.long.create(world.account(world.long, "other", existing)), "spec.namespace")
        assert f"grants it to tenant {world.t}" in message
    finally:
        dev.delete_namespace(existing)
        namespaces_to_reap.append((dev, existing))


# --- item 3 -------------------------------------------------------------------------------------------------------


def _utcnow_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_refused_older_claim_does_not_lock_out_the_owner(
    world: World, mgmt: Cluster, remotes: dict[str, Cluster], admin_kubeconfig_secrets: dict[str, str]
) -> None:
    target = f"{world.ta}-web"
    later = f"{world.cluster}-later"  # GitOps order: accounts may come before their SpinnakerCluster
    # Admitted with a warning (no cluster, nothing to judge yet): tenant <t> squats <t>-a's namespace.
    squat = world.short.create(objects.spinnaker_account(world.t, "squat", later, target))
    assert squat.accepted, squat
    created = squat.obj["metadata"]["creationTimestamp"]  # type: ignore[index]
    wait_for(lambda: _utcnow_iso() > created, timeout=3, what="the next second")
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            later, admin_kubeconfig_secrets["dev"], "dev", tenancy={"namespacePattern": "{tenant}-*"}
        ),
    )
    try:
        objects.wait_condition(
            mgmt, "SpinnakerAccount", "squat", world.t, "RemoteProvisioned", "False", reason="NamespaceNotAllowed"
        )
        # The owner comes later: the older, refused claim holds nothing (before, it was refused for ever).
        owner = world.long.create(objects.spinnaker_account(world.ta, "owner", later, target))
        assert owner.accepted, owner
        ready = objects.wait_condition(mgmt, "SpinnakerAccount", "owner", world.ta, "Ready", timeout=120)
        annotations = remotes["dev"].core.read_namespace(target).metadata.annotations
        assert annotations["spinop.io/owner"] == f"{world.ta}/owner"
        assert ready["status"]["spinnakerAccountName"] == f"{later}-{target}"
        squatter = objects.get(mgmt, "SpinnakerAccount", "squat", world.t)
        assert "credentialsSecretRef" not in (squatter or {}).get("status", {})
    finally:
        for tenant, name in ((world.t, "squat"), (world.ta, "owner")):
            objects.delete(mgmt, "SpinnakerAccount", name, tenant)
            objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant, timeout=120)
        objects.delete(mgmt, "SpinnakerCluster", later)


# --- item 4 -------------------------------------------------------------------------------------------------------


def test_another_tenants_future_default_name_and_granted_name_cannot_be_squatted(
    world: World, mgmt: Cluster, remotes: dict[str, Cluster]
) -> None:
    their_default = f"{world.cluster}-{world.ta}-prod"  # <t>-a's default name for <t>-a-prod, not yet in use
    message = _refused(
        world.short.create(world.account(world.short, "squat", f"{world.t}-prod", accountName=their_default)),
        "spec.accountName",
    )
    assert "AccountNameNotAllowed" in message and world.ta in message
    message = _refused(
        world.short.create(world.account(world.short, "grab", f"{world.t}-old", accountName=world.legacy_account)),
        "spec.accountName",
    )
    assert f"reserved for tenant {world.ta}" in message
    message = _refused(
        world.short.create(world.account(world.short, "bare", f"{world.t}-x", accountName="shared")),
        "spec.accountName",
    )
    assert f"must start with '{world.t}-'" in message
    for name in ("squat", "grab", "bare"):
        _absent(mgmt, world.short, name)
    for target in (f"{world.t}-prod", f"{world.t}-old", f"{world.t}-x"):
        _no_remote_namespace(remotes["dev"], target)
    # The owner still gets its default name.
    assert world.long.create(world.account(world.long, "later", f"{world.ta}-prod")).accepted
    later = objects.wait_condition(mgmt, "SpinnakerAccount", "later", world.ta, "Ready", timeout=120)
    assert later["status"]["spinnakerAccountName"] == their_default


# --- item 6 -------------------------------------------------------------------------------------------------------


def test_cache_threads_and_accounts_on_missing_clusters_are_capped(
    world: World, mgmt: Cluster, remotes: dict[str, Cluster]
) -> None:
    message = _refused(
        world.short.create(world.account(world.short, "greedy", f"{world.t}-big", cacheThreads=32)),
        "spec.cacheThreads",
    )
    assert "TenantCacheThreadsExceeded" in message and "maxCacheThreadsPerTenant (2)" in message
    _absent(mgmt, world.short, "greedy")
    _no_remote_namespace(remotes["dev"], f"{world.t}-big")

    for i in range(MAX_ON_MISSING_CLUSTERS):
        assert world.short.create(objects.spinnaker_account(world.t, f"ghost{i}", f"nope{i}", f"{world.t}-g")).accepted
    message = _refused(
        world.short.create(objects.spinnaker_account(world.t, "ghost9", "nope9", f"{world.t}-g")), "spec.cluster"
    )
    assert "TooManyAccountsOnMissingClusters" in message
    _absent(mgmt, world.short, "ghost9")


def _fingerprint(mgmt: Cluster, tenant: str, name: str) -> str:
    return str(((objects.get(mgmt, "SpinnakerAccount", name, tenant) or {}).get("status") or {})["tokenFingerprint"])


def test_a_rotation_loop_rotates_once_then_waits(world: World, mgmt: Cluster) -> None:
    assert world.short.create(world.account(world.short, "spin", f"{world.t}-spin")).accepted
    ready = objects.wait_condition(mgmt, "SpinnakerAccount", "spin", world.t, "Ready", timeout=120)
    first = ready["status"]["tokenFingerprint"]
    secret = ready["status"]["credentialsSecretRef"]["name"]

    def rotate(value: str) -> None:
        answer = world.short.patch("spin", {"metadata": {"annotations": {"spinop.io/rotate-credentials": value}}})
        assert answer.accepted, answer

    rotate("1")
    wait_for(lambda: _fingerprint(mgmt, world.t, "spin") != first, timeout=60, what="the first requested rotation")

    def stored() -> tuple[str, str]:
        notes = mgmt.core.read_namespaced_secret(secret, CREDENTIALS_NAMESPACE).metadata.annotations or {}
        return notes.get("spinop.io/rotation-request", ""), notes.get("spinop.io/token-fingerprint", "")

    def settled() -> str | None:
        request, fingerprint = stored()
        return fingerprint if request == "1" and fingerprint == _fingerprint(mgmt, world.t, "spin") else None

    second = wait_for(settled, timeout=30, what="the rotation recorded in the credentials Secret and status")

    for value in ("2", "3", "4"):
        rotate(value)
    waiting = objects.wait_condition(
        mgmt, "SpinnakerAccount", "spin", world.t, "CredentialsIssued", reason="RotationWaiting", timeout=60
    )
    message = objects.condition(waiting, "CredentialsIssued")["message"]  # type: ignore[index]
    assert "spinop.io/rotate-credentials=" in message and "min_rotation_interval_seconds" in message
    assert "waits until" in message
    objects.wait_condition(mgmt, "SpinnakerAccount", "spin", world.t, "Ready")  # the account keeps working
    # Several reconciles later (drift every 5 s) nothing was issued or rewritten.
    with pytest.raises(AssertionError):
        wait_for(lambda: _fingerprint(mgmt, world.t, "spin") != second, timeout=12, what="no second rotation")
    assert stored() == ("1", second)  # the request waits in the annotation; the Secret still holds rotation "1"
