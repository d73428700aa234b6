"""A Kubernetes API failure that escapes a controller becomes kopf's quiet retry, not a logged traceback."""

from __future__ import annotations

import kopf
import pytest
import urllib3.exceptions
from kubernetes.client.rest import ApiException

from spinop.handlers.retry import api_failures_retried


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ApiException(status=503, reason="Service Unavailable"), "HTTP 503"),
        (
            urllib3.exceptions.ReadTimeoutError(urllib3.HTTPConnectionPool("127.0.0.1"), "/apis", "Read timed out."),
            "ReadTimeoutError",
        ),
        (urllib3.exceptions.ProtocolError("Connection aborted."), "ProtocolError"),
    ],
)
def test_api_failures_become_temporary_errors(error: Exception, says: str) -> None:
    with pytest.raises(kopf.TemporaryError) as raised, api_failures_retried(delay=7):
        raise error
    assert says in str(raised.value)
    assert raised.value.delay == 7


def test_api_failures_are_translated_with_a_reason() -> None:
    """The handlers' retry uses the MGMT side of the Kubernetes error translator, so the failure has a Reason."""
    from spinop.api.reasons import Reason
    from spinop.kube.errors import from_mgmt_failure

    error = from_mgmt_failure(ApiException(status=409, reason="Conflict"), retry_after=3)
    assert error.reason is Reason.MgmtApiError
    assert error.retry_after == 3
    assert "MGMT" in error.message and "HTTP 409" in error.message


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), api_failures_retried():
        raise KeyError("a bug stays a bug")
