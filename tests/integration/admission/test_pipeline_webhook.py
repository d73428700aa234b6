"""The SpinnakerPipeline webhook runs the tenant guard's index-free checks (spinop.admission.pipeline_guard): a
tenant restricted by real MGMT RBAC is refused at apply, with the field path, and nothing is stored. The same
bodies are refused by the reconcile when the webhook is absent (tests/integration/hostile/test_hostile_pipelines.py
cases `key-*` and `webhook-*`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spinop import GROUP, VERSION
from tests.integration import objects
from tests.integration.kube import Cluster
from tests.integration.operator_process import OperatorProcess
from tests.integration.pipelines.builders import spinnaker_pipeline
from tests.integration.reliability.tenant import Tenant

HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "expression-key": (
        {"stages": [{"type": "wait", "name": "w", "refId": "1", "waitTime": 1, "${'account'}": "someone-else"}]},
        "spec.pipeline.stages[0]",
    ),
    "webhook-to-metadata": (
        {
            "stages": [
                {
                    "type": "webhook",
                    "name": "w",
                    "refId": "1",
                    "url": "http://169.254.169.254/latest/meta-data/",
                    "method": "GET",
                }
            ]
        },
        "spec.pipeline.stages[0].url",
    ),
}


@pytest.fixture()
def tenant(
    admission_operator: OperatorProcess, mgmt: Cluster, fresh_namespace: Callable[..., str], operator_kubeconfig: object
) -> Iterator[Tenant]:
    restricted = Tenant(mgmt, fresh_namespace("mgmt", "pw", labels=objects.TENANT_LABEL), name="pipeline-bot")
    yield restricted
    restricted.close()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_pipeline_is_refused_at_apply_with_its_path_and_nothing_is_stored(
    tenant: Tenant, mgmt: Cluster, case: str
) -> None:
    pipeline, path = HOSTILE[case]
    body = spinnaker_pipeline(tenant.namespace, case, f"{tenant.namespace}-app", case, pipeline)
    answer = tenant.attempt(
        tenant.custom.create_namespaced_custom_object, GROUP, VERSION, tenant.namespace, "spinnakerpipelines", body
    )
    assert not answer.accepted, f"{case}: the webhook admitted it"
    assert answer.code == 403 and "PipelineNotAllowed" in answer.message and path in answer.message, answer
    assert objects.get(mgmt, "SpinnakerPipeline", case, tenant.namespace) is None


def test_a_plain_pipeline_of_the_tenant_is_admitted(tenant: Tenant, mgmt: Cluster) -> None:
    body = spinnaker_pipeline(
        tenant.namespace,
        "plain",
        f"{tenant.namespace}-app",
        "plain",
        {"stages": [{"type": "wait", "name": "w", "refId": "1", "waitTime": 1}]},
    )
    answer = tenant.attempt(
        tenant.custom.create_namespaced_custom_object, GROUP, VERSION, tenant.namespace, "spinnakerpipelines", body
    )
    assert answer.accepted, answer
