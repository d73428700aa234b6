"""deploy/helm/spinop on real control planes: every variant passes the apiserver's own validation, and an install by
the real helm runs the operator under the chart's RBAC.

The install gets a control plane of its own (etcd, kube-apiserver and controller-manager, stopped at the end): the
chart's cluster-scoped objects (ClusterRoles, the webhook configuration, the admission policy) have fixed names that
other tests install in the shared `mgmt` cluster. The control planes have no kubelet, so the chart's Deployment never
runs: the operator runs as a local process with the chart's identity (a token of its ServiceAccount), the chart's
config.yaml and its Deployment's settings.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from spinop.devcluster.build import ensure_helm
from spinop.devcluster.controlplane import ControlPlanes
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import (
    install_remote_identity,
    request_token,
    store_admin_kubeconfig,
    token_kubeconfig,
    write_kubeconfig,
)
from tests.unit.deploy.test_helm_chart import CHART, VARIANTS, VARIANTS_DIR, helm_template

#: cert-manager's kinds: the test clusters have no cert-manager, so its CRDs (and their schemas) are absent.
NOT_INSTALLED_GROUPS = ("cert-manager.io/",)
OPERATOR_NAMESPACE = "spinop-system"
CREDENTIALS_NAMESPACE = "devops"
RELEASE = "spinop"


def _progress(message: str) -> None:
    print(f"[spinop tests] {message}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm(_progress)


def _apply(cluster: Cluster, docs: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="spinop-helm-") as out:
        yaml.safe_dump_all(docs, out, sort_keys=False)
        out.flush()
        return cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=spinop-helm-tests",
            *args,
            "-f",
            out.name,
            check=False,
        )


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_passes_server_side_dry_run(mgmt: Cluster, crds: list[str], helm: Path, variant: str) -> None:
    rendered = helm_template(helm, "--values", str(VARIANTS_DIR / variant / "values.yaml"))
    # The chart's CRDs for real (the spinop ones are the `crds` fixture's; kopf's is test_ha's), so the dry run can
    # validate the objects of those kinds against their schemas.
    crd_docs = [doc for doc in rendered if doc["kind"] == "CustomResourceDefinition"]
    applied = _apply(mgmt, crd_docs)
    assert applied.returncode == 0, applied.stderr
    names = [f"crd/{doc['metadata']['name']}" for doc in crd_docs]
    waited = mgmt.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names, check=False)
    assert waited.returncode == 0, waited.stderr

    docs = [
        doc
        for doc in rendered
        if doc["kind"] != "CustomResourceDefinition" and not doc["apiVersion"].startswith(NOT_INSTALLED_GROUPS)
    ]
    # A dry run creates nothing, so the namespaces the objects live in must exist.
    created: list[str] = []
    for namespace in sorted({doc["metadata"].get("namespace") for doc in docs} - {None}):
        try:
            mgmt.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
            created.append(namespace)
        except ApiException as err:
            if err.status != 409:
                raise
    try:
        result = _apply(mgmt, docs, "--dry-run=server")
        assert result.returncode == 0, f"{variant}: the apiserver refused the chart's objects:\n{result.stderr}"
        assert result.stdout.count("(server dry run)") == len(docs), result.stdout
    finally:
        # Gone before the next variant: one still terminating answers its create with 409 and refuses the objects.
        for namespace in created:
            mgmt.delete_namespace(namespace)
        for namespace in created:
            wait_for(partial(mgmt.namespace_gone, namespace), timeout=120, what=f"namespace {namespace} deleted")


# ------------------------------------------------------------------------------------------------- a real install


@pytest.fixture(scope="module")
def helm_cluster(control_planes: ControlPlanes) -> Iterator[Cluster]:
    """A control plane of its own for the install (cluster-scoped names would collide in the shared `mgmt`)."""
    with tempfile.TemporaryDirectory(prefix="spinop-helm-cluster-") as root:
        planes = ControlPlanes(Path(root), control_planes.binaries, die_with_parent=True, progress=_progress)
        try:
            state = planes.up(["helm"])["helm"]
            yield Cluster("helm", state.server, state.kubeconfig, state.ca_file, control_planes.binaries.kubectl)
        finally:
            planes.down()


def _helm(helm: Path, cluster: Cluster, *args: str) -> str:
    result = subprocess.run(
        [str(helm), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _settings_from_the_chart(cluster: Cluster) -> dict[str, Any]:
    """What the chart's Pod would run with: its config.yaml, the namespaces, and the Deployment's SPINOP_* values."""
    config_map = cluster.core.read_namespaced_config_map("spinop-config", OPERATOR_NAMESPACE)
    settings: dict[str, Any] = yaml.safe_load(config_map.data["config.yaml"])
    settings["operator_namespace"] = OPERATOR_NAMESPACE
    settings["credentials_namespace"] = config_map.data["credentials-namespace"]
    deployment = k8s.AppsV1Api(cluster.api).read_namespaced_deployment("spinop", OPERATOR_NAMESPACE)
    for env in deployment.spec.template.spec.containers[0].env:
        if env.value is None or not env.name.startswith("SPINOP_") or "__" not in env.name:
            continue
        section, field = env.name.removeprefix("SPINOP_").lower().split("__", 1)
        settings.setdefault(section, {})[field] = env.value
    # Local ports: the Pod's fixed ones may be taken on this host by other tests' operators.
    settings.setdefault("admission", {})["port"] = 0
    settings["metrics"] = {"port": 0}
    return settings


def test_helm_install_runs_the_operator_under_the_charts_rbac(
    helm: Path,
    helm_cluster: Cluster,
    remotes: dict[str, Cluster],
    tmp_path: Path,
) -> None:
    # The self-signed webhook: the operator must keep the chart's webhook configuration's caBundle current, which
    # only the chart's spinop-webhook-cabundle ClusterRole allows. No Spinnaker on the test clusters: backend none.
    _helm(
        helm,
        helm_cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--take-ownership",
        "--set",
        "spinnaker.backend=none",
        "--set",
        "webhook.mode=selfSigned",
    )
    assert RELEASE in _helm(helm, helm_cluster, "list", "--namespace", OPERATOR_NAMESPACE, "--short")
    operator_namespace = helm_cluster.core.read_namespace(OPERATOR_NAMESPACE)
    assert operator_namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"

    # The operator's identity is the chart's ServiceAccount; its kubeconfig carries nothing but that token.
    token = request_token(helm_cluster, OPERATOR_NAMESPACE, "spinop")
    kubeconfig = write_kubeconfig(token_kubeconfig(helm_cluster, token), tmp_path / "operator.kubeconfig")

    remote = remotes["dev"]
    secret = store_admin_kubeconfig(
        helm_cluster,
        install_remote_identity(remote).kubeconfig,
        name="dev-admin-kubeconfig",
        namespace=CREDENTIALS_NAMESPACE,
    )
    tenant = helm_cluster.create_namespace("tn", labels=objects.TENANT_LABEL)
    cluster_name = f"dev-{objects.short_id()}"
    target = f"{tenant}-dev"

    operator = OperatorProcess(kubeconfig, tmp_path / "operator", _settings_from_the_chart(helm_cluster)).start()
    try:
        objects.create(helm_cluster, objects.spinnaker_cluster(cluster_name, secret, "dev"))
        objects.create(
            helm_cluster, objects.spinnaker_account(tenant, "dev", cluster_name, target, deletionPolicy="Delete")
        )
        account = objects.wait_condition(helm_cluster, "SpinnakerAccount", "dev", tenant, "Ready", timeout=120)
        assert objects.condition(account, "CredentialsIssued")["status"] == "True"  # type: ignore[index]
        assert remote.core.read_namespace(target).metadata.labels["app.kubernetes.io/managed-by"] == "spinop"

        def ca_bundle_published() -> bool:
            api = k8s.AdmissionregistrationV1Api(helm_cluster.api)
            webhooks = api.read_validating_webhook_configuration("spinop.io").webhooks
            return all(webhook.client_config.ca_bundle for webhook in webhooks)

        wait_for(ca_bundle_published, timeout=60, what="spinop's CA in the chart's webhook configuration")

        # Deletion too runs under the chart's RBAC (the credentials Secret, the remote namespace).
        objects.delete(helm_cluster, "SpinnakerAccount", "dev", tenant)
        objects.wait_gone(helm_cluster, "SpinnakerAccount", "dev", tenant, timeout=120)
        wait_for(lambda: remote.namespace_gone(target), timeout=120, what=f"remote namespace {target} deleted")
        objects.delete(helm_cluster, "SpinnakerCluster", cluster_name)
        objects.wait_gone(helm_cluster, "SpinnakerCluster", cluster_name, timeout=60)
    finally:
        operator.stop()
        if not remote.namespace_gone(target):
            remote.delete_namespace(target)
    operator.assert_clean()
    # Refusals on MGMT (kopf's APIForbiddenError, the client's Forbidden, a 403 from this cluster); the remote
    # cluster's 403s are spinop's own least-privilege probes (PermissionsVerified).
    log = operator.log()
    refused = [
        line for line in log.splitlines() if "Forbidden" in line or (helm_cluster.server in line and '" 403 ' in line)
    ]
    assert not refused, "the chart's RBAC refused the operator:\n" + "\n".join(refused[:20])

    _helm(helm, helm_cluster, "uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait")
    try:
        helm_cluster.rbac.read_cluster_role("spinop-operator")
        raise AssertionError("helm uninstall left ClusterRole spinop-operator behind")
    except ApiException as err:
        assert err.status == 404
    # Kept on purpose (helm.sh/resource-policy: keep): the credentials namespace holds Secrets the chart did not make.
    assert not helm_cluster.namespace_gone(CREDENTIALS_NAMESPACE)
