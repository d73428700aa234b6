"""FieldError: one reason an object is refused, naming the field (`spec.namespace`) and what would be accepted.

Pure and shared by the models' update checks, the tenancy rules (`spinop.tenancy`), the admission webhook and
the reconcile's condition messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    path: str
    """Where the problem is, in Kubernetes field-path form: `spec.extraRules[0].verbs`."""
    message: str
    """What is wrong and what would be accepted."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def format_path(loc: Sequence[str | int]) -> str:
    """("spec", "extraRules", 0, "verbs") -> "spec.extraRules[0].verbs"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """Turn a pydantic ValidationError into FieldErrors with Kubernetes-style paths.

    Errors raised by `spinop.api.v1alpha1.common.field_error` carry the sub-field in `ctx["field"]` (a model
    validator's error is otherwise reported at the model itself); it is appended to the path.
    """
    errors = []
    for err in exc.errors(include_url=False):
        loc: list[str | int] = [*prefix, *err["loc"]]
        ctx = err.get("ctx") or {}
        if err["type"] == "spinop_field" and ctx.get("field"):
            loc.extend(str(ctx["field"]).split("."))
        errors.append(FieldError(format_path(loc), err["msg"]))
    return errors


def render(errors: Sequence[FieldError]) -> str:
    """All errors on one line each, for a condition message or an admission response."""
    return "\n".join(str(e) for e in errors)
