"""Pure helpers for status.conditions in the metav1.Condition shape.

- `set_condition` replaces one condition by type, keeping lastTransitionTime unless the status flips.
- `summarize_ready` computes the summary `Ready` from the conditions it depends on: each kind's status model
  names them in `READY_INPUTS`, except SpinnakerPipeline's, which depend on its driftPolicy
  (`SpinnakerPipelineSpec.ready_inputs`), and from Ready the kstatus conditions GitOps tools read: `Reconciling`
  while spinop works on it, `Stalled` when only a person can fix it (api/reasons.py), neither once Ready.

Functions take and return lists of `Condition` and never mutate their input; `as_conditions` parses the raw dicts
kopf hands over, and `to_dicts` turns the result back into a patch value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from spinop.api.reasons import RECONCILING, STALLED, Reason, needs_a_person
from spinop.api.v1alpha1.common import Condition, ConditionStatus

READY = "Ready"
REASON_READY = Reason.Ready
REASON_RECONCILING = Reason.Reconciling


def as_conditions(raw: Iterable[Condition | Mapping[str, Any]] | None) -> list[Condition]:
    """Conditions from status as stored (dicts) or already parsed."""
    return [c if isinstance(c, Condition) else Condition.model_validate(c) for c in raw or ()]


def to_dicts(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """Conditions as the API stores them: camelCase keys, RFC 3339 times, no nulls."""
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions]


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def _raw_conditions(status: Any) -> list[Any]:
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return conditions if isinstance(conditions, list) else []


def raw_condition(status: Any, type_: str) -> dict[str, Any] | None:
    """The condition `type_` of a raw status as stored, tolerating any shape (a body may hold anything a client
    wrote): for index functions, reconciles and commands that read a body without parsing it."""
    for cond in _raw_conditions(status):
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return dict(cond)
    return None


def raw_is_true(status: Any, type_: str) -> bool:
    """Whether a raw status holds condition `type_` with status "True" (any shape tolerated)."""
    return any(
        isinstance(c, Mapping) and c.get("type") == type_ and c.get("status") == "True" for c in _raw_conditions(status)
    )


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status == ConditionStatus.TRUE


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus | str,
    reason: str,
    message: str,
    *,
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """A copy of `conditions` with `type_` set; the condition keeps its place, a new one is appended.

    lastTransitionTime is `now` for a new condition or a status change, and is kept otherwise, so that it tells
    when the status last flipped, not when spinop last looked.
    """
    status = ConditionStatus(status)
    previous = find_condition(conditions, type_)
    transition = now if previous is None or previous.status != status or not previous.last_transition_time else None
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition or (previous.last_transition_time if previous else now),
        observed_generation=observed_generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def ready_summary(
    conditions: Sequence[Condition], inputs: Sequence[str], *, generation: int | None
) -> tuple[ConditionStatus, str, str]:
    """(status, reason, message) of Ready given the conditions it depends on.

    False if any input is False (reason: the first False input's reason; message: every False input's message).
    Otherwise Unknown if any input is missing, Unknown, or computed for an older generation (reason: that input's
    reason, or Reconciling). Otherwise True with reason Ready.
    """
    failed: list[Condition] = []
    pending: list[tuple[str, str]] = []
    for type_ in inputs:
        found = find_condition(conditions, type_)
        if found is None:
            pending.append((REASON_RECONCILING, f"{type_}: not reported yet"))
        elif (
            generation is not None and found.observed_generation is not None and found.observed_generation < generation
        ):
            pending.append(
                (REASON_RECONCILING, f"{type_}: reflects generation {found.observed_generation}, not {generation}")
            )
        elif found.status == ConditionStatus.FALSE:
            failed.append(found)
        elif found.status == ConditionStatus.UNKNOWN:
            pending.append((found.reason or REASON_RECONCILING, f"{type_}: {found.message or 'unknown'}"))
    if failed:
        message = "; ".join(f"{c.type}: {c.message or c.reason or 'False'}" for c in failed)
        return ConditionStatus.FALSE, failed[0].reason or f"{failed[0].type}Failed", message
    if pending:
        return ConditionStatus.UNKNOWN, pending[0][0], "; ".join(message for _, message in pending)
    return ConditionStatus.TRUE, REASON_READY, f"{', '.join(inputs)}: True" if inputs else "ready"


def summarize_ready(
    conditions: Sequence[Condition], inputs: Sequence[str], *, generation: int | None, now: datetime
) -> list[Condition]:
    """A copy of `conditions` with Ready recomputed from `inputs` (see `ready_summary`)."""
    status, reason, message = ready_summary(conditions, inputs, generation=generation)
    updated = set_condition(conditions, READY, status, reason, message, observed_generation=generation, now=now)
    return kstatus_conditions(updated, generation=generation, now=now)


def kstatus_verdict(ready: Condition | None) -> str | None:
    """Which kstatus condition Ready calls for: STALLED, RECONCILING, or None once Ready is True."""
    if ready is not None and ready.status == ConditionStatus.TRUE:
        return None
    if ready is not None and ready.status == ConditionStatus.FALSE and needs_a_person(ready.reason):
        return STALLED
    return RECONCILING


def kstatus_conditions(conditions: Sequence[Condition], *, generation: int | None, now: datetime) -> list[Condition]:
    """A copy of `conditions` with kstatus' abnormal-true conditions matching Ready: `Reconciling=True` while work is
    in progress, `Stalled=True` (Ready's reason and message) when only a person can fix it, neither when Ready.

    kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status) reads a custom resource as InProgress when Reconciling is True,
    Failed when Stalled is True, Current otherwise once status.observedGeneration equals metadata.generation.
    """
    ready = find_condition(conditions, READY)
    verdict = kstatus_verdict(ready)
    kept = [c for c in conditions if c.type not in (RECONCILING, STALLED) or c.type == verdict]
    if verdict is None:
        return kept
    reason = (ready.reason if ready else None) or REASON_RECONCILING
    message = (ready.message if ready else None) or "not reported yet"
    return set_condition(kept, verdict, ConditionStatus.TRUE, reason, message, observed_generation=generation, now=now)
