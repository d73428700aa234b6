"""The operator with its validating webhook enabled (kopf-managed configuration, generated certificate, any free
port), and helpers to see the apiserver's answer.

Each module gets its own operator (`start_operator` is module-scoped); the webhook configurations are deleted when
the module ends, so later modules (and their operators without admission) see an apiserver without webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess

MANAGED = "spinop-tests.spinop.io"
"""The kopf-managed ValidatingWebhookConfiguration's name in these tests."""
ACCOUNT_WEBHOOK = f"validate-spinnakeraccount.{MANAGED}"

ADMISSION_SETTINGS: dict[str, object] = {
    "admission": {"enabled": True, "managed": MANAGED, "port": 0, "failure_policy": "Ignore"},
}


def refused(call: Callable[[], object]) -> dict[str, Any]:
    """The apiserver's Status for a request that must fail."""
    try:
        result = call()
    except ApiException as err:
        status: dict[str, Any] = json.loads(err.body)
        assert status.get("kind") == "Status", err.body
        return status
    raise AssertionError(f"the apiserver accepted it: {json.dumps(result)[:2000]}")


def webhook_configuration(mgmt: Cluster) -> dict[str, Any] | None:
    api = k8s.AdmissionregistrationV1Api(mgmt.api)
    try:
        return mgmt.api.sanitize_for_serialization(api.read_validating_webhook_configuration(MANAGED))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _probe_answered(mgmt: Cluster) -> bool:
    """A server-side dry-run create that only the webhook warns about (an unknown cluster is admitted with a
    warning): True once the webhook answers."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "webhook-probe", "namespace": "default"},
        "spec": {"cluster": "no-such-cluster-webhook-probe", "namespace": "default-dev"},
    }
    result = mgmt.kubectl("create", "--dry-run=server", "-f", "-", input_text=json.dumps(body), check=False)
    return "SpinnakerCluster 'no-such-cluster-webhook-probe' does not exist" in result.stderr


def wait_webhook_ready(mgmt: Cluster, timeout: float = 60) -> None:
    """Until the apiserver reaches *this* operator's webhook (kopf points the configuration at it after start-up)."""
    wait_for(lambda: _probe_answered(mgmt), timeout=timeout, what="the admission webhook to answer the apiserver")


def delete_webhook_configurations(mgmt: Cluster) -> None:
    """The configurations kopf created (validating, and an empty mutating one); gone already is fine."""
    api = k8s.AdmissionregistrationV1Api(mgmt.api)
    for delete in (api.delete_validating_webhook_configuration, api.delete_mutating_webhook_configuration):
        try:
            delete(MANAGED)
        except ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture(scope="module")
def webhook_configurations(mgmt: Cluster) -> Iterator[None]:
    """Delete the configurations kopf created when the module ends."""
    yield
    delete_webhook_configurations(mgmt)


@pytest.fixture(scope="module")
def admission_operator(
    webhook_configurations: None, start_operator: Callable[..., OperatorProcess], mgmt: Cluster
) -> Iterator[OperatorProcess]:
    operator = start_operator(ADMISSION_SETTINGS, kubeconfig=mgmt.kubeconfig)  # managed webhook config: admin
    wait_webhook_ready(mgmt)
    yield operator
    # Unhook the apiserver before the operator stops: a review in flight while kopf's webhook server shuts down
    # (a finalizer removed as a test namespace goes) is a reset connection, which aiohttp logs with a traceback.
    delete_webhook_configurations(mgmt)
    wait_for(lambda: not _probe_answered(mgmt), timeout=30, what="the apiserver to stop calling the webhook")
