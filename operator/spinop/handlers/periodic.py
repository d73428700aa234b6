"""The periodic pass every kind shares: one schedule, one retry policy, one way to be woken early.

kopf runs one daemon per object; each calls `run_periodic` with its own reconcile. A change handler that reconciles
moves the next pass (`Schedule.after`), `OperatorContext.wake` brings one forward, and a kind may also poll a cheap
in-memory check (`due_early`) to run before it is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from spinop.controllers.context import Schedule

log = logging.getLogger("spinop")

#: After a failure the controller did not classify (a bug, or an outside system's surprise): try again in a minute.
UNEXPECTED_FAILURE_DELAY = 60.0
#: After kopf.TemporaryError without a delay.
TEMPORARY_FAILURE_DELAY = 30.0


async def run_periodic(
    stopped: kopf.DaemonStopped,
    *,
    uid: str,
    schedule: Schedule,
    interval: float,
    reconcile: Callable[[], Awaitable[float]],
    what: str,
    wake: asyncio.Event | None = None,
    poll_seconds: float | None = None,
    due_early: Callable[[], bool] | None = None,
) -> None:
    """Reconcile `uid` whenever its pass is due, `wake` is set, or (every `poll_seconds`) `due_early()` says so,
    until kopf stops the daemon. The reconcile returns the delay until its next pass."""
    schedule.first(uid, interval)
    try:
        while not stopped:
            wait = schedule.seconds_left(uid)
            if poll_seconds is not None:
                wait = min(wait, poll_seconds)
            await _sleep(stopped, wake, wait)
            if stopped:
                break
            woken = wake is not None and wake.is_set()
            if not woken and schedule.seconds_left(uid) > 0 and not (due_early is not None and due_early()):
                continue
            if wake is not None:
                wake.clear()
            schedule.after(uid, await _attempt(reconcile, what), jitter=0.1)
    finally:
        schedule.forget(uid)


async def _attempt(reconcile: Callable[[], Awaitable[float]], what: str) -> float:
    """The one retry policy of periodic passes: the reconcile's own delay, kopf.TemporaryError's, or a minute."""
    try:
        return await reconcile()
    except kopf.TemporaryError as err:
        return err.delay or TEMPORARY_FAILURE_DELAY
    except Exception:
        log.exception("periodic pass of %s failed", what)
        return UNEXPECTED_FAILURE_DELAY


async def _sleep(stopped: kopf.DaemonStopped, wake: asyncio.Event | None, seconds: float) -> None:
    """For `seconds`, or until the daemon is stopped or `wake` is set, whichever comes first."""
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopped.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter
