"""The one retry policy: a failure time can fix is kopf's retry after its own delay; one only a user can fix waits for
the next pass, no later than the interval."""

from __future__ import annotations

import kopf
import pytest

from spinop.api.reasons import Reason
from spinop.controllers.retry import next_pass
from spinop.errors import InvalidRequest, SpinopError


def test_success_waits_for_the_interval() -> None:
    assert next_pass(None, 300) == 300


def test_a_failure_time_can_fix_is_kopfs_retry_after_its_delay() -> None:
    with pytest.raises(kopf.TemporaryError) as raised:
        next_pass(SpinopError("cluster down", reason=Reason.ClusterUnreachable, retry_after=7), 300)
    assert raised.value.delay == 7 and str(raised.value) == "cluster down"


def test_a_failure_a_user_must_fix_is_rechecked_by_the_next_pass() -> None:
    assert next_pass(InvalidRequest("fix spec.namespace", reason=Reason.NamespaceNotAllowed, retry_after=60), 300) == 60
    assert (
        next_pass(InvalidRequest("fix spec.namespace", reason=Reason.NamespaceNotAllowed, retry_after=900), 300) == 300
    )
