"""When an account needs new credentials, and when stored ones are due for renewal on schedule."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from spinop.credentials.policy import CredentialsPolicy, renewal_due_at, why_new_credentials
from spinop.credentials.store import StoredCredentials
from spinop.redact import Redacted

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
TOKEN_REQUEST = CredentialsPolicy()  # 24h tokens renewed 8h before expiry
SECRET_TOKENS = CredentialsPolicy(type="ServiceAccountTokenSecret", rotation_interval_seconds=7 * 24 * 3600)


def stored(**changes: Any) -> StoredCredentials:
    base = StoredCredentials(
        name="spinop-dev-web",
        kubeconfig=Redacted("apiVersion: v1"),
        fingerprint="sha256:0011",
        source="TokenRequest",
        expires_at=NOW + 20 * HOUR,
        issued_at=NOW - 4 * HOUR,
        token_secret="",
        previous_token_secret="",
        rotation_request="",
        service_account_uid="sa-1",
        render_key="rk-1",
        owner_uid="uid-web",
    )
    return dataclasses.replace(base, **changes)


def why(current: StoredCredentials | None, policy: CredentialsPolicy = TOKEN_REQUEST, **kwargs: Any) -> str | None:
    args: dict[str, Any] = {
        "now": NOW,
        "rotation_request": "",
        "service_account_uid": "sa-1",
        "render_key": "rk-1",
        **kwargs,
    }
    return why_new_credentials(current, policy, **args)


# -------------------------------------------------------------------------------------------------- renewal_due_at


def test_a_requested_token_is_renewed_before_it_expires() -> None:
    expires = NOW + 20 * HOUR
    assert renewal_due_at(stored(expires_at=expires), TOKEN_REQUEST) == expires - 8 * HOUR
    assert renewal_due_at(stored(expires_at=expires), CredentialsPolicy(renew_before_seconds=60)) == (
        expires - datetime.timedelta(seconds=60)
    )


def test_a_secret_token_is_rotated_an_interval_after_it_was_issued() -> None:
    issued = NOW - 2 * HOUR
    current = stored(source="ServiceAccountTokenSecret", expires_at=None, issued_at=issued)
    assert renewal_due_at(current, SECRET_TOKENS) == issued + datetime.timedelta(days=7)


@pytest.mark.parametrize(
    "current",
    [
        stored(expires_at=None),
        stored(source="ServiceAccountTokenSecret", expires_at=None, issued_at=None),
        stored(source="", expires_at=NOW, issued_at=NOW),
    ],
    ids=["token-without-expiry", "secret-without-issue-time", "unknown-source"],
)
def test_nothing_is_due_without_the_time_it_depends_on(current: StoredCredentials) -> None:
    assert renewal_due_at(current, TOKEN_REQUEST) is None


# ---------------------------------------------------------------------------------------------- why_new_credentials


def test_good_credentials_need_nothing() -> None:
    assert why(stored()) is None
    assert why(stored(source="ServiceAccountTokenSecret", expires_at=None), SECRET_TOKENS) is None


def test_first_credentials() -> None:
    assert why(None) == "no credentials issued yet"


def test_a_changed_credentials_type() -> None:
    assert why(stored(), SECRET_TOKENS) == "credentials type changed to ServiceAccountTokenSecret"
    assert why(stored(source="ServiceAccountTokenSecret"), TOKEN_REQUEST) == "credentials type changed to TokenRequest"


def test_a_new_rotation_request_rotates_once() -> None:
    assert why(stored(), rotation_request="2026-03-01T11:00:00Z") == "rotation requested"
    assert why(stored(rotation_request="2026-03-01T11:00:00Z"), rotation_request="2026-03-01T11:00:00Z") is None
    assert why(stored(rotation_request="2026-03-01T11:00:00Z"), rotation_request="") is None  # annotation removed


def test_a_recreated_service_account_invalidates_its_tokens() -> None:
    assert (
        why(stored(), service_account_uid="sa-2") == "the ServiceAccount was re-created, so its old tokens are invalid"
    )
    assert why(stored(service_account_uid=""), service_account_uid="sa-2") is None  # unknown before: no evidence


def test_a_new_cluster_address_or_ca_rerenders() -> None:
    assert why(stored(), render_key="rk-2") == "the cluster address or certificate authority changed"


def test_a_deleted_token_secret_matters_only_for_secret_tokens() -> None:
    secret_stored = stored(source="ServiceAccountTokenSecret", expires_at=None)
    assert (
        why(secret_stored, SECRET_TOKENS, token_secret_present=False)
        == "the token Secret was deleted on the remote cluster"
    )
    assert why(stored(), TOKEN_REQUEST, token_secret_present=False) is None


def test_scheduled_renewal_starts_exactly_when_due() -> None:
    due = NOW + HOUR
    current = stored(expires_at=due + 8 * HOUR)
    assert why(current, now=due - datetime.timedelta(seconds=1)) is None
    assert why(current, now=due) == "scheduled renewal before expiry"
    assert why(current, now=due + HOUR) == "scheduled renewal before expiry"


def test_an_elapsed_rotation_interval_rotates_secret_tokens() -> None:
    current = stored(source="ServiceAccountTokenSecret", expires_at=None, issued_at=NOW - datetime.timedelta(days=7))
    assert why(current, SECRET_TOKENS) == "rotation interval elapsed"
    assert why(current, SECRET_TOKENS, now=NOW - datetime.timedelta(seconds=1)) is None


def test_the_first_reason_wins_when_several_apply() -> None:
    everything_wrong = stored(expires_at=NOW - HOUR, rotation_request="old")
    assert why(everything_wrong, rotation_request="new", service_account_uid="sa-2", render_key="rk-2") == (
        "rotation requested"
    )
    assert why(everything_wrong, service_account_uid="sa-2", render_key="rk-2", rotation_request="old") == (
        "the ServiceAccount was re-created, so its old tokens are invalid"
    )
