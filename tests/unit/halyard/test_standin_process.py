"""The stand-in runs as its own process and is driven through its `/_standin/` control API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

from spinop.halyard import HalyardClient, HalyardRejected, KubeExecClient, KubernetesAccount

REPO = Path(__file__).resolve().parents[3]


async def test_process_mode_with_control_api(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.halyard",
        "--port",
        "0",
        "--root",
        str(tmp_path),
        "--exec-token",
        "t",
        "--cli-poll-interval",
        "0.01",
        "--deploy-seconds",
        "0.01",
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=20))
        assert ready["ready"] is True and ready["pod"] == "spin-halyard-0"
        control = ready["control_url"]
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{control}/_standin/faults", json={"fail_next": {"message": "nope"}}) as r:
                assert (await r.json())["pending"][0]["problem"]["message"] == "nope"
            rest = HalyardClient.rest(ready["daemon_url"], poll_interval=0.01)
            try:
                await rest.add_account(KubernetesAccount(name="x", service_account=True))
            except HalyardRejected as e:
                assert e.blocking[0].message == "nope"
            exec_client = KubeExecClient(ready["kube_url"], ready["namespace"], ready["pod"], token="t")
            via_exec = HalyardClient.exec(exec_client)
            await via_exec.add_account(KubernetesAccount(name="prod", service_account=True))
            await via_exec.deploy(["clouddriver"])
            async with http.get(f"{control}/_standin/halconfig") as r:
                assert "name: prod" in await r.text()
            async with http.get(f"{control}/_standin/deploys") as r:
                assert [d["serviceNames"] for d in (await r.json())["deploys"]] == [["clouddriver"]]
            async with http.get(f"{control}/_standin/concurrency") as r:
                assert (await r.json())["overlaps"] == []
            async with http.get(f"{control}/_standin/exec-log") as r:
                assert any(e["argv"][:2] == ["hal", "deploy"] for e in (await r.json())["execs"])
            async with http.put(f"{control}/_standin/faults", json={"down": "refuse"}) as r:
                assert (await r.json())["down"] == "refuse"
            assert not await rest.health()
            async with http.delete(f"{control}/_standin/faults"):
                pass
            assert await rest.health()
            async with http.post(f"{control}/_standin/reset") as r:
                assert r.status == 200
            async with http.get(f"{control}/_standin/deploys") as r:
                assert (await r.json())["deploys"] == []
            await rest.close()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
