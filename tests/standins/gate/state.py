"""What sits behind Gate, in memory: Front50 (applications, pipelines), Orca (tasks), clouddriver (accounts).

This is a test double that follows ../../../../shared/contracts/gate-pipelines.md and accounts-and-rbac.md §2;
it is not Spinnaker. Everything here is synchronous and runs on one event loop, which gives Front50's
`synchronized` save for free. Error messages are worded as Front50/Orca/clouddriver word them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .clouddriver_accounts import STORAGE_OFF, FiatPolicy, SecretEngine, read_definition
from .errors import Rejected

__all__ = ["GateState", "Rejected", "Task"]

APP_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*$")
APP_NAME_MAX = 63
TASK_END_STATUSES = frozenset({"SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE", "CANCELED"})
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_ulid() -> str:
    """A ULID (48-bit ms timestamp + 80 random bits, Crockford base32), the shape of Orca's ids."""
    value = (now_ms() << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 0x1F] for shift in range(125, -1, -5))


@dataclass
class Task:
    """An Orca orchestration as `GET /tasks/{id}` shows it."""

    id: str
    name: str
    application: str
    job_types: list[str]
    status: str = "RUNNING"
    start_time: int = field(default_factory=now_ms)
    end_time: int | None = None
    errors: list[str] = field(default_factory=list)

    def finish(self, errors: list[str] | None = None) -> None:
        self.errors = list(errors or [])
        self.status = "TERMINAL" if self.errors else "SUCCEEDED"
        self.end_time = now_ms()

    def to_json(self) -> dict[str, Any]:
        variables: list[dict[str, Any]] = []
        if self.errors:
            variables.append(
                {
                    "key": "exception",
                    "value": {"details": {"error": self.errors[0], "errors": list(self.errors)}},
                }
            )
        return {
            "id": self.id,
            "name": self.name,
            "application": self.application,
            "status": self.status,
            "buildTime": self.start_time,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "variables": variables,
            "steps": [{"name": t, "status": self.status} for t in self.job_types],
            "execution": {"id": self.id, "status": self.status, "type": "ORCHESTRATION"},
        }


@dataclass
class LoadedAccount:
    """An account as clouddriver holds it after its credentials poller last ran."""

    definition: dict[str, Any]
    version: int
    loaded_at: int

    @property
    def fingerprint(self) -> str:
        raw = json.dumps(self.definition, sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def account_type(definition: dict[str, Any]) -> str | None:
    value = definition.get("type")
    return value if isinstance(value, str) and value else None


class GateState:
    """All stored state of the stand-in. `reset()` returns it to empty."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.applications: dict[str, dict[str, Any]] = {}
        self.clusters: dict[str, dict[str, list[str]]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, Task] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.account_history: dict[str, list[dict[str, Any]]] = {}
        self.deleted_accounts: set[str] = set()
        self.loaded_accounts: dict[str, LoadedAccount] = {}
        self.static_accounts: dict[str, dict[str, Any]] = {}
        self.account_storage = True  # account.storage.enabled
        self.fiat = FiatPolicy()
        self.secrets = SecretEngine()
        # Test hook: someone else's POST that lands (and is loaded) just before the next POST of that name.
        self.create_races: dict[str, tuple[dict[str, Any], str]] = {}
        self.principal_roles: dict[str, list[str]] = {}
        self._last_ts = 0

    def _timestamp(self) -> int:
        # Strictly increasing, so two saves in one millisecond still differ for staleCheck.
        self._last_ts = max(now_ms(), self._last_ts + 1)
        return self._last_ts

    # ---- Orca tasks -------------------------------------------------------------------------------------

    def new_task(self, name: str, application: str, job_types: list[str]) -> Task:
        task = Task(id=new_ulid(), name=name, application=application, job_types=job_types)
        self.tasks[task.id] = task
        return task

    def run_application_jobs(self, jobs: list[Any], user: str) -> list[str]:
        """Run the jobs of a `POST /tasks` body; returns the task's errors (empty on success)."""
        for job in jobs:
            if not isinstance(job, dict):
                return ["job entries must be objects"]
            kind = job.get("type")
            app = job.get("application")
            if not isinstance(app, dict):
                return [f"{kind}: job.application must be an object"]
            try:
                if kind in ("createApplication", "updateApplication", "upsertApplication"):
                    self.upsert_application(app, user)
                elif kind == "deleteApplication":
                    self.delete_application(str(app.get("name", "")))
                else:
                    return [f"the Gate stand-in does not run job type {kind!r}"]
            except Rejected as e:
                return [e.message]
        return []

    # ---- Front50 applications ---------------------------------------------------------------------------

    def get_application(self, name: str) -> dict[str, Any] | None:
        app = self.applications.get(name.lower())
        return copy.deepcopy(app) if app is not None else None

    def upsert_application(self, app: dict[str, Any], user: str) -> dict[str, Any]:
        """Orca UpsertApplicationTask: create when missing, PATCH otherwise, then PUT permissions if given."""
        name = app.get("name")
        if not isinstance(name, str) or not APP_NAME_RE.match(name) or len(name) > APP_NAME_MAX:
            raise Rejected(
                f"Application name {name!r} is invalid: it must match {APP_NAME_RE.pattern} "
                f"and be at most {APP_NAME_MAX} characters"
            )
        fields = {k: copy.deepcopy(v) for k, v in app.items() if k != "permissions"}
        key = name.lower()
        existing = self.applications.get(key)
        ts = str(self._timestamp())
        merged = dict(existing) if existing else {"createTs": ts}
        merged.update(fields)
        merged["name"] = existing["name"] if existing else name
        if isinstance(merged.get("cloudProviders"), list):
            merged["cloudProviders"] = ",".join(str(p) for p in merged["cloudProviders"])
        email = merged.get("email")
        if not isinstance(email, str) or not email.strip():
            raise Rejected("Application must have a non-empty email")
        merged["updateTs"] = ts
        merged["lastModifiedBy"] = user
        merged.setdefault("user", user)
        if "permissions" in app:
            merged["permissions"] = copy.deepcopy(app["permissions"])
        self.applications[key] = merged
        return copy.deepcopy(merged)

    def delete_application(self, name: str) -> None:
        """Orca verifyNoDependencies first, then Front50 deletes the app and cascades to its pipelines."""
        key = name.lower()
        clusters = {acct: names for acct, names in self.clusters.get(key, {}).items() if names}
        if clusters:
            where = ", ".join(f"{acct}: {', '.join(names)}" for acct, names in sorted(clusters.items()))
            raise Rejected(f"Application {name} has outstanding dependencies: clusters ({where})")
        if self.applications.pop(key, None) is None:
            return
        for pid in [pid for pid, p in self.pipelines.items() if _same_app(p.get("application"), name)]:
            del self.pipelines[pid]
        self.clusters.pop(key, None)

    def set_clusters(self, application: str, clusters: dict[str, list[str]]) -> None:
        self.clusters[application.lower()] = {k: list(v) for k, v in clusters.items()}

    # ---- Front50 pipelines ------------------------------------------------------------------------------

    def _app_pipelines(self, application: str) -> list[dict[str, Any]]:
        return [p for p in self.pipelines.values() if _same_app(p.get("application"), application)]

    def list_pipeline_configs(self, application: str, name_filter: str | None = None) -> list[dict[str, Any]]:
        """Front50 `listByApplication`: sorted by index (missing last), then name ignoring case, reindexed."""
        found = [copy.deepcopy(p) for p in self._app_pipelines(application)]
        if name_filter:
            found = [p for p in found if name_filter.lower() in str(p.get("name", "")).lower()]

        def sort_key(p: dict[str, Any]) -> tuple[int, int, str]:
            index = p.get("index")
            if isinstance(index, int) and not isinstance(index, bool):
                return (0, index, str(p.get("name") or p["id"]).lower())
            return (1, 0, str(p.get("name") or p["id"]).lower())

        found.sort(key=sort_key)
        for i, p in enumerate(found):
            p["index"] = i
        return found

    def save_pipeline_via_orca(self, pipeline: dict[str, Any], *, stale_check: bool, user: str) -> dict[str, Any]:
        """Orca SavePipelineTask (copies a missing `index` from the stored pipeline), then Front50 save."""
        pipeline = copy.deepcopy(pipeline)
        if "index" not in pipeline and isinstance(pipeline.get("id"), str):
            stored = self.pipelines.get(pipeline["id"])
            if stored is not None and "index" in stored:
                pipeline["index"] = stored["index"]
        return self.front50_save(pipeline, stale_check=stale_check, user=user)

    def front50_save(self, pipeline: dict[str, Any], *, stale_check: bool, user: str) -> dict[str, Any]:
        """Front50 `PipelineController.save`."""
        pipeline = copy.deepcopy(pipeline)
        self._validate_pipeline(pipeline, stale_check)
        pipeline["name"] = pipeline["name"].strip()
        triggers = pipeline.get("triggers")
        triggers = triggers if isinstance(triggers, list) else []
        for trigger in triggers:
            if isinstance(trigger, dict) and str(trigger.get("type", "")).lower() == "cron" and not trigger.get("id"):
                trigger["id"] = str(uuid.uuid4())
        if not pipeline.get("id") or pipeline.get("regenerateCronTriggerIds"):
            for trigger in triggers:
                if isinstance(trigger, dict) and trigger.get("type") == "cron":
                    trigger["id"] = str(uuid.uuid4())
        return self._store(pipeline, user)

    def front50_update(self, pipeline_id: str, pipeline: dict[str, Any], *, user: str) -> dict[str, Any]:
        """Front50 `PipelineController.update` (PUT /pipelines/{id})."""
        if pipeline_id not in self.pipelines:
            raise Rejected(f"No pipeline found with id {pipeline_id}", 404)
        pipeline = copy.deepcopy(pipeline)
        if pipeline.get("id") != pipeline_id:
            raise Rejected(f"The provided id {pipeline.get('id')} doesn't match the existing pipeline id {pipeline_id}")
        self._validate_pipeline(pipeline, stale_check=False)
        pipeline["name"] = pipeline["name"].strip()
        for trigger in pipeline.get("triggers") or []:
            if isinstance(trigger, dict) and str(trigger.get("type", "")).lower() == "cron" and not trigger.get("id"):
                trigger["id"] = str(uuid.uuid4())
        return self._store(pipeline, user)

    def _validate_pipeline(self, pipeline: dict[str, Any], stale_check: bool) -> None:
        app, name = pipeline.get("application"), pipeline.get("name")
        if not isinstance(app, str) or not app.strip() or not isinstance(name, str) or not name.strip():
            raise Rejected("A pipeline requires name and application fields", 422)
        trimmed = name.strip()
        pid = pipeline.get("id")
        if any(str(p.get("name", "")).lower() == trimmed.lower() and p["id"] != pid for p in self._app_pipelines(app)):
            raise Rejected(f"A pipeline with name {trimmed} already exists in application {app}")
        submitted = pipeline.get("lastModified")
        if stale_check and pid and submitted is not None and pid in self.pipelines:
            stored = self.pipelines[pid].get("lastModified")
            if submitted != stored:
                raise Rejected(
                    f"The submitted pipeline is stale.  submitted updateTs {submitted} "
                    f"does not match stored updateTs {stored}"
                )

    def _store(self, pipeline: dict[str, Any], user: str) -> dict[str, Any]:
        pid = pipeline.get("id") or str(uuid.uuid4())
        pipeline["id"] = pid
        existing = self.pipelines.get(pid)
        ts = self._timestamp()
        pipeline["lastModified"] = ts
        pipeline["updateTs"] = str(ts)
        pipeline["lastModifiedBy"] = user
        pipeline["createTs"] = existing.get("createTs", str(ts)) if existing else str(ts)
        self.pipelines[pid] = pipeline
        return copy.deepcopy(pipeline)

    def delete_pipeline_by_name(self, application: str, name: str) -> str | None:
        """Gate: the first config (list order) whose trimmed name equals `name` ignoring case, or None."""
        for p in self.list_pipeline_configs(application):
            if isinstance(p.get("name"), str) and p["name"].strip().lower() == name.lower():
                self.pipelines.pop(p["id"], None)
                return str(p["id"])
        return None

    # ---- clouddriver account definitions (account management API) --------------------------------------
    # Read from clouddriver-web CredentialsController.java, clouddriver-core AccountDefinitionService.java and
    # clouddriver-sql SqlAccountDefinitionRepository.kt; see clouddriver_accounts.py for definitions and Fiat.

    def _record(self, name: str, body: dict[str, Any] | None, user: str) -> int:
        history = self.account_history.setdefault(name, [])
        version = len(history) + 1
        history.append(
            {
                "version": version,
                "timestamp": self._timestamp(),
                "deleted": body is None,
                "modifiedBy": user,
                "account": copy.deepcopy(body),
            }
        )
        return version

    def _storage_on(self) -> None:
        if not self.account_storage:
            # CredentialsController.validateAccountStorageEnabled: kork's ConfigurationException is a UserException.
            raise Rejected(STORAGE_OFF)

    def _loaded(self, name: str) -> dict[str, Any] | None:
        """accountCredentialsProvider.getCredentials(name): what clouddriver has loaded, of any type."""
        if name in self.loaded_accounts:
            return self.loaded_accounts[name].definition
        return self.static_accounts.get(name)

    def _manager(self, user: str) -> None:
        if not self.fiat.is_account_manager(user):
            raise Rejected("Access is denied", 403)  # @PreAuthorize isAccountManager; kork hides the reason

    def create_account(self, body: dict[str, Any], user: str, roles: list[str] | None = None) -> dict[str, Any]:
        """`POST /credentials`: 400 when clouddriver has the name loaded; the SQL insert fails (500) when the name
        is stored but not yet loaded; a deleted name can be created again once the poller has unloaded it."""
        definition = read_definition(body)
        self._storage_on()
        self._manager(user)
        name = definition["name"]
        if name in self.create_races:
            theirs, by = self.create_races.pop(name)
            self.create_account(theirs, by)
            self.poll_credentials()
        if self._loaded(name) is not None:
            raise Rejected(f"Cannot create an account which already exists (name: {name})")
        self.fiat.check_write_roles(user, roles or [], definition, "create")
        if name in self.accounts:
            raise Rejected('duplicate key value violates unique constraint "accounts_pkey"', 500)
        self.accounts[name] = definition
        self.deleted_accounts.discard(name)
        self._record(name, definition, user)
        return copy.deepcopy(definition)

    def update_account(self, body: dict[str, Any], user: str, roles: list[str] | None = None) -> dict[str, Any]:
        """`PUT /credentials`: clouddriver's saveAccount, an upsert (never 404)."""
        definition = read_definition(body)
        self._storage_on()
        self._manager(user)
        name = definition["name"]
        loaded = self._loaded(name)
        if loaded is not None and not self.fiat.can_modify(user, roles or [], loaded):
            raise Rejected("Access is denied", 403)  # "Unauthorized to overwrite existing account", hidden by kork
        self.fiat.check_write_roles(user, roles or [], definition, "save")
        self.accounts[name] = definition
        self.deleted_accounts.discard(name)
        self._record(name, definition, user)
        return copy.deepcopy(definition)

    def delete_account(self, name: str, user: str, roles: list[str] | None = None) -> None:
        self._storage_on()
        if not self.fiat.can_modify(user, roles or [], self._loaded(name)):
            raise Rejected("Access is denied", 403)
        if name not in self.accounts:
            raise Rejected(f"No account found with name {name}", 404)
        del self.accounts[name]
        self.deleted_accounts.add(name)
        self._record(name, None, user)

    def list_accounts_by_type(
        self,
        kind: str,
        limit: int = 100,
        starting: str | None = None,
        user: str = "anonymous",
        roles: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Stored definitions by name from `starting` (inclusive); rows are dropped *after* the SQL LIMIT (a secret
        that cannot be decrypted, Fiat's @PostFilter), so a page can be short while more remain."""
        self._storage_on()
        self._manager(user)
        names = sorted(n for n, body in self.accounts.items() if body.get("type") == kind)
        if starting is not None:
            names = [n for n in names if n >= starting]
        page = []
        for name in names[:limit]:
            definition = self.secrets.deserialize(self.accounts[name])
            if definition is not None and self.fiat.can_use(user, roles or [], self._loaded(name)):
                page.append(definition)
        return page

    def poll_credentials(self) -> list[str]:
        """What clouddriver's credentials poller does: read every stored definition (decrypting its references
        through the never-cleared SecretSession), load changed ones, drop deleted ones."""
        changed: list[str] = []
        for name, stored in self.accounts.items():
            body = self.secrets.deserialize(stored)
            if body is None:
                continue
            loaded = self.loaded_accounts.get(name)
            if loaded is None or loaded.definition != body:
                version = len(self.account_history.get(name, []))
                self.loaded_accounts[name] = LoadedAccount(body, version, now_ms())
                changed.append(name)
        for name in [n for n in self.loaded_accounts if n not in self.accounts]:
            del self.loaded_accounts[name]
            changed.append(name)
        return changed

    def credentials_view(self, roles: list[str], *, expand: bool) -> list[dict[str, Any]]:
        """Gate `GET /credentials`: what clouddriver has loaded (static config + polled definitions)."""
        merged: dict[str, dict[str, Any]] = {n: copy.deepcopy(a) for n, a in self.static_accounts.items()}
        merged.update({n: copy.deepcopy(a.definition) for n, a in self.loaded_accounts.items()})
        out = []
        for name in sorted(merged):
            body = merged[name]
            kind = account_type(body) or "kubernetes"
            permissions = body.get("permissions") if isinstance(body.get("permissions"), dict) else {}
            write = [str(r) for r in (permissions or {}).get("WRITE", [])]
            entry: dict[str, Any] = {
                "name": name,
                "type": kind,
                "cloudProvider": kind,
                "accountType": body.get("accountType", name),
                "environment": body.get("environment", name),
                "providerVersion": "v2",
                "requiredGroupMembership": [],
                "authorized": not write or bool(set(write) & set(roles)),
            }
            if expand:
                entry["permissions"] = copy.deepcopy(permissions or {})
                for key in ("namespaces", "omitNamespaces", "kinds", "omitKinds", "context"):
                    if key in body:
                        entry[key] = copy.deepcopy(body[key])
                entry["primaryAccount"] = False
                entry["challengeDestructiveActions"] = False
            out.append(entry)
        return out

    # ---- dump -------------------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "applications": copy.deepcopy(self.applications),
            "clusters": copy.deepcopy(self.clusters),
            "pipelines": sorted(
                (copy.deepcopy(p) for p in self.pipelines.values()),
                key=lambda p: (str(p.get("application", "")).lower(), str(p.get("name", "")).lower()),
            ),
            "tasks": [t.to_json() for t in self.tasks.values()],
            "accounts": copy.deepcopy(self.accounts),
            "accountHistory": copy.deepcopy(self.account_history),
            "deletedAccounts": sorted(self.deleted_accounts),
            "loadedAccounts": {
                n: {
                    "version": a.version,
                    "loadedAt": a.loaded_at,
                    "fingerprint": a.fingerprint,
                    "account": copy.deepcopy(a.definition),
                }
                for n, a in sorted(self.loaded_accounts.items())
            },
            "staticAccounts": copy.deepcopy(self.static_accounts),
        }


def _same_app(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.lower() == b.lower()
