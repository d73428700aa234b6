"""Install spinop's exact RBAC from deploy/ on the real test control planes, and mint its credentials there.

So integration tests can run the operator with exactly the permissions an install grants, not as cluster-admin:

- `install_operator_identity(mgmt)` renders deploy/base (plus components) with the real kubectl, applies its
  Namespaces, ServiceAccount, Roles, ClusterRoles and bindings to MGMT, and returns a kubeconfig for the operator's
  ServiceAccount (a TokenRequest token). Write it with `write_kubeconfig` and hand the path to `OperatorProcess`.
- `install_remote_identity(remote)` applies deploy/remote (ServiceAccount, ClusterRole, binding and the
  ValidatingAdmissionPolicy limits) to a remote cluster and returns the admin kubeconfig spinop uses there;
  `store_admin_kubeconfig(mgmt, ...)` puts it in the Secret a SpinnakerCluster's spec.kubeconfigSecretRef names.

Rendering, selecting, applying and minting tokens live in spinop.devcluster.manifests (the demo installs deploy/base
the same way); this module runs them on a test `Cluster` handle. Data helpers only: fixtures and tests live in
conftest.py and test_*.py.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes.client.rest import ApiException

from spinop.devcluster import manifests
from spinop.devcluster.manifests import (
    MGMT_KINDS,
    OPERATOR_NAMESPACE,
    OPERATOR_SERVICE_ACCOUNT,
    REMOTE_KINDS,
    REMOTE_NAMESPACE,
    REMOTE_SERVICE_ACCOUNT,
    sample_allowed_extra_rules,
)
from spinop.devcluster.manifests import render as render  # re-exported: tests render deploy/ overlays too
from spinop.devcluster.manifests import select as select
from spinop.devcluster.manifests import write_kubeconfig as write_kubeconfig
from spinop.remote.identity import allow_extra_rules
from tests.integration.kube import Cluster, wait_for

DEPLOY = manifests.deploy_dir()
BASE = manifests.base_dir()
REMOTE = manifests.remote_dir()

#: TokenRequest lifetime for test identities; the server may grant less (`--service-account-max-token-expiration`).
DEFAULT_TOKEN_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Identity:
    """A ServiceAccount installed from deploy/ and a kubeconfig that authenticates as it."""

    cluster: str
    namespace: str
    service_account: str
    kubeconfig: dict[str, Any]
    objects: tuple[dict[str, Any], ...]

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


# ---------------------------------------------- spinop.devcluster.manifests on a test Cluster handle (its admin)


def apply_objects(cluster: Cluster, objects: Sequence[dict[str, Any]]) -> None:
    """Server-side apply as the cluster's admin, creating any namespace the objects need first."""
    manifests.apply_objects(cluster.kubectl_binary, cluster.kubeconfig, objects, field_manager="spinop-tests")


def _ensure_namespace(cluster: Cluster, name: str) -> None:
    try:
        cluster.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except ApiException as err:
        if err.status != 409:
            raise


def request_token(cluster: Cluster, namespace: str, service_account: str, seconds: int = DEFAULT_TOKEN_SECONDS) -> str:
    """A TokenRequest token for the ServiceAccount (waits for the ServiceAccount to be served)."""
    return manifests.request_token(cluster.api, namespace, service_account, seconds)


def token_kubeconfig(cluster: Cluster, token: str, *, name: str | None = None) -> dict[str, Any]:
    """A single-context kubeconfig for the cluster that authenticates with `token` only."""
    return manifests.token_kubeconfig(name or cluster.name, cluster.server, cluster.ca_file.read_text(), token)


# ------------------------------------------------------------------------------------------------------ identities


def install_operator_identity(
    mgmt: Cluster,
    *,
    components: Sequence[str] = (),
    credentials_namespace: str | None = None,
    token_seconds: int = DEFAULT_TOKEN_SECONDS,
) -> Identity:
    """Apply deploy/base's RBAC and finalizer guard (and `components`' RBAC) to MGMT; a kubeconfig for the operator's
    ServiceAccount.

    Only identity objects are applied: the CRDs come from the `crds` fixture and no Deployment is created (the test
    control planes have no kubelet). Run the operator with `write_kubeconfig(identity.kubeconfig, path)`.
    """
    objects = select(
        render(mgmt.kubectl_binary, BASE, components=components, credentials_namespace=credentials_namespace),
        MGMT_KINDS,
    )
    apply_objects(mgmt, objects)
    token = request_token(mgmt, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, token_seconds)
    return Identity(
        cluster=mgmt.name,
        namespace=OPERATOR_NAMESPACE,
        service_account=OPERATOR_SERVICE_ACCOUNT,
        kubeconfig=token_kubeconfig(mgmt, token, name=f"{mgmt.name}-spinop"),
        objects=tuple(objects),
    )


def install_remote_identity(remote: Cluster, *, token_seconds: int = DEFAULT_TOKEN_SECONDS) -> Identity:
    """Apply deploy/remote to a remote cluster; the admin kubeconfig spinop would be given for it.

    The ValidatingAdmissionPolicy is applied too, and this waits until the API server enforces it, so the operator
    runs under the same limits as in production.
    """
    objects = select(render(remote.kubectl_binary, REMOTE), REMOTE_KINDS)
    # As the samples' platform admin would: spinop may write the extra rules the sample cluster allows its tenants.
    allow_extra_rules(objects, sample_allowed_extra_rules(remote.name))
    apply_objects(remote, objects)
    token = request_token(remote, REMOTE_NAMESPACE, REMOTE_SERVICE_ACCOUNT, token_seconds)
    if select(objects, {"ValidatingAdmissionPolicy"}):
        wait_remote_limits_enforced(remote, token)
    return Identity(
        cluster=remote.name,
        namespace=REMOTE_NAMESPACE,
        service_account=REMOTE_SERVICE_ACCOUNT,
        kubeconfig=token_kubeconfig(remote, token, name=remote.name),
        objects=tuple(objects),
    )


def wait_remote_limits_enforced(remote: Cluster, token: str, timeout: float = 30) -> None:
    """Wait until deploy/remote's admission policy refuses spinop a Role in kube-system (a dry run: nothing is made).

    RBAC alone allows that request (spinop may create Roles anywhere), so the refusal proves the policy is loaded.
    """
    client = remote.client_with_token(token)
    role = k8s.V1Role(
        metadata=k8s.V1ObjectMeta(name="spinop-limits-probe", labels={"app.kubernetes.io/managed-by": "spinop"})
    )

    def refused() -> bool:
        try:
            k8s.RbacAuthorizationV1Api(client).create_namespaced_role("kube-system", role, dry_run="All")
        except ApiException as err:
            if err.status in (403, 422) and "spinop-remote-limits" in (err.body or ""):
                return True
            raise
        return False

    try:
        wait_for(refused, timeout=timeout, what=f"cluster {remote.name} enforcing spinop-remote-limits")
    finally:
        client.close()


def store_admin_kubeconfig(
    mgmt: Cluster, kubeconfig: dict[str, Any], *, name: str, namespace: str = "devops", key: str = "kubeconfig"
) -> str:
    """Create or replace the Secret a SpinnakerCluster's spec.kubeconfigSecretRef names; returns its name."""
    _ensure_namespace(mgmt, namespace)
    secret = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
        type="Opaque",
        data={key: base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()},
    )
    try:
        mgmt.core.create_namespaced_secret(namespace, secret)
    except ApiException as err:
        if err.status != 409:
            raise
        mgmt.core.replace_namespaced_secret(name, namespace, secret)
    return name
