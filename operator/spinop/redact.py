"""Values that must never be printed: tokens, private keys, kubeconfigs with credentials.

`Redacted` hides its value from `repr`, `str`, f-strings and logging by construction, so a secret that slips into
an exception message or a log line shows as `<redacted>` instead of its bytes.
"""

from __future__ import annotations

import hashlib
from typing import Generic, TypeVar

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
