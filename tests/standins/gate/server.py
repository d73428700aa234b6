"""The Gate stand-in: a test double of Spinnaker Gate (plus the Front50/Orca/clouddriver behaviour behind it).

It serves real HTTP (or HTTPS, with client certificates for X.509) on loopback and follows
shared/contracts/gate-pipelines.md and accounts-and-rbac.md §2. It is not Spinnaker: only what spinop relies
on is here, and where timing is simplified the docstrings say so.

Test control lives under `/_standin/...` (no auth, no faults, no rate limit there) and in the Python API of
`GateStandin`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import email.utils
import json
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web
from cryptography import x509

from .clouddriver_accounts import STORAGE_OFF
from .firewall import refusal
from .state import GateState, Rejected, Task
from .tls import CertificateAuthority, IssuedCert, common_name, roles_from_certificate

AuthMode = Literal["none", "basic", "bearer", "x509"]
ANONYMOUS = "anonymous"
PRINCIPAL = web.RequestKey("principal", str)
_T = TypeVar("_T")


@dataclass
class RateLimitSettings:
    """Gate's rate limiter: `capacity` requests per principal per `window_seconds` (fixed windows)."""

    capacity: int = 60
    window_seconds: float = 10.0
    learning: bool = False
    capacity_by_source_app: dict[str, int] = field(default_factory=dict)
    # Gate sends X-RateLimit-Reset as an HTTP date (whole seconds); "epoch-ms" keeps tests fast.
    reset_header: Literal["http-date", "epoch-ms"] = "http-date"


@dataclass
class StandinOptions:
    host: str = "127.0.0.1"
    port: int = 0
    auth: AuthMode = "none"
    users: dict[str, str] = field(default_factory=dict)  # basic: user -> password
    tokens: dict[str, str] = field(default_factory=dict)  # bearer: token -> principal
    roles: dict[str, list[str]] = field(default_factory=dict)  # principal -> Fiat roles
    tls: bool = False  # x509 always serves TLS
    cert_dir: Path | None = None
    client_certs: dict[str, list[str]] = field(default_factory=lambda: {"spinop": []})  # x509: CN -> roles
    rate_limit: RateLimitSettings | None = None
    # Gate polls its own savePipeline task 32 times, 1 s apart (TaskServiceProperties).
    save_polls: int = 32
    save_poll_interval: float = 1.0
    save_duration: float = 0.0
    task_duration: float = 0.02
    credentials_poll_interval: float | None = 0.2  # None: the poller runs only when asked
    account_storage: bool = True  # clouddriver's account.storage.enabled
    fiat: bool = False  # services.fiat.enabled in clouddriver: account definitions checked against Fiat
    admins: list[str] = field(default_factory=list)  # Fiat admins (principals)
    account_managers: list[str] = field(default_factory=list)  # Fiat account managers (principals)


@dataclass
class FailRule:
    remaining: int
    status: int = 500
    path: str | None = None  # a regular expression searched in the request path
    method: str | None = None
    body: str | None = None  # answer this text/html instead of Gate's JSON error (a proxy in front of Gate)

    def matches(self, request: web.Request) -> bool:
        if self.method and request.method.upper() != self.method.upper():
            return False
        return not self.path or re.search(self.path, request.path) is not None


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    principal: str
    status: int
    at: float


def _error(status: int, message: str, *, exception: str | None = None, headers: dict[str, str] | None = None):
    reason = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        422: "Unprocessable Entity",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Error")
    body: dict[str, Any] = {
        "timestamp": int(time.time() * 1000),
        "status": status,
        "error": reason,
        "message": message,
    }
    if exception:
        body["exception"] = exception
    return web.json_response(body, status=status, headers=headers)


class GateStandin:
    """A Gate test double on loopback. Use `async with GateStandin(...) as gate:` or start()/stop()."""

    def __init__(self, options: StandinOptions | None = None, **overrides: Any) -> None:
        opts = copy.deepcopy(options) if options else StandinOptions()
        for key, value in overrides.items():
            if not hasattr(opts, key):
                raise TypeError(f"unknown stand-in option {key!r}")
            setattr(opts, key, value)
        self.options = opts
        self.state = GateState()
        self._apply_account_options()
        self.fail_rules: list[FailRule] = []
        self.latency = 0.0
        self.latency_path: str | None = None
        self.requests: list[RequestRecord] = []
        self._rate_windows: dict[str, tuple[float, int]] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._task_done: dict[str, asyncio.Event] = {}
        self._up_timer: asyncio.TimerHandle | None = None
        self._poller: asyncio.Task[None] | None = None
        self.port = opts.port
        self.ca: CertificateAuthority | None = None
        self.client_certs: dict[str, IssuedCert] = {}

    # ---- lifecycle --------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self._ssl else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.options.host}:{self.port}"

    @property
    def ca_path(self) -> Path | None:
        return self.ca.ca_path if self.ca else None

    @property
    def is_up(self) -> bool:
        return self._site is not None

    async def __aenter__(self) -> GateStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _make_ssl(self) -> ssl.SSLContext | None:
        opts = self.options
        if not (opts.tls or opts.auth == "x509"):
            return None
        directory = opts.cert_dir
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gate-standin-")
            directory = Path(self._tmp.name)
        self.ca = CertificateAuthority(directory)
        server = self.ca.issue_server((opts.host, "localhost"))
        for cn, roles in opts.client_certs.items():
            self.client_certs[cn] = self.ca.issue_client(cn, tuple(roles))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(server.cert_path, server.key_path)
        if opts.auth == "x509":
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(self.ca.ca_path))
        return ctx

    def issue_client_cert(self, cn: str, roles: tuple[str, ...] = ()) -> IssuedCert:
        """Another client certificate signed by the stand-in's CA (x509 mode)."""
        if self.ca is None:
            raise RuntimeError("the stand-in serves no TLS")
        cert = self.ca.issue_client(cn, roles)
        self.client_certs[cn] = cert
        return cert

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        r = app.router
        r.add_get("/_standin/state", self._c_state)
        r.add_post("/_standin/reset", self._c_reset)
        r.add_get("/_standin/requests", self._c_requests)
        r.add_post("/_standin/faults", self._c_faults)
        r.add_delete("/_standin/faults", self._c_clear_faults)
        r.add_post("/_standin/ui/pipelines", self._c_ui_save)
        r.add_delete("/_standin/ui/pipelines/{id}", self._c_ui_delete)
        r.add_put("/_standin/applications/{app}/clusters", self._c_clusters)
        r.add_post("/_standin/credentials/poll", self._c_poll)
        r.add_put("/_standin/credentials/static", self._c_static_accounts)
        r.add_put("/_standin/roles", self._c_roles)
        r.add_put("/_standin/credentials/api", self._c_accounts_api)
        r.add_put("/_standin/credentials/race", self._c_create_race)

        r.add_get("/applications", self._list_applications)
        r.add_get("/applications/{app}", self._get_application)
        r.add_get("/applications/{app}/pipelineConfigs", self._list_pipeline_configs)
        r.add_get("/applications/{app}/pipelineConfigs/{name:.+}", self._get_pipeline_config)
        r.add_post("/applications/{app}/tasks", self._post_app_task)
        r.add_post("/tasks", self._post_task)
        r.add_get("/tasks/{id}", self._get_task)
        r.add_post("/pipelines", self._save_pipeline)
        r.add_put("/pipelines/{id}", self._update_pipeline)
        r.add_delete("/pipelines/{app}/{name:.+}", self._delete_pipeline)
        r.add_get("/credentials", self._list_credentials)
        r.add_post("/credentials", self._create_account)
        r.add_put("/credentials", self._update_account)
        r.add_get("/credentials/type/{type}", self._accounts_by_type)
        r.add_get("/credentials/{name}/history", self._account_history)
        r.add_get("/credentials/{name}", self._get_credentials)
        r.add_delete("/credentials/{name}", self._delete_account)
        return app

    async def start(self) -> None:
        self._ssl = self._make_ssl()
        # In-flight handlers (a save waiting out Gate's window) must not hold a test's teardown.
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        await self._listen()
        if self.options.credentials_poll_interval:
            self._poller = asyncio.create_task(self._poll_loop(self.options.credentials_poll_interval))

    async def _listen(self) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.options.host, self.port, ssl_context=self._ssl, reuse_address=True)
        await site.start()
        self._site = site
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._up_timer:
            self._up_timer.cancel()
        for t in [*self._background, *([self._poller] if self._poller else [])]:
            t.cancel()
        for t in [*self._background, *([self._poller] if self._poller else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._background.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def go_down(self, seconds: float | None = None) -> None:
        """Stop listening (connections are refused), drop open connections; back after `seconds` if given."""
        if self._site is not None:
            site, self._site = self._site, None
            await site.stop()
            if self._runner is not None and self._runner.server is not None:
                for conn in self._runner.server.connections:
                    conn.force_close()
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._up_timer = loop.call_later(seconds, lambda: self._spawn(self.come_up()))

    async def come_up(self) -> None:
        if self._site is None and self._runner is not None:
            await self._listen()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _poll_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.state.poll_credentials()

    # ---- fault injection and test control (Python API) -------------------------------------------------

    def fail_next(
        self, count: int, status: int = 500, path: str | None = None, method: str | None = None, body: str | None = None
    ) -> None:
        """Answer the next `count` matching requests with `status` (default 500), or with a raw `body`."""
        self.fail_rules.append(FailRule(remaining=count, status=status, path=path, method=method, body=body))

    def set_latency(self, seconds: float, path: str | None = None) -> None:
        self.latency, self.latency_path = seconds, path

    def set_save_timing(
        self, *, duration: float | None = None, polls: int | None = None, interval: float | None = None
    ) -> None:
        """How long a pipeline save takes in Orca, and how long Gate waits for it (polls x interval)."""
        if duration is not None:
            self.options.save_duration = duration
        if polls is not None:
            self.options.save_polls = polls
        if interval is not None:
            self.options.save_poll_interval = interval

    def set_rate_limit(self, settings: RateLimitSettings | None) -> None:
        self.options.rate_limit = settings
        self._rate_windows.clear()

    def clear_faults(self) -> None:
        self.fail_rules.clear()
        self.latency, self.latency_path = 0.0, None

    def ui_save_pipeline(self, pipeline: dict[str, Any], principal: str = "alice") -> dict[str, Any]:
        """A save from Deck by another user: no staleCheck, `lastModifiedBy` is `principal`."""
        return self.state.save_pipeline_via_orca(pipeline, stale_check=False, user=principal)

    def _apply_account_options(self) -> None:
        opts = self.options
        self.state.principal_roles = {k: list(v) for k, v in opts.roles.items()}
        self.state.account_storage = opts.account_storage
        self.state.fiat.enabled = opts.fiat
        self.state.fiat.admins = set(opts.admins)
        self.state.fiat.account_managers = set(opts.account_managers)

    def set_accounts_api(
        self,
        *,
        storage: bool | None = None,
        fiat: bool | None = None,
        admins: list[str] | None = None,
        account_managers: list[str] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> None:
        """Clouddriver's side of `/credentials`: storage on/off, Fiat, and what its secret engine holds now."""
        if storage is not None:
            self.options.account_storage = storage
        if fiat is not None:
            self.options.fiat = fiat
        if admins is not None:
            self.options.admins = list(admins)
        if account_managers is not None:
            self.options.account_managers = list(account_managers)
        self.state.account_storage = self.options.account_storage
        self.state.fiat.enabled = self.options.fiat
        self.state.fiat.admins = set(self.options.admins)
        self.state.fiat.account_managers = set(self.options.account_managers)
        if secrets is not None:
            self.state.secrets.values.update(secrets)

    def set_clusters(self, application: str, clusters: dict[str, list[str]]) -> None:
        self.state.set_clusters(application, clusters)

    def reset(self) -> None:
        self.state.reset()
        self._apply_account_options()
        self.clear_faults()
        self.requests.clear()
        self._rate_windows.clear()

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        )

    # ---- middleware: latency, faults, auth, rate limit, request log -----------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await handler(request)
        request[PRINCIPAL] = ANONYMOUS
        status = 0
        try:
            response = await self._gate(request, handler)
            status = response.status
            return response
        finally:
            self.requests.append(
                RequestRecord(
                    request.method,
                    request.path,
                    request.query_string,
                    request[PRINCIPAL],
                    status,
                    time.time(),
                )
            )

    async def _gate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.latency and (not self.latency_path or re.search(self.latency_path, request.path)):
            await request.read()  # a slow Gate has the request already: a client that gives up may not undo it
            await asyncio.sleep(self.latency)
        rule = next((r for r in self.fail_rules if r.remaining > 0 and r.matches(request)), None)
        if rule is not None:
            rule.remaining -= 1
            self.fail_rules = [r for r in self.fail_rules if r.remaining > 0]
            if rule.body is not None:
                return web.Response(status=rule.status, text=rule.body, content_type="text/html")
            return _error(rule.status, "injected fault (Gate stand-in)")
        # Tomcat and Spring Security's firewall refuse a path before authentication and before any controller.
        refused = refusal(request.method, request.raw_path)
        if refused is not None:
            return refused
        ident = self._authenticate(request)
        if not isinstance(ident, str):
            return ident
        request[PRINCIPAL] = ident
        limited, headers = self._rate_limit(request, ident)
        if limited:
            return web.json_response({"message": "Rate capacity exceeded"}, status=429, headers=headers)
        try:
            response = await handler(request)
        except web.HTTPException as e:
            response = _error(e.status, e.reason)
        response.headers.update(headers)
        return response

    def _authenticate(self, request: web.Request) -> str | web.StreamResponse:
        mode = self.options.auth
        if mode == "none":
            return ANONYMOUS
        header = request.headers.get("Authorization", "")
        if mode == "basic":
            if header.startswith("Basic "):
                try:
                    user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    user, password = "", ""
                if user in self.options.users and self.options.users[user] == password:
                    return user
            return _error(401, "Full authentication is required to access this resource")
        if mode == "bearer":
            if header.startswith("Bearer ") and header[7:] in self.options.tokens:
                return self.options.tokens[header[7:]]
            return _error(401, "Full authentication is required to access this resource")
        cert = self._peer_cert(request)
        cn = common_name(cert) if cert is not None else None
        if not cn:
            return _error(401, "A client certificate is required")
        roles = roles_from_certificate(cert) if cert is not None else []
        if roles:
            known = self.state.principal_roles.setdefault(cn, [])
            known.extend(r for r in roles if r not in known)
        return cn

    @staticmethod
    def _peer_cert(request: web.Request) -> x509.Certificate | None:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der) if der else None

    def _rate_limit(self, request: web.Request, principal: str) -> tuple[bool, dict[str, str]]:
        settings = self.options.rate_limit
        if settings is None:
            return False, {}
        source_app = request.headers.get("X-RateLimit-App")
        key = source_app if principal == ANONYMOUS and source_app else principal
        capacity = settings.capacity_by_source_app.get(source_app or "", settings.capacity)
        now = time.time()
        start, count = self._rate_windows.get(key, (now, 0))
        if now - start >= settings.window_seconds:
            start, count = now, 0
        count += 1
        self._rate_windows[key] = (start, count)
        reset = start + settings.window_seconds
        if settings.reset_header == "epoch-ms":
            reset_value = str(int(reset * 1000))
        else:
            reset_value = email.utils.formatdate(int(reset), usegmt=True)
        headers = {
            "X-RateLimit-Capacity": str(capacity),
            "X-RateLimit-Remaining": str(max(0, capacity - count)),
            "X-RateLimit-Reset": reset_value,
            "X-RateLimit-Learning": "true" if settings.learning else "false",
        }
        return (count > capacity and not settings.learning), headers

    # ---- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise web.HTTPBadRequest(reason=f"malformed JSON body: {e}") from e

    def _roles(self, principal: str) -> list[str]:
        return list(self.state.principal_roles.get(principal, []))

    def _start_task(
        self, name: str, application: str, job_types: list[str], work: Callable[[], list[str]], delay: float
    ) -> Task:
        task = self.state.new_task(name, application, job_types)
        done = asyncio.Event()
        self._task_done[task.id] = done

        async def run() -> None:
            await asyncio.sleep(delay)
            try:
                errors = work()
            except Rejected as e:
                errors = [e.message]
            task.finish(errors)
            done.set()

        self._spawn(run())
        return task

    # ---- Gate: applications and tasks -------------------------------------------------------------------

    async def _list_applications(self, request: web.Request) -> web.StreamResponse:
        apps = [dict(a) for _, a in sorted(self.state.applications.items())]
        return web.json_response(apps)

    async def _get_application(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["app"]
        app = self.state.get_application(name)
        if app is None:
            return _error(404, f"Application not found (id: {name})", exception="NotFoundException")
        body: dict[str, Any] = {"name": app["name"], "attributes": app}
        if request.query.get("expand", "true").lower() == "true":
            clusters = self.state.clusters.get(name.lower(), {})
            body["clusters"] = {acct: [{"name": c} for c in names] for acct, names in clusters.items()}
        return web.json_response(body)

    async def _post_app_task(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if isinstance(body, dict):
            body["application"] = request.match_info["app"]
        return await self._create_task(request, body)

    async def _post_task(self, request: web.Request) -> web.StreamResponse:
        return await self._create_task(request, await self._json(request))

    async def _create_task(self, request: web.Request, body: Any) -> web.StreamResponse:
        if not isinstance(body, dict) or not isinstance(body.get("job"), list) or not body["job"]:
            return _error(400, "a task needs a non-empty job list")
        jobs = body["job"]
        user = request[PRINCIPAL]
        job_types = [str(j.get("type")) if isinstance(j, dict) else "?" for j in jobs]
        task = self._start_task(
            str(body.get("description", "task")),
            str(body.get("application", "")),
            job_types,
            lambda: self.state.run_application_jobs(jobs, user),
            self.options.task_duration,
        )
        return web.json_response({"ref": f"/tasks/{task.id}"})

    async def _get_task(self, request: web.Request) -> web.StreamResponse:
        task = self.state.tasks.get(request.match_info["id"])
        if task is None:
            return _error(404, f"Task not found (id: {request.match_info['id']})")
        return web.json_response(task.to_json())

    # ---- Gate: pipelines --------------------------------------------------------------------------------

    async def _list_pipeline_configs(self, request: web.Request) -> web.StreamResponse:
        configs = self.state.list_pipeline_configs(
            request.match_info["app"], request.query.get("pipelineNameFilter") or None
        )
        return web.json_response(configs)

    async def _get_pipeline_config(self, request: web.Request) -> web.StreamResponse:
        app, name = request.match_info["app"], request.match_info["name"]
        for config in self.state.list_pipeline_configs(app):
            if config.get("name") == name:
                return web.json_response(config)
        return _error(
            404,
            f"Pipeline config (id: {name}) not found for Application (id: {app})",
            exception="NotFoundException",
        )

    async def _save_pipeline(self, request: web.Request) -> web.StreamResponse:
        """Gate `POST /pipelines`: an Orca savePipeline task that Gate polls itself.

        Simplified timing: Gate answers as soon as the task ends instead of at its next 1 s poll; the outcome
        is the same (SUCCEEDED within polls x interval -> 200, otherwise 400 with the task's first error or
        "did not succeed ... (status: RUNNING)", and a late save still completes afterwards).
        """
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "the pipeline must be a JSON object")
        stale_check = request.query.get("staleCheck", "false").lower() == "true"
        user = request[PRINCIPAL]
        pipeline = copy.deepcopy(body)

        def save() -> list[str]:
            self.state.save_pipeline_via_orca(pipeline, stale_check=stale_check, user=user)
            return []

        task = self._start_task(
            f"Save pipeline '{pipeline.get('name', '')}'",
            str(pipeline.get("application", "")),
            ["savePipeline"],
            save,
            self.options.save_duration,
        )
        window = self.options.save_polls * self.options.save_poll_interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._task_done[task.id].wait(), timeout=window)
        if task.status == "SUCCEEDED":
            return web.Response(status=200)
        message = task.errors[0] if task.errors else None
        return _error(
            400,
            message or f"Pipeline save operation did not succeed: {task.id} (status: {task.status})",
            exception="com.netflix.spinnaker.gate.controllers.PipelineController$PipelineException",
        )

    async def _update_pipeline(self, request: web.Request) -> web.StreamResponse:
        """Gate `PUT /pipelines/{id}` (gate PipelineController.updatePipeline): the path id is not checked.

        Gate runs an Orca `updatePipeline` task, which is Orca's SavePipelineTask, a Front50 save of the body as
        it is (its own id, or a new pipeline when it has none). Gate then answers with the config whose id is the
        *path* id, or an empty 200 when there is none.
        """
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "the pipeline must be a JSON object")
        user = request[PRINCIPAL]
        pipeline = copy.deepcopy(body)

        def save() -> list[str]:
            self.state.save_pipeline_via_orca(pipeline, stale_check=False, user=user)
            return []

        task = self._start_task(
            f"Update pipeline '{pipeline.get('name', 'Unknown')}'",
            str(pipeline.get("application", "")),
            ["updatePipeline"],
            save,
            self.options.save_duration,
        )
        window = self.options.save_polls * self.options.save_poll_interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._task_done[task.id].wait(), timeout=window)
        if task.status != "SUCCEEDED":
            return _error(
                400,
                task.errors[0]
                if task.errors
                else f"Pipeline save operation did not succeed: {task.id} (status: {task.status})",
                exception="com.netflix.spinnaker.gate.controllers.PipelineController$PipelineException",
            )
        pid = request.match_info["id"]
        configs = self.state.list_pipeline_configs(str(pipeline.get("application", "")))
        stored = next((c for c in configs if c.get("id") == pid), None)
        return web.Response(status=200) if stored is None else web.json_response(stored)

    async def _delete_pipeline(self, request: web.Request) -> web.StreamResponse:
        self.state.delete_pipeline_by_name(request.match_info["app"], request.match_info["name"])
        return web.Response(status=200)

    # ---- Gate: credentials ------------------------------------------------------------------------------

    async def _list_credentials(self, request: web.Request) -> web.StreamResponse:
        expand = request.query.get("expand", "false").lower() == "true"
        return web.json_response(self.state.credentials_view(self._roles(request[PRINCIPAL]), expand=expand))

    async def _get_credentials(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        for entry in self.state.credentials_view(self._roles(request[PRINCIPAL]), expand=True):
            if entry["name"] == name:
                return web.json_response(entry)
        return _error(404, f"Account not found (name: {name})")

    async def _accounts_by_type(self, request: web.Request) -> web.StreamResponse:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(400, "limit must be an integer")
        starting = request.query.get("startingAccountName") or None
        principal = request[PRINCIPAL]
        try:
            page = self.state.list_accounts_by_type(
                request.match_info["type"], limit, starting, principal, self._roles(principal)
            )
        except Rejected as e:
            return _error(e.status, e.message)
        return web.json_response(page)

    async def _account_history(self, request: web.Request) -> web.StreamResponse:
        if not self.state.account_storage:
            return _error(400, STORAGE_OFF)
        history = self.state.account_history.get(request.match_info["name"], [])
        return web.json_response(list(reversed(history)))

    async def _create_account(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "the account definition must be a JSON object")
        principal = request[PRINCIPAL]
        try:
            return web.json_response(self.state.create_account(body, principal, self._roles(principal)))
        except Rejected as e:
            return _error(e.status, e.message)

    async def _update_account(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "the account definition must be a JSON object")
        principal = request[PRINCIPAL]
        try:
            return web.json_response(self.state.update_account(body, principal, self._roles(principal)))
        except Rejected as e:
            return _error(e.status, e.message)

    async def _delete_account(self, request: web.Request) -> web.StreamResponse:
        principal = request[PRINCIPAL]
        try:
            self.state.delete_account(request.match_info["name"], principal, self._roles(principal))
        except Rejected as e:
            return _error(e.status, e.message)
        return web.Response(status=200)

    # ---- /_standin control API --------------------------------------------------------------------------

    async def _c_state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state.dump())

    async def _c_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"reset": True})

    async def _c_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(r) for r in self.requests])

    async def _c_faults(self, request: web.Request) -> web.StreamResponse:
        """Body keys (all optional): failNext{count,status,path,method}, latency{seconds,path},
        down{seconds}, save{duration,polls,interval}, rateLimit{capacity,windowSeconds,learning,
        capacityBySourceApp,resetHeader} or null."""
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "faults must be a JSON object")
        if "failNext" in body:
            f = body["failNext"]
            self.fail_next(
                int(f.get("count", 1)), int(f.get("status", 500)), f.get("path"), f.get("method"), f.get("body")
            )
        if "latency" in body:
            lat = body["latency"] or {}
            self.set_latency(float(lat.get("seconds", 0.0)), lat.get("path"))
        if "save" in body:
            s = body["save"] or {}
            self.set_save_timing(duration=s.get("duration"), polls=s.get("polls"), interval=s.get("interval"))
        if "rateLimit" in body:
            rl = body["rateLimit"]
            self.set_rate_limit(
                None
                if rl is None
                else RateLimitSettings(
                    capacity=int(rl.get("capacity", 60)),
                    window_seconds=float(rl.get("windowSeconds", 10.0)),
                    learning=bool(rl.get("learning", False)),
                    capacity_by_source_app={k: int(v) for k, v in (rl.get("capacityBySourceApp") or {}).items()},
                    reset_header=rl.get("resetHeader", "http-date"),
                )
            )
        if "down" in body:
            seconds = (body["down"] or {}).get("seconds")
            if seconds is None:
                return _error(400, "down needs seconds: the control API goes down with the listener")
            # Answer first, then drop the listener.
            asyncio.get_running_loop().call_later(0.05, lambda: self._spawn(self.go_down(float(seconds))))
        return web.json_response({"ok": True})

    async def _c_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.clear_faults()
        self.set_rate_limit(None)
        return web.json_response({"ok": True})

    async def _c_ui_save(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if not isinstance(body, dict) or not isinstance(body.get("pipeline"), dict):
            return _error(400, "expected {principal, pipeline}")
        try:
            stored = self.ui_save_pipeline(body["pipeline"], str(body.get("principal", "alice")))
        except Rejected as e:
            return _error(e.status, e.message)
        return web.json_response(stored)

    async def _c_ui_delete(self, request: web.Request) -> web.StreamResponse:
        removed = self.state.pipelines.pop(request.match_info["id"], None)
        return web.json_response({"deleted": removed is not None})

    async def _c_clusters(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        clusters = body.get("clusters") if isinstance(body, dict) else None
        if not isinstance(clusters, dict):
            return _error(400, "expected {clusters: {account: [cluster, ...]}}")
        self.set_clusters(request.match_info["app"], clusters)
        return web.json_response({"ok": True})

    async def _c_poll(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"changed": self.state.poll_credentials()})

    async def _c_static_accounts(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        accounts = body.get("accounts") if isinstance(body, dict) else None
        if not isinstance(accounts, list):
            return _error(400, "expected {accounts: [...]}")
        self.state.static_accounts = {str(a["name"]): dict(a) for a in accounts if isinstance(a, dict)}
        return web.json_response({"ok": True})

    async def _c_accounts_api(self, request: web.Request) -> web.StreamResponse:
        """Body keys (all optional): storage, fiat, admins, accountManagers, secrets {reference: value}."""
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "expected {storage, fiat, admins, accountManagers, secrets}")
        self.set_accounts_api(
            storage=body.get("storage"),
            fiat=body.get("fiat"),
            admins=body.get("admins"),
            account_managers=body.get("accountManagers"),
            secrets=body.get("secrets"),
        )
        return web.json_response({"ok": True})

    async def _c_create_race(self, request: web.Request) -> web.StreamResponse:
        """Body {principal, account}: that principal's POST of `account` lands just before the next POST of its
        name (a concurrent create between a caller's listing and its own POST)."""
        body = await self._json(request)
        account = body.get("account") if isinstance(body, dict) else None
        if not isinstance(account, dict) or not isinstance(account.get("name"), str):
            return _error(400, "expected {principal, account: {name, ...}}")
        self.state.create_races[account["name"]] = (account, str(body.get("principal", "alice")))
        return web.json_response({"ok": True})

    async def _c_roles(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if not isinstance(body, dict):
            return _error(400, "expected {principal: [roles]}")
        self.state.principal_roles.update({str(k): [str(r) for r in v] for k, v in body.items()})
        return web.json_response({"ok": True})


class GateStandinThread:
    """Runs a `GateStandin` on its own event loop thread, for synchronous tests.

    `call(fn)` runs a plain function on the stand-in's loop (use it for the Python control API) and
    `run(coro)` runs a coroutine there (e.g. `run(standin.go_down(1.0))`).
    """

    def __init__(self, options: StandinOptions | None = None, **overrides: Any) -> None:
        self.standin = GateStandin(options, **overrides)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gate-standin", daemon=True)

    @property
    def url(self) -> str:
        return self.standin.url

    def __enter__(self) -> GateStandinThread:
        self._thread.start()
        self.run(self.standin.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.standin.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def call(self, fn: Callable[[], _T]) -> _T:
        async def run() -> _T:
            return fn()

        return self.run(run())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)
