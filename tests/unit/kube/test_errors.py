"""kube/errors.py: the one translation of the Kubernetes API's failures into spinop's (status code → Reason,
retry_after, needs_user)."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from spinop.api.reasons import Reason
from spinop.errors import SpinopError
from spinop.kube.errors import from_api_exception, from_probe_failure, from_transport_error, remote_errors


def _answer(status: int, message: str = "") -> ApiException:
    err = ApiException(status=status, reason="Reason Phrase")
    err.body = json.dumps({"kind": "Status", "message": message}) if message else None
    return err


@pytest.mark.parametrize(
    ("status", "reason", "retry_after", "needs_user"),
    [
        (401, Reason.ClusterCredentialsRejected, 60.0, True),
        (403, Reason.ClusterCredentialsRejected, 60.0, True),
        (0, Reason.ClusterUnreachable, 15.0, False),
        (500, Reason.ClusterUnreachable, 15.0, False),
        (503, Reason.ClusterUnreachable, 15.0, False),
        (404, Reason.RemoteApiError, 20.0, False),
        (409, Reason.RemoteApiError, 20.0, False),
        (422, Reason.RemoteApiError, 20.0, False),
    ],
)
def test_an_answer_of_a_remote_cluster_becomes_its_reason(
    status: int, reason: Reason, retry_after: float, needs_user: bool
) -> None:
    err = from_api_exception(_answer(status, "pods is forbidden: the apiserver's words"), cluster="dev")
    assert (err.reason, err.retry_after, err.needs_user) == (reason, retry_after, needs_user)
    assert "dev" in err.message


def test_a_401_to_an_accounts_token_rejects_that_token_not_spinops_credentials() -> None:
    err = from_api_exception(_answer(401), cluster="dev", token=True)
    assert (err.reason, err.retry_after, err.needs_user) == (Reason.TokenRejected, 5.0, False)
    assert from_api_exception(_answer(403), cluster="dev", token=True).reason is Reason.ClusterCredentialsRejected
    with pytest.raises(SpinopError) as raised, remote_errors("dev", token=True):
        raise _answer(401)
    assert raised.value.reason is Reason.TokenRejected


def test_a_refusal_quotes_the_apiservers_message() -> None:
    assert from_api_exception(_answer(403, "pods is forbidden"), cluster="dev").message.endswith("pods is forbidden")
    assert from_api_exception(_answer(422, "spec.x: Invalid value"), cluster="dev").message.endswith(
        "spec.x: Invalid value"
    )
    assert "Reason Phrase" in from_api_exception(_answer(400), cluster="dev").message  # no body: the HTTP reason


@pytest.mark.parametrize("error", [urllib3.exceptions.ProtocolError("connection aborted"), ConnectionResetError()])
def test_no_answer_is_unreachable(error: urllib3.exceptions.HTTPError | OSError) -> None:
    err = from_transport_error(error, cluster="dev")
    assert (err.reason, err.retry_after, err.needs_user) == (Reason.ClusterUnreachable, 15.0, False)
    assert type(error).__name__ in err.message


def test_remote_errors_raises_the_translation() -> None:
    with pytest.raises(SpinopError) as raised, remote_errors("dev"):
        raise _answer(401)
    assert raised.value.reason is Reason.ClusterCredentialsRejected
    with pytest.raises(SpinopError) as raised, remote_errors("dev"):
        raise ConnectionRefusedError()
    assert raised.value.reason is Reason.ClusterUnreachable


def test_the_probe_reads_every_failure_as_unreachable() -> None:
    assert from_probe_failure(_answer(401), cluster="dev").message == "cluster dev answered HTTP 401"
    assert from_probe_failure(OSError("no route"), cluster="dev").message == "cannot reach cluster dev: no route"
    timeout = urllib3.exceptions.ConnectTimeoutError("connect timed out")
    assert from_probe_failure(timeout, cluster="dev").message == "cannot reach cluster dev: ConnectTimeoutError"
    assert {from_probe_failure(e, cluster="x").reason for e in (_answer(500), OSError(), timeout)} == {
        Reason.ClusterUnreachable
    }
