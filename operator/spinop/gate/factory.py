"""Build spinop's GateClient from the operator config and the Gate credentials Secret.

The Secret (`gate.auth_secret`, in the operator namespace) holds one of: `username` + `password` (HTTP Basic),
`token` (Bearer), or `tls.crt` + `tls.key` (an x509 client certificate, Gate's cert-only `apiPort`); `ca.crt`,
when present, is the CA that signed Gate's server certificate. Values stay `Redacted` from the Secret to the
request header; a missing or incomplete Secret is a configuration error that names the keys to set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.reasons import Reason
from spinop.config import OperatorConfig
from spinop.errors import SpinopError
from spinop.kube.clients import call
from spinop.redact import Redacted

from .client import GateClient
from .settings import BasicAuth, BearerAuth, GateAuth, GateSettings, NoAuth, X509Auth

AUTH_KEYS = "username + password, token, or tls.crt + tls.key"


class GateConfigError(SpinopError):
    reason = Reason.GateMisconfigured
    needs_user = True
    retry_after = 30.0


def _text(data: Mapping[str, Redacted[bytes]], key: str) -> Redacted[str] | None:
    value = data.get(key)
    if value is None or not value.reveal().strip():
        return None
    return Redacted(value.reveal().decode().strip())


def auth_from_secret(name: str, data: Mapping[str, Redacted[bytes]]) -> tuple[GateAuth, str | None]:
    """The identity in a Gate credentials Secret's data, and the CA PEM it carries (if any)."""
    username, password = _text(data, "username"), _text(data, "password")
    token = _text(data, "token")
    cert, key = _text(data, "tls.crt"), _text(data, "tls.key")
    ca = _text(data, "ca.crt")
    ca_pem = ca.reveal() if ca else None  # a CA certificate is public
    chosen = [kind for kind, present in (("basic", username), ("bearer", token), ("x509", cert)) if present]
    if len(chosen) > 1:
        raise GateConfigError(f"Secret {name} holds more than one Gate identity ({', '.join(chosen)}); keep one")
    if username is not None:
        if password is None:
            raise GateConfigError(f"Secret {name} has username but no password")
        return BasicAuth(username.reveal(), password), ca_pem
    if token is not None:
        return BearerAuth(token), ca_pem
    if cert is not None:
        if key is None:
            raise GateConfigError(f"Secret {name} has tls.crt but no tls.key")
        return X509Auth(cert_pem=cert.reveal(), key_pem=key), ca_pem
    raise GateConfigError(f"Secret {name} holds no Gate identity: set {AUTH_KEYS}")


def gate_settings(config: OperatorConfig, secret_data: Mapping[str, Redacted[bytes]] | None) -> GateSettings | None:
    """GateSettings from the config (and the credentials Secret's data); None when no Gate URL is configured."""
    gate = config.gate
    if not gate.url.strip():
        return None
    auth: GateAuth = NoAuth()
    ca_pem = None
    if gate.auth_secret:
        if secret_data is None:
            raise GateConfigError(
                f"Secret {config.operator_namespace}/{gate.auth_secret} (gate.auth_secret) does not exist: create it "
                f"with {AUTH_KEYS}"
            )
        auth, ca_pem = auth_from_secret(f"{config.operator_namespace}/{gate.auth_secret}", secret_data)
    try:
        return GateSettings(
            url=gate.url.strip(),
            auth=auth,
            ca_path=gate.ca_file or None,
            ca_pem=None if gate.ca_file else ca_pem,
            rate_limit_app=gate.rate_limit_app or None,
        )
    except ValueError as err:
        raise GateConfigError(f"gate settings: {err}") from None


def read_secret(api: ApiClient, namespace: str, name: str) -> dict[str, Redacted[bytes]] | None:
    import base64

    try:
        secret = call(k8s.CoreV1Api(api).read_namespaced_secret, name, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise GateConfigError(
            f"cannot read Secret {namespace}/{name} (gate.auth_secret): HTTP {err.status}", retry_after=10
        ) from None
    return {k: Redacted(base64.b64decode(v)) for k, v in (secret.data or {}).items()}


async def build_gate(config: OperatorConfig, api: ApiClient) -> GateClient | None:
    """The GateClient spinop uses for pipelines, or None when no Gate is configured (`gate.url: ""`)."""
    data = None
    if config.gate.url.strip() and config.gate.auth_secret:
        data = await asyncio.to_thread(read_secret, api, config.operator_namespace, config.gate.auth_secret)
    settings = gate_settings(config, data)
    return GateClient(settings) if settings is not None else None
