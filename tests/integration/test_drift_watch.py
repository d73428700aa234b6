"""Event-driven drift repair (remote/watch.py) on real remote clusters.

The operator runs with a one-hour periodic pass, so only the watches can explain a repair within seconds. One
SpinnakerCluster points at a server that refuses connections: its watches fail and back off, and repair on the
healthy cluster goes on regardless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import store_admin_kubeconfig

PATTERN = {"namespacePattern": "{tenant}-{environment}-*"}  # several accounts' namespaces per cluster
REPAIR_SECONDS = 15  # the issue asks for 5 s; the margin is for 2 CPUs shared by several test runs


@pytest.fixture(scope="module")
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator({"drift_interval_seconds": 3600})


@dataclass
class Setup:
    tenant: str
    live: str  # SpinnakerCluster on the dev control plane
    dead: str  # SpinnakerCluster whose admin kubeconfig names a port nothing listens on


@pytest.fixture()
def setup(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Setup]:
    tenant = fresh_namespace("mgmt", "tn", labels=objects.TENANT_LABEL)
    suffix = objects.short_id()
    live, dead = f"dev-{suffix}", f"dead-{suffix}"
    kubeconfig = yaml.safe_load(objects.secret_kubeconfig(mgmt, CREDENTIALS_NAMESPACE, admin_kubeconfig_secrets["dev"]))
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    dead_secret = store_admin_kubeconfig(
        mgmt, kubeconfig, name=f"{dead}-admin-kubeconfig", namespace=CREDENTIALS_NAMESPACE
    )
    objects.create(mgmt, objects.spinnaker_cluster(live, admin_kubeconfig_secrets["dev"], "dev", tenancy=PATTERN))
    objects.create(mgmt, objects.spinnaker_cluster(dead, dead_secret, "prod", tenancy=PATTERN))
    yield Setup(tenant, live, dead)
    # The dead cluster first: its account's finalizer then skips the remote clean-up instead of waiting for it.
    objects.delete(mgmt, "SpinnakerCluster", dead)
    objects.wait_gone(mgmt, "SpinnakerCluster", dead, timeout=60)
    listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")
    names = [item["metadata"]["name"] for item in listed["items"]]
    for name in names:
        objects.delete(mgmt, "SpinnakerAccount", name, tenant)
    for name in names:
        objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", live)
    mgmt.core.delete_namespaced_secret(dead_secret, CREDENTIALS_NAMESPACE)


def test_remote_watches_repair_drift_within_seconds_and_a_dead_clusters_watch_stops_nothing(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], setup: Setup
) -> None:
    remote = remotes["dev"]
    # An account on the dead cluster starts that cluster's watches, which fail and back off.
    objects.create(mgmt, objects.spinnaker_account(setup.tenant, "lost", setup.dead, f"{setup.tenant}-prod-lost"))
    operator.wait_logged(f"the watch of rolebindings on cluster {setup.dead} failed")

    # Two accounts on the live cluster share its watches.
    targets = {"one": f"{setup.tenant}-dev-one", "two": f"{setup.tenant}-dev-two"}
    for name, target in targets.items():
        objects.create(mgmt, objects.spinnaker_account(setup.tenant, name, setup.live, target))
    for name in targets:
        objects.wait_condition(mgmt, "SpinnakerAccount", name, setup.tenant, "Ready")
    for kind in ("serviceaccounts", "roles", "rolebindings"):
        operator.wait_logged(f"watching {kind} on cluster {setup.live}")
        assert operator.log().count(f"watching {kind} on cluster {setup.live} ") == 1, "one watch per kind per cluster"

    account = objects.get(mgmt, "SpinnakerAccount", "one", setup.tenant)
    assert account is not None
    name, ns = f"spinop-{account['status']['spinnakerAccountName']}", targets["one"]
    uid = remote.rbac.read_namespaced_role_binding(name, ns).metadata.uid
    remote.rbac.delete_namespaced_role_binding(name, ns)

    def binding_back() -> bool:
        try:
            return bool(remote.rbac.read_namespaced_role_binding(name, ns).metadata.uid != uid)
        except ApiException:
            return False

    wait_for(binding_back, timeout=REPAIR_SECONDS, what="the deleted RoleBinding re-created by the watch")

    role = remote.rbac.read_namespaced_role(name, ns)
    wanted = role.rules
    role.rules = [k8s.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])]
    remote.rbac.replace_namespaced_role(name, ns, role)
    wait_for(
        lambda: remote.rbac.read_namespaced_role(name, ns).rules == wanted,
        timeout=REPAIR_SECONDS,
        what="the edited Role's rules restored by the watch",
    )

    # The other account on the cluster was not touched, and both stay Ready.
    assert remote.rbac.read_namespaced_role_binding(f"spinop-{setup.live}-{targets['two']}", targets["two"])
    for account_name in targets:
        objects.wait_condition(mgmt, "SpinnakerAccount", account_name, setup.tenant, "Ready")
    lost = objects.get(mgmt, "SpinnakerAccount", "lost", setup.tenant)
    assert objects.condition(lost, "Ready")["status"] == "False"  # type: ignore[index]
    operator.assert_clean()
