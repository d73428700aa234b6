"""A small Kubernetes `pods/exec` client over WebSocket (the `websockets` package).

It speaks the channel protocols `v5.channel.k8s.io` and `v4.channel.k8s.io` (offered in that order): every
binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize), the process's end
is a JSON `metav1.Status` on channel 3 (`Success`, or `Failure`/`NonZeroExitCode` with an `ExitCode` cause),
and v5 can half-close stdin with the CLOSE message `[255, 0]`. v4 cannot, so commands that read stdin must
know how many bytes to read. Authentication is a bearer token and/or a client certificate, as for any
Kubernetes client; `from_configuration` takes a `kubernetes.client.Configuration`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..redact import Redacted

log = logging.getLogger(__name__)
# websockets logs request headers (the Authorization header included) at DEBUG: keep its logger above that.
_WS_LOG = logging.getLogger(__name__ + ".websocket")
_WS_LOG.setLevel(logging.INFO)

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
_CHUNK = 32 * 1024


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    protocol: str

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


class KubeExecError(Exception):
    """The exec itself failed (not the command). `status` is the HTTP status of a refused upgrade, if any."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retryable = retryable


def _status_message(body: bytes | bytearray) -> tuple[str, str | None]:
    try:
        status = json.loads(body)
    except (ValueError, TypeError):
        return body.decode("utf-8", errors="replace")[:300], None
    if isinstance(status, dict):
        return str(status.get("message") or status), status.get("reason")
    return str(status)[:300], None


def exit_code_from_status(status: dict[str, Any]) -> int:
    """The exit code carried by a v4/v5 status message; raises KubeExecError for other failures."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            # StatusCause's Go field `Type` is serialized as "reason"; accept "type" too.
            if cause.get("reason", cause.get("type")) == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    raise KubeExecError(f"exec failed: {status.get('message') or status}", reason=status.get("reason"), retryable=True)


class KubeExecClient:
    """Runs commands in one pod (and container) through the API server's `pods/exec` WebSocket."""

    def __init__(
        self,
        server: str,
        namespace: str,
        pod: str,
        container: str | None = None,
        *,
        token: Redacted[str] | str | None = None,
        token_provider: Callable[[], Redacted[str] | None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        protocols: Sequence[str] = (V5, V4),
        open_timeout: float = 10.0,
        proxy: str | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self._token = Redacted(token) if isinstance(token, str) else token
        self._token_provider = token_provider
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.protocols = tuple(protocols)
        self.open_timeout = open_timeout
        self.proxy = proxy

    @classmethod
    def from_configuration(
        cls, configuration: Any, namespace: str, pod: str, container: str | None = None, **kwargs: Any
    ) -> KubeExecClient:
        """Build from a `kubernetes.client.Configuration` (bearer token with refresh hook, client cert, CA)."""

        def token() -> Redacted[str] | None:
            if configuration.refresh_api_key_hook is not None:
                configuration.refresh_api_key_hook(configuration)
            value = configuration.get_api_key_with_prefix("authorization") or configuration.get_api_key_with_prefix(
                "BearerToken"
            )
            if not value:
                return None
            # kubeconfig loaders store "Bearer <t>", the in-cluster loader "bearer <t>".
            return Redacted(value[7:] if value[:7].lower() == "bearer " else value)

        context: ssl.SSLContext | None = None
        if configuration.host.startswith("https"):
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, configuration.key_file)
            if not configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(
            configuration.host,
            namespace,
            pod,
            container,
            token_provider=token,
            ssl_context=context,
            server_hostname=getattr(configuration, "tls_server_name", None) or None,
            proxy=configuration.proxy or None,
            **kwargs,
        )

    def url(self, argv: Sequence[str], stdin: bool) -> str:
        parts = urlsplit(self.server)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        path = (
            f"{parts.path.rstrip('/')}/api/v1/namespaces/{quote(self.namespace, safe='')}"
            f"/pods/{quote(self.pod, safe='')}/exec"
        )
        query: list[tuple[str, str]] = [("command", a) for a in argv]
        if self.container:
            query.append(("container", self.container))
        query += [("stdin", str(stdin).lower()), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
        return f"{scheme}://{parts.netloc}{path}?{urlencode(query, quote_via=quote)}"

    def _headers(self) -> dict[str, str]:
        token = self._token_provider() if self._token_provider is not None else self._token
        return {"Authorization": f"Bearer {token.reveal()}"} if token else {}

    async def run(
        self, argv: Sequence[str], *, stdin: Redacted[bytes] | bytes | None = None, time_limit: float = 60.0
    ) -> ExecResult:
        """Run `argv` (no shell), send `stdin` if given, and return its exit code and output."""
        data = stdin.reveal() if isinstance(stdin, Redacted) else stdin
        url = self.url(argv, stdin=data is not None)
        kwargs: dict[str, Any] = {}
        if url.startswith("wss://"):
            kwargs["ssl"] = self.ssl_context or ssl.create_default_context()
            if self.server_hostname:
                kwargs["server_hostname"] = self.server_hostname
        what = f"exec {argv[0] if argv else '?'} in {self.namespace}/{self.pod}"
        try:
            async with asyncio.timeout(time_limit):
                async with connect(
                    url,
                    subprotocols=list(self.protocols),  # type: ignore[arg-type]
                    additional_headers=self._headers(),
                    open_timeout=self.open_timeout,
                    close_timeout=2,
                    max_size=None,
                    compression=None,
                    proxy=self.proxy,
                    ping_interval=None,
                    logger=_WS_LOG,
                    **kwargs,
                ) as ws:
                    return await self._session(ws, data, what)
        except InvalidStatus as e:
            status = e.response.status_code
            message, reason = _status_message(e.response.body or b"")
            raise KubeExecError(
                f"{what}: the API server refused the exec (HTTP {status}): {message}",
                status=status,
                reason=reason,
                retryable=status >= 500 or status in (401, 403, 404, 429),
            ) from None
        except TimeoutError:
            raise KubeExecError(f"{what}: no result within {time_limit:.0f}s", retryable=True) from None
        except (OSError, InvalidHandshake, ConnectionClosed) as e:
            raise KubeExecError(f"{what}: {type(e).__name__}: {e}", retryable=True) from None

    async def _session(self, ws: Any, stdin: bytes | None, what: str) -> ExecResult:
        protocol = ws.subprotocol
        if protocol not in (V5, V4):
            raise KubeExecError(
                f"{what}: the API server chose no supported channel protocol ({protocol!r})", retryable=False
            )
        sender = asyncio.create_task(self._send_stdin(ws, stdin, protocol)) if stdin is not None else None
        out, err, status = bytearray(), bytearray(), bytearray()
        try:
            async for message in ws:
                if not isinstance(message, bytes) or not message:
                    continue
                channel, payload = message[0], message[1:]
                if channel == STDOUT:
                    out += payload
                elif channel == STDERR:
                    err += payload
                elif channel == STATUS:
                    status += payload
        finally:
            if sender is not None:
                if not sender.done():
                    sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await sender
        if not status:
            raise KubeExecError(f"{what}: the stream ended without an exit status", retryable=True)
        try:
            parsed = json.loads(bytes(status))
        except ValueError:
            raise KubeExecError(f"{what}: unreadable exit status {bytes(status)[:200]!r}", retryable=False) from None
        return ExecResult(exit_code_from_status(parsed), bytes(out), bytes(err), protocol)

    @staticmethod
    async def _send_stdin(ws: Any, data: bytes, protocol: str) -> None:
        for i in range(0, len(data), _CHUNK):
            await ws.send(bytes([STDIN]) + data[i : i + _CHUNK])
        if protocol == V5:
            await ws.send(bytes([CLOSE, STDIN]))
