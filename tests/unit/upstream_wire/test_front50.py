"""Front50 sets no depth or size limit on a pipeline body, so spinop's bounds on spec.pipeline are its own.

Read upstream (bare clones via the fetch tool):
- github:spinnaker/front50 front50-sql/src/main/resources/db/changelog/20190415-initial-pipelines-schema.yml: the
  pipelines table keeps the whole body in a `longtext` column (and so does pipelines_history); no validator in
  front50-web .../controllers/PipelineController.java looks at its size or depth.
- github:spinnaker/kork spinnaker-dependencies/spinnaker-dependencies.gradle: Spring Boot 2.7.18, whose Jackson is
  2.13: no StreamReadConstraints (added in 2.15), so Gate and Front50 parse any nesting their stack allows.
So a pipeline at spinop's bounds (100 levels, 96 KiB as kopf stores it) must be saved and read back unchanged, and
the Gate stand-in must not refuse one either.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from spinop.api.v1alpha1.pipeline import MAX_PIPELINE_BYTES, MAX_PIPELINE_DEPTH, pipeline_body_problem
from spinop.gate import GateClient
from spinop.pipelines import pipeline_id, render_pipeline
from tests.standins.gate import GateStandin

from ..gate.conftest import fast_settings


@pytest.fixture
async def standin() -> AsyncIterator[GateStandin]:
    async with GateStandin(auth="none", task_duration=0.01, credentials_poll_interval=None) as gate:
        yield gate


@pytest.fixture
async def client(standin: GateStandin) -> AsyncIterator[GateClient]:
    async with GateClient(fast_settings(standin.url)) as gate:
        yield gate


def _at_the_bounds() -> dict[str, Any]:
    inner: Any = "x"
    for _ in range(MAX_PIPELINE_DEPTH - 4):  # stages, stages[0], and the innermost value count as levels
        inner = {"a": inner}
    body: dict[str, Any] = {"stages": [{"refId": "1", "type": "wait", "deep": inner}], "description": ""}
    body["description"] = "d" * (MAX_PIPELINE_BYTES - len(json.dumps(body, separators=(",", ":"))))
    assert pipeline_body_problem(body) is None
    return body


async def test_a_pipeline_at_spinops_bounds_is_saved_and_read_back_unchanged(client: GateClient) -> None:
    body = _at_the_bounds()
    pid = pipeline_id("team-a", "deep")
    rendered = render_pipeline(application="shop", name="deep", pipeline=body, pipeline_id=pid, owner="team-a/deep")
    await client.save_pipeline(rendered)
    stored = await client.get_pipeline_config("shop", "deep")
    assert stored is not None and stored["id"] == pid
    assert stored["stages"] == body["stages"] and stored["description"] == body["description"]
