"""The REST API of the test double of the Halyard daemon (contract §2), served by aiohttp over real HTTP.

Every config and deploy endpoint returns a DaemonTask at once; the worker follows Halyard's update flow
(load the config → update → validate → save only if no problem is above `severity`), so a rejected change is
never written. The halconfig lives on disk under the pod filesystem root. Deploys copy each kubeconfig file the
way `BackupService` does and are recorded, so tests can assert what clouddriver would have received.

Faults (connection drops, HTTP 500s, latency, failed/timed-out tasks, a deploy child failing) are injected per
test through `Faults` and `TaskRegistry.pending_faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web

from .halconfig import (
    FEATURE_KEYS,
    PROVIDER_NAMES,
    HalconfigError,
    HalconfigStore,
    default_halconfig,
    drop_unknown_account_keys,
    drop_unknown_provider_keys,
    effective_kubeconfig_file,
    find_deployment,
    find_provider,
    normalize_account,
    normalize_deployment,
    normalize_provider,
    serialize_account,
    serialize_deployment,
    serialize_halconfig,
    serialize_provider,
)
from .podfs import PodFilesystem, PodPathError
from .problems import (
    BadRequest,
    ConfigNotFound,
    HalException,
    IllegalConfig,
    Problem,
    Severity,
    problem_set_json,
    throw_if_severity_exceeds,
)
from .tasks import DaemonTask, Kind, PendingFault, State, TaskOutcome, TaskRegistry
from .validation import validate_account, validate_deployment, validate_provider

log = logging.getLogger(__name__)

# SpinnakerService.Type canonical names (DEP/spinnaker/v1/service/SpinnakerService.java).
SERVICE_NAMES = (
    "clouddriver",
    "clouddriver-bootstrap",
    "clouddriver-caching",
    "clouddriver-ro",
    "clouddriver-ro-deck",
    "clouddriver-rw",
    "consul-client",
    "consul-server",
    "deck",
    "echo",
    "echo-scheduler",
    "echo-worker",
    "fiat",
    "front50",
    "gate",
    "igor",
    "kayenta",
    "orca",
    "orca-bootstrap",
    "redis",
    "redis-bootstrap",
    "rosco",
    "monitoring-daemon",
    "vault-client",
    "vault-server",
)
DEFAULT_SERVICES = ("clouddriver", "deck", "echo", "front50", "gate", "igor", "orca", "redis", "rosco")
DEPLOY_OPTIONS = ("OMIT_CONFIG", "FLUSH_INFRASTRUCTURE_CACHES", "DELETE_ORPHANED_SERVICES", "WAIT_FOR_COMPLETION")
REMOTE_FILE_PREFIXES = ("encrypted:", "encryptedFile:", "configserver:")


class UnexpectedError(Exception):
    """A non-Halyard exception in a worker; the task fails with FATAL "Unexpected exception: <class>: <msg>"."""

    def __init__(self, message: str, java_class: str = "java.lang.IllegalArgumentException") -> None:
        super().__init__(message)
        self.java_class = java_class


def service_from_canonical_name(name: str) -> str:
    """`SpinnakerService.Type.fromCanonicalName`: ignores `-`, `_` and case; an exact match, no expansion."""

    def reduce(n: str) -> str:
        return n.replace("-", "").replace("_", "").lower()

    for service in SERVICE_NAMES:
        if reduce(service) == reduce(name):
            return service
    raise UnexpectedError(f"No service with canonical name {name} exists.")


@dataclass
class DaemonSettings:
    home: str = "/home/spinnaker"
    halyard_version: str = "1.70.0"
    spinnaker_version: str = "1.36.1"
    task_latency_s: float = 0.02  # simulated work between loading and saving the config in every update task
    deploy_seconds: float = 0.05  # how long each "Deploy spin-<svc>" child runs
    default_services: tuple[str, ...] = DEFAULT_SERVICES
    task_retention_s: float = 120.0
    # TaskRepository.DEFAULT_TIMEOUT (1 minute): the timeout of every config task (not prep/deploy).
    config_task_timeout_s: float = 60.0


@dataclass
class Faults:
    down: str | None = None  # "refuse" (listener closed) or "drop" (connections closed without an answer)
    http500_remaining: int = 0
    http500_path: str | None = None
    latency_s: float = 0.0
    deploy_fail_service: str | None = None  # one-shot: "" means the middle service of the next deploy
    deploy_fail_armed: bool = False
    # Air-gapped daemon: the version lookup of validation (DeploymentConfigurationValidator → VersionsService →
    # GoogleProfileReader) waits on a connection that never comes: 2 minutes per attempt
    # (GoogleCredentials.retryRequestInitializer), authenticated then anonymous, so 4 minutes in all. That is longer
    # than a config task's 1-minute timeout, and Thread.interrupt() does not stop a blocking connect: the task shows
    # RUNNING with timedOut true until the lookup gives up, then (its save refused by the interrupt) ends TIMED_OUT
    # with nothing saved. The lookup's own failure is swallowed by ValidatorCollection.
    airgapped: bool = False
    network_timeout_s: float = 240.0
    config_task_timeout_s: float | None = None  # overrides DaemonSettings.config_task_timeout_s (short tests)
    # Fields this emulated Halyard build's KubernetesAccount lacks (an older release): dropped from request bodies
    # like any unknown field, as the daemon's DefaultObjectMapper does.
    absent_account_fields: list[str] = field(default_factory=list)
    # Accounts a validator of this Halyard refuses (an ERROR at the account's location, as KubernetesAccountValidator
    # reports one), so a test can make one account of a batch unacceptable without touching the others.
    refused_accounts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeployRecord:
    id: int
    deployment: str
    started_at: float
    requested_service_names: list[str]
    exclude_service_names: list[str]
    deploy_options: list[str]
    wait_for_completion_timeout_minutes: int | None
    service_names: list[str]
    accounts: list[dict[str, Any]]
    kubeconfigs: dict[str, dict[str, Any]]
    task_uuid: str
    state: str = "RUNNING"
    finished_at: float | None = None
    children: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment": self.deployment,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "state": self.state,
            "serviceNames": self.service_names,
            "requestedServiceNames": self.requested_service_names,
            "excludeServiceNames": self.exclude_service_names,
            "deployOptions": self.deploy_options,
            "waitForCompletionTimeoutMinutes": self.wait_for_completion_timeout_minutes,
            "accounts": self.accounts,
            "kubeconfigs": self.kubeconfigs,
            "children": self.children,
            "taskUuid": self.task_uuid,
        }


@dataclass(frozen=True)
class ValidationSettings:
    validate: bool = False
    severity: Severity = Severity.WARNING


def _parse_bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off", ""):
        return False
    raise web.HTTPBadRequest(text=f"Failed to convert value of type 'java.lang.String' to 'boolean' for {name}")


def _list_param(request: web.Request, name: str) -> list[str]:
    """Spring binds `List<String>` from repeated parameters and from comma-separated values."""
    out: list[str] = []
    for raw in request.query.getall(name, []):
        out.extend(v for v in raw.split(",") if v)
    return out


def _spring_error(request: web.Request, status: int, error: str, message: str) -> web.Response:
    return web.json_response(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "status": status,
            "error": error,
            "message": message,
            "path": request.path,
        },
        status=status,
    )


class HalyardDaemon:
    """State and REST handlers of one stand-in daemon."""

    def __init__(self, podfs: PodFilesystem, settings: DaemonSettings | None = None) -> None:
        self.settings = settings or DaemonSettings()
        self.podfs = podfs
        self.store = HalconfigStore(podfs.host_path(f"{self.settings.home}/.hal/config"), self.settings.home)
        self.registry = TaskRegistry(retention_s=self.settings.task_retention_s)
        self.faults = Faults()
        self.deploys: list[DeployRecord] = []
        self.requests: list[dict[str, str]] = []
        self.config_writes = 0  # halconfig saves by config tasks (Halyard saves the whole file once per task)
        self._lookups: set[asyncio.Future[None]] = set()  # air-gapped network waits in progress
        if not self.store.exists():
            self.reset_halconfig()

    # -- state helpers ----------------------------------------------------------------------------------

    @property
    def home(self) -> str:
        return self.settings.home

    def reset_halconfig(self) -> None:
        self.store.save(default_halconfig(self.settings.halyard_version, self.settings.spinnaker_version))

    def reset(self) -> None:
        self.reset_halconfig()
        self.deploys.clear()
        self.requests.clear()
        self.config_writes = 0
        self.faults = Faults()
        self.registry.reset()

    def fail_next_task(
        self,
        message: str = "Injected failure from the Halyard stand-in",
        *,
        severity: Severity = Severity.ERROR,
        location: str | None = None,
        remediation: str | None = None,
        match: str | None = None,
        reads: bool = False,
    ) -> None:
        problem = Problem(message, severity, location, remediation)
        self.registry.pending_faults.append(PendingFault("fail", match, problem, reads))

    def time_out_next_task(self, match: str | None = None, *, reads: bool = False) -> None:
        self.registry.pending_faults.append(PendingFault("timeout", match, reads=reads))

    # -- HTTP plumbing ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        self.requests.append({"method": request.method, "path": request.path_qs, "body": body})
        faults = self.faults
        if faults.down is not None:
            # Down but a kept-alive connection survived the listener: close it without an answer.
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if faults.latency_s > 0:
            await asyncio.sleep(faults.latency_s)
        if faults.http500_remaining > 0 and (faults.http500_path is None or faults.http500_path in request.path):
            faults.http500_remaining -= 1
            return _spring_error(request, 500, "Internal Server Error", "Injected by the Halyard stand-in")
        try:
            return await handler(request)
        except HalException as e:
            return web.json_response(
                {"responseBody": None, "problemSet": problem_set_json(e.problems)}, status=e.status
            )

    def app(self) -> web.Application:
        # No request-size limit, as upstream: halyard-web reads the provider PUT as `@RequestBody Object` through
        # Spring MVC's Jackson converter on embedded Tomcat (kork-tomcat sets no size), and Tomcat's maxPostSize
        # applies to form parameters only. aiohttp's default (1 MiB) refused a provider of ~1,100 accounts.
        app = web.Application(middlewares=[self._middleware], client_max_size=0)
        base = "/v1/config/deployments/{d}"
        acc = base + "/providers/{p}/accounts"
        app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/v1/tasks/", self.list_tasks),
                web.get("/v1/tasks/{uuid}/", self.get_task),
                web.put("/v1/tasks/{uuid}/interrupt", self.interrupt_task),
                web.get("/v1/config/", self.get_halconfig),
                web.get("/v1/config/currentDeployment/", self.get_current_deployment),
                web.put("/v1/config/currentDeployment/", self.set_current_deployment),
                web.get("/v1/config/deployments/", self.get_deployments),
                web.get(base + "/", self.get_deployment),
                web.put(base + "/", self.set_deployment),
                web.get(base + "/providers/{p}/", self.get_provider),
                web.put(base + "/providers/{p}/", self.set_provider),
                web.put(base + "/providers/{p}/enabled/", self.set_provider_enabled),
                web.get(acc + "/", self.list_accounts),
                web.post(acc + "/", self.add_account),
                web.get(acc + "/account/{name}/", self.get_account),
                web.put(acc + "/account/{name}/", self.set_account),
                web.delete(acc + "/account/{name}/", self.delete_account),
                web.get(base + "/features/", self.get_features),
                web.put(base + "/features/", self.set_features),
                web.post(base + "/prep/", self.prep),
                web.post(base + "/deploy/", self.deploy),
            ]
        )
        return app

    def _submit(
        self, name: str, kind: Kind, body: Callable[[DaemonTask], Awaitable[TaskOutcome]], **kw: Any
    ) -> web.Response:
        override = self.faults.config_task_timeout_s
        kw.setdefault("timeout_s", override if override is not None else self.settings.config_task_timeout_s)
        task = self.registry.submit(name, body, kind=kind, **kw)
        return web.json_response(task.to_json())

    @staticmethod
    def _validation(request: web.Request) -> ValidationSettings:
        validate = _parse_bool(request.query.get("validate", "false"), "validate")
        try:
            severity = Severity.parse(request.query.get("severity", "WARNING"))
        except ValueError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        return ValidationSettings(validate, severity)

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        text = await request.text()
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise web.HTTPBadRequest(
                text=json.dumps(
                    {"status": 400, "error": "Bad Request", "message": f"JSON parse error: {e}", "path": request.path}
                ),
                content_type="application/json",
            ) from None

    @staticmethod
    def _strict(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except HalconfigError as e:
            raise BadRequest(
                [
                    Problem(
                        str(e),
                        Severity.FATAL,
                        remediation="Remove or correct the field; Halyard parses its configuration strictly.",
                    )
                ]
            ) from None

    # -- worker building blocks ---------------------------------------------------------------------------

    async def _read(
        self,
        task: DaemonTask,
        getter: Callable[[dict[str, Any]], Any],
        validator: Callable[[dict[str, Any]], list[Problem]] | None,
        vs: ValidationSettings,
    ) -> TaskOutcome:
        hc = self.store.load()
        problems: list[Problem] = []
        if vs.validate and validator is not None:
            task.new_stage("Running validation")
            await self._fetch_versions(task)
            problems = validator(hc)
            throw_if_severity_exceeds(problems, vs.severity)
        try:
            body = getter(hc)
        except HalException as e:
            e.problems.extend(problems)
            raise
        return TaskOutcome(body, problems)

    async def _update(
        self,
        task: DaemonTask,
        mutate: Callable[[dict[str, Any]], None],
        validator: Callable[[dict[str, Any]], list[Problem]],
        vs: ValidationSettings,
    ) -> TaskOutcome:
        hc = self.store.load()  # each task works on its own copy: no locking, the last writer wins
        if self.settings.task_latency_s > 0:
            await asyncio.sleep(self.settings.task_latency_s)
        mutate(hc)
        problems: list[Problem] = []
        if vs.validate:
            task.new_stage("Running validation")
            await self._fetch_versions(task)
            problems = validator(hc) + self._injected_refusals(hc)
        throw_if_severity_exceeds(problems, vs.severity)  # "revert": the in-memory copy is simply dropped
        task.raise_injected_failure()
        self.store.save(hc)
        self.config_writes += 1
        return TaskOutcome(None, problems)

    def _injected_refusals(self, hc: dict[str, Any]) -> list[Problem]:
        refused = set(self.faults.refused_accounts)
        if not refused:
            return []
        return [
            Problem(
                f"Injected: this Halyard refuses the kubernetes account {account.get('name')}",
                Severity.ERROR,
                f"{dep['name']}.provider.kubernetes.{account.get('name')}",
            )
            for dep in hc.get("deploymentConfigurations") or []
            for account in ((dep.get("providers") or {}).get("kubernetes") or {}).get("accounts") or []
            if account.get("name") in refused
        ]

    async def _fetch_versions(self, task: DaemonTask) -> None:
        """Validation always visits the deployment node (NodeFilter), whose validator reads versions.yml and the BOM
        from the network. Online (and when the lookup fails fast) that adds nothing here; air-gapped it blocks."""
        if not self.faults.airgapped:
            return
        task.message("Validating default with DeploymentConfigurationValidator")
        lookup = asyncio.ensure_future(asyncio.sleep(self.faults.network_timeout_s))
        self._lookups.add(lookup)
        lookup.add_done_callback(self._lookups.discard)
        try:
            await asyncio.shield(lookup)
        except asyncio.CancelledError:
            # Timed out or interrupted, but a thread blocked in connect() does not notice until the lookup ends.
            with contextlib.suppress(asyncio.CancelledError):
                await lookup
            raise
        # ValidatorCollection swallows the HalException the failed lookup becomes: validation then goes on.

    # -- endpoints ----------------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def list_tasks(self, request: web.Request) -> web.Response:
        return web.json_response({"tasks": [t.shallow_json() for t in self.registry.all()]})

    async def get_task(self, request: web.Request) -> web.Response:
        task = self.registry.get(request.match_info["uuid"])
        if task is None:
            return web.Response(status=200)  # the controller returns null: an empty 200
        return web.json_response(task.to_json())

    async def interrupt_task(self, request: web.Request) -> web.Response:
        task = self.registry.get(request.match_info["uuid"])
        if task is None:
            return _spring_error(request, 404, "Not Found", f"No such task with UUID {request.match_info['uuid']}")
        task.interrupt()
        return web.Response(status=200)

    async def get_halconfig(self, request: web.Request) -> web.Response:
        return self._submit(
            "Get halconfig",
            Kind.READ,
            lambda t: self._read(t, lambda hc: serialize_halconfig(hc, self.home), None, ValidationSettings()),
        )

    async def get_current_deployment(self, request: web.Request) -> web.Response:
        return self._submit(
            "Get current deployment",
            Kind.READ,
            lambda t: self._read(t, lambda hc: hc["currentDeployment"], None, ValidationSettings()),
        )

    async def set_current_deployment(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise BadRequest([Problem('Expected a body of the form {"value": "<deployment>"}', Severity.FATAL)])
        name = body["value"]

        def mutate(hc: dict[str, Any]) -> None:
            if not any(d["name"] == name for d in hc["deploymentConfigurations"]):
                fresh = default_halconfig(self.settings.halyard_version, self.settings.spinnaker_version)
                dep = fresh["deploymentConfigurations"][0]
                dep["name"] = name
                hc["deploymentConfigurations"].append(dep)
            hc["currentDeployment"] = name

        return self._submit(
            "Set current deployment",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: [], ValidationSettings()),
        )

    async def get_deployments(self, request: web.Request) -> web.Response:
        vs = self._validation(request)
        return self._submit(
            "Get all deployment configurations",
            Kind.READ,
            lambda t: self._read(
                t,
                lambda hc: [serialize_deployment(d, self.home) for d in hc["deploymentConfigurations"]],
                lambda hc: [p for d in hc["deploymentConfigurations"] for p in validate_deployment(hc, d["name"])],
                vs,
            ),
        )

    async def get_deployment(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        return self._submit(
            "Get deployment configuration",
            Kind.READ,
            lambda t: self._read(
                t,
                lambda hc: serialize_deployment(find_deployment(hc, d), self.home),
                lambda hc: validate_deployment(hc, d),
                vs,
            ),
        )

    async def set_deployment(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        raw = await self._json_body(request)
        new = self._strict(lambda: normalize_deployment(raw))

        def mutate(hc: dict[str, Any]) -> None:
            deps = hc["deploymentConfigurations"]
            for i, dep in enumerate(deps):
                if dep["name"] == d:
                    deps[i] = new
                    return
            raise ConfigNotFound([Problem(f'No deployment with name "{d}" could be found', Severity.FATAL)])

        return self._submit(
            "Edit deployment configuration",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_deployment(hc, new["name"]), vs),
        )

    async def get_provider(self, request: web.Request) -> web.Response:
        d, p, vs = request.match_info["d"], request.match_info["p"], self._validation(request)
        return self._submit(
            f"Get the {p} provider",
            Kind.READ,
            lambda t: self._read(
                t,
                lambda hc: serialize_provider(p, find_provider(find_deployment(hc, d), p), self.home),
                lambda hc: validate_provider(hc, d, p),
                vs,
            ),
        )

    async def set_provider(self, request: web.Request) -> web.Response:
        d, p, vs = request.match_info["d"], request.match_info["p"], self._validation(request)
        self._known_provider(p)
        raw = await self._json_body(request)
        lenient = drop_unknown_provider_keys(p, raw, tuple(self.faults.absent_account_fields))
        new = self._strict(lambda: normalize_provider(p, lenient, p))

        def mutate(hc: dict[str, Any]) -> None:
            dep = find_deployment(hc, d)
            find_provider(dep, p)
            dep["providers"][p] = new

        return self._submit(
            f"Edit the {p} provider",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_provider(hc, d, p), vs),
        )

    async def set_provider_enabled(self, request: web.Request) -> web.Response:
        d, p, vs = request.match_info["d"], request.match_info["p"], self._validation(request)
        raw = await self._json_body(request)
        if not isinstance(raw, bool):
            raise BadRequest([Problem(f"Expected a JSON boolean body, got {raw!r}", Severity.FATAL)])

        def mutate(hc: dict[str, Any]) -> None:
            find_provider(find_deployment(hc, d), p)["enabled"] = raw

        return self._submit(
            f"Edit the {p} provider",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_provider(hc, d, p), vs),
        )

    def _accounts(self, hc: dict[str, Any], d: str, p: str) -> list[dict[str, Any]]:
        return find_provider(find_deployment(hc, d), p)["accounts"]

    def _serialize_account(self, p: str, account: dict[str, Any]) -> dict[str, Any]:
        return serialize_account(account, self.home) if p == "kubernetes" else account

    def _find_account(self, hc: dict[str, Any], d: str, p: str, name: str) -> dict[str, Any]:
        matches = [a for a in self._accounts(hc, d, p) if a.get("name") == name]
        if not matches:
            raise ConfigNotFound(
                [
                    Problem(
                        f'No account with name "{name}" was found',
                        Severity.FATAL,
                        remediation="Check if this account was defined in another provider, or create a new one",
                    )
                ]
            )
        if len(matches) > 1:
            raise IllegalConfig(
                [
                    Problem(
                        f'More than one account named "{name}" was found',
                        Severity.FATAL,
                        remediation=f'Manually delete/rename duplicate accounts with name "{name}" '
                        "in your halconfig file",
                    )
                ]
            )
        return matches[0]

    @staticmethod
    def _known_provider(p: str) -> None:
        """The controllers translate the provider type before any task starts: an unknown one is a sync 404."""
        if p not in PROVIDER_NAMES:
            raise ConfigNotFound([Problem(f'No provider with name "{p}" could be found', Severity.FATAL)])

    def _parse_account(self, p: str, raw: Any) -> dict[str, Any]:
        self._known_provider(p)
        if p == "kubernetes":
            lenient = drop_unknown_account_keys(raw, tuple(self.faults.absent_account_fields))
            return self._strict(lambda: normalize_account(lenient, "account"))
        if not isinstance(raw, dict):
            raise BadRequest([Problem("An account must be a JSON object", Severity.FATAL)])
        return raw

    async def list_accounts(self, request: web.Request) -> web.Response:
        d, p, vs = request.match_info["d"], request.match_info["p"], self._validation(request)

        def getter(hc: dict[str, Any]) -> list[dict[str, Any]]:
            accounts = self._accounts(hc, d, p)
            if not accounts:
                raise ConfigNotFound([Problem("No accounts could be found", Severity.FATAL)])
            return [self._serialize_account(p, a) for a in accounts]

        return self._submit(
            f"Get all {p} accounts",
            Kind.READ,
            lambda t: self._read(t, getter, lambda hc: validate_provider(hc, d, p), vs),
        )

    async def add_account(self, request: web.Request) -> web.Response:
        d, p, vs = request.match_info["d"], request.match_info["p"], self._validation(request)
        account = self._parse_account(p, await self._json_body(request))

        def mutate(hc: dict[str, Any]) -> None:
            self._accounts(hc, d, p).append(account)  # no duplicate check here: the validator catches it

        return self._submit(
            f"Add the {account.get('name')} account",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_account(hc, d, p, account.get("name")), vs),
        )

    async def get_account(self, request: web.Request) -> web.Response:
        d, p, name, vs = (
            request.match_info["d"],
            request.match_info["p"],
            request.match_info["name"],
            self._validation(request),
        )
        return self._submit(
            f"Get {name} account",
            Kind.READ,
            lambda t: self._read(
                t,
                lambda hc: self._serialize_account(p, self._find_account(hc, d, p, name)),
                lambda hc: validate_account(hc, d, p, name),
                vs,
            ),
        )

    async def set_account(self, request: web.Request) -> web.Response:
        d, p, name, vs = (
            request.match_info["d"],
            request.match_info["p"],
            request.match_info["name"],
            self._validation(request),
        )
        account = self._parse_account(p, await self._json_body(request))

        def mutate(hc: dict[str, Any]) -> None:
            accounts = self._accounts(hc, d, p)
            for i, existing in enumerate(accounts):
                if existing.get("name") == name:
                    accounts[i] = account  # the path name picks the account: renaming is possible
                    return
            raise HalException([Problem(f'Account "{name}" wasn\'t found', Severity.FATAL)])

        return self._submit(
            f"Edit the {name} account",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_account(hc, d, p, account.get("name")), vs),
        )

    async def delete_account(self, request: web.Request) -> web.Response:
        d, p, name, vs = (
            request.match_info["d"],
            request.match_info["p"],
            request.match_info["name"],
            self._validation(request),
        )

        def mutate(hc: dict[str, Any]) -> None:
            accounts = self._accounts(hc, d, p)
            kept = [a for a in accounts if a.get("name") != name]
            if len(kept) == len(accounts):
                raise HalException([Problem(f'Account "{name}" wasn\'t found', Severity.FATAL)])
            accounts[:] = kept

        return self._submit(
            f"Delete the {name} account",
            Kind.MUTATE,
            lambda t: self._update(t, mutate, lambda hc: validate_provider(hc, d, p), vs),
        )

    async def get_features(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        return self._submit(
            "Get features",
            Kind.READ,
            lambda t: self._read(
                t,
                lambda hc: {k: v for k, v in find_deployment(hc, d)["features"].items() if v is not None},
                lambda hc: validate_deployment(hc, d),
                vs,
            ),
        )

    async def set_features(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        raw = await self._json_body(request)
        features = self._strict(lambda: normalize_deployment({"features": raw})["features"])

        def mutate(hc: dict[str, Any]) -> None:
            find_deployment(hc, d)["features"] = {k: features.get(k) for k in FEATURE_KEYS}

        return self._submit(
            "Edit features", Kind.MUTATE, lambda t: self._update(t, mutate, lambda hc: validate_deployment(hc, d), vs)
        )

    # -- prep and deploy ----------------------------------------------------------------------------------

    def _kubeconfig_accounts(self, dep: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        provider = dep["providers"]["kubernetes"]
        if not provider["enabled"]:
            return []
        out = []
        for account in provider["accounts"]:
            path = effective_kubeconfig_file(account, self.home)
            if path is None or path.startswith(REMOTE_FILE_PREFIXES):
                continue
            out.append((account, path))
        return out

    def _read_user_file(self, path: str) -> bytes:
        try:
            return self.podfs.host_path(path).read_bytes()
        except (OSError, PodPathError):
            raise HalException([Problem(f"Failed to backup user file: {path}", Severity.FATAL)]) from None

    @staticmethod
    def _check_context(account: dict[str, Any], content: bytes, shown_path: str) -> None:
        try:
            parsed = yaml.safe_load(content.decode("utf-8", errors="replace"))
        except yaml.YAMLError as e:
            raise HalException([Problem(f"Unable to parse kubeconfig {shown_path}: {e}", Severity.FATAL)]) from None
        current = parsed.get("current-context") if isinstance(parsed, dict) else None
        if not account.get("context") and not current:
            raise HalException(
                [
                    Problem(
                        f"No context specified in kubernetes account {account.get('name')} and no "
                        f"'current-context' in {shown_path}",
                        Severity.FATAL,
                    )
                ]
            )

    def _resolve_services(self, names: list[str], excludes: list[str]) -> list[str]:
        services = [service_from_canonical_name(n) for n in names] or list(self.settings.default_services)
        if excludes:
            services = [s for s in services if s not in excludes]  # exclusion compares canonical names exactly
        return services

    async def prep(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        names, excludes = _list_param(request, "serviceNames"), _list_param(request, "excludeServiceNames")

        async def body(task: DaemonTask) -> TaskOutcome:
            hc = self.store.load()
            problems: list[Problem] = []
            if vs.validate:
                task.new_stage("Running validation")
                await self._fetch_versions(task)
                problems = validate_deployment(hc, d)
                throw_if_severity_exceeds(problems, vs.severity)
            find_deployment(hc, d)
            task.new_stage("Prep deployment")
            self._resolve_services(names, excludes)
            # Deployer.prep does nothing for kubectl (Distributed) deploys: kubeconfig files are first read when
            # deploy stages them (BackupService) and clouddriver's profile is built (KubernetesV2ClouddriverProfile-
            # Factory), so a missing or context-less kubeconfig fails the deploy, never the prep.
            task.raise_injected_failure()
            # Deployer.prep's default RemoteAction: an empty script with autoRun true.
            return TaskOutcome({"scriptPath": None, "scriptDescription": None, "autoRun": True}, problems)

        return self._submit("Prep deployment", Kind.PREP, body, timeout_s=300)

    async def deploy(self, request: web.Request) -> web.Response:
        d, vs = request.match_info["d"], self._validation(request)
        names, excludes = _list_param(request, "serviceNames"), _list_param(request, "excludeServiceNames")
        options = _list_param(request, "deployOptions")
        for option in options:
            if option not in DEPLOY_OPTIONS:
                return _spring_error(request, 400, "Bad Request", f"No enum constant DeployOption.{option}")
        wait_raw = request.query.get("waitForCompletionTimeoutMinutes")
        try:
            wait_minutes = int(wait_raw) if wait_raw not in (None, "") else None
        except ValueError:
            return _spring_error(request, 400, "Bad Request", f"Invalid waitForCompletionTimeoutMinutes {wait_raw!r}")

        async def body(task: DaemonTask) -> TaskOutcome:
            if "DELETE_ORPHANED_SERVICES" in options and (names or excludes):
                raise UnexpectedError(
                    "Cannot delete orphaned services when services to include are explicitly supplied."
                )
            hc = self.store.load()
            problems: list[Problem] = []
            if vs.validate:
                task.new_stage("Running validation")
                await self._fetch_versions(task)
                problems = validate_deployment(hc, d)
                throw_if_severity_exceeds(problems, vs.severity)
            dep = find_deployment(hc, d)
            services = self._resolve_services(names, excludes)
            task.new_stage("Generating all Spinnaker profile files and endpoints")
            staged = self._stage_kubeconfigs(dep)
            task.raise_injected_failure()
            record = DeployRecord(
                id=len(self.deploys) + 1,
                deployment=d,
                started_at=time.time(),
                requested_service_names=names,
                exclude_service_names=excludes,
                deploy_options=options,
                wait_for_completion_timeout_minutes=wait_minutes,
                service_names=services,
                accounts=[serialize_account(a, self.home) for a in dep["providers"]["kubernetes"]["accounts"]],
                kubeconfigs=staged,
                task_uuid=task.uuid,
            )
            self.deploys.append(record)
            try:
                await self._run_children(task, record, services, wait_minutes)
            finally:
                record.finished_at = time.time()
                if record.state == "RUNNING":
                    record.state = task.state.value if task.state.terminal else "INTERRUPTED"
            return TaskOutcome({"scriptPath": None, "scriptDescription": None, "autoRun": False}, problems)

        return self._submit("Apply deployment", Kind.DEPLOY, body, timeout_s=1800)

    def _stage_kubeconfigs(self, dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """`BackupService.backupLocalFiles`: copy every kubeconfig into the staging dependencies directory."""
        staged: dict[str, dict[str, Any]] = {}
        for account, path in self._kubeconfig_accounts(dep):
            content = self._read_user_file(path)
            digest = hashlib.sha256(path.encode()).hexdigest()[:12]
            staged_path = f"{self.podfs.hal_dir}/{dep['name']}/staging/dependencies/{digest}-{posixpath.basename(path)}"
            host = self.podfs.host_path(staged_path)
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_bytes(content)
            self._check_context(account, content, staged_path)
            staged[str(account.get("name"))] = {
                "path": path,
                "stagedPath": staged_path,
                "content": content.decode("utf-8", errors="replace"),
            }
        return staged

    async def _run_children(
        self, task: DaemonTask, record: DeployRecord, services: list[str], wait_minutes: int | None
    ) -> None:
        failing: str | None = None
        if self.faults.deploy_fail_armed and services:
            wanted = self.faults.deploy_fail_service or services[len(services) // 2]
            failing = wanted if wanted in services else None
            self.faults.deploy_fail_armed = False
        task.new_stage("Apply deployment")
        children = [
            self.registry.submit(
                f"Deploy spin-{svc}",
                self._service_deployer(svc, svc == failing),
                kind=Kind.CHILD,
                timeout_s=(wait_minutes or 10) * 60,
                parent=task,
            )
            for svc in services
        ]
        await asyncio.gather(*(c.done.wait() for c in children))
        record.children = {svc: c.state.value for svc, c in zip(services, children, strict=True)}
        for child in children:
            if child.state is State.FAILED:
                record.state = "FAILED"
                problems = (child.response or {}).get("problemSet", {}).get("problems", [])
                raise HalException(
                    [
                        Problem(p["message"], Severity[p["severity"]], p.get("location"), p.get("remediation"))
                        for p in problems
                    ]
                )
            if child.state is not State.SUCCEEDED:
                record.state = "FAILED"
                raise UnexpectedError(
                    f"Child task {child.name} ended {child.state.value}",
                    "com.netflix.spinnaker.halyard.core.tasks.v1.DaemonTaskInterrupted",
                )
        record.state = "SUCCEEDED"

    def _service_deployer(self, service: str, fail: bool) -> Callable[[DaemonTask], Awaitable[TaskOutcome]]:
        async def run(task: DaemonTask) -> TaskOutcome:
            task.new_stage(f"Deploying spin-{service}")
            if self.settings.deploy_seconds > 0:
                await asyncio.sleep(self.settings.deploy_seconds)
            if fail:
                raise UnexpectedError(
                    f"Failed to apply spin-{service} (injected by the Halyard stand-in)",
                    "java.lang.IllegalStateException",
                )
            task.message(f"spin-{service} is ready")
            return TaskOutcome(None, [])

        return run

    async def close(self) -> None:
        for lookup in list(self._lookups):
            lookup.cancel()
        with contextlib.suppress(Exception):
            await self.registry.close()
