"""Drift: what the server adds on save is never drift; a real edit is reported at its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from spinop.pipelines import compare, foreign_editor, normalize, pipeline_id, render_pipeline
from tests.standins.gate import GateState

from .seed_pipelines import LEGIT, build_to_dev, promote_to_prod

PID = pipeline_id("team-a", "deploy")


def desired(body: dict[str, Any] | None = None, app: str = "petclinic") -> dict[str, Any]:
    return render_pipeline(
        application=app, name="deploy", pipeline=body or promote_to_prod(), pipeline_id=PID, owner="team-a/deploy"
    )


def saved(body: dict[str, Any], user: str = "spinop") -> dict[str, Any]:
    """The config as Gate lists it after a save (Front50 + Orca behaviour of the stand-in)."""
    state = GateState()
    state.save_pipeline_via_orca(body, stale_check=False, user=user)
    [live] = state.list_pipeline_configs(body["application"])
    return live


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_fields_the_server_adds_are_not_drift(name):
    app, make = LEGIT[name]
    body = desired(make(), app)
    body["triggers"] = [*body.get("triggers", []), {"type": "cron", "cronExpression": "0 0 2 * * ?", "enabled": True}]
    live = saved(body)
    assert {"index", "lastModified", "updateTs", "lastModifiedBy", "createTs"} <= set(live)
    assert live["triggers"][-1]["id"]
    assert compare(body, live) == []


def test_managed_service_accounts_and_deck_defaults_are_not_drift():
    body = desired(build_to_dev())
    live = saved(body)
    live.update(keepWaitingPipelines=False, limitConcurrent=True, spelEvaluator="v4", disabled=False, appConfig={})
    live["serviceAccount"] = f"{PID}@managed-service-account"
    live["triggers"][0]["runAsUser"] = f"{PID}@managed-service-account"
    stage = live["stages"][0]
    stage.update(failPipeline=True, continuePipeline=False, comments="", requisiteStageRefIds=[])
    stage["refId"] = 1  # a number where the resource wrote "1"
    live["notifications"][0].pop("level")
    live["parameterConfig"] = []
    assert compare(body, live) == []

    body = desired(promote_to_prod())
    live = saved(body)
    live["parameterConfig"][0].update(pinned=False, options=[{"value": ""}], description="")
    live["stages"][1].update(trafficManagement={"enabled": False, "options": {"enableTraffic": False}})
    live["stages"][2]["skipExpressionEvaluation"] = False
    assert compare(body, live) == []


def test_a_ui_edit_is_reported_at_its_path():
    body = desired()
    live = saved(body, user="alice")
    live["stages"][4]["manifests"][0]["spec"]["replicas"] = 10
    live["stages"][0]["judgmentInputs"].append({"value": "yolo"})
    del live["triggers"][1]
    live["stages"][1]["account"] = "prod-team-b"
    live["description"] = "edited in the UI"
    assert compare(body, live) == [
        "description",
        "stages[0].judgmentInputs[2]",
        "stages[1].account",
        "stages[4].manifests[0].spec.replicas",
        "triggers[1]",
    ]
    assert foreign_editor(live, "spinop") == "alice"
    assert foreign_editor(saved(body), "spinop") is None


def test_unlocking_a_pipeline_is_drift():
    body = desired()
    live = saved(body)
    live["locked"] = {"ui": False, "allowUnlockUi": True, "description": "managed by spinop: team-a/deploy"}
    assert compare(body, live) == ["locked.allowUnlockUi", "locked.ui"]


def test_a_manual_runasuser_or_a_type_change_is_drift():
    body = desired(build_to_dev())
    live = saved(body)
    live["triggers"][0]["runAsUser"] = "someone-else"
    live["stages"][0]["manifests"][0]["spec"]["replicas"] = "1"
    assert compare(body, live) == ["stages[0].manifests[0].spec.replicas", "triggers[0].runAsUser"]


def test_normalize_does_not_touch_its_input():
    body = desired()
    before = copy.deepcopy(body)
    normalize(body)
    assert body == before
    assert "id" not in normalize(body) and "locked" in normalize(body)


def test_keys_that_are_not_identifiers_are_quoted():
    body = desired(build_to_dev())
    live = saved(body)
    live["stages"][0]["manifests"][0]["metadata"]["labels"]["app.kubernetes.io/name"] = "x"
    assert compare(body, live) == ['stages[0].manifests[0].metadata.labels["app.kubernetes.io/name"]']
