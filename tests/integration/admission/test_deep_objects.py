"""The admission webhook refuses a SpinnakerPipeline nested deeper, or larger, than spinop accepts, at `kubectl
apply`, with the field named; a body the apiserver itself would store (it allows 10,000 levels) must not make the
webhook fail (under failurePolicy Ignore a failing webhook admits the object). Played by a real tenant bound to
spinop-tenant-edit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.api.v1alpha1.pipeline import MAX_PIPELINE_BYTES, MAX_PIPELINE_DEPTH
from spinop.main import RECURSION_LIMIT
from tests.integration import objects
from tests.integration.admission.conftest import wait_webhook_ready
from tests.integration.kube import Cluster
from tests.integration.operator_process import OperatorProcess
from tests.integration.pipelines.builders import spinnaker_pipeline
from tests.integration.reliability.tenant import Tenant

PLURAL = "spinnakerpipelines"
MANAGED = "spinop-deep-objects.spinop.io"  # this module's own webhook configuration


@pytest.fixture(scope="module")
def admission_operator(start_operator: Callable[..., OperatorProcess], mgmt: Cluster) -> Iterator[OperatorProcess]:
    settings = {"admission": {"enabled": True, "managed": MANAGED, "port": 0, "failure_policy": "Ignore"}}
    operator = start_operator(settings, kubeconfig=mgmt.kubeconfig)  # a managed webhook configuration needs admin
    wait_webhook_ready(mgmt)
    yield operator
    api = k8s.AdmissionregistrationV1Api(mgmt.api)
    for delete in (api.delete_validating_webhook_configuration, api.delete_mutating_webhook_configuration):
        try:
            delete(MANAGED)
        except ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture()
def tenant(
    admission_operator: OperatorProcess, mgmt: Cluster, operator_kubeconfig: Any, fresh_namespace: Any
) -> Iterator[Tenant]:
    # operator_kubeconfig installs deploy/base, whose spinop-tenant-edit the tenant is bound to.
    restricted = Tenant(mgmt, fresh_namespace("mgmt", "dp", labels=objects.TENANT_LABEL))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)  # this process encodes the deep body too
    yield restricted
    sys.setrecursionlimit(limit)
    restricted.close()


def _nested(levels: int) -> dict[str, Any]:
    inner: Any = "x"
    for _ in range(levels):
        inner = {"a": inner}
    return {"stages": [inner]}


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (_nested(1_500), f"spec.pipeline: is nested more than {MAX_PIPELINE_DEPTH} levels deep"),
        (_nested(9_990), f"spec.pipeline: is nested more than {MAX_PIPELINE_DEPTH} levels deep"),
        ({"stages": [{"description": "x" * 1_000_000}]}, f"at most {MAX_PIPELINE_BYTES} bytes"),
    ],
    ids=["1500-levels", "9990-levels", "1MB"],
)
def test_the_webhook_refuses_deep_and_huge_pipelines_with_the_field_named(
    tenant: Tenant, mgmt: Cluster, admission_operator: OperatorProcess, pipeline: dict[str, Any], message: str
) -> None:
    body = spinnaker_pipeline(tenant.namespace, "deep", "app", "deep", {})
    body["spec"]["pipeline"] = pipeline
    answer = tenant.attempt(
        tenant.custom.create_namespaced_custom_object, GROUP, VERSION, tenant.namespace, PLURAL, body
    )
    assert not answer.accepted and answer.code == 422, str(answer)
    assert message in answer.message, answer.message
    assert objects.get(mgmt, "SpinnakerPipeline", "deep", tenant.namespace) is None
    admission_operator.assert_clean()
