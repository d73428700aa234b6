"""Fixtures: a Halyard stand-in per test (real HTTP/WebSocket on 127.0.0.1) and clients over both transports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from spinop.halyard import HalyardClient, KubeExecClient
from tests.standins.halyard import DaemonSettings, HalyardStandin

TOKEN = "exec-token-for-unit-tests"
NAMESPACE, POD, CONTAINER = "spinnaker", "spin-halyard-0", "halyard"
KUBE_DIR = "/home/spinnaker/.hal/kube"


def fast_settings(**overrides: Any) -> DaemonSettings:
    values: dict[str, Any] = {"task_latency_s": 0.01, "deploy_seconds": 0.02}
    values.update(overrides)
    return DaemonSettings(**values)


def make_standin(root: Path, **kw: Any) -> HalyardStandin:
    kw.setdefault("exec_token", TOKEN)
    kw.setdefault("settings", fast_settings())
    kw.setdefault("cli_poll_interval", 0.01)
    return HalyardStandin(root, **kw)


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[HalyardStandin]:
    s = make_standin(tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def exec_client_for(standin: HalyardStandin, **kw: Any) -> KubeExecClient:
    kw.setdefault("token", TOKEN)
    return KubeExecClient(standin.kube_url, NAMESPACE, POD, CONTAINER, **kw)


def make_client(standin: HalyardStandin, transport: str, **options: Any) -> HalyardClient:
    if transport == "rest":
        options.setdefault("poll_interval", 0.01)
        options.setdefault("request_timeout", 3.0)
        options.setdefault("task_timeout", 10.0)
        options.setdefault("deploy_timeout", 10.0)
        return HalyardClient.rest(standin.daemon_url, **options)
    options.setdefault("command_timeout", 10.0)
    options.setdefault("deploy_timeout", 10.0)
    return HalyardClient.exec(exec_client_for(standin), **options)


@pytest.fixture(params=["rest", "exec"])
async def client(request: pytest.FixtureRequest, standin: HalyardStandin) -> AsyncIterator[HalyardClient]:
    c = make_client(standin, request.param)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def rest(standin: HalyardStandin) -> AsyncIterator[HalyardClient]:
    c = make_client(standin, "rest")
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def exec_(standin: HalyardStandin) -> AsyncIterator[HalyardClient]:
    c = make_client(standin, "exec")
    try:
        yield c
    finally:
        await c.close()


def kubeconfig(context: str = "remote", *, current: bool = True, token: str = "sa-token-123") -> bytes:  # noqa: S107
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u", "namespace": "apps"}}],
    }
    if current:
        doc["current-context"] = context
    return yaml.safe_dump(doc).encode()


def stored_accounts(standin: HalyardStandin) -> dict[str, dict[str, Any]]:
    return {str(a["name"]): a for a in standin.kubernetes_accounts()}


async def poll(predicate: Callable[[], bool | Awaitable[bool]], within: float = 5.0, interval: float = 0.01) -> None:
    """Wait until `predicate()` holds (polling, never a bare sleep)."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


class Daemon:
    """Raw HTTP to the stand-in daemon, for tests of the stand-in itself."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        query = [
            (k, str(x).lower() if isinstance(x, bool) else str(x))
            for k, v in params.items()
            for x in (v if isinstance(v, list) else [v])
        ]
        async with self.session.request(
            method, self.url + path, params=query, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, (json.loads(text) if text else None)
            except json.JSONDecodeError:
                return resp.status, text

    async def run(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        """Start a task and poll it to a terminal state; returns the final DaemonTask JSON."""
        status, task = await self.call(method, path, body, **params)
        assert status == 200, (status, task)
        assert task["state"] in ("NOT_STARTED", "RUNNING")
        while task["state"] in ("NOT_STARTED", "RUNNING"):
            await asyncio.sleep(0.01)
            status, task = await self.call("GET", f"/v1/tasks/{task['uuid']}/")
            assert status == 200
        return task


@pytest.fixture
async def daemon(standin: HalyardStandin) -> AsyncIterator[Daemon]:
    async with aiohttp.ClientSession() as session:
        yield Daemon(session, standin.daemon_url)


ACCOUNTS = "/v1/config/deployments/default/providers/kubernetes/accounts/"


def problems(task: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((task.get("response") or {}).get("problemSet") or {}).get("problems") or [])
