"""gate/errors.py: the one translation of Gate's failures into a SpinnakerPipeline's condition (Reason,
retry_after, needs_user)."""

from __future__ import annotations

import pytest

from spinop.api.reasons import Reason
from spinop.gate.errors import (
    GateDuplicateName,
    GateError,
    GateNotFound,
    GateRateLimited,
    GateRejected,
    GateTaskFailed,
    GateUnauthorized,
    GateUnavailable,
    to_spinop_error,
)


@pytest.mark.parametrize(
    ("error", "reason", "retry_after", "needs_user"),
    [
        (GateUnauthorized("401", status=401), Reason.GateUnauthorized, 60.0, False),
        (GateDuplicateName("taken", application="app", name="deploy"), Reason.PipelineNameTaken, 120.0, True),
        (GateTaskFailed("boom", task_id="t", task_status="TERMINAL", errors=[]), Reason.GateTaskFailed, 120.0, True),
        (GateRejected("bad", status=400), Reason.GateRejected, 120.0, True),
        (GateNotFound("gone", status=404), Reason.GateRejected, 120.0, True),
        (GateUnavailable("down", status=503), Reason.GateUnavailable, 10.0, False),
        (GateRateLimited("429", status=429), Reason.GateUnavailable, 10.0, False),
        (GateError("odd"), Reason.GateUnavailable, 10.0, False),
    ],
)
def test_a_gate_failure_becomes_its_reason(
    error: GateError, reason: Reason, retry_after: float, needs_user: bool
) -> None:
    err = to_spinop_error(error)
    assert (err.reason, err.retry_after, err.needs_user) == (reason, retry_after, needs_user)
    assert error.message in err.message
