"""The test bed is real: stamped versions, real RBAC, real TokenRequest, real controllers."""

from __future__ import annotations

import json
from collections.abc import Callable

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from spinop.devcluster.build import pinned_version
from spinop.devcluster.controlplane import ControlPlanes
from spinop.devcluster.paths import project_root
from tests.integration.kube import Cluster, wait_for


def test_every_cluster_reports_the_pinned_version(control_planes: ControlPlanes, clusters: dict[str, Cluster]) -> None:
    wanted = pinned_version(project_root() / "tools" / "controlplane" / "kubernetes", "k8s.io/kubernetes")
    assert len(clusters) >= 4
    for name in clusters:
        status, body = control_planes.request(control_planes.cluster(name), "/version")
        assert status == 200
        assert json.loads(body)["gitVersion"] == wanted, name


def test_clusters_are_separate(clusters: dict[str, Cluster], fresh_namespace: Callable[..., str]) -> None:
    name = fresh_namespace("dev", "only-dev")
    with pytest.raises(ApiException) as err:
        clusters["prod"].core.read_namespace(name)
    assert err.value.status == 404
    assert clusters["dev"].core.read_namespace(name).metadata.name == name


def test_token_request_credentials_are_limited_by_real_rbac(
    remotes: dict[str, Cluster], fresh_namespace: Callable[..., str]
) -> None:
    dev = remotes["dev"]
    own = fresh_namespace("dev", "tenant")
    other = fresh_namespace("dev", "other")
    dev.core.create_namespaced_service_account(own, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="spinnaker")))
    dev.rbac.create_namespaced_role(
        own,
        k8s.V1Role(
            metadata=k8s.V1ObjectMeta(name="pods-reader"),
            rules=[k8s.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
        ),
    )
    dev.rbac.create_namespaced_role_binding(
        own,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="pods-reader"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pods-reader"),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="spinnaker", namespace=own)],
        ),
    )
    granted = dev.core.create_namespaced_service_account_token(
        "spinnaker",
        own,
        k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)),
    )
    assert granted.status.token
    assert granted.status.expiration_timestamp is not None

    tenant = dev.client_with_token(granted.status.token)
    tenant_core = k8s.CoreV1Api(tenant)
    # RBAC is evaluated per request, so the new binding may need a moment to be visible to the authorizer cache.
    wait_for(lambda: tenant_core.list_namespaced_pod(own) is not None, timeout=30, what="tenant can list its pods")
    for forbidden in (
        lambda: tenant_core.list_namespaced_pod(other),
        lambda: tenant_core.list_namespaced_secret(own),
        tenant_core.list_namespace,
    ):
        with pytest.raises(ApiException) as err:
            forbidden()
        assert err.value.status == 403


def test_namespace_deletion_and_garbage_collection_complete(remotes: dict[str, Cluster]) -> None:
    """kube-controller-manager really runs: namespaces finalize and owned objects are collected."""
    staging = remotes["staging"]
    name = staging.create_namespace("gc")
    owner = staging.core.create_namespaced_config_map(name, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner")))
    staging.core.create_namespaced_config_map(
        name,
        k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name="child",
                owner_references=[
                    k8s.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
                ],
            )
        ),
    )
    staging.core.delete_namespaced_config_map("owner", name)

    def child_gone() -> bool:
        try:
            staging.core.read_namespaced_config_map("child", name)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(child_gone, timeout=60, what="garbage collector removes the child ConfigMap")
    staging.delete_namespace(name)
    wait_for(lambda: staging.namespace_gone(name), timeout=60, what=f"namespace {name} finalized")
