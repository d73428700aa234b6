"""Killing and restarting the real operator process, and telling from its log when a new run has started."""

from __future__ import annotations

from tests.integration.kube import wait_for
from tests.integration.operator_process import OperatorProcess

STARTED = "spinop started"


def starts(operator: OperatorProcess) -> int:
    return operator.log().count(STARTED)


def restart_after_kill(operator: OperatorProcess, timeout: float = 90) -> None:
    """Start the killed operator again and wait for *this* run's start-up line.

    `OperatorProcess.start()` alone returns at once on a restart: the log it appends to already holds the previous
    run's start-up line.
    """
    before = starts(operator)
    operator.start()
    wait_for(
        lambda: starts(operator) > before or (operator.proc is not None and operator.proc.poll() is not None),
        timeout=timeout,
        interval=0.1,
        what="the restarted operator's start-up",
    )
    assert operator.proc is not None and operator.proc.poll() is None, (
        f"the operator exited after a restart:\n{operator.log()[-4000:]}"
    )


def assert_alive(operator: OperatorProcess) -> None:
    assert operator.proc is not None and operator.proc.poll() is None, (
        f"the operator process died (exit {operator.proc.returncode if operator.proc else None}):\n"
        f"{operator.log()[-4000:]}"
    )


def assert_no_traceback(operator: OperatorProcess) -> None:
    """What `start_operator` checks at module end, checked now so a failure names the test that caused it."""
    operator.assert_clean()
