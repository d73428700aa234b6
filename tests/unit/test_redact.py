"""Secrets stay hidden by construction."""

from __future__ import annotations

import logging

import pytest

from spinop.redact import Redacted


def test_redacted_never_prints_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Redacted("eyJhbGciOi-very-secret")
    caplog.set_level(logging.INFO)
    logging.getLogger("t").info("token %s %r", secret, secret)
    rendered = [str(secret), repr(secret), f"{secret}", f"{secret!r}", str([secret]), str({"t": secret})]
    for text in [*rendered, caplog.text]:
        assert "very-secret" not in text
    with pytest.raises(ValueError) as err:
        raise ValueError(f"bad token {secret}")
    assert "very-secret" not in str(err.value)
    assert secret.reveal() == "eyJhbGciOi-very-secret"


def test_fingerprint_is_stable_and_not_the_value() -> None:
    assert Redacted("abc").fingerprint() == Redacted(b"abc").fingerprint()
    assert Redacted("abc").fingerprint() != Redacted("abd").fingerprint()
    assert "abc" not in Redacted("abc").fingerprint()
