"""Halyard's problem model, as the test double of the Halyard daemon reproduces it (contract §2).

A `Problem` serializes exactly like `CORE/problem/v1/Problem.java` (message, remediation, options, severity,
location); `HalException` carries a problem list and the HTTP status Halyard's `HalconfigExceptionHandler` would
answer with when it escapes a controller synchronously (409, or 404 for not-found).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    NONE = 0
    INFO = 1
    WARNING = 2
    ERROR = 3
    FATAL = 4

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}; one of {', '.join(s.name for s in cls)}") from None


@dataclass(frozen=True)
class Problem:
    message: str
    severity: Severity = Severity.FATAL
    location: str | None = None
    remediation: str | None = None
    options: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "remediation": self.remediation,
            "options": list(self.options) if self.options is not None else None,
            "severity": self.severity.name,
            "location": self.location,
        }


def problem_set_json(problems: Iterable[Problem]) -> dict[str, Any]:
    return {"problems": [p.to_json() for p in problems]}


def max_severity(problems: Iterable[Problem]) -> Severity:
    return max((p.severity for p in problems), default=Severity.NONE)


class HalException(Exception):
    """A failure with problems; inside a task it fails the task, in a controller it is an HTTP error."""

    status = 409
    java_class = "com.netflix.spinnaker.halyard.core.error.v1.HalException"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems[0].message if self.problems else "No problem set supplied.")


class ConfigNotFound(HalException):
    status = 404
    java_class = "com.netflix.spinnaker.halyard.config.error.v1.ConfigNotFoundException"


class IllegalConfig(HalException):
    java_class = "com.netflix.spinnaker.halyard.config.error.v1.IllegalConfigException"


class BadRequest(HalException):
    """A body Halyard's Jackson mapper refuses before any task starts (the stand-in answers 400)."""

    status = 400


def throw_if_severity_exceeds(problems: list[Problem], threshold: Severity) -> None:
    if max_severity(problems) > threshold:
        raise HalException(problems)


@dataclass
class ProblemCollector:
    """Collects problems with the dotted node path (`Node.getNameToRoot`) of the node being validated."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, severity: Severity, message: str, location: str | None, remediation: str | None = None) -> None:
        self.problems.append(Problem(message, severity, location, remediation))
