"""The Gate client: applications, Orca tasks, pipeline configs and the account management API (`/credentials`).

Follows shared/contracts/gate-pipelines.md §1/§3/§5 and accounts-and-rbac.md §2. Every Gate failure leaves this
module as a `GateError` subclass (see errors.py); nothing here logs or raises request bodies or credentials.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import json
import logging
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from spinop.redact import Redacted, scrub

from .errors import (
    GateAccountExists,
    GateAccountRolesExcludeCaller,
    GateAccountsApiDisabled,
    GateDuplicateName,
    GateError,
    GateNotFound,
    GateRateLimited,
    GateRejected,
    GateSaveStillRunning,
    GateStale,
    GateTaskFailed,
    GateUnauthorized,
    GateUnavailable,
    GateUnroutablePath,
)
from .paths import segment, unroutable_reason
from .settings import BasicAuth, BearerAuth, GateSettings

log = logging.getLogger("spinop.gate")

TASK_END_STATUSES = frozenset({"SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE", "CANCELED"})
_DUPLICATE_RE = re.compile(r"A pipeline with name (.+) already exists in application (\S+)")
_NOT_DONE_RE = re.compile(r"did not succeed: (\S+) \(status: ([A-Z_]+)\)")
# Keys of account definitions whose values are credentials; they come back wrapped in Redacted.
_SECRET_KEY_RE = re.compile(r"(?i)(contents|password|token|secret|privatekey|apikey)$")


@dataclass(frozen=True)
class TaskResult:
    id: str
    status: str
    errors: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass(frozen=True)
class Application:
    """An application as Gate shows it (`attributes` holds Front50's stored fields)."""

    name: str
    attributes: dict[str, Any]

    @property
    def email(self) -> str | None:
        value = self.attributes.get("email")
        return value if isinstance(value, str) else None

    @property
    def permissions(self) -> dict[str, list[str]]:
        value = self.attributes.get("permissions")
        return value if isinstance(value, dict) else {}

    @property
    def cloud_providers(self) -> list[str]:
        value = self.attributes.get("cloudProviders")
        if isinstance(value, str):
            return [p for p in value.split(",") if p]
        return [str(p) for p in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text) if self.text.strip() else None
        except ValueError:
            # e.g. an HTML page from a proxy in front of Gate
            raise GateUnavailable(f"Gate answered {self.status} with a body that is not JSON") from None

    def message(self) -> str:
        try:
            body = self.json()
        except GateUnavailable:
            body = None
        if isinstance(body, dict):
            for key in ("message", "error"):
                if isinstance(body.get(key), str) and body[key]:
                    return str(body[key])
        return self.text.strip()[:500] or f"HTTP {self.status}"


def _reveal(value: Any, secrets: list[str]) -> Any:
    """A JSON-ready copy of `value` with Redacted values revealed (and remembered, to scrub from errors)."""
    if isinstance(value, Redacted):
        revealed = value.reveal()
        text = revealed.decode() if isinstance(revealed, bytes) else revealed
        if text:
            secrets.append(text)
        return text
    if isinstance(value, Mapping):
        return {str(k): _reveal(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v, secrets) for v in value]
    return value


def _wrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: Redacted(v) if isinstance(v, str) and _SECRET_KEY_RE.search(k) else _wrap_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_wrap_secrets(v) for v in value]
    return value


def _scrub(message: str, secrets: list[str]) -> str:
    # Also JSON-escaped copies and pieces of a token (clouddriver echoes request bodies, Gate truncates them).
    return scrub(message, secrets) if secrets else message


def reset_wait_seconds(value: str | None, now: float) -> float | None:
    """Seconds until an `X-RateLimit-Reset` value: an HTTP date (what Gate sends), epoch s or epoch ms."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return (number / 1000.0 if number > 1e11 else number) - now


class GateClient:
    """Async client of Spinnaker Gate. Use as `async with GateClient(settings) as gate:` or call `close()`."""

    def __init__(self, settings: GateSettings, *, session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings
        self._base = settings.url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._ssl: ssl.SSLContext | None = settings.ssl_context()

    async def __aenter__(self) -> GateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
            self._session = aiohttp.ClientSession(connector=connector)
            self._owns_session = True
        return self._session

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.settings.rate_limit_app:
            headers["X-RateLimit-App"] = self.settings.rate_limit_app
        auth = self.settings.auth
        if isinstance(auth, BasicAuth):
            raw = f"{auth.username}:{auth.password.reveal()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif isinstance(auth, BearerAuth):
            headers["Authorization"] = "Bearer " + auth.token.reveal()
        return headers

    @staticmethod
    def path(*segments: str) -> str:
        """The URL path of `segments`, each percent-encoded; GateRejected for one Gate cannot route (see paths.py)."""
        for value in segments:
            reason = unroutable_reason(value)
            if reason is not None:
                raise GateUnroutablePath(f"cannot address {reason}")
        return "".join("/" + segment(s) for s in segments)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        retry_reads: bool | None = None,
        time_limit: float | None = None,
    ) -> _Response:
        """One Gate call with its error mapping: 429 back-off, read retries, 5xx/401 as our errors.

        Returns any 2xx or 4xx (other than 401/403/429) response for the caller to interpret.
        """
        secrets: list[str] = []
        data = json.dumps(_reveal(body, secrets)) if body is not None else None
        retry_reads = method == "GET" if retry_reads is None else retry_reads
        url = URL(self._base + path, encoded=True)
        if params:
            url = url.update_query(params)
        client_timeout = aiohttp.ClientTimeout(
            total=time_limit or self.settings.request_timeout, sock_connect=self.settings.connect_timeout
        )
        failures = throttled = 0
        while True:
            started = time.monotonic()
            try:
                async with self._http().request(
                    method,
                    url,
                    data=data,
                    headers=self._headers(data is not None),
                    timeout=client_timeout,
                    allow_redirects=False,
                ) as resp:
                    response = _Response(resp.status, CIMultiDict(resp.headers), await resp.text())
            except (aiohttp.ClientSSLError, ssl.SSLError) as e:
                raise GateUnauthorized(f"{method} {path}: TLS with Gate failed ({type(e).__name__})") from None
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                failure = GateUnavailable(
                    f"{method} {path}: {type(e).__name__}: {_scrub(str(e), secrets)}",
                    may_have_reached=not isinstance(e, aiohttp.ClientConnectorError),
                )
                if retry_reads and failures < self.settings.read_retries:
                    failures += 1
                    await asyncio.sleep(self.settings.retry_backoff * failures)
                    continue
                raise failure from None
            log.debug("gate %s %s -> %s in %.3fs", method, path, response.status, time.monotonic() - started)

            if response.status == 429:
                if throttled >= self.settings.rate_limit_retries:
                    raise GateRateLimited(
                        f"{method} {path}: Gate kept answering 429 after {throttled} retries", status=429
                    )
                await asyncio.sleep(self._rate_limit_wait(response.headers, throttled))
                throttled += 1
                continue
            if response.status >= 500:
                message = _scrub(response.message(), secrets)
                if retry_reads and failures < self.settings.read_retries:
                    failures += 1
                    await asyncio.sleep(self.settings.retry_backoff * failures)
                    continue
                raise GateUnavailable(
                    f"{method} {path}: Gate answered {response.status}: {message}", status=response.status
                )
            if response.status in (401, 403):
                message = _scrub(response.message(), secrets)
                raise GateUnauthorized(f"{method} {path}: {response.status}: {message}", status=response.status)
            if 300 <= response.status < 400:
                raise GateUnauthorized(
                    f"{method} {path}: redirected to {response.headers.get('Location', '?')} (a login page?)",
                    status=response.status,
                )
            if response.status >= 400:
                return _Response(response.status, response.headers, _scrub(response.text, secrets))
            return response

    def _rate_limit_wait(self, headers: Mapping[str, str], attempt: int) -> float:
        s = self.settings
        wait = reset_wait_seconds(headers.get("X-RateLimit-Reset"), time.time())
        if wait is None or wait <= 0:
            # No usable reset (or one already past, as Gate's whole-second dates can be): back off exponentially.
            wait = s.rate_limit_min_wait * (2**attempt)
        return min(max(wait, s.rate_limit_min_wait), s.rate_limit_max_wait)

    @staticmethod
    def _rejected(method: str, path: str, response: _Response) -> GateRejected:
        message = response.message()
        cls = GateNotFound if response.status == 404 else GateRejected
        return cls(f"{method} {path}: {response.status}: {message}", status=response.status)

    async def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = await self._request("GET", path, params=params)
        if response.status >= 400:
            raise self._rejected("GET", path, response)
        return response.json()

    # ---- applications and tasks -------------------------------------------------------------------------

    async def list_applications(self) -> list[dict[str, Any]]:
        body = await self._get_json("/applications")
        return [a for a in body if isinstance(a, dict)] if isinstance(body, list) else []

    async def get_application(self, name: str) -> Application | None:
        """`GET /applications/{app}?expand=false`; None when Gate answers 404."""
        path = self.path("applications", name)
        response = await self._request("GET", path, params={"expand": "false"})
        if response.status == 404:
            return None
        if response.status >= 400:
            raise self._rejected("GET", path, response)
        body = response.json()
        attributes = body.get("attributes") if isinstance(body, dict) else None
        if not isinstance(attributes, dict):
            raise GateRejected(f"GET {path}: the answer has no attributes")
        return Application(name=str(body.get("name") or attributes.get("name") or name), attributes=attributes)

    async def submit_task(self, body: Mapping[str, Any]) -> str:
        """`POST /tasks`; returns the task id from Gate's `{"ref": "/tasks/<id>"}`."""
        response = await self._request("POST", "/tasks", body=body)
        if response.status >= 400:
            raise self._rejected("POST", "/tasks", response)
        ref = (response.json() or {}).get("ref")
        if not isinstance(ref, str) or not ref.strip("/"):
            raise GateRejected("POST /tasks: the answer has no task ref")
        return ref.rstrip("/").rsplit("/", 1)[-1]

    async def wait_for_task(self, task_id: str) -> TaskResult:
        """Poll `GET /tasks/{id}` until the task ends (as spin's task watcher does)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.task_timeout
        path = self.path("tasks", task_id)
        while True:
            body = await self._get_json(path)
            status = str(body.get("status", "")) if isinstance(body, dict) else ""
            if status in TASK_END_STATUSES:
                return TaskResult(task_id, status, task_errors(body))
            if loop.time() >= deadline:
                raise GateUnavailable(f"task {task_id} still {status or 'unknown'} after {self.settings.task_timeout}s")
            await asyncio.sleep(self.settings.task_poll_interval)

    async def run_task(self, body: Mapping[str, Any]) -> TaskResult:
        """Submit an Orca task and wait for it; raises GateTaskFailed unless it SUCCEEDED."""
        task_id = await self.submit_task(body)
        result = await self.wait_for_task(task_id)
        if not result.succeeded:
            reason = result.errors[0] if result.errors else "no error given"
            raise GateTaskFailed(
                f"task {task_id} ended {result.status}: {reason}",
                task_id=task_id,
                task_status=result.status,
                errors=result.errors,
            )
        return result

    async def upsert_application(
        self,
        name: str,
        *,
        email: str,
        permissions: Mapping[str, list[str]] | None = None,
        cloud_providers: tuple[str, ...] = ("kubernetes",),
        description: str | None = None,
    ) -> TaskResult:
        """Create the application or update it (Orca UpsertApplicationTask); PUTs `permissions` when given."""
        app: dict[str, Any] = {"name": name, "email": email, "cloudProviders": ",".join(cloud_providers)}
        if description is not None:
            app["description"] = description
        if permissions is not None:
            app["permissions"] = {k: list(v) for k, v in permissions.items()}
        return await self.run_task(
            {
                "application": name,
                "description": f"Create/update application {name} (spinop)",
                "job": [{"type": "upsertApplication", "application": app}],
            }
        )

    async def delete_application(self, name: str) -> bool:
        """Delete an application (cascades to its pipelines!). False when it did not exist."""
        if await self.get_application(name) is None:
            return False
        await self.run_task(
            {
                "application": name,
                "description": f"Delete application {name} (spinop)",
                "job": [{"type": "deleteApplication", "application": {"name": name}}],
            }
        )
        return True

    # ---- pipeline configs -------------------------------------------------------------------------------

    async def list_pipeline_configs(self, application: str, name_filter: str | None = None) -> list[dict[str, Any]]:
        params = {"pipelineNameFilter": name_filter} if name_filter else None
        body = await self._get_json(self.path("applications", application, "pipelineConfigs"), params)
        return [p for p in body if isinstance(p, dict)] if isinstance(body, list) else []

    async def get_pipeline_config(self, application: str, name: str) -> dict[str, Any] | None:
        """The config whose name is exactly `name` (case-sensitive, as Gate matches); None on 404."""
        path = self.path("applications", application, "pipelineConfigs", name)
        response = await self._request("GET", path)
        if response.status == 404:
            return None
        if response.status >= 400:
            raise self._rejected("GET", path, response)
        body = response.json()
        return body if isinstance(body, dict) and body else None

    async def find_pipeline(self, application: str, pipeline_id: str) -> dict[str, Any] | None:
        """Read a pipeline back by id through the list endpoint (Gate has no get-by-id for configs)."""
        for config in await self.list_pipeline_configs(application):
            if config.get("id") == pipeline_id:
                return config
        return None

    async def save_pipeline(self, pipeline: Mapping[str, Any], *, stale_check: bool = False) -> None:
        """`POST /pipelines[?staleCheck=true]`. With `stale_check`, send the `lastModified` last read.

        Raises GateDuplicateName, GateStale, GateSaveStillRunning (read back before retrying; also raised when
        the answer never came, since the save may have gone through), GateRejected, GateUnavailable.
        """
        params = {"staleCheck": "true"} if stale_check else None
        try:
            response = await self._request(
                "POST", "/pipelines", params=params, body=pipeline, time_limit=self.settings.save_timeout
            )
        except GateUnavailable as e:
            if not e.may_have_reached:
                raise
            raise GateSaveStillRunning(
                f"POST /pipelines: no answer from Gate ({e.message}); the save may still complete", task_id=None
            ) from None
        if response.status < 400:
            return
        raise pipeline_save_error(response.status, response.message(), pipeline)

    async def update_pipeline(self, pipeline_id: str, pipeline: Mapping[str, Any]) -> dict[str, Any]:
        """`PUT /pipelines/{id}`. Returns the stored config ({} when Gate answers with none).

        Gate never compares the path id with the body's (gate PipelineController.updatePipeline saves the body
        through Orca's SavePipelineTask), so a body with another id, or none, would overwrite or create another
        pipeline: this refuses it before sending.
        """
        if pipeline.get("id") != pipeline_id:
            raise GateRejected(
                f"PUT /pipelines/{{id}}: the body's id {pipeline.get('id')!r} is not {pipeline_id!r}; Gate would save "
                "the body's pipeline, not this one"
            )
        path = self.path("pipelines", pipeline_id)
        response = await self._request("PUT", path, body=pipeline, time_limit=self.settings.save_timeout)
        if response.status >= 400:
            raise pipeline_save_error(response.status, response.message(), pipeline)
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def wait_for_pipeline(
        self,
        application: str,
        pipeline_id: str,
        *,
        newer_than: int | None = None,
        within: float = 60.0,
        interval: float = 1.0,
    ) -> dict[str, Any] | None:
        """Read back until the pipeline exists (and its `lastModified` is above `newer_than`); None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            config = await self.find_pipeline(application, pipeline_id)
            if config is not None:
                stamp = config.get("lastModified")
                if newer_than is None or (isinstance(stamp, int) and stamp > newer_than):
                    return config
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(interval)

    async def delete_pipeline(self, application: str, name: str, *, pipeline_id: str | None = None) -> bool:
        """Delete a pipeline and confirm it through the list (Gate says 200 even when nothing matched).

        Gate deletes the first config whose trimmed name equals `name` ignoring case. To never delete someone
        else's pipeline, this refuses (GateDuplicateName) when more than one config matches. With `pipeline_id`,
        the pipeline is found by id (its current name is used, so a UI rename is followed) and a name match
        under another id is refused. Returns False when there was nothing to delete.
        """
        configs = await self.list_pipeline_configs(application)
        if pipeline_id is not None:
            target = next((c for c in configs if c.get("id") == pipeline_id), None)
            if target is None:
                return False
            name = str(target.get("name", name))
        matches = [c for c in configs if str(c.get("name", "")).strip().lower() == name.strip().lower()]
        if not matches:
            return False
        if len(matches) > 1 or (pipeline_id is not None and matches[0].get("id") != pipeline_id):
            ids = ", ".join(str(c.get("id")) for c in matches)
            raise GateDuplicateName(
                f"{len(matches)} pipelines in application {application} match the name {name!r} "
                f"ignoring case (ids {ids}); deleting by name would be a guess",
                application=application,
                name=name,
                status=None,
            )
        target_id = matches[0].get("id")
        path = self.path("pipelines", application, name.strip())
        response = await self._request("DELETE", path)
        if response.status >= 400:
            raise self._rejected("DELETE", path, response)
        if any(c.get("id") == target_id for c in await self.list_pipeline_configs(application)):
            raise GateUnavailable(f"DELETE {path} answered {response.status} but pipeline {target_id} is still there")
        return True

    # ---- account management API (/credentials) ----------------------------------------------------------

    async def list_credentials(self, *, expand: bool = True) -> list[dict[str, Any]]:
        """`GET /credentials?expand=`: the accounts clouddriver has loaded, with `permissions` and `authorized`."""
        body = await self._get_json("/credentials", {"expand": "true" if expand else "false"})
        return [a for a in body if isinstance(a, dict)] if isinstance(body, list) else []

    async def list_accounts(
        self,
        account_type: str = "kubernetes",
        *,
        page_size: int = 100,
        starting_name: str | None = None,
        pages: int | None = None,
    ) -> list[dict[str, Any]]:
        """All stored account definitions of a type: `GET /credentials/type/{type}?limit&startingAccountName`.

        `startingAccountName` is inclusive and clouddriver drops rows *after* its SQL LIMIT (secrets it cannot
        decrypt, Fiat's post-filter), so a short page does not mean the end: page until one brings no new name.
        Credential-looking fields (kubeconfigContents, passwords, tokens ...) come back as `Redacted`.
        """
        path = self.path("credentials", "type", account_type)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        start = starting_name
        for _page in itertools.count() if pages is None else range(pages):
            # The starting name comes back again, so later pages ask for one more to move by a full page.
            params = {"limit": str(page_size if start is None or start == starting_name else page_size + 1)}
            if start is not None:
                params["startingAccountName"] = start
            response = await self._request("GET", path, params=params)
            if response.status >= 400:
                raise _account_error("GET", path, response)
            page = response.json()
            page = [a for a in page if isinstance(a, dict) and a.get("name")] if isinstance(page, list) else []
            fresh = [a for a in page if str(a["name"]) not in seen]
            if not fresh:
                return out
            for account in fresh:
                seen.add(str(account["name"]))
                out.append(_wrap_secrets(account))
            start = max(str(a["name"]) for a in page)
        return out

    @staticmethod
    def _definition_keys(definition: Mapping[str, Any]) -> str:
        name, kind = definition.get("name"), definition.get("type")
        if not isinstance(name, str) or not name or not isinstance(kind, str) or not kind:
            raise ValueError('an account definition needs "name" and "type"')
        if "@type" in definition:
            raise ValueError('clouddriver reads the account type from "type"; "@type" is refused')
        return name

    async def create_account(self, definition: Mapping[str, Any]) -> None:
        """`POST /credentials`: refused (GateAccountExists) when clouddriver already has the name.

        Secrets inside `definition` may be `Redacted`; they are revealed only into the request body.
        """
        self._definition_keys(definition)
        try:
            response = await self._request("POST", "/credentials", body=definition)
        except GateUnavailable as err:
            # Stored but not yet loaded: the SQL insert hits the primary key (clouddriver-sql
            # SqlAccountDefinitionRepository.create) and clouddriver answers 5xx.
            if err.status is not None and _DUPLICATE_KEY_RE.search(err.message):
                raise GateAccountExists(err.message, status=err.status) from None
            raise
        if response.status >= 400:
            raise _account_error("POST", "/credentials", response)

    async def update_account(self, definition: Mapping[str, Any]) -> None:
        """`PUT /credentials`: clouddriver's saveAccount, an upsert (creates a missing or deleted name; never 404)."""
        self._definition_keys(definition)
        response = await self._request("PUT", "/credentials", body=definition)
        if response.status >= 400:
            raise _account_error("PUT", "/credentials", response)

    async def delete_account(self, name: str) -> bool:
        """`DELETE /credentials/{name}`; False when there was no such account."""
        path = self.path("credentials", name)
        response = await self._request("DELETE", path)
        if response.status == 404:
            return False
        if response.status >= 400:
            raise _account_error("DELETE", path, response)
        return True


_DUPLICATE_KEY_RE = re.compile(r"(?i)duplicate key|DataIntegrityViolation|Duplicate entry")


def _account_error(method: str, path: str, response: _Response) -> GateRejected:
    """A 4xx from clouddriver's account management API (through Gate) as our error, by clouddriver's texts."""
    message = response.message()
    text = f"{method} {path}: {response.status}: {message}"
    if response.status == 404:
        return GateNotFound(text, status=404)
    if "Cannot create an account which already exists" in message or (
        # clouddriver-sql SqlAccountDefinitionRepository.create wraps the failed insert (a UserException: 400)
        method == "POST" and "Cannot create account with definition" in message
    ):
        return GateAccountExists(text, status=response.status)
    if "without enabling AccountDefinitionService" in message:
        return GateAccountsApiDisabled(text, status=response.status)
    if "without granting permissions for current user" in message:
        return GateAccountRolesExcludeCaller(text, status=response.status)
    return GateRejected(text, status=response.status)


def task_errors(task: Any) -> list[str]:
    """The error messages of an Orca task (`variables[exception].value.details.errors`, then `.error`)."""
    if not isinstance(task, dict):
        return []
    for variable in task.get("variables") or []:
        if isinstance(variable, dict) and variable.get("key") == "exception":
            details = (variable.get("value") or {}).get("details") or {}
            errors = details.get("errors")
            if isinstance(errors, list) and errors:
                return [str(e) for e in errors]
            if details.get("error"):
                return [str(details["error"])]
    return []


def pipeline_save_error(status: int, message: str, pipeline: Mapping[str, Any]) -> GateError:
    """Classify Gate's answer to a pipeline save (a 400 carrying the Orca task's first error)."""
    duplicate = _DUPLICATE_RE.search(message)
    if duplicate:
        return GateDuplicateName(message, application=duplicate.group(2), name=duplicate.group(1), status=status)
    if "is stale" in message:
        return GateStale(message, status=status)
    not_done = _NOT_DONE_RE.search(message)
    if not_done and not_done.group(2) not in TASK_END_STATUSES:
        return GateSaveStillRunning(message, task_id=not_done.group(1), status=status)
    cls = GateNotFound if status == 404 else GateRejected
    name = pipeline.get("name")
    return cls(f"saving pipeline {name!r}: {status}: {message}", status=status)
