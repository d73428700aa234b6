"""A Kubernetes `pods/exec` WebSocket endpoint for the test double of the Halyard daemon.

It serves one pod (e.g. `spinnaker/spin-halyard-0`) and speaks `v5.channel.k8s.io` and `v4.channel.k8s.io`,
negotiated in the client's order of preference: binary messages with a leading channel byte (0 stdin,
1 stdout, 2 stderr, 3 status, 4 resize), a JSON metav1.Status on channel 3 at the end (`Success`, or
`Failure`/`NonZeroExitCode` with an `ExitCode` cause), and v5's CLOSE message `[255, 0]` for stdin.

Commands: `hal …` (the CLI emulator, talking to the stand-in daemon), the file commands of
`spinop.halyard.pod_files` (performed under the pod filesystem root), and for anything else exit 127 like a
shell. Authentication is pluggable: `StaticTokenAuthorizer` (a bearer token and/or client-certificate CNs) for
unit tests, `KubeAuthorizer` (TokenReview + SubjectAccessReview against a real API server) for integration.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from spinop.halyard.pod_files import WRITE_FILE_SCRIPT

from .hal_cli import run_hal
from .podfs import PodFilesystem, PodPathError

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
SUPPORTED_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def k8s_status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


class AuthError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ExecAuthorizer(Protocol):
    async def authorize(self, request: web.Request, namespace: str, pod: str) -> str:
        """Return the authenticated user name, or raise AuthError (401/403)."""
        ...


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _client_cn(request: web.Request) -> str | None:
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class AllowAllAuthorizer:
    async def authorize(self, request: web.Request, namespace: str, pod: str) -> str:
        return "system:anonymous"


@dataclass
class StaticTokenAuthorizer:
    """One accepted bearer token and/or client certificates (verified by the TLS layer) with allowed CNs."""

    token: str | None = None
    client_cert_cns: Collection[str] = ()

    async def authorize(self, request: web.Request, namespace: str, pod: str) -> str:
        presented = _bearer(request)
        if presented is not None and self.token is not None and hmac.compare_digest(presented, self.token):
            return "static-token-user"
        cn = _client_cn(request)
        if cn is not None and cn in self.client_cert_cns:
            return cn
        raise AuthError(401, "Unauthorized", "Unauthorized")


# The verbs a WebSocket exec needs, in the apiserver's order: its authorization filter resolves the upgrade's GET to
# `get` (apiserver endpoints/request/requestinfo.go); then, behind AuthorizePodWebsocketUpgradeCreatePermission (beta,
# on by default since 1.35, pkg/features/kube_features.go), ExecREST.Connect also requires `create`
# (pkg/registry/core/pod/rest/subresources.go, authorize.go ensureAuthorizedForVerb).
EXEC_VERBS = ("get", "create")


class KubeAuthorizer:
    """Validates bearer tokens with a TokenReview and authorizes a WebSocket exec as the apiserver does: `get
    pods/exec`, then `create pods/exec`, each with a SubjectAccessReview, against the API server of `kubeconfig`
    (sync kubernetes client, run in a thread)."""

    def __init__(self, kubeconfig: str, context: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._api: Any = None

    def _client(self) -> Any:
        if self._api is None:
            from kubernetes import config

            self._api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        return self._api

    def _review(self, token: str, namespace: str, pod: str) -> str:
        from kubernetes import client

        api = self._client()
        review = client.AuthenticationV1Api(api).create_token_review(
            client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        )
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            raise AuthError(401, "Unauthorized", "Unauthorized")
        user = status.user
        for verb in EXEC_VERBS:
            access = client.AuthorizationV1Api(api).create_subject_access_review(
                client.V1SubjectAccessReview(
                    spec=client.V1SubjectAccessReviewSpec(
                        user=user.username,
                        groups=user.groups,
                        uid=user.uid,
                        extra=user.extra,
                        resource_attributes=client.V1ResourceAttributes(
                            namespace=namespace, verb=verb, resource="pods", subresource="exec", name=pod
                        ),
                    )
                )
            )
            if not (access.status and access.status.allowed):
                reason = (access.status.reason if access.status else None) or ""
                if verb == "get":
                    # The authorization filter (responsewriters/errors.go Forbidden and forbiddenMessage).
                    message = (
                        f'User "{user.username}" cannot get resource "pods/exec" in API group "" in the namespace '
                        f'"{namespace}"' + (f": {reason}" if reason else "")
                    )
                else:
                    # ensureAuthorizedForVerb: NewForbidden(pods, name, errors.New(reason)).
                    message = reason
                raise AuthError(403, "Forbidden", f'pods "{pod}" is forbidden: {message}')
        return str(user.username)

    async def authorize(self, request: web.Request, namespace: str, pod: str) -> str:
        token = _bearer(request)
        if not token:
            raise AuthError(401, "Unauthorized", "Unauthorized")
        return await asyncio.to_thread(self._review, token, namespace, pod)


class Stdin:
    """The command's stdin: bytes from channel 0 until CLOSE (v5) or the end of the connection."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = bytearray()
        self._eof = False

    def feed(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def read_exactly(self, n: int) -> bytes:
        """Like `head -c n`: stops after n bytes without waiting for EOF; less only at EOF."""
        while len(self._buffer) < n and not self._eof:
            chunk = await self._queue.get()
            if chunk is None:
                self._eof = True
            else:
                self._buffer += chunk
        data, self._buffer = bytes(self._buffer[:n]), self._buffer[n:]
        return data


@dataclass
class ExecRecord:
    argv: list[str]
    user: str
    protocol: str
    exit_code: int | None = None
    stdin_bytes: int = 0
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        argv = list(self.argv)
        if len(argv) > 2 and argv[:2] == ["sh", "-c"]:
            argv[2] = "<script>"
        return {
            "argv": argv,
            "user": self.user,
            "protocol": self.protocol,
            "exitCode": self.exit_code,
            "stdinBytes": self.stdin_bytes,
            "at": self.at,
        }


CommandResult = tuple[int, bytes, bytes]


class PodExec:
    """The exec endpoint of one pod and the commands it understands."""

    def __init__(
        self,
        podfs: PodFilesystem,
        *,
        namespace: str,
        pod: str,
        container: str,
        authorizer: ExecAuthorizer,
        daemon_url: Callable[[], str],
        cli_poll_interval: float = 0.4,
        cli_request_timeout: float = 10.0,
    ) -> None:
        self.podfs = podfs
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.authorizer = authorizer
        self.daemon_url = daemon_url
        self.cli_poll_interval = cli_poll_interval
        self.cli_request_timeout = cli_request_timeout
        self.log: list[ExecRecord] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/v1/namespaces/{ns}/pods/{pod}/exec", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        try:
            user = await self.authorizer.authorize(request, ns, pod)
        except AuthError as e:
            return k8s_status(e.code, e.reason, str(e))
        if (ns, pod) != (self.namespace, self.pod):
            return k8s_status(404, "NotFound", f'pods "{pod}" not found', {"name": pod, "kind": "pods"})
        container = request.query.get("container")
        if container and container != self.container:
            return k8s_status(400, "BadRequest", f"container {container} is not valid for pod {pod}")
        argv = request.query.getall("command", [])
        if not argv:
            return k8s_status(400, "BadRequest", "you must specify at least 1 command")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return k8s_status(400, "BadRequest", "Upgrade request required")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        protocol = next((p for p in offered if p in SUPPORTED_PROTOCOLS), None)
        if protocol is None:
            return k8s_status(
                400, "BadRequest", f"none of the offered subprotocols {offered} is supported: {SUPPORTED_PROTOCOLS}"
            )
        want_stdin = request.query.get("stdin", "false").lower() in ("1", "true")
        ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0, autoping=True)
        await ws.prepare(request)
        record = ExecRecord(list(argv), user, protocol)
        self.log.append(record)
        stdin = Stdin()
        reader = asyncio.create_task(self._read_client(ws, stdin, protocol, record))
        try:
            for channel in (STDOUT, STDERR):
                await ws.send_bytes(bytes([channel]))  # the server's initial empty frame per output stream
            if not want_stdin:
                stdin.close()
            code, out, err = await self.run(argv, stdin)
            record.exit_code = code
            if out:
                await ws.send_bytes(bytes([STDOUT]) + out)
            if err:
                await ws.send_bytes(bytes([STDERR]) + err)
            await ws.send_bytes(bytes([STATUS]) + json.dumps(self._status(argv, code)).encode())
            await ws.close()
        except ConnectionResetError:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return ws

    @staticmethod
    def _status(argv: Sequence[str], code: int) -> dict[str, Any]:
        if code == 0:
            return {"metadata": {}, "status": "Success"}
        return {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {list(argv)}, "
            f"exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }

    @staticmethod
    async def _read_client(ws: web.WebSocketResponse, stdin: Stdin, protocol: str, record: ExecRecord) -> None:
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                data: bytes = msg.data
                if data[0] == STDIN:
                    record.stdin_bytes += len(data) - 1
                    stdin.feed(data[1:])
                elif data[0] == CLOSE and protocol.startswith("v5") and data[1:2] == bytes([STDIN]):
                    stdin.close()
        finally:
            stdin.close()

    async def run(self, argv: Sequence[str], stdin: Stdin) -> CommandResult:
        if argv[0] in ("hal", "/usr/local/bin/hal"):
            code, out, err = await run_hal(
                argv[1:],
                daemon_url=self.daemon_url(),
                home=self.podfs.home,
                poll_interval=self.cli_poll_interval,
                request_timeout=self.cli_request_timeout,
            )
            return code, out.encode(), err.encode()
        if len(argv) == 7 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c" and argv[2] == WRITE_FILE_SCRIPT:
            return await self._write_file(argv[4], argv[5], argv[6], stdin)
        if len(argv) == 3 and argv[:2] == ["rm", "-f"]:
            return self._remove_file(argv[2])
        return 127, b"", f"sh: 1: {argv[0]}: command not found\n".encode()

    async def _write_file(self, path: str, size_text: str, mode_text: str, stdin: Stdin) -> CommandResult:
        try:
            size, mode = int(size_text), int(mode_text, 8)
            host = self.podfs.host_path(path)
        except (ValueError, PodPathError) as e:
            return 1, b"", f"sh: {e}\n".encode()
        data = await stdin.read_exactly(size)
        if len(data) != size:
            return 1, b"", f"spinop: short write to {path}: got {len(data)} of {size} bytes\n".encode()
        host.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=host.parent, prefix=".spinop.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, host)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return 1, b"", f"sh: {e}\n".encode()
        return 0, b"", b""

    def _remove_file(self, path: str) -> CommandResult:
        try:
            self.podfs.host_path(path).unlink(missing_ok=True)
        except PodPathError as e:
            return 1, b"", f"rm: {e}\n".encode()
        except IsADirectoryError:
            return 1, b"", f"rm: cannot remove '{path}': Is a directory\n".encode()
        return 0, b"", b""


ExecHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
