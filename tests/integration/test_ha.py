"""Two operator replicas against one MGMT (kopf peering, the install's `peering` component): only one acts on any
object at a time, and the other takes over when it dies."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from spinop.devcluster.paths import project_root
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import install_operator_identity, write_kubeconfig

PEERING = project_root() / "deploy" / "base" / "components" / "peering"
LIFETIME = 10


def _worked_on(operator: OperatorProcess, tenant: str, name: str) -> bool:
    """Whether this replica issued credentials for (i.e. reconciled) SpinnakerAccount tenant/name."""
    return re.search(rf"credentials for {re.escape(tenant)}/{re.escape(name)} ", operator.log()) is not None


def test_two_replicas_never_both_act_and_the_standby_takes_over(
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
    fresh_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    # The peering component: kopf's ClusterKopfPeering CRD, the `spinop` peering object, and its RBAC.
    for manifest in ("crd-clusterkopfpeering.yaml", "clusterkopfpeering.yaml"):
        mgmt.kubectl("apply", "--server-side", "-f", str(PEERING / manifest))
    mgmt.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s")
    identity = install_operator_identity(mgmt, components=["peering"])
    kubeconfig = write_kubeconfig(identity.kubeconfig, tmp_path / "kubeconfig")
    settings = {"peering_lifetime_seconds": LIFETIME, "drift_interval_seconds": 5}

    low = start_operator(
        settings, args=("--peering", "spinop", "--priority", "100"), kubeconfig=kubeconfig, standalone=False
    )
    high = start_operator(
        settings, args=("--peering", "spinop", "--priority", "200"), kubeconfig=kubeconfig, standalone=False
    )
    low.wait_logged("Pausing operations in favour of", timeout=60)

    tenant = fresh_namespace("mgmt", "ha", labels=objects.TENANT_LABEL)
    cluster = f"dev-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            cluster, admin_kubeconfig_secrets["dev"], "dev", tenancy={"namespacePattern": "{tenant}-{environment}-*"}
        ),
    )
    try:
        first = [f"a{i}" for i in range(4)]
        for name in first:
            objects.create(mgmt, objects.spinnaker_account(tenant, name, cluster, f"{tenant}-dev-{name}"))
        for name in first:
            objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant, "Ready")
        for name in first:
            assert _worked_on(high, tenant, name), f"the active replica did not handle {name}"
            assert not _worked_on(low, tenant, name), f"the paused replica handled {name} too"
        assert "credentials for" not in low.log(), "the paused replica reconciled something"

        # The active replica dies without a goodbye; the standby resumes once its peering record expires.
        high.kill()
        low.wait_logged("Resuming operations after the pause", timeout=LIFETIME * 6)
        objects.create(mgmt, objects.spinnaker_account(tenant, "after", cluster, f"{tenant}-dev-after"))
        objects.wait_condition(mgmt, "SpinnakerAccount", "after", tenant, "Ready", timeout=120)
        assert _worked_on(low, tenant, "after")
        # Existing accounts are still served (rotation on request goes through the new replica).
        objects.patch(
            mgmt,
            "SpinnakerAccount",
            "a0",
            tenant,
            {"metadata": {"annotations": {"spinop.io/rotate-credentials": "after-failover"}}},
        )
        wait_for(
            lambda: re.search(rf"CredentialsRotated: .* for {tenant}/a0 ", low.log()),
            timeout=60,
            what="the surviving replica rotating a0",
        )
    finally:
        for item in mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")[
            "items"
        ]:
            objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant)
        for item in mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")[
            "items"
        ]:
            objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant, timeout=120)
        objects.delete(mgmt, "SpinnakerCluster", cluster)
        low.stop()
        mgmt.kubectl("delete", "-f", str(PEERING / "clusterkopfpeering.yaml"), "--ignore-not-found", check=False)
