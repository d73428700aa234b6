"""The controller's Gate steps against the Gate stand-in on loopback: a stale save is re-read and retried, and a
delete never hits another pipeline that shares the name."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from spinop.api.v1alpha1 import SpinnakerPipelineSpec
from spinop.controllers.pipeline_save import (
    Outcome,
    PipelineWork,
    _delete_under_unique_name,
    _save,
    delete_by_id,
)
from spinop.gate import GateClient, GateDuplicateName
from spinop.pipelines import TenantScope, pipeline_id
from spinop.pipelines.decision import Observed
from spinop.pipelines.scope import Tenancy
from tests.standins.gate import GateStandin
from tests.unit.gate.conftest import fast_settings


@pytest.fixture
async def gate() -> Any:
    async with GateStandin(task_duration=0.01, credentials_poll_interval=None) as standin:
        yield standin


@pytest.fixture
async def client(gate: GateStandin) -> Any:
    async with GateClient(fast_settings(gate.url)) as c:
        yield c


def work(client: GateClient, name: str = "deploy") -> PipelineWork:
    spec = SpinnakerPipelineSpec.model_validate(
        {"application": "web", "name": name, "pipeline": {"stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}}
    )
    return PipelineWork(
        ctx=cast(Any, None),
        gate=client,
        namespace="team-a",
        name="deploy",
        spec=spec,
        tenancy=Tenancy(scope=TenantScope(namespace="team-a", accounts={}, applications={"web"}), claims=[]),
        observed=Observed(None, None, False, None),
        generation=1,
        pipeline_id=pipeline_id("team-a", "deploy"),
        out=Outcome(),
    )


async def test_a_stale_save_is_re_read_and_retried(gate: GateStandin, client: GateClient) -> None:
    w = work(client)
    await _save(w, None)
    live = await client.find_pipeline("web", w.pipeline_id)
    assert live is not None
    edited = copy.deepcopy(live)
    edited["stages"][0]["waitTime"] = 99
    gate.ui_save_pipeline(edited, principal="alice")  # lands between spinop's read and its save

    stored = await _save(w, live)
    assert stored["stages"][0]["waitTime"] == 1 and stored["lastModifiedBy"] == "anonymous"
    saves = [r for r in gate.requests if r.method == "POST" and r.path == "/pipelines"]
    assert [r.status for r in saves] == [200, 400, 200]  # created; stale (alice's save); re-read and saved
    assert all("staleCheck=true" in r.query for r in saves[1:])


async def test_deleting_around_a_legacy_duplicate_name(gate: GateStandin, client: GateClient) -> None:
    w = work(client)
    await _save(w, None)
    # Legacy data: another pipeline with the same name ignoring case (Front50 refuses this today).
    gate.state.pipelines["theirs"] = {"id": "theirs", "application": "web", "name": "Deploy", "stages": []}
    with pytest.raises(GateDuplicateName):
        await client.delete_pipeline("web", "deploy", pipeline_id=w.pipeline_id)
    assert await _delete_under_unique_name(client, "web", w.pipeline_id)
    assert set(gate.state.pipelines) == {"theirs"}


async def test_a_ui_rename_to_a_name_gate_cannot_route_is_renamed_then_deleted(
    gate: GateStandin, client: GateClient
) -> None:
    # The CRD refuses such names, but Deck saves them (the name travels in the JSON body); DELETE by that name would
    # be refused by Gate's firewall (tests/unit/upstream_wire/test_gate.py).
    w = work(client)
    await _save(w, None)
    live = await client.find_pipeline("web", w.pipeline_id)
    assert live is not None
    gate.ui_save_pipeline({**live, "name": "deploy;v=2 (100%)"}, principal="alice")
    assert await delete_by_id(client, "web", "deploy", w.pipeline_id)
    assert gate.state.pipelines == {}
    assert all(r.status < 400 for r in gate.requests), [(r.method, r.path, r.status) for r in gate.requests]
