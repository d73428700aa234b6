"""deploy/ on a local control plane: render it as production does, keep what runs without a kubelet, apply it, and
mint its ServiceAccount's tokens.

The demo (`spinop demo`) and the integration tests both install spinop this way, so the operator they run has exactly
the RBAC, admission policies and webhook configuration an install ships. The control planes have no kubelet: the
Deployment, Service, ConfigMap and NetworkPolicies are left out and the operator runs as a local process instead.
"""

from __future__ import annotations

import copy
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes.client.rest import ApiException

from spinop.devcluster.controlplane import kubeconfig_dict
from spinop.devcluster.paths import project_root

OPERATOR_NAMESPACE = "spinop-system"
OPERATOR_SERVICE_ACCOUNT = "spinop"
REMOTE_NAMESPACE = "spinop-system"
REMOTE_SERVICE_ACCOUNT = "spinop"
CONFIG_MAP = "spinop-config"
CREDENTIALS_KEY = "credentials-namespace"

#: What makes up an identity: applied from a rendering, everything else (Deployment, Service, ...) is left out.
IDENTITY_KINDS = frozenset({"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
ADMISSION_POLICY_KINDS = frozenset({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})
#: deploy/base's finalizer guard (a ValidatingAdmissionPolicy) is installed with the operator's identity.
MGMT_KINDS = IDENTITY_KINDS | ADMISSION_POLICY_KINDS
#: deploy/remote's admission limits belong to the remote identity too.
REMOTE_KINDS = IDENTITY_KINDS | ADMISSION_POLICY_KINDS
#: All of deploy/base that a control plane without a kubelet can run: the identity, the CRDs and the webhook
#: configuration of a webhook component (the webhook itself is the local operator process).
MGMT_INSTALL_KINDS = MGMT_KINDS | {"CustomResourceDefinition", "ValidatingWebhookConfiguration"}


def deploy_dir() -> Path:
    return project_root() / "deploy"


def base_dir() -> Path:
    return deploy_dir() / "base"


def components_dir() -> Path:
    return base_dir() / "components"


def remote_dir() -> Path:
    return deploy_dir() / "remote"


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
    directory: Path | None = None,
    *,
    components: Sequence[str] = (),
    credentials_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a kustomization (default deploy/base), optionally with deploy/base components and a
    credentials namespace.

    Components are names under deploy/base/components (e.g. "halyard-exec"). With either option a throw-away
    overlay is written in a temporary directory, never in the repository (kustomize only accepts relative paths to
    bases).
    """
    directory = directory or base_dir()
    if not components and credentials_namespace is None:
        return _kustomize(kubectl, directory)
    with tempfile.TemporaryDirectory(prefix="spinop-overlay-") as tmp:
        overlay: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(directory, tmp)],
        }
        if components:
            overlay["components"] = [os.path.relpath(components_dir() / name, tmp) for name in components]
        if credentials_namespace is not None:
            overlay.update(_credentials_overlay(credentials_namespace))
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
        return _kustomize(kubectl, Path(tmp))


def _kustomize(kubectl: Path, directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def select(objects: Iterable[dict[str, Any]], kinds: Iterable[str]) -> list[dict[str, Any]]:
    wanted = set(kinds)
    return [obj for obj in objects if obj.get("kind") in wanted]


def serve_webhooks_at(objects: Iterable[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    """The objects with every ValidatingWebhookConfiguration calling `base_url` + its path instead of the in-cluster
    Service: the webhook is a local process when the control plane has no kubelet. Other objects are unchanged."""
    pointed = []
    for obj in objects:
        if obj.get("kind") == "ValidatingWebhookConfiguration":
            obj = copy.deepcopy(obj)
            for webhook in obj.get("webhooks") or []:
                client = webhook.get("clientConfig") or {}
                service = client.pop("service", None) or {}
                client["url"] = base_url.rstrip("/") + str(service.get("path", "/"))
                webhook["clientConfig"] = client
        pointed.append(obj)
    return pointed


# -------------------------------------------------------------------------------------------------------- applying


def apply_objects(kubectl: Path, kubeconfig: Path, objects: Sequence[dict[str, Any]], *, field_manager: str) -> None:
    """Server-side apply as the kubeconfig's user; any namespace the objects live in that the rendering does not
    create is created first (a Role in the Halyard pod's namespace, say)."""
    created_here = {obj["metadata"]["name"] for obj in objects if obj.get("kind") == "Namespace"}
    missing = sorted({obj["metadata"].get("namespace") for obj in objects} - {None} - created_here)
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in missing]
    result = subprocess.run(
        [
            str(kubectl),
            f"--kubeconfig={kubeconfig}",
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager={field_manager}",
            "-f",
            "-",
        ],
        input=yaml.safe_dump_all([*namespaces, *objects], sort_keys=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl apply failed: {result.stderr.strip()}")


# ------------------------------------------------------------------------------------------------------ credentials


def request_token(api: k8s.ApiClient, namespace: str, service_account: str, seconds: int, timeout: float = 30) -> str:
    """A TokenRequest token for the ServiceAccount; waits (up to `timeout`) for a just-applied one to be served.

    The server may grant less than `seconds` (`--service-account-max-token-expiration`).
    """
    body = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
    deadline = time.monotonic() + timeout
    while True:
        try:
            granted = k8s.CoreV1Api(api).create_namespaced_service_account_token(service_account, namespace, body)
        except ApiException as err:
            if (err.status != 404 and err.status < 500) or time.monotonic() > deadline:
                raise
        else:
            if granted.status and granted.status.token:
                return str(granted.status.token)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no token for ServiceAccount {namespace}/{service_account} within {timeout:.0f}s")
        time.sleep(0.25)


def token_kubeconfig(name: str, server: str, ca_pem: str, token: str) -> dict[str, Any]:
    """A single-context kubeconfig that authenticates with `token` only (no client certificate)."""
    return kubeconfig_dict(name, server, ca_pem=ca_pem, user={"token": token})


def write_kubeconfig(kubeconfig: dict[str, Any], path: Path) -> Path:
    """Write a kubeconfig readable by its owner only (it carries a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(kubeconfig, out, sort_keys=False)
    return path


def sample_allowed_extra_rules(cluster: str) -> list[dict[str, Any]]:
    """deploy/samples/spinnakercluster-<cluster>.yaml's spec.tenancy.allowedExtraRules (for `spinop demo` and the
    tests, which install deploy/remote as the samples' platform admin would); none without such a sample."""
    path = project_root() / "deploy" / "samples" / f"spinnakercluster-{cluster}.yaml"
    if not path.exists():
        return []
    spec = (yaml.safe_load(path.read_text()) or {}).get("spec") or {}
    return list((spec.get("tenancy") or {}).get("allowedExtraRules") or [])
