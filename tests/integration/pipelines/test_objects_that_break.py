"""Objects that break the operator (issue 15 item 4): a SpinnakerPipeline whose spec.pipeline is nested far deeper
than Python's default recursion limit allows json to decode (the apiserver stores up to 10,000 levels), or far
larger than any pipeline, created by a real RBAC-restricted tenant.

Without the webhook (or with it down) the apiserver stores such objects; spinop must then refuse them in status with
a field path, and neither they nor a restart of the operator may stop other tenants' accounts and pipelines from
reconciling or their tokens from renewing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest

from spinop import GROUP, VERSION
from spinop.api.v1alpha1.pipeline import MAX_PIPELINE_BYTES, MAX_PIPELINE_DEPTH
from spinop.main import RECURSION_LIMIT
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import GRANTS, GateProcess, Tenant
from tests.integration.reliability.lifecycle import assert_alive, restart_after_kill
from tests.integration.reliability.tenant import Answer
from tests.integration.reliability.tenant import Tenant as RestrictedTenant

KIND = "SpinnakerPipeline"
PLURAL = "spinnakerpipelines"


def _nested(levels: int) -> dict[str, Any]:
    """A body `levels` deep below spec.pipeline, built without recursion."""
    inner: Any = "x"
    for _ in range(levels):
        inner = {"a": inner}
    return {"stages": [inner]}


@pytest.fixture()
def attacker(mgmt: Cluster, make_tenant: Callable[..., Tenant]) -> Iterator[RestrictedTenant]:
    """A tenant namespace and a ServiceAccount in it bound to deploy/base's spinop-tenant-edit, nothing else."""
    tenant = make_tenant("atk", envs=())
    restricted = RestrictedTenant(mgmt, tenant.namespace)
    yield restricted
    restricted.close()


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateProcess]:
    """A Gate stand-in without authentication: no shared Gate Secret for other modules' operators to overwrite."""
    log = tmp_path_factory.mktemp("gate") / "standin.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.gate", "--port", "0", "--auth", "none"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline() or "{}")
    assert ready.get("event") == "ready", log.read_text()
    yield GateProcess(proc, ready["url"], "")
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def operator(gate: GateProcess, start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator(
        {
            "gate": {"url": gate.url},
            "pipelines": {"drift_interval_seconds": 2, "grants": GRANTS},
            "min_rotation_interval_seconds": 1,  # the test rotates twice within a minute
        }
    )


@pytest.fixture(scope="module", autouse=True)
def deep_objects() -> Iterator[None]:
    """This test process encodes the deep objects and decodes them in listings (module fixtures' clean-up too)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)
    yield
    sys.setrecursionlimit(limit)


def _create_pipeline(tenant: RestrictedTenant, name: str, pipeline: dict[str, Any]) -> Answer:
    body = spinnaker_pipeline(tenant.namespace, name, f"{tenant.namespace}-app", name, {})
    body["spec"]["pipeline"] = pipeline  # not deep-copied
    return tenant.attempt(tenant.custom.create_namespaced_custom_object, GROUP, VERSION, tenant.namespace, PLURAL, body)


def _wait_invalid(mgmt: Cluster, namespace: str, name: str) -> str:
    obj = objects.wait_condition(mgmt, KIND, name, namespace, "Synced", status="False", reason="InvalidSpec")
    return str(objects.condition(obj, "Synced")["message"])  # type: ignore[index]


def _nothing_in_gate(gate: GateProcess, attacker: RestrictedTenant) -> None:
    """Neither the attacker's application nor any pipeline in it exists in Spinnaker (judged by state, not by request
    counts: every operator on a shared MGMT reconciles every namespace, other modules' pipelines included)."""
    application = f"{attacker.namespace}-app"
    assert gate.application(application) is None and gate.pipelines(application) == []


def _ready_pipeline(mgmt: Cluster, gate: GateProcess, tenant: Tenant, name: str) -> None:
    app = f"{tenant.namespace}-web"
    body = deploy_pipeline(
        application=app, account=tenant.accounts["dev"], namespace=tenant.target("dev"), tenant=tenant.namespace
    )
    objects.create(mgmt, spinnaker_pipeline(tenant.namespace, name, app, name, body))
    obj = objects.wait_condition(mgmt, KIND, name, tenant.namespace, "Ready", timeout=90)
    # In this module's own Gate: saved by this module's operator (MGMT may be shared with other operators).
    wait_for(lambda: gate.pipeline(obj["status"]["pipelineId"]), timeout=60, what=f"{name} saved in this Gate")


def _rotated(mgmt: Cluster, namespace: str, name: str) -> None:
    before = (objects.get(mgmt, "SpinnakerAccount", name, namespace) or {})["status"]["tokenFingerprint"]
    request = {"metadata": {"annotations": {"spinop.io/rotate-credentials": objects.short_id()}}}
    objects.patch(mgmt, "SpinnakerAccount", name, namespace, request)

    def fresh() -> bool:
        current = objects.get(mgmt, "SpinnakerAccount", name, namespace) or {}
        return (current.get("status") or {}).get("tokenFingerprint") not in (None, before)

    wait_for(fresh, timeout=90, what=f"new credentials for SpinnakerAccount {namespace}/{name}")


def test_deep_and_huge_pipelines_are_refused_in_status_and_nothing_else_stops_even_across_a_restart(
    operator: OperatorProcess,
    gate: GateProcess,
    mgmt: Cluster,
    make_tenant: Callable[..., Tenant],
    attacker: RestrictedTenant,
) -> None:
    # The apiserver stores all of them (no webhook here: what happens when it is down or bypassed).
    attacks = {
        "deep": _nested(1_500),
        "deepest": _nested(9_990),  # about the apiserver's own limit of 10,000 levels for the whole object
        # 16k keys, about 0.3 MB: more than the annotation kopf keeps it in may hold (256 KiB).
        "huge": {"stages": [{f"k{i}": "v" * 8 for i in range(16_000)}]},
    }
    try:
        _play(operator, gate, mgmt, make_tenant, attacker, attacks)
    finally:
        # Never leave them in the shared MGMT, whatever happened (other tests' operators watch it too).
        for name in attacks:
            objects.delete(mgmt, KIND, name, attacker.namespace)
        for name in attacks:
            try:
                objects.wait_gone(mgmt, KIND, name, attacker.namespace, timeout=60)
            except AssertionError:  # the operator could not finalize it: the failure is reported already
                objects.patch(mgmt, KIND, name, attacker.namespace, {"metadata": {"finalizers": None}})


def _play(
    operator: OperatorProcess,
    gate: GateProcess,
    mgmt: Cluster,
    make_tenant: Callable[..., Tenant],
    attacker: RestrictedTenant,
    attacks: dict[str, dict[str, Any]],
) -> None:
    for name, pipeline in attacks.items():

        def stored(name: str = name, pipeline: dict[str, Any] = pipeline) -> Answer | None:
            answer = _create_pipeline(attacker, name, pipeline)
            # Only a webhook may refuse it: another module's, while it runs against the same MGMT.
            assert answer.accepted or "admission webhook" in answer.message, f"{name}: {answer}"
            return answer if answer.accepted else None

        wait_for(stored, timeout=300, interval=5, what=f"the apiserver to store {name} (no webhook in MGMT)")

    # Refused in status at the field, with what to fix; nothing reached Gate.
    assert f"spec.pipeline: is nested more than {MAX_PIPELINE_DEPTH} levels deep" in _wait_invalid(
        mgmt, attacker.namespace, "deep"
    )
    assert "spec.pipeline: is nested" in _wait_invalid(mgmt, attacker.namespace, "deepest")
    assert f"at most {MAX_PIPELINE_BYTES} bytes" in _wait_invalid(mgmt, attacker.namespace, "huge")
    _nothing_in_gate(gate, attacker)

    # Other tenants, created after the attack: accounts, pipelines and token rotation all still work.
    victim = make_tenant("vic")
    _ready_pipeline(mgmt, gate, victim, "before-restart")
    _rotated(mgmt, victim.namespace, "dev")

    # A restart lists every SpinnakerPipeline again, the deep ones included.
    operator.stop()
    restart_after_kill(operator)
    late = make_tenant("late")
    _ready_pipeline(mgmt, gate, late, "after-restart")
    _ready_pipeline(mgmt, gate, victim, "after-restart")
    _rotated(mgmt, victim.namespace, "dev")
    for name in attacks:
        objects.wait_condition(mgmt, KIND, name, attacker.namespace, "Synced", status="False", reason="InvalidSpec")
    assert_alive(operator)
    operator.assert_clean()
    assert "RecursionError" not in operator.log()
    # The attacker can still clean up after itself (the finalizer runs for such objects too).
    for name in attacks:
        deleted = attacker.attempt(
            attacker.custom.delete_namespaced_custom_object, GROUP, VERSION, attacker.namespace, PLURAL, name
        )
        assert deleted.accepted, str(deleted)
    for name in attacks:
        objects.wait_gone(mgmt, KIND, name, attacker.namespace)
    _nothing_in_gate(gate, attacker)


def test_the_documented_resource_quota_caps_how_many_objects_a_tenant_makes(
    mgmt: Cluster, make_tenant: Callable[..., Tenant], attacker: RestrictedTenant
) -> None:
    """docs/install.md's per-tenant ResourceQuota on `count/<plural>.spinop.io`, enforced by the apiserver itself."""
    quota = k8s.V1ResourceQuota(
        metadata=k8s.V1ObjectMeta(name="spinop-objects"),
        spec=k8s.V1ResourceQuotaSpec(
            hard={"count/spinnakerpipelines.spinop.io": "1", "count/spinnakeraccounts.spinop.io": "1"}
        ),
    )
    mgmt.core.create_namespaced_resource_quota(attacker.namespace, quota)
    wait_for(
        lambda: mgmt.core.read_namespaced_resource_quota("spinop-objects", attacker.namespace).status.hard or {},
        timeout=60,
        what="the quota controller to count the namespace",
    )
    assert _create_pipeline(attacker, "first", {"stages": []}).accepted
    second = _create_pipeline(attacker, "second", {"stages": []})
    assert not second.accepted and second.code == 403 and "exceeded quota" in second.message, str(second)
    account = objects.spinnaker_account(attacker.namespace, "one", "no-such-cluster", f"{attacker.namespace}-dev")
    assert attacker.create(account).accepted
    account["metadata"]["name"] = "two"
    refused = attacker.create(account)
    assert not refused.accepted and refused.code == 403 and "exceeded quota" in refused.message, str(refused)
    assert objects.get(mgmt, KIND, "second", attacker.namespace) is None
