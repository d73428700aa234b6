"""Hostile SpinnakerPipelines (tests/integration/hostile/pipeline_corpus.py, issue 15 items 1, 3 and 5) applied by a
tenant restricted by real MGMT RBAC (a ServiceAccount bound to deploy/base's spinop-tenant-edit, TokenRequest token),
against the real operator and the Gate stand-in: each is refused at its exact field paths, and nothing reaches
Gate (no write, no change to the victim tenant's application or pipeline).

The SpinnakerCluster grants one webhook host (tenancy.pipelines.allowedUrlHosts), so the cases that abuse a granted
webhook (status URL from the answer, status endpoint elsewhere) are refused for that reason alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spinop import GROUP, VERSION
from spinop.pipelines import pipeline_id
from tests.integration import objects
from tests.integration.hostile.pipeline_corpus import CORPUS, GRANTED_HOST, Ctx
from tests.integration.kube import Cluster, wait_for
from tests.integration.pipelines import conftest as pipeline_fixtures
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import GateProcess, Tenant
from tests.integration.reliability.tenant import Tenant as RbacTenant

KIND = "SpinnakerPipeline"
PLURAL = "spinnakerpipelines"
TENANT_ROLES = Path(__file__).resolve().parents[3] / "deploy" / "base" / "rbac" / "tenant-clusterroles.yaml"
_PATH_RE = re.compile(r"(?:^|; )(spec\.[^\s:]*): ")

# The pipeline suites' Gate stand-in, operator (pointed at it, with the admin grants) and tenants with Ready accounts.
gate = pipeline_fixtures.gate
operator = pipeline_fixtures.operator
make_tenant = pipeline_fixtures.make_tenant


@pytest.fixture(scope="module")
def spinnaker_clusters(mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str]) -> Iterator[dict[str, str]]:
    """One SpinnakerCluster (dev) that grants its tenants' pipelines a single webhook host."""
    name = f"dev-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            name, admin_kubeconfig_secrets["dev"], "dev", tenancy={"pipelines": {"allowedUrlHosts": [GRANTED_HOST]}}
        ),
    )
    yield {"dev": name}
    objects.delete(mgmt, "SpinnakerCluster", name)


def _gate_snapshot(gate: GateProcess) -> tuple[Any, Any]:
    state = gate.state()
    pipelines = sorted((p["id"], p["application"], p["name"], p["lastModified"]) for p in state["pipelines"])
    apps = sorted((name, a.get("updateTs"), str(a.get("permissions"))) for name, a in state["applications"].items())
    return pipelines, apps


def _refused_at(
    mgmt: Cluster, namespace: str, name: str, paths: tuple[str, ...], reason: str
) -> tuple[bool, dict[str, Any]]:
    """Wait until spinop refuses `name` with `reason` at exactly `paths`: (whether it did, the last Synced condition
    seen).

    Order-insensitive: the apiserver returns the spec's keys sorted, so the guard walks them in another order than the
    corpus wrote them. Polls rather than reading once: the shared control planes may run other engineers'
    operators too (another configuration), whose verdicts this operator overwrites on its next pass.
    """
    seen: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        obj = objects.get(mgmt, KIND, name, namespace)
        cond = objects.condition(obj, "Synced") or {}
        seen.clear()
        seen.update(cond)
        found = tuple(_PATH_RE.findall(cond.get("message", "")))
        return (
            obj
            if cond.get("status") == "False" and cond.get("reason") == reason and sorted(found) == sorted(paths)
            else None
        )

    try:
        obj = wait_for(probe, timeout=90, what=f"{name} refused at {paths}")
    except AssertionError:
        return False, seen
    assert not (obj.get("status") or {}).get("pipelineId"), name
    return True, seen


def test_hostile_pipelines_from_an_rbac_restricted_tenant_are_refused_with_no_side_effect(
    gate: GateProcess, mgmt: Cluster, make_tenant: Callable[..., Tenant]
) -> None:
    applied = mgmt.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(TENANT_ROLES), check=False)
    assert applied.returncode == 0, applied.stderr
    attacker, victim = make_tenant("hp-a"), make_tenant("hp-v")
    # Application names under each namespace's own prefix, as the application-claim rule asks.
    app, victim_app = f"{attacker.namespace}-web", f"{victim.namespace}-web"
    ctx = Ctx(
        tenant=attacker.namespace,
        app=app,
        account=attacker.accounts["dev"],
        namespace=attacker.target("dev"),
        victim_app=victim_app,
        victim_account=victim.accounts["dev"],
        victim_namespace=victim.target("dev"),
    )

    def base(tenant: Tenant, application: str) -> dict[str, Any]:
        return deploy_pipeline(
            application=application,
            account=tenant.accounts["dev"],
            namespace=tenant.target("dev"),
            tenant=tenant.namespace,
        )

    objects.create(mgmt, spinnaker_pipeline(victim.namespace, "deploy", victim_app, "deploy", base(victim, victim_app)))
    objects.wait_condition(mgmt, KIND, "deploy", victim.namespace, "Ready")

    tenant = RbacTenant(mgmt, attacker.namespace, name="pipeline-bot")
    try:

        def create(name: str, spec: dict[str, Any]) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "metadata": {"name": name, "namespace": attacker.namespace},
                "spec": spec,
            }
            answer = tenant.attempt(
                tenant.custom.create_namespaced_custom_object, GROUP, VERSION, attacker.namespace, PLURAL, body
            )
            assert answer.accepted, (name, str(answer))

        # The legit base, applied by the same restricted tenant, is saved: the rules refuse attacks, not pipelines.
        create("legit", {"application": app, "name": "legit", "pipeline": base(attacker, app)})
        objects.wait_condition(mgmt, KIND, "legit", attacker.namespace, "Ready", timeout=90)

        writes, snapshot = len(gate.writes()), _gate_snapshot(gate)
        for case in CORPUS:
            spec = {"application": app, "name": case.name, "pipeline": base(attacker, app)}
            case.mutate(ctx, spec)
            create(case.name, spec)
        failures = []
        for case in CORPUS:
            refused, cond = _refused_at(mgmt, attacker.namespace, case.name, case.paths, case.reason)
            if not refused:
                failures.append((case.name, case.what, cond.get("reason"), cond.get("message")))
        assert not failures, "\n".join(
            f"{name} ({what}): {reason}: {message}" for name, what, reason, message in failures
        )

        # Nothing reached Gate, not even on the operator's later passes; the victim's pipeline is untouched.
        wait_for(
            lambda: objects.condition(objects.get(mgmt, KIND, "deploy", victim.namespace), "Ready"),
            timeout=10,
            what="victim pipeline still there",
        )
        assert len(gate.writes()) == writes, gate.writes()[writes:]
        assert _gate_snapshot(gate) == snapshot
        stored = {p["id"] for p in gate.state()["pipelines"]}
        assert not stored & {pipeline_id(attacker.namespace, case.name) for case in CORPUS}
        victim_pipeline = gate.pipeline(pipeline_id(victim.namespace, "deploy"))
        assert victim_pipeline is not None and victim_pipeline["stages"] == base(victim, victim_app)["stages"]
        objects.wait_condition(mgmt, KIND, "deploy", victim.namespace, "Ready")

        # Deleting them deletes nothing in Spinnaker either: spinop never saved them.
        for case in CORPUS:
            objects.delete(mgmt, KIND, case.name, attacker.namespace)
        for case in CORPUS:
            objects.wait_gone(mgmt, KIND, case.name, attacker.namespace)
        assert len(gate.writes()) == writes, gate.writes()[writes:]
        assert _gate_snapshot(gate) == snapshot
    finally:
        tenant.close()
