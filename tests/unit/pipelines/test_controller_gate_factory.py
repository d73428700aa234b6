"""Gate settings from the operator config and the credentials Secret (pure parts of spinop.gate.factory)."""

from __future__ import annotations

import pytest

from spinop.config import OperatorConfig
from spinop.gate import BasicAuth, BearerAuth, NoAuth, X509Auth
from spinop.gate.factory import GateConfigError, auth_from_secret, gate_settings
from spinop.redact import Redacted


def data(**values: str) -> dict[str, Redacted[bytes]]:
    return {k.replace("_", "."): Redacted(v.encode()) for k, v in values.items()}


def config(**gate: object) -> OperatorConfig:
    return OperatorConfig.model_validate({"gate": {"url": "https://gate.example:8085", **gate}})


def test_no_url_means_no_gate():
    assert gate_settings(OperatorConfig.model_validate({"gate": {"url": ""}}), None) is None


def test_without_a_secret_spinop_is_anonymous():
    settings = gate_settings(config(), None)
    assert settings is not None and isinstance(settings.auth, NoAuth) and settings.rate_limit_app == "spinop"


def test_basic_bearer_and_x509_from_the_secret():
    auth, ca = auth_from_secret("s", data(username="spinop", password="pw"))
    assert isinstance(auth, BasicAuth) and auth.username == "spinop" and auth.password.reveal() == "pw"
    assert ca is None
    auth, _ = auth_from_secret("s", data(token="t0k"))
    assert isinstance(auth, BearerAuth) and auth.token.reveal() == "t0k"
    auth, ca = auth_from_secret("s", data(tls_crt="CERT", tls_key="KEY", ca_crt="CA"))
    assert isinstance(auth, X509Auth) and auth.cert_pem == "CERT" and auth.key_pem is not None
    assert auth.key_pem.reveal() == "KEY" and ca == "CA"


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"username": "spinop"}, "no password"),
        ({"tls_crt": "CERT"}, "no tls.key"),
        ({"username": "spinop", "password": "s3cret-pw", "token": "s3cret-token"}, "more than one"),
        ({}, "holds no Gate identity"),
    ],
)
def test_incomplete_secrets_say_what_to_set(values, needle):
    with pytest.raises(GateConfigError) as err:
        auth_from_secret("spinop-system/gate", data(**values))
    assert needle in err.value.message
    assert "s3cret" not in err.value.message


def test_a_missing_secret_is_a_configuration_error():
    with pytest.raises(GateConfigError, match="does not exist"):
        gate_settings(config(auth_secret="gate"), None)


def test_the_ca_from_the_secret_is_used_unless_a_ca_file_is_configured():
    settings = gate_settings(config(auth_secret="gate"), data(token="t", ca_crt="PEM"))
    assert settings is not None and settings.ca_pem == "PEM" and settings.ca_path is None
    settings = gate_settings(config(auth_secret="gate", ca_file="/etc/ca.pem"), data(token="t", ca_crt="PEM"))
    assert settings is not None and settings.ca_pem is None and settings.ca_path == "/etc/ca.pem"


def test_secrets_never_show_in_the_settings_repr():
    settings = gate_settings(config(auth_secret="gate"), data(username="spinop", password="hunter2"))
    assert "hunter2" not in repr(settings)
