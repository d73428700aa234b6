"""The SpinnakerPipeline admission hook: where the pipeline tenant guard joins the webhook.

The webhook for SpinnakerPipeline re-checks the schema itself; everything else comes from validators registered
here (the tenant guard of `spinop.pipelines.guard`, which also runs before every save to Gate, so a bypassed or
down webhook changes nothing but how early a tenant hears about it):

    from spinop.admission.pipelines import PipelineReview, register_pipeline_validator

    @register_pipeline_validator
    async def tenant_guard(review: PipelineReview) -> list[FieldError]:
        ...  # read what you need through review.ctx (in a thread), return FieldErrors naming spec.pipeline paths

A validator gets every CREATE and every UPDATE that changes `spec` (never kopf's metadata-only updates nor updates
of an object being deleted) and returns the FieldErrors that refuse it: the webhook answers 403 with reason
`PipelineNotAllowed` and all validators' errors. It must not raise for bad input (an exception is answered like
a webhook outage: admitted with a warning under failurePolicy Ignore, refused under Fail), must not write
anything (the webhook declares sideEffects: None; dry-run requests reach it too) and should answer within about
two seconds (the apiserver's timeout for the whole webhook is 5 s in the shipped configuration).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerPipeline
from spinop.controllers.context import OperatorContext

PIPELINE_REFUSED = Reason.PipelineNotAllowed


@dataclass(frozen=True)
class PipelineReview:
    """One admission request for a SpinnakerPipeline, already past the schema check."""

    operation: str
    """CREATE or UPDATE."""
    pipeline: SpinnakerPipeline
    """The object as it would be stored, parsed."""
    old: SpinnakerPipeline | None
    """The stored object on UPDATE."""
    body: Mapping[str, Any]
    """The raw object, for paths the model does not keep (spec.pipeline is free-form)."""
    ctx: OperatorContext
    dry_run: bool


PipelineValidator = Callable[[PipelineReview], Awaitable[Sequence[FieldError]]]

_validators: list[PipelineValidator] = []


def register_pipeline_validator(fn: PipelineValidator) -> PipelineValidator:
    """Add a validator (usable as a decorator); registering the same function twice keeps one."""
    if fn not in _validators:
        _validators.append(fn)
    return fn


def unregister_pipeline_validator(fn: PipelineValidator) -> None:
    if fn in _validators:
        _validators.remove(fn)


def pipeline_validators() -> tuple[PipelineValidator, ...]:
    return tuple(_validators)


async def review_pipeline(review: PipelineReview) -> list[FieldError]:
    """Every registered validator's errors, in registration order."""
    errors: list[FieldError] = []
    for validator in pipeline_validators():
        errors.extend(await validator(review))
    return errors
