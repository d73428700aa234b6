"""SpinnakerPipelines end to end: the real operator against the real MGMT apiserver and the Gate stand-in over HTTP.

Samples become Ready; UI edits are restored (Enforce) or reported (Report); a rename keeps the pipeline id; a name
held by a pipeline spinop did not create is refused unless adopted; a save Gate answers "still running" is read
back, not repeated; deletion removes only what spinop made, never an application.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spinop.pipelines import pipeline_id
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import (
    PRINCIPAL,
    GateProcess,
    Tenant,
    delete_all,
    wait_event,
    wait_generation_synced,
)

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"
KIND = "SpinnakerPipeline"


def _pipeline_cr(tenant: Tenant, name: str, application: str, pipeline_name: str, **spec: Any) -> dict[str, Any]:
    body = deploy_pipeline(
        application=application,
        account=tenant.accounts["dev"],
        namespace=tenant.target("dev"),
        tenant=tenant.namespace,
    )
    return spinnaker_pipeline(tenant.namespace, name, application, pipeline_name, body, **spec)


def _config_reads(gate: GateProcess, application: str) -> int:
    return sum(
        1 for r in gate.requests() if r["method"] == "GET" and r["path"].endswith(f"/{application}/pipelineConfigs")
    )


# --------------------------------------------------------------------------------------------------------- samples


def test_samples_become_ready_and_deletion_removes_only_what_spinop_made(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, remotes: dict[str, Cluster]
) -> None:
    applied = mgmt.kubectl("apply", "-k", str(SAMPLES), check=False)
    assert applied.returncode == 0, applied.stderr
    try:
        for env in ("dev", "staging", "prod"):
            objects.wait_condition(mgmt, "SpinnakerAccount", env, "team-a", "Ready", timeout=120)
        ids = {}
        for name in ("web-build-to-dev", "web-promote-to-prod"):
            obj = objects.wait_condition(mgmt, KIND, name, "team-a", "Ready", timeout=60)
            assert objects.condition(obj, "Synced")["reason"] == "Saved"  # type: ignore[index]
            assert objects.condition(obj, "InSync")["status"] == "True"  # type: ignore[index]
            assert obj["status"]["pipelineId"] == pipeline_id("team-a", name)
            assert obj["status"]["lastModifiedBy"] == PRINCIPAL
            ids[name] = obj["status"]["pipelineId"]

        app = gate.application("team-a-web")
        assert app is not None
        assert app["spinopNamespace"] == "team-a"
        assert app["permissions"] == {"READ": ["team-a", "platform"], "WRITE": ["team-a"], "EXECUTE": ["team-a"]}
        assert app["email"] == "team-a@example.com"
        stored = {p["id"]: p for p in gate.pipelines("team-a-web")}
        assert set(stored) == set(ids.values())
        build = stored[ids["web-build-to-dev"]]
        assert build["name"] == "build-to-dev"
        assert build["locked"] == {
            "ui": True,
            "allowUnlockUi": False,
            "description": "managed by spinop: team-a/web-build-to-dev",
        }
        assert build["stages"][0]["account"] == "dev-team-a-dev"

        # Someone adds a pipeline of their own in the UI; spinop must leave it (and the application) alone.
        hotfix = gate.ui_save({"application": "team-a-web", "name": "hotfix", "stages": []}, principal="alice")
        delete_all(mgmt, "team-a", KIND)
        left = gate.pipelines("team-a-web")
        assert [p["id"] for p in left] == [hotfix["id"]]
        assert gate.application("team-a-web") is not None
    finally:
        delete_all(mgmt, "team-a", KIND)
        delete_all(mgmt, "team-a", "SpinnakerAccount")
        mgmt.kubectl("delete", "-k", str(SAMPLES), "--ignore-not-found", "--wait=false", check=False)
        for env, remote in remotes.items():
            remote.delete_namespace(f"team-a-{env}")
        wait_for(lambda: mgmt.namespace_gone("team-a"), timeout=120, what="namespace team-a deleted")


# ----------------------------------------------------------------------------------------------------------- drift


@pytest.fixture(scope="module")
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant("drift")


def test_ui_edit_is_restored_under_enforce_and_reported_under_report(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    app = f"{tenant.namespace}-web{objects.short_id()}"
    objects.create(mgmt, _pipeline_cr(tenant, "deploy", app, "deploy"))
    obj = objects.wait_condition(mgmt, KIND, "deploy", tenant.namespace, "Ready")
    pid = obj["status"]["pipelineId"]
    assert pid == pipeline_id(tenant.namespace, "deploy")

    # Enforce: alice edits the stage in the UI; spinop saves the resource's version again and names her.
    edited = copy.deepcopy(gate.pipeline(pid))
    assert edited is not None
    edited["stages"][0]["name"] = "edited in the UI"
    edited["stages"][0]["account"] = "somebody-elses-account"
    gate.ui_save(edited, principal="alice")
    event = wait_event(mgmt, tenant.namespace, "deploy", "DriftRestored")
    assert "alice" in event.message and "spec.pipeline.stages[0].account" in event.message, event.message
    assert event.type == "Warning"
    restored = wait_for(
        lambda: (p := gate.pipeline(pid)) and p["lastModifiedBy"] == PRINCIPAL and p, what="the pipeline restored"
    )
    assert restored["stages"][0]["name"] == "Deploy web"
    assert restored["stages"][0]["account"] == tenant.accounts["dev"]
    obj = objects.wait_condition(mgmt, KIND, "deploy", tenant.namespace, "Ready")
    assert obj["status"]["driftDetectedAt"]

    # Report: the next UI edit stays; InSync says what differs and who changed it; Ready stays True.
    objects.patch(mgmt, KIND, "deploy", tenant.namespace, {"spec": {"driftPolicy": "Report"}})
    wait_generation_synced(mgmt, tenant.namespace, "deploy")
    edited = copy.deepcopy(gate.pipeline(pid))
    assert edited is not None
    edited["stages"][0]["name"] = "edited again"
    stamp = gate.ui_save(edited, principal="alice")["lastModified"]
    obj = objects.wait_condition(mgmt, KIND, "deploy", tenant.namespace, "InSync", status="False", reason="Drifted")
    message = objects.condition(obj, "InSync")["message"]  # type: ignore[index]
    assert "alice" in message and "spec.pipeline.stages[0].name" in message, message
    assert objects.condition(obj, "Ready")["status"] == "True"  # type: ignore[index]
    assert obj["status"]["lastModifiedBy"] == "alice"
    wait_event(mgmt, tenant.namespace, "deploy", "DriftDetected")
    # Two more drift passes later, alice's version is still there.
    reads = _config_reads(gate, app)
    wait_for(lambda: _config_reads(gate, app) >= reads + 2, timeout=30, what="two more drift passes")
    current = gate.pipeline(pid)
    assert current is not None and current["lastModified"] == stamp and current["stages"][0]["name"] == "edited again"

    # Back to Enforce: the resource's version wins again.
    objects.patch(mgmt, KIND, "deploy", tenant.namespace, {"spec": {"driftPolicy": "Enforce"}})
    objects.wait_condition(mgmt, KIND, "deploy", tenant.namespace, "InSync", status="True")
    assert gate.pipeline(pid)["stages"][0]["name"] == "Deploy web"  # type: ignore[index]

    # A pipeline deleted in the UI comes back under Enforce, with the same id.
    gate.ui_delete(pid)
    wait_for(lambda: gate.pipeline(pid), timeout=30, what="the deleted pipeline re-created")


def test_renaming_keeps_the_pipeline_id(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    app = f"{tenant.namespace}-web{objects.short_id()}"
    objects.create(mgmt, _pipeline_cr(tenant, "rename", app, "deploy to dev"))
    obj = objects.wait_condition(mgmt, KIND, "rename", tenant.namespace, "Ready")
    pid = obj["status"]["pipelineId"]
    created = gate.pipeline(pid)["createTs"]  # type: ignore[index]
    objects.patch(mgmt, KIND, "rename", tenant.namespace, {"spec": {"name": "Deploy to Dev (renamed)"}})
    obj = wait_generation_synced(mgmt, tenant.namespace, "rename")
    assert obj["status"]["pipelineId"] == pid
    stored = gate.pipelines(app)
    assert [(p["id"], p["name"]) for p in stored] == [(pid, "Deploy to Dev (renamed)")]
    assert stored[0]["createTs"] == created  # the same document: execution history is keyed on this id

    # Steady state: each drift pass costs two Gate reads and no write, in Gate or in MGMT.
    reads = _config_reads(gate, app)
    wait_for(lambda: _config_reads(gate, app) >= reads + 1, timeout=30, what="a drift pass")
    version = objects.get(mgmt, KIND, "rename", tenant.namespace)["metadata"]["resourceVersion"]  # type: ignore[index]
    first = len(gate.requests())
    reads = _config_reads(gate, app)
    wait_for(lambda: _config_reads(gate, app) >= reads + 2, timeout=30, what="two more drift passes")
    ours = [r for r in gate.requests()[first:] if app in r["path"]]
    assert {(r["method"], r["path"]) for r in ours} == {
        ("GET", f"/applications/{app}"),
        ("GET", f"/applications/{app}/pipelineConfigs"),
    }, ours
    assert objects.get(mgmt, KIND, "rename", tenant.namespace)["metadata"]["resourceVersion"] == version  # type: ignore[index]


def test_a_name_spinop_did_not_create_is_refused_unless_adopted(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    app = f"{tenant.namespace}-web{objects.short_id()}"
    objects.create(mgmt, _pipeline_cr(tenant, "first", app, "deploy"))
    objects.wait_condition(mgmt, KIND, "first", tenant.namespace, "Ready")
    legacy = gate.ui_save({"application": app, "name": "Legacy", "stages": []}, principal="alice")
    writes = len(gate.writes())

    objects.create(mgmt, _pipeline_cr(tenant, "legacy", app, "legacy"))
    obj = objects.wait_condition(
        mgmt, KIND, "legacy", tenant.namespace, "Synced", status="False", reason="PipelineNameTaken"
    )
    message = objects.condition(obj, "Synced")["message"]  # type: ignore[index]
    assert message.startswith("spec.name:") and "spec.adopt" in message and "alice" in message, message
    assert len(gate.writes()) == writes
    assert gate.pipeline(legacy["id"])["stages"] == []  # type: ignore[index]

    objects.patch(mgmt, KIND, "legacy", tenant.namespace, {"spec": {"adopt": True}})
    obj = objects.wait_condition(mgmt, KIND, "legacy", tenant.namespace, "Ready")
    assert obj["status"]["pipelineId"] == legacy["id"]  # the existing id (and its history) is kept
    adopted = gate.pipeline(legacy["id"])
    assert adopted is not None and adopted["name"] == "legacy" and adopted["stages"][0]["type"] == "deployManifest"
    wait_event(mgmt, tenant.namespace, "legacy", "PipelineAdopted")

    # Adopted means managed: deleting the resource deletes it; the other pipeline and the application stay.
    objects.delete(mgmt, KIND, "legacy", tenant.namespace)
    objects.wait_gone(mgmt, KIND, "legacy", tenant.namespace)
    assert gate.pipeline(legacy["id"]) is None
    assert gate.pipeline(pipeline_id(tenant.namespace, "first")) is not None
    assert gate.application(app) is not None


def test_a_save_gate_reports_still_running_is_read_back_not_repeated(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    app = f"{tenant.namespace}-web{objects.short_id()}"
    gate.faults(save={"duration": 1.5, "polls": 1, "interval": 0.2})
    try:
        before = sum(1 for r in gate.writes() if r["path"] == "/pipelines")
        objects.create(mgmt, _pipeline_cr(tenant, "slow", app, "slow"))
        obj = objects.wait_condition(mgmt, KIND, "slow", tenant.namespace, "Ready", timeout=60)
    finally:
        gate.clear_faults()
    saves = [r for r in gate.writes() if r["path"] == "/pipelines"][before:]
    assert [r["status"] for r in saves] == [400], (
        saves
    )  # Gate gave up waiting; spinop read back instead of saving again
    assert [p["id"] for p in gate.pipelines(app)] == [obj["status"]["pipelineId"]]


def test_a_gate_outage_is_reported_and_recovered_from(
    operator: OperatorProcess, gate: GateProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    app = f"{tenant.namespace}-web{objects.short_id()}"
    gate.faults(failNext={"count": 1000, "status": 503, "path": f"^/applications/{app}"})
    try:
        objects.create(mgmt, _pipeline_cr(tenant, "outage", app, "outage"))
        obj = objects.wait_condition(
            mgmt, KIND, "outage", tenant.namespace, "Synced", status="False", reason="GateUnavailable"
        )
        assert "503" in objects.condition(obj, "Synced")["message"]  # type: ignore[index]
        assert gate.pipelines(app) == []
    finally:
        gate.clear_faults()
    obj = objects.wait_condition(mgmt, KIND, "outage", tenant.namespace, "Ready", timeout=60)
    assert [p["id"] for p in gate.pipelines(app)] == [obj["status"]["pipelineId"]]

    # An outage during a drift pass of a saved generation: Synced stays True, only the comparison is unknown.
    gate.faults(failNext={"count": 1000, "status": 503, "path": f"^/applications/{app}"})
    try:
        obj = objects.wait_condition(
            mgmt, KIND, "outage", tenant.namespace, "InSync", status="Unknown", reason="GateUnavailable"
        )
        assert objects.condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
    finally:
        gate.clear_faults()
    objects.wait_condition(mgmt, KIND, "outage", tenant.namespace, "InSync", status="True", timeout=60)
