"""Halyard's failures, turned into ours. Each error says whether retrying (without changing input) may help.

- `HalyardUnavailable`: the daemon (or the pod exec path) could not be reached or answered 5xx/timed out;
  `HalyardTaskOverdue` when a task was still running at the client's deadline.
- `HalyardRejected`: Halyard refused the input with ERROR/FATAL problems; fix the input before retrying.
- `HalyardNotFound`: the account (or deployment/provider) does not exist.
- `HalyardTaskFailed`: the task ended FAILED/TIMED_OUT/INTERRUPTED for a reason that is not the input
  (e.g. a deploy child failed).
- `HalyardNotSupported`: the transport cannot express the request (e.g. EXECUTE permissions through `hal`).
- `HalyardProtocolError`: Halyard answered something this client does not understand (a bug on one side).

Messages carry Halyard's own problem texts and never secret values. `reason_for` is the Reason of a failure whose
input is not in question; the Halyard backend (spinnaker/halyard_backend.py) names the input's refusals itself
(HalyardRejected, HalTransportCannotExpress, DeployFailed), where it knows which step refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from spinop.api.reasons import Reason

from .model import Problem, Severity, TaskSummary


class HalyardError(Exception):
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, operation: str = "", problems: Iterable[Problem] = ()) -> None:
        self.operation = operation
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(f"{operation}: {message}" if operation else message)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.WARNING)

    @property
    def blocking(self) -> tuple[Problem, ...]:
        """The problems that made Halyard refuse (ERROR and FATAL)."""
        return tuple(p for p in self.problems if p.severity >= Severity.ERROR)


def describe(problems: Iterable[Problem]) -> str:
    return "; ".join(str(p) for p in problems)


class HalyardUnavailable(HalyardError):
    retryable = True


class HalyardTaskOverdue(HalyardUnavailable):
    """A task still ran when the client's deadline passed (e.g. validation blocked on the network); interrupted."""

    def __init__(self, message: str, *, operation: str = "", stage: str | None = None) -> None:
        self.stage = stage
        super().__init__(message, operation=operation)


class HalyardRejected(HalyardError):
    def __init__(self, operation: str, problems: Iterable[Problem], message: str | None = None) -> None:
        problems = tuple(problems)
        blocking = [p for p in problems if p.severity >= Severity.ERROR] or list(problems)
        super().__init__(
            message or f"Halyard rejected it: {describe(blocking)}", operation=operation, problems=problems
        )


class HalyardNotFound(HalyardError):
    def __init__(self, operation: str, problems: Iterable[Problem], message: str | None = None) -> None:
        problems = tuple(problems)
        super().__init__(message or f"not found: {describe(problems)}", operation=operation, problems=problems)


class HalyardTaskFailed(HalyardError):
    retryable = True

    def __init__(
        self,
        operation: str,
        *,
        state: str,
        fatal_error: str | None = None,
        problems: Iterable[Problem] = (),
        children: Iterable[TaskSummary] = (),
        uuid: str | None = None,
    ) -> None:
        self.state = state
        self.fatal_error = fatal_error
        self.children = tuple(children)
        self.uuid = uuid
        failed = [c for c in self.children if c.state not in ("SUCCEEDED", "RUNNING", "NOT_STARTED")]
        parts = [f"task {uuid} ended {state}" if uuid else f"task ended {state}"]
        if fatal_error:
            parts.append(fatal_error)
        if failed:
            parts.append("failed children: " + ", ".join(f"{c.name} ({c.state})" for c in failed))
        problems = tuple(problems)
        if problems:
            parts.append(describe(problems))
        super().__init__("; ".join(parts), operation=operation, problems=problems)


class HalyardNotSupported(HalyardError):
    pass


class HalyardProtocolError(HalyardError):
    pass


_NOT_FOUND = (
    re.compile(r'^No account with name ".*" was found$'),
    re.compile(r'^Account ".*" wasn\'t found$'),
    re.compile(r"^No accounts could be found$"),
    re.compile(r'^No deployment with name ".*" could be found'),
    re.compile(r'^No provider with name ".*" could be found'),
)


def is_not_found(problem: Problem) -> bool:
    return any(p.match(problem.message) for p in _NOT_FOUND)


def failure_for(
    operation: str,
    state: str,
    problems: Iterable[Problem],
    *,
    fatal_error: str | None = None,
    children: Iterable[TaskSummary] = (),
    uuid: str | None = None,
) -> HalyardError:
    """Classify a task that did not succeed (the same rules for the REST and the exec transport).

    ERROR/FATAL problems about the input → Rejected ("Unexpected exception: …" problems are Halyard's wrapping
    of crashes, not input problems); not-found problems → NotFound; timeouts, interrupts and crashes → TaskFailed.
    """
    problems = tuple(problems)
    if state not in ("TIMED_OUT", "INTERRUPTED"):
        blocking = [p for p in problems if p.severity >= Severity.ERROR]
        if any(is_not_found(p) for p in blocking):
            return HalyardNotFound(operation, problems)
        if any(not p.message.startswith("Unexpected exception") for p in blocking):
            return HalyardRejected(operation, problems)
    return HalyardTaskFailed(
        operation, state=state, fatal_error=fatal_error, problems=problems, children=children, uuid=uuid
    )


def reason_for(err: HalyardError) -> Reason:
    """HalyardUnavailable when the daemon (or the exec path) could not be reached, else HalyardTaskFailed."""
    return Reason.HalyardUnavailable if isinstance(err, HalyardUnavailable) else Reason.HalyardTaskFailed
