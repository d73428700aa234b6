"""Self-signed mode (deploy/base/components/webhook-self-signed): spinop generates its serving certificate and
publishes the CA into the caBundle of an existing, install-owned ValidatingWebhookConfiguration; the real
apiserver then reaches the webhook over TLS it verifies against that bundle.

The configuration here is created by the test (as the install would), with a `url` client config (the apiserver
runs on this host) and a namespaceSelector for this test's namespace only, so other engineers' operators on the
shared clusters are not affected. failurePolicy Ignore: only the webhook's own warning proves the TLS handshake
succeeded (with an untrusted certificate the apiserver ignores the webhook and prints nothing).
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator

import kubernetes.client as k8s
import pytest
from cryptography import x509
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def configuration(mgmt: Cluster, fresh_namespace: Callable[..., str]) -> Iterator[tuple[str, str, int]]:
    """(configuration name, tenant namespace it applies to, port the operator must listen on)."""
    marker = f"selfsigned-{objects.short_id()}"
    tenant = fresh_namespace("mgmt", "ss", labels={**objects.TENANT_LABEL, "spinop-test/webhook": marker})
    port = _free_port()
    name = f"{marker}.spinop.io"
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"validate-spinnakeraccount.{name}",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "timeoutSeconds": 5,
                "clientConfig": {"url": f"https://127.0.0.1:{port}/validate-spinnakeraccount"},
                "namespaceSelector": {"matchLabels": {"spinop-test/webhook": marker}},
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["spinnakeraccounts"],
                    }
                ],
            }
        ],
    }
    api = k8s.AdmissionregistrationV1Api(mgmt.api)
    api.create_validating_webhook_configuration(body)
    yield name, tenant, port
    try:
        api.delete_validating_webhook_configuration(name)
    except ApiException as err:
        if err.status != 404:
            raise


def _warned(mgmt: Cluster, tenant: str) -> bool:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "selfsigned-probe", "namespace": tenant},
        "spec": {"cluster": "no-such-cluster-selfsigned", "namespace": f"{tenant}-dev"},
    }
    result = mgmt.kubectl("create", "--dry-run=server", "-f", "-", input_text=json.dumps(body), check=False)
    return "SpinnakerCluster 'no-such-cluster-selfsigned' does not exist" in result.stderr


def test_spinop_publishes_its_own_ca_and_the_apiserver_reaches_the_webhook_through_it(
    mgmt: Cluster, configuration: tuple[str, str, int], start_operator: Callable[..., OperatorProcess]
) -> None:
    name, tenant, port = configuration
    assert not _warned(mgmt, tenant)  # no CA yet: the apiserver cannot verify anything, Ignore admits silently
    settings = {
        "admission": {
            "enabled": True,
            "ca_bundle_for": name,
            "host": "127.0.0.1",
            "listen_address": "127.0.0.1",
            "port": port,
            "failure_policy": "Ignore",
        }
    }
    start_operator(settings, kubeconfig=mgmt.kubeconfig)  # get/patch on webhook configurations: admin here
    wait_for(lambda: _warned(mgmt, tenant), timeout=60, what="the webhook to answer over the published CA")
    stored = k8s.AdmissionregistrationV1Api(mgmt.api).read_validating_webhook_configuration(name)
    (webhook,) = stored.webhooks
    bundle = x509.load_pem_x509_certificates(base64.b64decode(webhook.client_config.ca_bundle))
    assert [c.subject.rfc4514_string() for c in bundle] == ["CN=spinop-webhook-ca"]
    assert webhook.client_config.url == f"https://127.0.0.1:{port}/validate-spinnakeraccount"  # nothing else moved
    assert webhook.namespace_selector.match_labels == {"spinop-test/webhook": name.removesuffix(".spinop.io")}
