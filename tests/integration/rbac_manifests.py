"""Install spinop's exact RBAC from deploy/ on the real test control planes, and mint its credentials there.

So integration tests can run the operator with exactly the permissions an install grants, not as cluster-admin:

- `install_operator_identity(mgmt)` renders deploy/base (plus components) with the real kubectl, applies its
  Namespaces, ServiceAccount, Roles, ClusterRoles and bindings to MGMT, and returns a kubeconfig for the operator's
  ServiceAccount (a TokenRequest token). Write it with `write_kubeconfig` and hand the path to `OperatorProcess`.
- `install_remote_identity(remote)` applies deploy/remote (ServiceAccount, ClusterRole, binding and the
  ValidatingAdmissionPolicy limits) to a remote cluster and returns the admin kubeconfig spinop uses there;
  `store_admin_kubeconfig(mgmt, ...)` puts it in the Secret a SpinnakerCluster's spec.kubeconfigSecretRef names.

Data helpers only: fixtures and tests live in conftest.py and test_*.py.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes.client.rest import ApiException

from spinop.devcluster.controlplane import kubeconfig_dict
from spinop.devcluster.paths import project_root
from spinop.remote.identity import allow_extra_rules, sample_allowed_extra_rules
from tests.integration.kube import Cluster, wait_for

DEPLOY = project_root() / "deploy"
BASE = DEPLOY / "base"
COMPONENTS = BASE / "components"
REMOTE = DEPLOY / "remote"

OPERATOR_NAMESPACE = "spinop-system"
OPERATOR_SERVICE_ACCOUNT = "spinop"
REMOTE_NAMESPACE = "spinop-system"
REMOTE_SERVICE_ACCOUNT = "spinop"
CONFIG_MAP = "spinop-config"
CREDENTIALS_KEY = "credentials-namespace"

#: What makes up an identity: applied from a rendering, everything else (Deployment, Service, ...) is left out.
IDENTITY_KINDS = frozenset({"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
#: deploy/base's finalizer guard (a ValidatingAdmissionPolicy) is installed with the operator's identity.
MGMT_KINDS = IDENTITY_KINDS | {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
#: deploy/remote's admission limits belong to the remote identity too.
REMOTE_KINDS = IDENTITY_KINDS | {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}

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


# ------------------------------------------------------------------------------------------------------ rendering


def _credentials_overlay(namespace: str) -> dict[str, Any]:
    """The patch + replacements deploy/overlays/dev uses to rename the credentials namespace."""
    return {
        "patches": [
            {
                "patch": yaml.safe_dump(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": CONFIG_MAP, "namespace": OPERATOR_NAMESPACE},
                        "data": {CREDENTIALS_KEY: namespace},
                    }
                )
            }
        ],
        "replacements": [
            {
                "source": {"kind": "ConfigMap", "name": CONFIG_MAP, "fieldPath": f"data.{CREDENTIALS_KEY}"},
                "targets": [
                    {"select": {"kind": "Namespace", "name": "devops"}, "fieldPaths": ["metadata.name"]},
                    {"select": {"kind": "Role", "namespace": "devops"}, "fieldPaths": ["metadata.namespace"]},
                    {"select": {"kind": "RoleBinding", "namespace": "devops"}, "fieldPaths": ["metadata.namespace"]},
                ],
            }
        ],
    }


def render(
    kubectl: Path,
    directory: Path = BASE,
    *,
    components: Sequence[str] = (),
    credentials_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a kustomization, optionally with deploy/base components and a credentials namespace.

    Components are names under deploy/base/components (e.g. "halyard-exec"). With either option a throw-away
    overlay is written next to nothing in the repository (kustomize only accepts relative paths to bases).
    """
    if not components and credentials_namespace is None:
        return _kustomize(kubectl, directory)
    with tempfile.TemporaryDirectory(prefix="spinop-overlay-") as tmp:
        overlay: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(directory, tmp)],
        }
        if components:
            overlay["components"] = [os.path.relpath(COMPONENTS / name, tmp) for name in components]
        if credentials_namespace is not None:
            overlay.update(_credentials_overlay(credentials_namespace))
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
        return _kustomize(kubectl, Path(tmp))


def _kustomize(kubectl: Path, directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def select(objects: Iterable[dict[str, Any]], kinds: Iterable[str]) -> list[dict[str, Any]]:
    wanted = set(kinds)
    return [obj for obj in objects if obj.get("kind") in wanted]


# -------------------------------------------------------------------------------------------------------- applying


def apply_objects(cluster: Cluster, objects: Sequence[dict[str, Any]]) -> None:
    """Server-side apply, after creating any namespace the objects live in that the rendering does not create."""
    created_here = {obj["metadata"]["name"] for obj in objects if obj.get("kind") == "Namespace"}
    for namespace in sorted({obj["metadata"].get("namespace") for obj in objects} - {None} - created_here):
        _ensure_namespace(cluster, namespace)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="spinop-rbac-") as out:
        yaml.safe_dump_all(objects, out, sort_keys=False)
        out.flush()
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=spinop-tests", "-f", out.name)


def _ensure_namespace(cluster: Cluster, name: str) -> None:
    try:
        cluster.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except ApiException as err:
        if err.status != 409:
            raise


def request_token(cluster: Cluster, namespace: str, service_account: str, seconds: int = DEFAULT_TOKEN_SECONDS) -> str:
    """A TokenRequest token for the ServiceAccount (waits for the ServiceAccount to be served)."""
    body = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))

    def issue() -> str | None:
        granted = cluster.core.create_namespaced_service_account_token(service_account, namespace, body)
        return str(granted.status.token) or None

    return wait_for(issue, timeout=30, what=f"a token for ServiceAccount {namespace}/{service_account}")


def token_kubeconfig(cluster: Cluster, token: str, *, name: str | None = None) -> dict[str, Any]:
    """A single-context kubeconfig for the cluster that authenticates with `token` only."""
    return kubeconfig_dict(
        name or cluster.name, cluster.server, ca_pem=cluster.ca_file.read_text(), user={"token": token}
    )


def write_kubeconfig(kubeconfig: dict[str, Any], path: Path) -> Path:
    """Write a kubeconfig readable by its owner only (it carries a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(kubeconfig, out, sort_keys=False)
    return path


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
