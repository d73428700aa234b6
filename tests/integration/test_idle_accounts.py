"""An idle account costs no API request (issue 17 item 4), and drift is still repaired and proven.

Counted from the apiservers' audit logs, like bench/: an idle pass takes the remote objects from the watches and
keeps the last proof of least privilege, so neither the operator nor the account's token asks the remote cluster
anything, and the operator reads neither the credentials Secret nor the account on MGMT. An edited Role is repaired
and proven again at once; a ClusterRoleBinding, which no watch sees, shows in PermissionsVerified once the verify
interval has passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest

from spinop.devcluster.controlplane import ControlPlanes
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess

PATTERN = {"namespacePattern": "{tenant}-{environment}-*"}
DRIFT_SECONDS = 2
VERIFY_SECONDS = 45
SA_PREFIX = "system:serviceaccount:"


@pytest.fixture(scope="module")
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator({"drift_interval_seconds": DRIFT_SECONDS, "verify_interval_seconds": VERIFY_SECONDS})


class AuditLog:
    """One apiserver's audit log from a point on: the requests made since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def events(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset if self.path.stat().st_size >= self.offset else 0)
            found = []
            for raw in handle:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if event.get("stage") == "ResponseComplete" and event.get("verb") != "watch":
                    found.append(event)
            return found


def _audit(planes: ControlPlanes, cluster: str) -> AuditLog:
    return AuditLog(Path(planes.cluster(cluster).directory) / "logs" / "audit.log")


def _describe(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    return f"{event['user']['username']} {event['verb']} {ref.get('resource')} {ref.get('namespace')}/{ref.get('name')}"


def remote_requests(log: AuditLog, namespace: str) -> list[str]:
    """Requests about one account's target namespace by the operator, and everything its token asked."""
    found = []
    for event in log.events():
        user, ref = event["user"]["username"], event.get("objectRef") or {}
        about = ref.get("namespace") == namespace or (
            ref.get("resource") == "namespaces" and ref.get("name") == namespace
        )
        if user.startswith(f"{SA_PREFIX}{namespace}:") or (user.startswith(SA_PREFIX) and about):
            found.append(_describe(event))
    return found


def mgmt_reads(log: AuditLog, tenant: str, name: str, secret: str) -> list[str]:
    """The operator's reads of the account and of its credentials Secret on MGMT."""
    found = []
    for event in log.events():
        ref = event.get("objectRef") or {}
        if not event["user"]["username"].startswith(SA_PREFIX) or event["verb"] != "get":
            continue
        if (ref.get("resource"), ref.get("namespace"), ref.get("name")) in (
            ("spinnakeraccounts", tenant, name),
            ("secrets", ref.get("namespace"), secret),
        ):
            found.append(_describe(event))
    return found


@dataclass
class Setup:
    tenant: str
    cluster: str


@pytest.fixture()
def setup(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Setup]:
    tenant = fresh_namespace("mgmt", "ti", labels=objects.TENANT_LABEL)
    cluster = f"dev-{objects.short_id()}"
    objects.create(mgmt, objects.spinnaker_cluster(cluster, admin_kubeconfig_secrets["dev"], "dev", tenancy=PATTERN))
    yield Setup(tenant, cluster)
    listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")
    for item in listed["items"]:
        objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant)
        objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", cluster)


def _handled(operator: OperatorProcess, value: str) -> bool:
    """Whether the reconcile that kopf ran for the poke `value` succeeded (kopf logs the diff, then the outcome)."""
    lines = operator.log().splitlines()
    diff = next((i for i, line in enumerate(lines) if f"'test.spinop.io/poke': '{value}'}}" in line), None)
    return diff is not None and any("Handler 'reconcile' succeeded" in line for line in lines[diff:])


def _poke(mgmt: Cluster, operator: OperatorProcess, tenant: str, name: str, value: str) -> None:
    """An annotation change: kopf runs the reconcile, which finds nothing to do (as the periodic pass does)."""
    objects.patch(mgmt, "SpinnakerAccount", name, tenant, {"metadata": {"annotations": {"test.spinop.io/poke": value}}})
    wait_for(lambda: _handled(operator, value), timeout=30, what=f"the reconcile after poke {value}")


def test_an_idle_account_asks_nothing_and_drift_is_still_repaired_and_proven(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    control_planes: ControlPlanes,
    setup: Setup,
) -> None:
    remote, tenant, name = remotes["dev"], setup.tenant, "idle"
    target = f"{tenant}-dev-idle"
    objects.create(mgmt, objects.spinnaker_account(tenant, name, setup.cluster, target))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant, "PermissionsVerified")
    for kind in ("serviceaccounts", "roles", "rolebindings"):
        operator.wait_logged(f"watching {kind} on cluster {setup.cluster}")
    secret = account["status"]["credentialsSecretRef"]["name"]
    object_name = f"spinop-{account['status']['spinnakerAccountName']}"
    # One pass with the watches synced: from then on the account is idle.
    _poke(mgmt, operator, tenant, name, "settle")

    # (a) Idle: periodic passes every ~2 s and two reconciles make no remote request and no MGMT read.
    dev_log, mgmt_log = _audit(control_planes, "dev"), _audit(control_planes, "mgmt")
    for value in ("1", "2"):
        _poke(mgmt, operator, tenant, name, value)
    assert remote_requests(dev_log, target) == []
    assert mgmt_reads(mgmt_log, tenant, name, secret) == []
    assert objects.condition(objects.get(mgmt, "SpinnakerAccount", name, tenant), "PermissionsVerified") == (
        objects.condition(account, "PermissionsVerified")
    ), "nothing written while idle"

    # (b) An edited Role is repaired by the watch and proven again with the account's token.
    dev_log = _audit(control_planes, "dev")
    role = remote.rbac.read_namespaced_role(object_name, target)
    wanted = role.rules
    role.rules = [*wanted, k8s.V1PolicyRule(api_groups=[""], resources=["nodes"], verbs=["get"])]
    remote.rbac.replace_namespaced_role(object_name, target, role)
    wait_for(
        lambda: remote.rbac.read_namespaced_role(object_name, target).rules == wanted,
        timeout=15,
        what="the edited Role repaired",
    )
    wait_for(
        lambda: [r for r in remote_requests(dev_log, target) if r.startswith(f"{SA_PREFIX}{target}:")],
        timeout=15,
        what="the repaired account proven again with its own token",
    )

    # (b) Rights granted beside spinop's objects (no watch sees them) show once the verify interval has passed.
    extra = f"spinop-test-extra-{objects.short_id()}"
    remote.rbac.create_cluster_role(
        k8s.V1ClusterRole(
            metadata=k8s.V1ObjectMeta(name=extra),
            rules=[k8s.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get", "list"])],
        )
    )
    remote.rbac.create_cluster_role_binding(
        k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name=extra),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=extra),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=object_name, namespace=target)],
        )
    )
    try:
        mismatch = objects.wait_condition(
            mgmt,
            "SpinnakerAccount",
            name,
            tenant,
            "PermissionsVerified",
            status="False",
            reason="PermissionsMismatch",
            timeout=VERIFY_SECONDS + 30,
        )
        assert "secrets" in objects.condition(mismatch, "PermissionsVerified")["message"]  # type: ignore[index]
    finally:
        remote.rbac.delete_cluster_role_binding(extra)
        remote.rbac.delete_cluster_role(extra)
    # A failed proof is not remembered: the next passes prove again, and find the account as promised.
    objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant, "PermissionsVerified", timeout=30)
    operator.assert_clean()
