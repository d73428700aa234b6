"""Application squatting, played by a tenant restricted by real MGMT RBAC (a ServiceAccount bound to deploy/base's
spinop-tenant-edit in its own namespace, TokenRequest token): the applications a namespace may claim come from the
tenancy policy (spinop's pipelines.application_patterns, default {namespace}-*, and admin grants), so naming
another tenant's application first no longer takes it. Refused naming spec.application (by the webhook when one
runs, else in status), nothing reaches Gate, and the rightful namespace still gets its application.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import GateProcess, Tenant
from tests.integration.reliability.tenant import Tenant as RbacTenant

KIND = "SpinnakerPipeline"
PLURAL = "spinnakerpipelines"


@pytest.fixture(scope="module")
def tenants(
    operator: OperatorProcess, mgmt: Cluster, make_tenant: Callable[..., Tenant]
) -> Iterator[tuple[Tenant, Tenant, RbacTenant]]:
    owner, squatter = make_tenant("own"), make_tenant("sq")
    restricted = RbacTenant(mgmt, squatter.namespace, name="squatter-bot")
    yield owner, squatter, restricted
    restricted.close()


def _create(restricted: RbacTenant, body: dict[str, Any]) -> tuple[bool, str]:
    try:
        restricted.custom.create_namespaced_custom_object(GROUP, VERSION, restricted.namespace, PLURAL, body)
    except ApiException as err:
        return False, str((json.loads(err.body or "{}") or {}).get("message") or err.reason)
    return True, ""


def _refused_in_status(mgmt: Cluster, namespace: str, name: str) -> dict[str, Any]:
    def refused() -> dict[str, Any] | None:
        obj = objects.get(mgmt, KIND, name, namespace)
        cond = objects.condition(obj, "Synced")
        return obj if cond and cond["status"] == "False" else None

    return wait_for(refused, timeout=90, what=f"{name} refused")


@pytest.mark.timeout(400)
def test_a_tenant_cannot_squat_an_application_the_policy_gives_another_namespace(
    mgmt: Cluster, gate: GateProcess, tenants: tuple[Tenant, Tenant, RbacTenant]
) -> None:
    owner, squatter, restricted = tenants
    theirs = f"{owner.namespace}-shop"  # owner's by the default pattern; nobody has claimed it yet
    unclaimed = f"shop{objects.short_id()}"  # nobody's by the policy
    writes = len(gate.writes())
    problems = []
    for name, application in (("squat", theirs), ("squat-free", unclaimed)):
        body = deploy_pipeline(
            application=application,
            account=squatter.accounts["dev"],
            namespace=squatter.target("dev"),
            tenant=squatter.namespace,
        )
        created, message = _create(restricted, spinnaker_pipeline(squatter.namespace, name, application, name, body))
        if created:
            obj = _refused_in_status(mgmt, squatter.namespace, name)
            cond = objects.condition(obj, "Synced") or {}
            reason, message = cond.get("reason"), cond.get("message") or ""
            if reason != "ApplicationNotOwned":
                problems.append(f"{name}: refused with {reason}, not ApplicationNotOwned: {message[:300]}")
        elif "ApplicationNotOwned" not in message:
            problems.append(f"{name}: refused at apply, but not as ApplicationNotOwned: {message[:300]}")
        if "spec.application" not in message or f"may not claim application {application!r}" not in message:
            problems.append(f"{name}: the refusal does not name spec.application: {message[:300]}")
        if owner.namespace in message.replace(theirs, ""):
            problems.append(f"{name}: the refusal names the other tenant: {message[:300]}")
        if gate.application(application) is not None:
            problems.append(f"{name}: Gate has application {application}")
    assert not problems, "\n".join(problems)
    assert [w for w in gate.writes()[writes:] if theirs in json.dumps(w) or unclaimed in json.dumps(w)] == []

    # The squatter's claim (older) holds nothing: the rightful namespace gets its application.
    body = deploy_pipeline(
        application=theirs, account=owner.accounts["dev"], namespace=owner.target("dev"), tenant=owner.namespace
    )
    objects.create(mgmt, spinnaker_pipeline(owner.namespace, "shop", theirs, "deploy", body))
    objects.wait_condition(mgmt, KIND, "shop", owner.namespace, "Ready", timeout=120)
    app = gate.application(theirs)
    assert app is not None and app["spinopNamespace"] == owner.namespace
