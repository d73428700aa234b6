"""halyard/errors.py: the Reason of a Halyard failure whose input is not in question."""

from __future__ import annotations

import pytest

from spinop.api.reasons import Reason
from spinop.halyard.errors import (
    HalyardError,
    HalyardNotFound,
    HalyardProtocolError,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardTaskOverdue,
    HalyardUnavailable,
    reason_for,
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (HalyardUnavailable("connection refused"), Reason.HalyardUnavailable),
        (HalyardTaskOverdue("still running", stage="Running validation"), Reason.HalyardUnavailable),
        (HalyardTaskFailed("deploy", state="FAILED"), Reason.HalyardTaskFailed),
        (HalyardRejected("add account", ()), Reason.HalyardTaskFailed),  # the backend names refusals itself
        (HalyardNotFound("get account", ()), Reason.HalyardTaskFailed),
        (HalyardProtocolError("garbled"), Reason.HalyardTaskFailed),
    ],
)
def test_a_halyard_failure_becomes_its_reason(error: HalyardError, reason: Reason) -> None:
    assert reason_for(error) is reason
    assert reason_for(error).group.value == "progress"  # both are retried: time may fix them
