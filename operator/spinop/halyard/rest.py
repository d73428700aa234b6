"""The REST transport: drives Halyard's daemon API (contract §2) over HTTP with aiohttp.

Paths are exactly the CLI's, trailing slashes included. Every call returns a DaemonTask that is polled on
`/v1/tasks/{uuid}/` (every 0.4 s by default, like `hal`) until it is terminal or the operation's deadline
passes; an overdue task is interrupted before giving up, so a later mutation cannot overlap it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from ..redact import Redacted
from .errors import (
    HalyardNotFound,
    HalyardNotSupported,
    HalyardProtocolError,
    HalyardRejected,
    HalyardTaskOverdue,
    HalyardUnavailable,
    failure_for,
)
from .model import Problem, TaskResult, task_children, task_events

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "FAILED", "INTERRUPTED", "TIMED_OUT")
FIRST_POLL_DELAY = 0.025  # seconds before the first poll of a task; doubles up to poll_interval
_NO_BODY = object()


def poll_delays(first: float, cap: float) -> Iterator[float]:
    """Pauses between task polls: doubling from `first` up to `cap`, then `cap` for ever.

    Config tasks usually end within tens of milliseconds, so the first polls come quickly; a deploy that runs for
    minutes is then polled at the CLI's own interval, no harder than `hal` polls it.
    """
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * 2, cap)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _problems(raw: Any) -> tuple[Problem, ...]:
    if not isinstance(raw, Mapping):
        return ()
    problems = raw.get("problems") or []
    return tuple(Problem.from_json(p) for p in problems if isinstance(p, Mapping))


class RestTransport:
    """Talks to the daemon at `url` (e.g. `http://spin-halyard.spinnaker:8064`)."""

    name = "rest"

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 10.0,
        task_timeout: float = 120.0,
        deploy_timeout: float = 35 * 60.0,
        poll_interval: float = 0.4,
        max_poll_failures: int = 3,
        severity: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self.request_timeout = request_timeout
        self.task_timeout = task_timeout
        self.deploy_timeout = deploy_timeout
        self.poll_interval = poll_interval
        self.max_poll_failures = max_poll_failures
        self.severity = severity

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout))
        return self._session

    # -- HTTP ---------------------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, operation: str, params: Sequence[tuple[str, str]] = (), body: Any = _NO_BODY
    ) -> Any:
        data = None if body is _NO_BODY else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._client().request(
                method,
                self.url + path,
                params=list(params),
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise HalyardUnavailable(
                f"cannot reach the Halyard daemon at {self.url} ({type(e).__name__}: {e})", operation=operation
            ) from None
        if status >= 500:
            raise HalyardUnavailable(f"Halyard answered HTTP {status} to {method} {path}", operation=operation)
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise HalyardProtocolError(
                    f"HTTP {status} with a non-JSON body from {method} {path}: {text[:200]!r}", operation=operation
                ) from None
        if status >= 400:
            problems = _problems(parsed.get("problemSet")) if isinstance(parsed, Mapping) else ()
            if problems and status == 404:
                raise HalyardNotFound(operation, problems)
            if problems:
                raise HalyardRejected(operation, problems)
            raise HalyardProtocolError(f"HTTP {status} from {method} {path}: {text[:300]}", operation=operation)
        return parsed

    def _params(self, validate: bool | None, **extra: Any) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if validate is not None:
            params.append(("validate", "true" if validate else "false"))
            if self.severity is not None:
                params.append(("severity", self.severity))
        for key, value in extra.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                if item is not None:
                    params.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
        return params

    # -- tasks --------------------------------------------------------------------------------------------

    async def _wait(self, task: Mapping[str, Any], operation: str, time_limit: float) -> Mapping[str, Any]:
        uuid = task.get("uuid")
        if not isinstance(uuid, str):
            raise HalyardProtocolError(f"expected a DaemonTask, got {str(task)[:200]}", operation=operation)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_limit
        failures = 0
        delays = poll_delays(FIRST_POLL_DELAY, self.poll_interval)
        while task.get("state") not in TERMINAL:
            if loop.time() > deadline:
                await self._interrupt(uuid, operation)
                events = task_events(task)
                raise HalyardTaskOverdue(
                    f"task {uuid} ({task.get('name')}) did not finish within {time_limit:.0f}s; interrupted it"
                    + (f" (last event: {events[-1]})" if events else ""),
                    operation=operation,
                    stage=events[-1].split(": ", 1)[0] if events else None,
                )
            await asyncio.sleep(next(delays))
            try:
                polled = await self._request("GET", f"/v1/tasks/{_seg(uuid)}/", operation)
            except HalyardUnavailable:
                failures += 1
                if failures > self.max_poll_failures:
                    raise
                continue
            if polled is None:
                raise HalyardUnavailable(
                    f"task {uuid} vanished from the daemon (restarted, or polled too late)", operation=operation
                )
            if not isinstance(polled, Mapping):
                raise HalyardProtocolError(f"unexpected task JSON {str(polled)[:200]}", operation=operation)
            failures = 0
            task = polled
        return task

    async def running_tasks(self) -> list[Mapping[str, Any]]:
        """Tasks the daemon has not finished (`GET /v1/tasks/`, shallow task info), whoever started them."""
        listing = await self._request("GET", "/v1/tasks/", "list running tasks")
        tasks = listing.get("tasks") if isinstance(listing, Mapping) else None
        running = []
        for task in tasks or []:
            if not isinstance(task, Mapping):
                continue
            if "state" not in task and isinstance(task.get("uuid"), str):
                task = await self._request("GET", f"/v1/tasks/{_seg(task['uuid'])}/", "poll task") or {}
            if task and task.get("state") not in TERMINAL:
                running.append(task)
        return running

    async def wait_idle(self, time_limit: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_limit
        while True:
            running = await self.running_tasks()
            if not running:
                return
            if loop.time() > deadline:
                names = ", ".join(f"{t.get('name')} ({t.get('uuid')})" for t in running)
                raise HalyardUnavailable(
                    f"Halyard is still running {names} after {time_limit:.0f}s; spinop changes nothing until it ends",
                    operation="wait for running tasks",
                )
            await asyncio.sleep(max(self.poll_interval, 0.5))

    async def _interrupt(self, uuid: str, operation: str) -> None:
        try:
            await self._request("PUT", f"/v1/tasks/{_seg(uuid)}/interrupt", operation, body="")
        except Exception as e:
            log.warning("%s: interrupting Halyard task %s failed: %s", operation, uuid, e)

    async def _run(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = _NO_BODY,
        time_limit: float | None = None,
    ) -> TaskResult:
        started = await self._request(method, path, operation, params, body)
        if not isinstance(started, Mapping):
            raise HalyardProtocolError(f"expected a DaemonTask, got {str(started)[:200]}", operation=operation)
        task = await self._wait(started, operation, time_limit or self.task_timeout)
        response = task.get("response") or {}
        problems = _problems(response.get("problemSet") if isinstance(response, Mapping) else None)
        state = str(task.get("state"))
        children = task_children(task)
        if state != "SUCCEEDED":
            fatal = task.get("fatalError")
            fatal_message = str(fatal.get("message")) if isinstance(fatal, Mapping) else None
            raise failure_for(
                operation, state, problems, fatal_error=fatal_message, children=children, uuid=str(task.get("uuid"))
            )
        return TaskResult(
            operation=operation,
            state=state,
            uuid=str(task.get("uuid")),
            problems=problems,
            body=response.get("responseBody") if isinstance(response, Mapping) else None,
            events=task_events(task),
            children=children,
            transport=self.name,
        )

    # -- operations ---------------------------------------------------------------------------------------

    @staticmethod
    def _deployment_path(deployment: str) -> str:
        return f"/v1/config/deployments/{_seg(deployment)}/"

    def _accounts_path(self, deployment: str, provider: str = "kubernetes") -> str:
        return f"{self._deployment_path(deployment)}providers/{_seg(provider)}/accounts/"

    async def health(self) -> bool:
        try:
            body = await self._request("GET", "/health", "health")
        except (HalyardUnavailable, HalyardProtocolError):
            return False
        return isinstance(body, Mapping) and str(body.get("status", "")).upper() == "UP"

    async def current_deployment(self) -> str:
        result = await self._run("GET", "/v1/config/currentDeployment/", "get current deployment")
        if not isinstance(result.body, str) or not result.body:
            raise HalyardProtocolError(f"unexpected current deployment {result.body!r}", operation="current deployment")
        return result.body

    async def get_deployment(self, deployment: str) -> dict[str, Any]:
        result = await self._run(
            "GET", self._deployment_path(deployment), f"get deployment {deployment}", params=self._params(False)
        )
        return dict(result.body or {})

    async def get_provider(self, deployment: str, provider: str) -> dict[str, Any]:
        result = await self._run(
            "GET",
            f"{self._deployment_path(deployment)}providers/{_seg(provider)}/",
            f"get provider {provider}",
            params=self._params(False),
        )
        return dict(result.body or {})

    async def get_account(self, deployment: str, name: str) -> dict[str, Any]:
        result = await self._run(
            "GET",
            f"{self._accounts_path(deployment)}account/{_seg(name)}/",
            f"get account {name}",
            params=self._params(False),
        )
        return dict(result.body or {})

    async def set_provider(self, deployment: str, provider: str, body: dict[str, Any], validate: bool) -> TaskResult:
        """Replace the whole provider (its accounts included) in one task: Halyard's ProviderController loads the
        halconfig once, sets the provider, validates it and saves once, or saves nothing when it refuses."""
        return await self._run(
            "PUT",
            f"{self._deployment_path(deployment)}providers/{_seg(provider)}/",
            f"set provider {provider}",
            params=self._params(validate),
            body=body,
        )

    async def add_account(self, deployment: str, account: dict[str, Any], validate: bool) -> TaskResult:
        return await self._run(
            "POST",
            self._accounts_path(deployment),
            f"add account {account.get('name')}",
            params=self._params(validate),
            body=account,
        )

    async def replace_account(self, deployment: str, name: str, account: dict[str, Any], validate: bool) -> TaskResult:
        return await self._run(
            "PUT",
            f"{self._accounts_path(deployment)}account/{_seg(name)}/",
            f"replace account {name}",
            params=self._params(validate),
            body=account,
        )

    async def delete_account(self, deployment: str, name: str, validate: bool) -> TaskResult:
        return await self._run(
            "DELETE",
            f"{self._accounts_path(deployment)}account/{_seg(name)}/",
            f"delete account {name}",
            params=self._params(validate),
        )

    async def set_provider_enabled(self, deployment: str, provider: str, enabled: bool, validate: bool) -> TaskResult:
        return await self._run(
            "PUT",
            f"{self._deployment_path(deployment)}providers/{_seg(provider)}/enabled/",
            f"{'enable' if enabled else 'disable'} provider {provider}",
            params=self._params(validate),
            body=enabled,
        )

    async def prep(
        self, deployment: str, service_names: Sequence[str], exclude: Sequence[str], validate: bool
    ) -> TaskResult:
        return await self._run(
            "POST",
            f"{self._deployment_path(deployment)}prep/",
            "prep deployment",
            params=self._params(validate, serviceNames=list(service_names), excludeServiceNames=list(exclude)),
            body="",
            time_limit=max(self.task_timeout, 300.0),
        )

    async def deploy(
        self,
        deployment: str,
        service_names: Sequence[str],
        exclude: Sequence[str],
        validate: bool,
        wait_for_completion: bool,
        wait_timeout_minutes: int | None,
    ) -> TaskResult:
        """`hal deploy apply`: prep (validating) then deploy with validate=false, as the CLI does."""
        prep = await self.prep(deployment, service_names, exclude, validate)
        result = await self._run(
            "POST",
            f"{self._deployment_path(deployment)}deploy/",
            "deploy " + (",".join(service_names) or "all services"),
            params=self._params(
                False,
                deployOptions=["WAIT_FOR_COMPLETION"] if wait_for_completion else [],
                serviceNames=list(service_names),
                excludeServiceNames=list(exclude),
                waitForCompletionTimeoutMinutes=wait_timeout_minutes,
            ),
            body="",
            time_limit=self.deploy_timeout,
        )
        return TaskResult(
            operation=result.operation,
            state=result.state,
            uuid=result.uuid,
            problems=prep.problems + result.problems,
            body=result.body,
            events=prep.events + result.events,
            children=result.children,
            transport=self.name,
        )

    async def write_file(self, path: str, content: Redacted[bytes], mode: int) -> None:
        raise HalyardNotSupported(
            "the REST transport cannot place files in the Halyard pod; use the exec transport "
            "(or reference kubeconfigs as encryptedFile:/configserver: or use serviceAccount: true)",
            operation=f"write {path}",
        )

    async def remove_file(self, path: str) -> None:
        raise HalyardNotSupported(
            "the REST transport cannot remove files from the Halyard pod; use the exec transport",
            operation=f"remove {path}",
        )
