"""JSON paths as spinop prints them (`spec.pipeline.stages[2].account`), and the `Violation` they point at."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

PathPart = str | int
_IDENTIFIER = re.compile(r"^[A-Za-z_$@][A-Za-z0-9_$@-]*$")


def format_path(parts: Sequence[PathPart]) -> str:
    """`("spec", "pipeline", "stages", 2, "account")` -> `spec.pipeline.stages[2].account`.

    Keys that are not plain identifiers are quoted: `metadata.labels["app.kubernetes.io/name"]`.
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def parse_path(path: str) -> tuple[PathPart, ...]:
    """The inverse of `format_path` (for tests and for pointing into a body)."""
    parts: list[PathPart] = []
    for match in re.finditer(r'\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.\[\]]+)', path):
        index, quoted, plain = match.groups()
        if index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(json.loads(quoted))
        else:
            parts.append(plain)
    return tuple(parts)


@dataclass(frozen=True, order=True)
class Violation:
    """A field of a resource that is refused: `path` is exact, `message` says what is allowed instead."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
