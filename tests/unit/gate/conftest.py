"""Fixtures for the Gate client tests: a Gate stand-in on loopback and a client tuned for fast polling."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from spinop.gate import GateClient, GateSettings
from tests.standins.gate import GateStandin

FAST = {
    "task_poll_interval": 0.01,
    "retry_backoff": 0.01,
    "rate_limit_min_wait": 0.01,
    "request_timeout": 5.0,
    "save_timeout": 10.0,
    "task_timeout": 5.0,
}


def fast_settings(url: str, **overrides: Any) -> GateSettings:
    return dataclasses.replace(GateSettings(url=url), **{**FAST, **overrides})


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0, interval: float = 0.02) -> None:
    """Poll `check` until it is true; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


@pytest.fixture
async def gate() -> AsyncIterator[GateStandin]:
    async with GateStandin(task_duration=0.01, credentials_poll_interval=None) as standin:
        yield standin


@pytest.fixture
async def client(gate: GateStandin) -> AsyncIterator[GateClient]:
    async with GateClient(fast_settings(gate.url)) as c:
        yield c
