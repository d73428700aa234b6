"""The Gate stand-in answers as shared/contracts/gate-pipelines.md and accounts-and-rbac.md §2 say Gate does.

These talk raw HTTP, so they pin the stand-in's wire behaviour independently of spinop's client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.standins.gate import GateStandin, RateLimitSettings

from .conftest import eventually

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, gate: GateStandin, method: str, path: str, body: Any = None, **kw: Any
) -> tuple[int, Any, str]:
    async with http.request(method, gate.url + path, json=body, **kw) as resp:
        text = await resp.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return resp.status, parsed, text


async def save(http: aiohttp.ClientSession, gate: GateStandin, body: dict[str, Any], stale: bool = False):
    return await call(http, gate, "POST", "/pipelines" + ("?staleCheck=true" if stale else ""), body)


# ---- pipelines ---------------------------------------------------------------------------------------------


async def test_save_answers_200_with_empty_body_and_stamps_server_fields(gate, http):
    status, _, text = await save(http, gate, {"application": "app", "name": "  deploy  ", "custom": {"k": 1}})
    assert (status, text) == (200, "")
    [stored] = gate.state.pipelines.values()
    assert stored["name"] == "deploy"  # trimmed
    assert stored["custom"] == {"k": 1}  # unknown keys kept
    assert len(stored["id"]) == 36  # a random UUID when no id was sent
    assert isinstance(stored["lastModified"], int) and stored["updateTs"] == str(stored["lastModified"])
    assert stored["lastModifiedBy"] == "anonymous" and stored["createTs"]


@pytest.mark.parametrize(
    "body", [{"name": "x"}, {"application": "app"}, {"application": " ", "name": "x"}, {"application": "a", "name": ""}]
)
async def test_save_needs_application_and_name(gate, http, body):
    status, error, _ = await save(http, gate, body)
    assert status == 400
    assert error["message"] == "A pipeline requires name and application fields"
    assert gate.state.pipelines == {}


async def test_save_under_a_caller_chosen_id_creates_then_replaces(gate, http):
    assert (await save(http, gate, {"id": "my-id", "application": "app", "name": "p", "a": 1}))[0] == 200
    assert (await save(http, gate, {"id": "my-id", "application": "app", "name": "renamed"}))[0] == 200
    assert list(gate.state.pipelines) == ["my-id"]
    assert gate.state.pipelines["my-id"]["name"] == "renamed" and "a" not in gate.state.pipelines["my-id"]


async def test_duplicate_name_ignoring_case_under_another_id_is_400(gate, http):
    await save(http, gate, {"id": "one", "application": "App", "name": "Deploy"})
    status, error, _ = await save(http, gate, {"id": "two", "application": "app", "name": " deploy "})
    assert status == 400
    assert error["message"] == "A pipeline with name deploy already exists in application app"
    status, error, _ = await save(http, gate, {"application": "app", "name": "DEPLOY"})  # no id: also a duplicate
    assert status == 400
    assert list(gate.state.pipelines) == ["one"]


async def test_stale_check_compares_last_modified(gate, http):
    await save(http, gate, {"id": "p1", "application": "app", "name": "p"})
    stored = gate.state.pipelines["p1"]["lastModified"]
    status, error, _ = await save(http, gate, {"id": "p1", "application": "app", "name": "p", "lastModified": 1}, True)
    assert status == 400 and error["message"].startswith("The submitted pipeline is stale.")
    assert f"stored updateTs {stored}" in error["message"]
    ok = {"id": "p1", "application": "app", "name": "p", "lastModified": stored, "x": 2}
    assert (await save(http, gate, ok, True))[0] == 200
    assert gate.state.pipelines["p1"]["x"] == 2 and gate.state.pipelines["p1"]["lastModified"] > stored
    # without staleCheck the same old lastModified is simply overwritten
    assert (await save(http, gate, {**ok, "lastModified": 1}))[0] == 200


async def test_cron_triggers_get_ids_and_index_is_copied(gate, http):
    body = {
        "id": "p1",
        "application": "app",
        "name": "p",
        "index": 4,
        "triggers": [{"type": "cron", "cronExpression": "0 0 * * * ?"}, {"type": "docker", "account": "r"}],
    }
    await save(http, gate, body)
    stored = gate.state.pipelines["p1"]
    assert stored["triggers"][0]["id"] and "id" not in stored["triggers"][1]
    body.pop("index")
    await save(http, gate, body)
    assert gate.state.pipelines["p1"]["index"] == 4  # Orca copies a missing index from the stored pipeline
    # A new pipeline (no id) gets fresh cron ids, even when the caller sent some.
    await save(
        http,
        gate,
        {"application": "app", "name": "q", "triggers": [{"type": "cron", "id": "mine", "cronExpression": "x"}]},
    )
    [new] = [p for p in gate.state.pipelines.values() if p["name"] == "q"]
    assert new["triggers"][0]["id"] != "mine"


async def test_list_sorts_by_index_then_name_and_renumbers(gate, http):
    for name, index in (("b", None), ("a", None), ("z", 7), ("y", 2)):
        body: dict[str, Any] = {"application": "app", "name": name}
        if index is not None:
            body["index"] = index
        await save(http, gate, body)
    await save(http, gate, {"application": "other", "name": "elsewhere"})
    status, configs, _ = await call(http, gate, "GET", "/applications/app/pipelineConfigs")
    assert status == 200
    assert [(c["name"], c["index"]) for c in configs] == [("y", 0), ("z", 1), ("a", 2), ("b", 3)]
    _, filtered, _ = await call(http, gate, "GET", "/applications/APP/pipelineConfigs?pipelineNameFilter=Z")
    assert [c["name"] for c in filtered] == ["z"]


async def test_get_by_name_is_exact_and_404_when_missing(gate, http):
    await save(http, gate, {"application": "app", "name": "Deploy"})
    assert (await call(http, gate, "GET", "/applications/app/pipelineConfigs/Deploy"))[0] == 200
    status, error, _ = await call(http, gate, "GET", "/applications/app/pipelineConfigs/deploy")
    assert status == 404 and "not found" in error["message"]


async def test_delete_matches_first_trimmed_name_ignoring_case_and_200_on_nothing(gate, http):
    await save(http, gate, {"id": "p1", "application": "app", "name": "Deploy"})
    assert (await call(http, gate, "DELETE", "/pipelines/app/nothing-here"))[0] == 200
    assert list(gate.state.pipelines) == ["p1"]
    assert (await call(http, gate, "DELETE", "/pipelines/app/DEPLOY"))[0] == 200
    assert gate.state.pipelines == {}


async def test_put_by_id_saves_the_body_and_returns_the_path_ids_config(gate, http):
    # Like Gate, the ids are not compared (tests/unit/upstream_wire/test_gate.py has the upstream sources).
    await save(http, gate, {"id": "p1", "application": "app", "name": "p"})
    status, stored, _ = await call(http, gate, "PUT", "/pipelines/p1", {"id": "p2", "application": "app", "name": "r"})
    assert status == 200 and stored["id"] == "p1" and gate.state.pipelines["p2"]["name"] == "r"
    status, stored, _ = await call(http, gate, "PUT", "/pipelines/p1", {"id": "p1", "application": "app", "name": "q"})
    assert status == 200 and stored["name"] == "q" and stored["index"] == 0


async def test_a_save_that_outlasts_gates_polling_is_400_running_and_completes_later(gate, http):
    gate.set_save_timing(duration=0.3, polls=2, interval=0.05)
    status, error, _ = await save(http, gate, {"id": "slow", "application": "app", "name": "p"})
    assert status == 400
    assert "did not succeed" in error["message"] and "(status: RUNNING)" in error["message"]
    assert "slow" not in gate.state.pipelines
    await eventually(lambda: "slow" in gate.state.pipelines)


async def test_ui_edit_is_recorded_as_another_principal(gate, http):
    status, stored, _ = await call(
        http,
        gate,
        "POST",
        "/_standin/ui/pipelines",
        {"principal": "alice", "pipeline": {"application": "a", "name": "p"}},
    )
    assert status == 200 and stored["lastModifiedBy"] == "alice"
    assert (await call(http, gate, "DELETE", f"/_standin/ui/pipelines/{stored['id']}"))[2] == '{"deleted": true}'


# ---- applications and tasks ----------------------------------------------------------------------------


async def run_task(http, gate, job: dict[str, Any]) -> dict[str, Any]:
    status, ref, _ = await call(http, gate, "POST", "/tasks", {"application": "x", "job": [job]})
    assert status == 200 and ref["ref"].startswith("/tasks/") and len(ref["ref"]) == len("/tasks/") + 26
    seen: list[str] = []

    async def ended() -> bool:
        task = (await call(http, gate, "GET", ref["ref"]))[1]
        seen.append(task["status"])
        return task["status"] in ("SUCCEEDED", "TERMINAL")

    await eventually(ended)
    return (await call(http, gate, "GET", ref["ref"]))[1] | {"seen": seen}


async def test_application_upsert_then_patch_and_permissions(gate, http):
    gate.options.task_duration = 0.1
    task = await run_task(
        http,
        gate,
        {
            "type": "createApplication",
            "application": {"name": "shop", "email": "a@x.io", "cloudProviders": "kubernetes"},
        },
    )
    assert task["status"] == "SUCCEEDED" and task["seen"][0] == "RUNNING"
    perms = {"READ": ["team-a"], "WRITE": ["team-a"]}
    await run_task(
        http,
        gate,
        {"type": "upsertApplication", "application": {"name": "SHOP", "description": "d", "permissions": perms}},
    )
    status, app, _ = await call(http, gate, "GET", "/applications/shop?expand=false")
    assert status == 200 and "clusters" not in app
    attrs = app["attributes"]
    assert attrs["email"] == "a@x.io" and attrs["description"] == "d" and attrs["permissions"] == perms
    assert {"createTs", "updateTs", "lastModifiedBy", "cloudProviders"} <= set(attrs)
    assert (await call(http, gate, "GET", "/applications/nope?expand=false"))[0] == 404
    _, apps, _ = await call(http, gate, "GET", "/applications")
    assert [a["name"] for a in apps] == ["shop"]


@pytest.mark.parametrize("name", ["1abc", "a_b", "a" * 64, ""])
async def test_application_names_follow_the_kubernetes_rule(gate, http, name):
    task = await run_task(http, gate, {"type": "createApplication", "application": {"name": name, "email": "a@x.io"}})
    assert task["status"] == "TERMINAL"
    assert "invalid" in task["variables"][0]["value"]["details"]["errors"][0]


async def test_application_needs_an_email(gate, http):
    task = await run_task(http, gate, {"type": "createApplication", "application": {"name": "shop"}})
    assert task["variables"][0]["value"]["details"]["errors"] == ["Application must have a non-empty email"]


async def test_delete_application_fails_with_clusters_and_cascades_without(gate, http):
    await run_task(http, gate, {"type": "createApplication", "application": {"name": "shop", "email": "a@x.io"}})
    await save(http, gate, {"application": "shop", "name": "p"})
    await call(http, gate, "PUT", "/_standin/applications/shop/clusters", {"clusters": {"dev": ["deployment shop"]}})
    task = await run_task(http, gate, {"type": "deleteApplication", "application": {"name": "shop"}})
    assert (
        task["status"] == "TERMINAL" and "outstanding dependencies" in task["variables"][0]["value"]["details"]["error"]
    )
    assert gate.state.pipelines
    gate.set_clusters("shop", {})
    task = await run_task(http, gate, {"type": "deleteApplication", "application": {"name": "shop"}})
    assert task["status"] == "SUCCEEDED"
    assert gate.state.applications == {} and gate.state.pipelines == {}


# ---- account management API ----------------------------------------------------------------------------


def account(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kubernetes", "name": name, "namespaces": ["team-a-dev"], **extra}


async def test_credentials_create_update_delete_recreate_and_history(gate, http):
    # clouddriver AccountDefinitionService: POST refuses a loaded name (400), PUT is saveAccount (upsert),
    # DELETE removes the row, so a deleted name can be POSTed again once the poller has unloaded it.
    assert (await call(http, gate, "POST", "/credentials", account("a1", kubeconfigContents="v1")))[0] == 200
    await call(http, gate, "POST", "/_standin/credentials/poll")
    status, error, _ = await call(http, gate, "POST", "/credentials", account("a1"))
    assert (status, error["message"]) == (400, "Cannot create an account which already exists (name: a1)")
    assert (await call(http, gate, "PUT", "/credentials", account("a1", kubeconfigContents="v2")))[0] == 200
    assert (await call(http, gate, "PUT", "/credentials", account("never")))[0] == 200
    assert (await call(http, gate, "DELETE", "/credentials/a1"))[0] == 200
    status, error, _ = await call(http, gate, "DELETE", "/credentials/a1")
    assert (status, error["message"]) == (404, "No account found with name a1")
    status, error, _ = await call(http, gate, "POST", "/credentials", account("a1", kubeconfigContents="v3"))
    assert (status, error["message"]) == (400, "Cannot create an account which already exists (name: a1)")
    await call(http, gate, "POST", "/_standin/credentials/poll")  # unloaded now
    assert (await call(http, gate, "POST", "/credentials", account("a1", kubeconfigContents="v3")))[0] == 200
    _, history, _ = await call(http, gate, "GET", "/credentials/a1/history")
    assert [(h["version"], h["deleted"]) for h in history] == [(4, False), (3, True), (2, False), (1, False)]
    assert history[0]["account"]["kubeconfigContents"] == "v3"


async def test_a_stored_but_unloaded_name_fails_the_sql_insert(gate, http):
    assert (await call(http, gate, "POST", "/credentials", account("a1")))[0] == 200
    status, error, _ = await call(http, gate, "POST", "/credentials", account("a1"))
    assert status == 500 and "duplicate key" in error["message"]


async def test_credentials_list_by_type_pages_from_a_starting_name(gate, http):
    for name in ("c", "a", "b", "d"):
        await call(http, gate, "POST", "/credentials", account(name))
    await call(http, gate, "POST", "/credentials", {"type": "dockerRegistry", "name": "reg"})
    _, page, _ = await call(http, gate, "GET", "/credentials/type/kubernetes?limit=2&startingAccountName=b")
    assert [a["name"] for a in page] == ["b", "c"]
    assert all(a["type"] == "kubernetes" for a in page)
    _, page, _ = await call(http, gate, "GET", "/credentials/type/kubernetes")
    assert [a["name"] for a in page] == ["a", "b", "c", "d"]


async def test_clouddriver_loads_definitions_only_when_the_poller_runs(gate, http):
    await call(http, gate, "POST", "/credentials", account("a1", permissions={"WRITE": ["team-b"]}))
    _, loaded, _ = await call(http, gate, "GET", "/credentials?expand=true")
    assert loaded == []
    _, changed, _ = await call(http, gate, "POST", "/_standin/credentials/poll")
    assert changed == {"changed": ["a1"]}
    _, loaded, _ = await call(http, gate, "GET", "/credentials?expand=true")
    assert loaded[0]["name"] == "a1" and loaded[0]["permissions"] == {"WRITE": ["team-b"]}
    assert loaded[0]["authorized"] is False  # anonymous holds no team-b role
    await call(http, gate, "PUT", "/_standin/roles", {"anonymous": ["team-b"]})
    assert (await call(http, gate, "GET", "/credentials?expand=true"))[1][0]["authorized"] is True


async def test_the_background_poller_loads_changes():
    async with GateStandin(credentials_poll_interval=0.02) as gate:
        gate.state.create_account(account("a1", kubeconfigContents="old"), "spinop")
        await eventually(lambda: "a1" in gate.state.loaded_accounts)
        before = gate.state.loaded_accounts["a1"].fingerprint
        gate.state.update_account(account("a1", kubeconfigContents="new"), "spinop")
        await eventually(lambda: gate.state.loaded_accounts["a1"].fingerprint != before)
        assert gate.state.loaded_accounts["a1"].definition["kubeconfigContents"] == "new"


# ---- authentication, rate limiting, faults -------------------------------------------------------------


async def test_basic_and_bearer_authentication(http):
    async with GateStandin(auth="basic", users={"spinop": "pw"}) as gate:
        assert (await call(http, gate, "GET", "/applications"))[0] == 401
        bad = {"Authorization": "Basic " + base64.b64encode(b"spinop:nope").decode()}
        assert (await call(http, gate, "GET", "/applications", headers=bad))[0] == 401
        ok = {"Authorization": "Basic " + base64.b64encode(b"spinop:pw").decode()}
        assert (await call(http, gate, "POST", "/pipelines", {"application": "a", "name": "p"}, headers=ok))[0] == 200
        assert next(iter(gate.state.pipelines.values()))["lastModifiedBy"] == "spinop"
    async with GateStandin(auth="bearer", tokens={"t0k": "robot"}) as gate:
        assert (await call(http, gate, "GET", "/applications", headers={"Authorization": "Bearer x"}))[0] == 401
        assert (await call(http, gate, "GET", "/applications", headers={"Authorization": "Bearer t0k"}))[0] == 200
        assert gate.requests[-1].principal == "robot"


async def test_rate_limit_per_principal_with_headers_and_learning_mode(gate, http):
    gate.set_rate_limit(RateLimitSettings(capacity=2, window_seconds=60, capacity_by_source_app={"big": 3}))
    statuses = []
    for _ in range(3):
        async with http.get(gate.url + "/applications", headers={"X-RateLimit-App": "ci"}) as resp:
            statuses.append(resp.status)
            headers, body = resp.headers, await resp.text()
    assert statuses == [200, 200, 429]
    assert json.loads(body) == {"message": "Rate capacity exceeded"}
    assert headers["X-RateLimit-Capacity"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"].endswith("GMT") and headers["X-RateLimit-Learning"] == "false"
    # anonymous callers are told apart by X-RateLimit-App, which also raises capacity per app
    codes = [(await call(http, gate, "GET", "/applications", headers={"X-RateLimit-App": "big"}))[0] for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    gate.set_rate_limit(RateLimitSettings(capacity=1, window_seconds=60, learning=True))
    codes = [(await call(http, gate, "GET", "/applications"))[0] for _ in range(3)]
    assert codes == [200, 200, 200]


async def test_injected_500s_latency_and_downtime(gate, http):
    gate.fail_next(2, path="^/applications$", method="GET")
    codes = [(await call(http, gate, "GET", "/applications"))[0] for _ in range(3)]
    assert codes == [500, 500, 200]
    gate.set_latency(0.2)
    started = asyncio.get_running_loop().time()
    await call(http, gate, "GET", "/applications")
    assert asyncio.get_running_loop().time() - started >= 0.2
    gate.clear_faults()
    await gate.go_down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(http, gate, "GET", "/applications")
    await gate.come_up()
    assert (await call(http, gate, "GET", "/applications"))[0] == 200


async def test_control_api_faults_down_for_a_while(gate, http):
    body = {"failNext": {"count": 1, "status": 503}, "save": {"polls": 3}, "down": {"seconds": 0.3}}
    assert (await call(http, gate, "POST", "/_standin/faults", body))[0] == 200
    assert gate.options.save_polls == 3
    await eventually(lambda: not gate.is_up)
    await eventually(lambda: gate.is_up)
    async with aiohttp.ClientSession() as fresh:
        assert (await call(fresh, gate, "GET", "/applications"))[0] == 503
        assert (await call(fresh, gate, "GET", "/applications"))[0] == 200
        _, dump, _ = await call(fresh, gate, "GET", "/_standin/state")
        assert set(dump) >= {"applications", "pipelines", "tasks", "accounts", "loadedAccounts", "accountHistory"}
        assert (await call(fresh, gate, "POST", "/_standin/reset"))[0] == 200
        _, log, _ = await call(fresh, gate, "GET", "/_standin/requests")
        assert log == []


async def test_runs_as_a_process_and_prints_a_ready_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.gate",
        "--auth",
        "x509",
        "--client-cn",
        "spinop",
        "--client-cn",
        "alice:team-a,team-b",
        "--cert-dir",
        str(tmp_path),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=20))
        assert ready["event"] == "ready" and ready["url"].startswith("https://127.0.0.1:")
        assert await asyncio.to_thread(Path(ready["ca"]).is_file)
        assert set(ready["clients"]) == {"spinop", "alice"}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
