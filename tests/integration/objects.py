"""Builders for spinop's custom resources in integration tests, and reading them back."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop import API_VERSION, GROUP, VERSION
from tests.integration.kube import Cluster, wait_for

TENANT_LABEL = {"spinop.io/tenant": "true"}


def short_id() -> str:
    return uuid.uuid4().hex[:6]


def spinnaker_cluster(name: str, secret: str, environment: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerCluster",
        "metadata": {"name": name},
        "spec": {
            "kubeconfigSecretRef": {"name": secret, "key": "kubeconfig"},
            "environment": environment,
            "tenancy": {"namespaceSelector": {"matchLabels": dict(TENANT_LABEL)}},
        },
    }
    _merge(body["spec"], spec)
    return body


def spinnaker_account(namespace: str, name: str, cluster: str, target: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerAccount",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"cluster": cluster, "namespace": target},
    }
    _merge(body["spec"], spec)
    return body


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def create(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    plural = body["kind"].lower() + "s"
    ns = body["metadata"].get("namespace")
    if ns:
        return cluster.custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)
    return cluster.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)


def get(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    plural = kind.lower() + "s"
    try:
        if namespace:
            return cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        return cluster.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def patch(cluster: Cluster, kind: str, name: str, namespace: str | None, body: dict[str, Any]) -> None:
    plural = kind.lower() + "s"
    if namespace:
        cluster.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body)
    else:
        cluster.custom.patch_cluster_custom_object(GROUP, VERSION, plural, name, body)


def delete(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> None:
    plural = kind.lower() + "s"
    try:
        if namespace:
            cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        else:
            cluster.custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as err:
        if err.status != 404:
            raise


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def wait_condition(
    cluster: Cluster,
    kind: str,
    name: str,
    namespace: str | None,
    type_: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 90,
) -> dict[str, Any]:
    """Wait until the object's condition has this status (and reason); returns the whole object."""

    def probe() -> dict[str, Any] | None:
        obj = get(cluster, kind, name, namespace)
        cond = condition(obj, type_)
        if cond and cond.get("status") == status and (reason is None or cond.get("reason") == reason):
            return obj
        return None

    try:
        return wait_for(probe, timeout=timeout, what=f"{kind} {name}: {type_}={status} {reason or ''}")
    except AssertionError as err:
        obj = get(cluster, kind, name, namespace)
        raise AssertionError(f"{err}\nconditions now: {((obj or {}).get('status') or {}).get('conditions')}") from None


def wait_gone(cluster: Cluster, kind: str, name: str, namespace: str | None = None, timeout: float = 90) -> None:
    wait_for(lambda: get(cluster, kind, name, namespace) is None, timeout=timeout, what=f"{kind} {name} deleted")


def secret_kubeconfig(cluster: Cluster, namespace: str, name: str) -> str:
    secret = cluster.core.read_namespaced_secret(name, namespace)
    return base64.b64decode(secret.data["kubeconfig"]).decode()


def ensure_namespace(cluster: Cluster, name: str, labels: dict[str, str] | None = None) -> None:
    try:
        cluster.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels or {})))
    except ApiException as err:
        if err.status != 409:
            raise


def patch_cluster_and_wait(cluster: Cluster, name: str, spec: dict[str, Any], timeout: float = 30) -> None:
    """Patch a SpinnakerCluster's spec and wait until the operator has acted on that generation."""
    patch(cluster, "SpinnakerCluster", name, None, {"spec": spec})
    generation = (get(cluster, "SpinnakerCluster", name) or {})["metadata"]["generation"]

    def observed() -> bool:
        obj = get(cluster, "SpinnakerCluster", name) or {}
        return int((obj.get("status") or {}).get("observedGeneration") or 0) >= generation

    wait_for(observed, timeout=timeout, what=f"SpinnakerCluster {name} generation {generation} observed")
