"""Values that must never be printed: tokens, private keys, kubeconfigs with credentials.

`Redacted` hides its value from `repr`, `str`, f-strings and logging by construction, so a secret that slips into
an exception message or a log line shows as `<redacted>` instead of its bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import yaml

T = TypeVar("T", str, bytes)


class Redacted(Generic[T]):
    """A secret value; call `.reveal()` at the one place that must send it somewhere."""

    __slots__ = ("_value",)
    _value: T

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def fingerprint(self) -> str:
        """A short, stable, non-reversible identifier (sha256 prefix) safe for status and logs."""
        raw = self._value.encode() if isinstance(self._value, str) else self._value
        return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]

    def __repr__(self) -> str:
        return "Redacted(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"

    def __format__(self, spec: str) -> str:
        return "<redacted>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redacted) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# Keys of a kubeconfig (or any YAML/JSON secret) whose values are credentials.
_CREDENTIAL_KEY = re.compile(r"token|password|secret|key-data|certificate-data|credential", re.IGNORECASE)
MIN_LEAK = 12
"""The shortest run of a credential's characters treated as a leak when it turns up inside other text."""


def _credential_values(secret: str) -> list[str]:
    """The secret itself and, when it is a kubeconfig (YAML/JSON), the credential values inside it."""
    values = [secret]
    if "\n" in secret or secret.lstrip().startswith("{"):
        try:
            parsed = yaml.safe_load(secret)
        except yaml.YAMLError:
            parsed = None
        stack: list[Any] = [parsed]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and _CREDENTIAL_KEY.search(str(key)) and len(value) >= 8:
                        values.append(value)
                    else:
                        stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
    return values


def _forms(value: str) -> set[str]:
    """How a value may travel inside an error: as is, JSON-escaped (with or without escaped slashes)."""
    escaped = json.dumps(value)[1:-1]
    return {value, escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `<redacted>`: whole, JSON-escaped, and any run of at least MIN_LEAK
    characters of a credential (a truncated or partly quoted token, the token line of a kubeconfig)."""
    leaks: list[tuple[int, int]] = []
    for secret in secrets:
        if not secret:
            continue
        values = _credential_values(secret)
        for i, value in enumerate(values):
            # A kubeconfig's boilerplate is no secret: only its credential values count in pieces.
            whole_only = i == 0 and len(values) > 1
            for form in _forms(value):
                leaks += _runs(text, form, whole_only=whole_only)
    if not leaks:
        return text
    out, last = [], 0
    for start, end in sorted(_merge(leaks)):
        out.append(text[last:start] + "<redacted>")
        last = end
    return "".join(out) + text[last:]


def _runs(text: str, form: str, *, whole_only: bool) -> list[tuple[int, int]]:
    """Where `form` occurs in `text`: whole, and (unless `whole_only`) every maximal run of >= MIN_LEAK of its
    characters in a row."""
    found = [(m.start(), m.end()) for m in re.finditer(re.escape(form), text)] if form else []
    if whole_only or len(form) < MIN_LEAK:
        return found
    windows = {form[i : i + MIN_LEAK] for i in range(len(form) - MIN_LEAK + 1)}
    i = 0
    while i <= len(text) - MIN_LEAK:
        if text[i : i + MIN_LEAK] in windows:
            end = i + MIN_LEAK
            while end < len(text) and text[i : end + 1] in form:
                end += 1
            found.append((i, end))
            i = end
        else:
            i += 1
    return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
