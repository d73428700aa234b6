"""Deterministic pipeline ids and the Gate body rendered from a SpinnakerPipeline spec."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from spinop.pipelines import (
    RenderRefused,
    application_name_problem,
    managed_service_account,
    pipeline_id,
    preserve_cron_trigger_ids,
    render_pipeline,
)
from spinop.pipelines.ids import SPINOP_PIPELINE_NAMESPACE


def test_pipeline_ids_are_stable_uuid5_of_namespace_and_name():
    pid = pipeline_id("team-a", "deploy")
    assert pid == str(uuid.uuid5(SPINOP_PIPELINE_NAMESPACE, "team-a/deploy"))
    assert pid == "9b9efd24-9511-5787-b764-a4d41a8785a7"  # pinned: changing it orphans every managed pipeline
    assert uuid.UUID(pid).version == 5
    assert pipeline_id("team-a", "deploy") == pid  # a re-created CR maps to the same pipeline
    assert len({pid, pipeline_id("team-b", "deploy"), pipeline_id("team-a", "deploy2")}) == 3
    assert managed_service_account(pid) == f"{pid}@managed-service-account"
    with pytest.raises(ValueError):
        pipeline_id("", "x")


def render(**overrides):
    args = {
        "application": "petclinic",
        "name": " deploy ",
        "pipeline": {"stages": [], "lastModified": 1, "updateTs": "1", "lastModifiedBy": "alice", "createTs": "1"},
        "pipeline_id": "pid-1",
        "owner": "team-a/deploy",
    }
    return render_pipeline(**{**args, **overrides})


def test_render_sets_identity_and_lock_and_drops_server_fields():
    body = render()
    assert body == {
        "stages": [],
        "id": "pid-1",
        "application": "petclinic",
        "name": "deploy",
        "locked": {"ui": True, "allowUnlockUi": False, "description": "managed by spinop: team-a/deploy"},
    }
    assert render(last_modified=42)["lastModified"] == 42
    tenant_lock = render(pipeline={"locked": {"ui": False, "allowUnlockUi": True}})
    assert tenant_lock["locked"]["allowUnlockUi"] is False


def test_render_accepts_the_same_identity_and_does_not_share_objects():
    spec: dict[str, Any] = {"id": "pid-1", "application": "PetClinic", "name": "deploy", "stages": [{"refId": "1"}]}
    body = render(pipeline=spec)
    body["stages"][0]["refId"] = "changed"
    assert spec["stages"][0]["refId"] == "1"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"id": "other"}, "spec.pipeline.id"),
        ({"application": "payments"}, "spec.pipeline.application"),
        ({"application": None}, "spec.pipeline.application"),
        ({"name": "other"}, "spec.pipeline.name"),
    ],
)
def test_render_refuses_a_body_that_sets_identity_differently(spec, path):
    with pytest.raises(RenderRefused) as refused:
        render(pipeline=spec)
    assert [v.path for v in refused.value.violations] == [path]


def test_render_refuses_bad_resource_fields():
    with pytest.raises(RenderRefused) as refused:
        render(application="9lives", name="  ", pipeline={"id": "x"})
    assert [v.path for v in refused.value.violations] == ["spec.application", "spec.name", "spec.pipeline.id"]
    with pytest.raises(RenderRefused):
        render(pipeline=["not", "an", "object"])


@pytest.mark.parametrize(
    ("name", "ok"), [("petclinic", True), ("a-1", True), ("A", True), ("1a", False), ("a_b", False), ("a" * 64, False)]
)
def test_application_names(name, ok):
    assert (application_name_problem(name) is None) is ok


def test_cron_trigger_ids_are_carried_over_from_the_live_pipeline():
    body = {
        "triggers": [
            {"type": "cron", "cronExpression": "0 0 2 * * ?"},
            {"type": "docker", "account": "r"},
            {"type": "cron", "cronExpression": "0 0 5 * * ?"},
            {"type": "cron", "cronExpression": "new"},
        ]
    }
    live = {
        "triggers": [
            {"type": "cron", "cronExpression": "0 0 5 * * ?", "id": "five"},
            {"type": "docker", "account": "r"},
            {"type": "cron", "cronExpression": "0 0 2 * * ?", "id": "two"},
        ]
    }
    out = preserve_cron_trigger_ids(body, live)
    assert [t.get("id") for t in out["triggers"]] == ["two", None, "five", None]
    assert "id" not in body["triggers"][0]
    assert preserve_cron_trigger_ids(body, None) == body
