"""How spinop reaches Gate: URL, identity, trust and timeouts. Secrets stay in `Redacted` values."""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field

from spinop.redact import Redacted


@dataclass(frozen=True)
class NoAuth:
    """Anonymous: Gate sees `anonymous` (rate limits key on `X-RateLimit-App`)."""


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic on every request (Gate's LDAP and basic-form setups accept it)."""

    username: str
    password: Redacted[str]


@dataclass(frozen=True)
class BearerAuth:
    """`Authorization: Bearer <token>` (Gate's OAuth2 external token filter)."""

    token: Redacted[str]


@dataclass(frozen=True)
class X509Auth:
    """A client certificate (Gate's x509 `apiPort`): give the cert as a path or PEM text, and likewise the key."""

    cert_path: str | None = None
    cert_pem: str | None = None
    key_path: str | None = None
    key_pem: Redacted[str] | None = None

    def __post_init__(self) -> None:
        if (self.cert_path is None) == (self.cert_pem is None):
            raise ValueError("X509Auth needs exactly one of cert_path and cert_pem")
        if (self.key_path is None) == (self.key_pem is None):
            raise ValueError("X509Auth needs exactly one of key_path and key_pem")


GateAuth = NoAuth | BasicAuth | BearerAuth | X509Auth


@dataclass(frozen=True)
class GateSettings:
    url: str
    auth: GateAuth = field(default_factory=NoAuth)
    ca_path: str | None = None  # CA bundle that signed Gate's server certificate
    ca_pem: str | None = None
    rate_limit_app: str | None = "spinop"  # sent as X-RateLimit-App
    connect_timeout: float = 5.0
    request_timeout: float = 30.0
    # Gate itself waits for its savePipeline task up to 32 polls x 1 s before answering.
    save_timeout: float = 60.0
    task_poll_interval: float = 1.0
    task_timeout: float = 120.0
    read_retries: int = 2  # extra attempts for idempotent reads on connect errors and 5xx
    retry_backoff: float = 0.5
    rate_limit_retries: int = 5
    rate_limit_min_wait: float = 0.1
    rate_limit_max_wait: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"Gate url must start with http:// or https://, got {self.url!r}")
        if self.ca_path is not None and self.ca_pem is not None:
            raise ValueError("set at most one of ca_path and ca_pem")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https Gate (trust + client certificate), or None for plain http."""
        if not self.url.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=self.ca_path, cadata=self.ca_pem)
        auth = self.auth
        if isinstance(auth, X509Auth):
            _load_client_cert(ctx, auth)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, auth: X509Auth) -> None:
    # ssl can only load a key from a file: inline PEM goes through a private temp dir that is removed at once.
    if auth.cert_pem is None and auth.key_pem is None:
        ctx.load_cert_chain(str(auth.cert_path), str(auth.key_path))
        return
    with tempfile.TemporaryDirectory(prefix="spinop-x509-") as tmp:
        os.chmod(tmp, 0o700)
        cert_file = auth.cert_path or os.path.join(tmp, "cert.pem")
        key_file = auth.key_path or os.path.join(tmp, "key.pem")
        if auth.cert_pem is not None:
            with open(cert_file, "w") as f:
                f.write(auth.cert_pem)
        if auth.key_pem is not None:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(auth.key_pem.reveal())
        try:
            ctx.load_cert_chain(cert_file, key_file)
        finally:
            if auth.key_pem is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(key_file)
