"""Status writes for spinop's custom resources, shared by handlers and the Spinnaker sync.

Several writers set different conditions of one object (the account handler, the Spinnaker sync), so every write is
read-modify-write against the freshest object, guarded by its resourceVersion and retried on conflict. Ready is
recomputed from the merged conditions on every write. Nothing is written when nothing changed, so a steady state
costs no API writes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.api.conditions import READY, as_conditions, find_condition, set_condition, summarize_ready, to_dicts
from spinop.api.reasons import Reason
from spinop.errors import SpinopError
from spinop.kube.clients import call

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class ObjectRef:
    plural: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None

    def describe(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: str
    reason: Reason
    message: str


@dataclass(frozen=True)
class Transition:
    """A condition whose status or reason changed in this write (what Events report)."""

    type: str
    old_status: str | None
    old_reason: str | None
    status: str
    reason: str
    message: str


Event = tuple[str, str, str]
"""An Event to post: (type, reason, message)."""


@dataclass
class StatusReport:
    """What one reconcile has to say about its object: conditions and fields to merge into status, Events to post,
    and the failure that stopped it (each kind's Outcome extends this)."""

    conditions: list[ConditionUpdate] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    error: SpinopError | None = None

    def set(self, type_: str, status: str, reason: Reason, message: str) -> None:
        self.conditions.append(ConditionUpdate(type_, status, reason, message))


@dataclass
class StatusResult:
    written: bool
    transitions: list[Transition] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    generation: int | None = None


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


class StatusWriter:
    def __init__(self, api: ApiClient, ready_inputs: Callable[[dict[str, Any]], Sequence[str]]) -> None:
        self.api = api
        self.ready_inputs = ready_inputs

    def _get(self, ref: ObjectRef) -> dict[str, Any]:
        custom = k8s.CustomObjectsApi(self.api)
        if ref.namespace:
            return call(custom.get_namespaced_custom_object, GROUP, VERSION, ref.namespace, ref.plural, ref.name)
        return call(custom.get_cluster_custom_object, GROUP, VERSION, ref.plural, ref.name)

    def _patch(self, ref: ObjectRef, body: dict[str, Any]) -> None:
        custom = k8s.CustomObjectsApi(self.api)
        if ref.namespace:
            call(
                custom.patch_namespaced_custom_object_status, GROUP, VERSION, ref.namespace, ref.plural, ref.name, body
            )
        else:
            call(custom.patch_cluster_custom_object_status, GROUP, VERSION, ref.plural, ref.name, body)

    def update(
        self,
        ref: ObjectRef,
        *,
        conditions: Sequence[ConditionUpdate] = (),
        fields: Mapping[str, Any] | None = None,
        generation: int | None = None,
        now: datetime.datetime | None = None,
        known: Mapping[str, Any] | None = None,
    ) -> StatusResult | None:
        """Merge `conditions` and `fields` into the object's status; None when the object is gone.

        `generation` is the metadata.generation the caller acted on (stamped as observedGeneration); None keeps the
        stored observedGeneration, for writers that do not act on the spec (the Spinnaker sync).
        `known`: the object as the caller has it (kopf's live body): when the update changes nothing there, nothing
        is read or written. Any change is still merged into the freshest object.
        """
        now = now or utcnow()
        if known is not None and (not ref.uid or (known.get("metadata") or {}).get("uid") == ref.uid):
            current, desired, _, acted_on = self._merge(dict(known), conditions, fields, generation, now)
            if desired == current:
                return StatusResult(False, [], current, acted_on)
        for _attempt in range(MAX_ATTEMPTS):
            try:
                obj = self._get(ref)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            if ref.uid and obj["metadata"].get("uid") != ref.uid:
                return None  # a new object of the same name: not ours to write
            current, desired, transitions, acted_on = self._merge(obj, conditions, fields, generation, now)
            if desired == current:
                return StatusResult(False, [], current, acted_on)
            body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": desired}
            # JSON merge patch: keys set to None would delete; ours are all present, removed ones explicitly null.
            for key in current:
                if key not in desired:
                    body["status"][key] = None
            try:
                self._patch(ref, body)
            except ApiException as err:
                if err.status == 409:
                    continue
                if err.status == 404:
                    return None
                raise
            return StatusResult(True, transitions, desired, acted_on)
        raise RuntimeError(f"status of {ref.describe()} kept changing under spinop; giving up for now")

    def _merge(
        self,
        obj: dict[str, Any],
        conditions: Sequence[ConditionUpdate],
        fields: Mapping[str, Any] | None,
        generation: int | None,
        now: datetime.datetime,
    ) -> tuple[dict[str, Any], dict[str, Any], list[Transition], int | None]:
        """The object's status now, the status after the update, the condition transitions, the generation acted on."""
        current = dict(obj.get("status") or {})
        acted_on = generation if generation is not None else current.get("observedGeneration")
        before = as_conditions(current.get("conditions"))
        merged = list(before)
        for update in conditions:
            merged = set_condition(
                merged,
                update.type,
                update.status,
                update.reason,
                update.message,
                observed_generation=acted_on,
                now=now,
            )
        merged = summarize_ready(merged, self.ready_inputs(obj), generation=acted_on, now=now)
        desired = {**current, **(fields or {}), "conditions": to_dicts(merged)}
        if acted_on is not None:
            desired["observedGeneration"] = acted_on
        desired = {k: v for k, v in desired.items() if v is not None}
        return current, desired, _transitions(before, merged), acted_on


def _transitions(before: Sequence[Any], after: Sequence[Any]) -> list[Transition]:
    changes = []
    for cond in after:
        old = find_condition(before, cond.type)
        if old is None or old.status != cond.status or old.reason != cond.reason:
            changes.append(
                Transition(
                    type=cond.type,
                    old_status=str(old.status.value) if old else None,
                    old_reason=old.reason if old else None,
                    status=str(cond.status.value),
                    reason=cond.reason or "",
                    message=cond.message or "",
                )
            )
    # Ready first: it is the one a tenant watches.
    return sorted(changes, key=lambda t: t.type != READY)
