"""The periodic pass every kind shares (handlers/periodic.py): schedule, wake-ups, early checks, one retry policy."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import kopf
import pytest

from spinop.controllers.context import Schedule
from spinop.handlers.periodic import (
    TEMPORARY_FAILURE_DELAY,
    UNEXPECTED_FAILURE_DELAY,
    run_periodic,
)


class Stopped:
    """Stands in for kopf.DaemonStopped: falsy until stopped, and awaitable."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> bool:
        await self.event.wait()
        return True


def test_a_change_handler_moves_the_next_pass_and_a_new_daemon_keeps_it() -> None:
    schedule = Schedule()
    schedule.after("u", 100)
    assert 99 < schedule.seconds_left("u") <= 100
    schedule.first("u", 5)  # the change handler's time stands
    assert schedule.seconds_left("u") > 99
    schedule.first("v", 10)  # a daemon without one: within the second half of an interval
    assert 4.9 < schedule.seconds_left("v") <= 10
    schedule.after("w", 100, jitter=0.1)
    assert 89 < schedule.seconds_left("w") <= 110
    schedule.forget("u")
    assert "u" not in schedule.due


async def _run(stopped: Stopped, **kwargs: Any) -> asyncio.Task[None]:
    return asyncio.create_task(run_periodic(cast(kopf.DaemonStopped, stopped), uid="u", what="thing", **kwargs))


async def test_passes_run_when_due_and_the_schedule_is_forgotten_when_stopped() -> None:
    stopped, runs = Stopped(), []

    async def reconcile() -> float:
        runs.append(time.monotonic())
        if len(runs) == 3:
            stopped.event.set()
        return 0.01

    schedule = Schedule()
    schedule.after("u", 0)
    task = await _run(stopped, schedule=schedule, interval=100, reconcile=reconcile)
    await asyncio.wait_for(task, 5)
    assert len(runs) == 3
    assert schedule.due == {}


async def test_a_wake_brings_a_pass_forward_and_is_cleared() -> None:
    stopped, wake, runs = Stopped(), asyncio.Event(), []

    async def reconcile() -> float:
        runs.append(1)
        return 1000

    task = await _run(stopped, schedule=Schedule(), interval=1000, reconcile=reconcile, wake=wake)
    await asyncio.sleep(0.05)
    assert runs == []  # not due for at least 500 s
    wake.set()
    for _ in range(100):
        if runs:
            break
        await asyncio.sleep(0.01)
    assert runs == [1] and not wake.is_set()
    stopped.event.set()
    await asyncio.wait_for(task, 5)


async def test_an_early_check_runs_a_pass_before_it_is_due() -> None:
    stopped, runs, changed = Stopped(), [], [False]

    async def reconcile() -> float:
        runs.append(1)
        changed[0] = False
        return 1000

    task = await _run(
        stopped,
        schedule=Schedule(),
        interval=1000,
        reconcile=reconcile,
        poll_seconds=0.01,
        due_early=lambda: changed[0],
    )
    await asyncio.sleep(0.05)
    assert runs == []
    changed[0] = True
    await asyncio.sleep(0.1)
    assert runs == [1]  # once: the check is false again after the pass
    stopped.event.set()
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (kopf.TemporaryError("not yet", delay=7), 7),
        (kopf.TemporaryError("not yet", delay=0), TEMPORARY_FAILURE_DELAY),
        (RuntimeError("a bug"), UNEXPECTED_FAILURE_DELAY),
    ],
)
async def test_one_retry_policy_for_failed_passes(
    error: Exception, expected: float, caplog: pytest.LogCaptureFixture
) -> None:
    stopped, schedule = Stopped(), Schedule()
    seen: list[float] = []

    async def reconcile() -> float:
        if seen:
            return 1000
        seen.append(1)
        raise error

    schedule.after("u", 0)
    with caplog.at_level(logging.ERROR, logger="spinop"):
        task = await _run(stopped, schedule=schedule, interval=1000, reconcile=reconcile)
        for _ in range(100):
            if seen and schedule.seconds_left("u") > 0:
                break
            await asyncio.sleep(0.01)
        left = schedule.seconds_left("u")
        stopped.event.set()
        await asyncio.wait_for(task, 5)
    assert expected * 0.89 < left <= expected * 1.1
    logged = [r for r in caplog.records if "periodic pass of thing failed" in r.getMessage()]
    assert bool(logged) == isinstance(error, RuntimeError)
