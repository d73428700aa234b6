"""Halyard's asynchronous task protocol, as the test double of the Halyard daemon implements it (contract §2).

Every config and deploy endpoint answers with a `DaemonTask` right after scheduling its worker; clients poll
`GET /v1/tasks/{uuid}/`. A task has a timeout (the `Interrupter` turns an overdue task TIMED_OUT) and is dropped
from the repository some time after its timeout elapsed. Halyard has no locking, so the registry also records
every time two mutating tasks ran at the same moment (`ConcurrencyDetector`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .problems import HalException, Problem, Severity, problem_set_json

HALYARD_VERSION = "1.70.0"


class State(enum.StrEnum):
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    INTERRUPTED = "INTERRUPTED"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self not in (State.NOT_STARTED, State.RUNNING)


class Kind(enum.StrEnum):
    READ = "read"
    MUTATE = "mutate"
    PREP = "prep"
    DEPLOY = "deploy"
    CHILD = "child"

    @property
    def mutating(self) -> bool:
        return self in (Kind.MUTATE, Kind.PREP, Kind.DEPLOY)


class TaskInterrupted(Exception):
    """`DaemonTaskInterrupted`: raised into a worker that was interrupted or timed out."""


@dataclass
class TaskOutcome:
    body: Any = None
    problems: list[Problem] = field(default_factory=list)


TaskBody = Callable[["DaemonTask"], Awaitable[TaskOutcome]]


def _java_exception(exc: BaseException, problems: list[Problem] | None = None) -> dict[str, Any]:
    """A Java exception as Jackson renders `fatalError`."""
    if isinstance(exc, HalException):
        message = str(exc)
        out: dict[str, Any] = {
            "message": message,
            "localizedMessage": message,
            "problems": problem_set_json(problems or exc.problems),
            "responseCode": exc.status,
        }
    else:
        message = str(exc) or type(exc).__name__
        out = {"message": message, "localizedMessage": message}
    out.update({"cause": None, "stackTrace": [], "suppressed": []})
    return out


@dataclass
class DaemonTask:
    name: str
    kind: Kind
    timeout_s: float
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    state: State = State.NOT_STARTED
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[DaemonTask] = field(default_factory=list)
    response: dict[str, Any] | None = None
    fatal_error: dict[str, Any] | None = None
    timed_out: bool = False
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    runner: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    injected_problem: Problem | None = None
    _stage: str | None = None
    _interrupt_reason: State | None = None

    def raise_injected_failure(self) -> None:
        """Workers call this where a real failure would strike (before saving); a pending fault fires here."""
        problem, self.injected_problem = self.injected_problem, None
        if problem is not None:
            raise HalException([problem])

    def new_stage(self, name: str) -> None:
        self._stage = name
        self.events.append({"stage": name, "message": None, "timestamp": int(time.time() * 1000)})

    def message(self, text: str) -> None:
        self.events.append({"stage": self._stage or "Running", "message": text, "timestamp": int(time.time() * 1000)})

    def interrupt(self, reason: State = State.INTERRUPTED) -> bool:
        if self.state.terminal or self.runner is None:
            return False
        if reason is State.TIMED_OUT:
            self.timed_out = True
        self._interrupt_reason = reason
        self.runner.cancel()
        for child in self.children:
            child.interrupt(reason)
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "events": list(self.events),
            "children": [c.to_json() for c in self.children],
            "name": self.name,
            "uuid": self.uuid,
            "timedOut": self.timed_out,
            "timeout": int(self.timeout_s * 1000),
            "version": HALYARD_VERSION,
            "state": self.state.value,
            "response": self.response,
            "fatalError": self.fatal_error,
            "runningJobs": [],
        }

    def shallow_json(self) -> dict[str, Any]:
        last = self.events[-1] if self.events else None
        return {
            "uuid": self.uuid,
            "name": self.name,
            "state": self.state.value,
            "lastEvent": f"{last['stage']}: {last['message']}" if last else None,
            "fatalException": self.fatal_error,
            "jobs": [],
            "children": [f"[{c.name}] ({c.uuid}) - {c.state.value}" for c in self.children],
        }


@dataclass
class Overlap:
    task: str
    running: list[str]
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "running": self.running, "at": self.at}


class ConcurrencyDetector:
    """Records every time a mutating task starts while another one is still running."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}
        self.overlaps: list[Overlap] = []
        self.max_concurrent = 0
        self.mutating_tasks = 0

    def enter(self, task: DaemonTask) -> None:
        label = f"{task.name} ({task.uuid})"
        if self.active:
            self.overlaps.append(Overlap(label, sorted(self.active.values()), time.time()))
        self.active[task.uuid] = label
        self.mutating_tasks += 1
        self.max_concurrent = max(self.max_concurrent, len(self.active))

    def exit(self, task: DaemonTask) -> None:
        self.active.pop(task.uuid, None)

    def report(self) -> dict[str, Any]:
        return {
            "overlaps": [o.to_json() for o in self.overlaps],
            "maxConcurrent": self.max_concurrent,
            "mutatingTasks": self.mutating_tasks,
            "running": sorted(self.active.values()),
        }

    def reset(self) -> None:
        self.overlaps.clear()
        self.max_concurrent = len(self.active)
        self.mutating_tasks = 0


@dataclass
class PendingFault:
    """A one-shot fault for the next mutating task (or any top-level task with `reads`) matching `match`."""

    kind: str  # "fail" | "timeout"
    match: str | None = None
    problem: Problem | None = None
    reads: bool = False

    def applies(self, task: DaemonTask) -> bool:
        eligible = task.kind.mutating or (self.reads and task.kind is Kind.READ)
        return eligible and (self.match is None or self.match.lower() in task.name.lower())


class TaskRegistry:
    """`TaskRepository`: schedules workers on the event loop, times them out, keeps their records for a while."""

    def __init__(self, retention_s: float = 120.0) -> None:
        self.retention_s = retention_s
        self.tasks: dict[str, DaemonTask] = {}
        self.concurrency = ConcurrencyDetector()
        self.pending_faults: list[PendingFault] = []
        self._timers: set[asyncio.Task[None]] = set()

    def get(self, uuid: str) -> DaemonTask | None:
        self._prune()
        return self.tasks.get(uuid)

    def all(self) -> list[DaemonTask]:
        self._prune()
        return list(self.tasks.values())

    def _prune(self) -> None:
        now = time.monotonic()
        for uuid, task in list(self.tasks.items()):
            if task.state.terminal and now > task.created + task.timeout_s + self.retention_s:
                del self.tasks[uuid]

    def _take_fault(self, task: DaemonTask) -> PendingFault | None:
        for fault in self.pending_faults:
            if fault.applies(task):
                self.pending_faults.remove(fault)
                return fault
        return None

    def submit(
        self, name: str, body: TaskBody, *, kind: Kind, timeout_s: float = 60.0, parent: DaemonTask | None = None
    ) -> DaemonTask:
        task = DaemonTask(name=name, kind=kind, timeout_s=timeout_s)
        fault = self._take_fault(task)
        if fault is not None and fault.kind == "timeout":
            task.timeout_s = 0.0
        self.tasks[task.uuid] = task
        if parent is not None:
            parent.children.append(task)
        task.runner = asyncio.create_task(self._run(task, body, fault), name=f"halyard-task-{task.uuid}")
        timer = asyncio.create_task(self._interrupter(task))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return task

    async def _interrupter(self, task: DaemonTask) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task.done.wait(), timeout=task.timeout_s)
            return
        task.interrupt(State.TIMED_OUT)

    async def _run(self, task: DaemonTask, body: TaskBody, fault: PendingFault | None) -> None:
        task.state = State.RUNNING
        task.started = time.monotonic()
        if task.kind.mutating:
            self.concurrency.enter(task)
        if fault is not None and fault.kind == "fail":
            task.injected_problem = fault.problem
        try:
            if task.timeout_s <= 0:
                task.timed_out = True
                task._interrupt_reason = State.TIMED_OUT
                raise asyncio.CancelledError
            outcome = await body(task)
            task.raise_injected_failure()
        except asyncio.CancelledError:
            reason = task._interrupt_reason or State.INTERRUPTED
            task.state = reason
            exc = TaskInterrupted(
                f"Task timed out after {int(task.timeout_s * 1000)} millis"
                if reason is State.TIMED_OUT
                else "Interrupted by user"
            )
            task.fatal_error = _java_exception(exc)
            task.response = {
                "responseBody": None,
                "problemSet": problem_set_json(
                    [
                        Problem(
                            "Unexpected exception: com.netflix.spinnaker.halyard.core.tasks.v1."
                            f"DaemonTaskInterrupted: {exc}",
                            Severity.FATAL,
                        )
                    ]
                ),
            }
        except HalException as e:
            task.state = State.FAILED
            task.fatal_error = _java_exception(e)
            task.response = {"responseBody": None, "problemSet": problem_set_json(e.problems)}
        except Exception as e:  # a worker bug or a simulated unexpected failure
            task.state = State.FAILED
            task.fatal_error = _java_exception(e)
            java = getattr(e, "java_class", "java.lang.RuntimeException")
            task.response = {
                "responseBody": None,
                "problemSet": problem_set_json([Problem(f"Unexpected exception: {java}: {e}", Severity.FATAL)]),
            }
        else:
            task.state = State.SUCCEEDED
            task.response = {"responseBody": outcome.body, "problemSet": problem_set_json(outcome.problems)}
        finally:
            task.finished = time.monotonic()
            if task.kind.mutating:
                self.concurrency.exit(task)
            task.done.set()

    async def close(self) -> None:
        pending = [t.runner for t in self.tasks.values() if t.runner and not t.runner.done()]
        pending += list(self._timers)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(BaseException):
                await t

    def reset(self) -> None:
        self.pending_faults.clear()
        self.concurrency.reset()
