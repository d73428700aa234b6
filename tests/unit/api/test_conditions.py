"""status.conditions helpers: lastTransitionTime semantics and the Ready summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spinop.api.conditions import (
    as_conditions,
    find_condition,
    is_true,
    ready_summary,
    set_condition,
    summarize_ready,
    to_dicts,
)
from spinop.api.v1alpha1 import Condition, ConditionStatus, SpinnakerAccountStatus, SpinnakerClusterStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
ACCOUNT_INPUTS = SpinnakerAccountStatus.READY_INPUTS


def all_true(generation: int = 1) -> list[Condition]:
    conditions: list[Condition] = []
    for type_ in ACCOUNT_INPUTS:
        conditions = set_condition(conditions, type_, "True", "Done", "ok", observed_generation=generation, now=T0)
    return conditions


def test_new_condition_is_appended_with_now() -> None:
    conditions = set_condition([], "Reachable", "True", "Connected", "v1.36.3", observed_generation=3, now=T0)
    (c,) = conditions
    assert (c.type, c.status, c.reason, c.message, c.observed_generation) == (
        "Reachable",
        ConditionStatus.TRUE,
        "Connected",
        "v1.36.3",
        3,
    )
    assert c.last_transition_time == T0


def test_same_status_keeps_last_transition_time() -> None:
    first = set_condition([], "Reachable", "True", "Connected", "a", observed_generation=1, now=T0)
    second = set_condition(first, "Reachable", "True", "StillConnected", "b", observed_generation=2, now=T1)
    (c,) = second
    assert c.last_transition_time == T0
    assert (c.reason, c.message, c.observed_generation) == ("StillConnected", "b", 2)
    assert first[0].reason == "Connected"  # input not mutated


def test_status_flip_sets_last_transition_time() -> None:
    first = set_condition([], "Reachable", "True", "Connected", "", observed_generation=1, now=T0)
    flipped = set_condition(
        first, "Reachable", ConditionStatus.FALSE, "Unreachable", "dial tcp", observed_generation=1, now=T1
    )
    assert flipped[0].last_transition_time == T1
    assert flipped[0].status == ConditionStatus.FALSE


def test_order_is_kept() -> None:
    conditions = all_true()
    updated = set_condition(conditions, "CredentialsIssued", "False", "TokenFailed", "x", observed_generation=1, now=T1)
    assert [c.type for c in updated] == list(ACCOUNT_INPUTS)


def test_ready_true_when_all_inputs_true() -> None:
    conditions = summarize_ready(all_true(), ACCOUNT_INPUTS, generation=1, now=T1)
    ready = find_condition(conditions, "Ready")
    assert ready is not None and ready.status == ConditionStatus.TRUE and ready.reason == "Ready"
    assert ready.observed_generation == 1
    assert is_true(conditions, "Ready")


def test_ready_false_takes_the_first_failure() -> None:
    conditions = set_condition(
        all_true(),
        "PermissionsVerified",
        "False",
        "ExcessPermissions",
        "can list secrets",
        observed_generation=1,
        now=T1,
    )
    conditions = set_condition(
        conditions, "SpinnakerSynced", "False", "HalyardDown", "503", observed_generation=1, now=T1
    )
    status, reason, message = ready_summary(conditions, ACCOUNT_INPUTS, generation=1)
    assert (status, reason) == (ConditionStatus.FALSE, "ExcessPermissions")
    assert message == "PermissionsVerified: can list secrets; SpinnakerSynced: 503"


def test_ready_unknown_when_missing_unknown_or_stale() -> None:
    status, reason, message = ready_summary([], ACCOUNT_INPUTS, generation=1)
    assert (status, reason) == (ConditionStatus.UNKNOWN, "Reconciling")
    assert "RemoteProvisioned: not reported yet" in message
    stale = ready_summary(all_true(generation=1), ACCOUNT_INPUTS, generation=2)
    assert stale[0] == ConditionStatus.UNKNOWN and "reflects generation 1, not 2" in stale[2]
    pending = set_condition(
        all_true(), "SpinnakerSynced", "Unknown", "WaitingForBatch", "next deploy in 20s", observed_generation=1, now=T1
    )
    assert ready_summary(pending, ACCOUNT_INPUTS, generation=1)[:2] == (ConditionStatus.UNKNOWN, "WaitingForBatch")


def test_false_wins_over_unknown() -> None:
    conditions = set_condition([], "RemoteProvisioned", "False", "Forbidden", "no RBAC", observed_generation=1, now=T0)
    assert ready_summary(conditions, ACCOUNT_INPUTS, generation=1)[:2] == (ConditionStatus.FALSE, "Forbidden")


def ready_since(conditions: list[Condition]) -> datetime | None:
    ready = find_condition(conditions, "Ready")
    assert ready is not None
    return ready.last_transition_time


def test_ready_flip_updates_transition_time_only_on_change() -> None:
    conditions = summarize_ready(all_true(), ACCOUNT_INPUTS, generation=1, now=T0)
    again = summarize_ready(conditions, ACCOUNT_INPUTS, generation=1, now=T1)
    assert ready_since(again) == T0
    broken = set_condition(
        again, "RemoteProvisioned", "False", "Gone", "namespace deleted", observed_generation=1, now=T1
    )
    assert ready_since(summarize_ready(broken, ACCOUNT_INPUTS, generation=1, now=T1)) == T1


def test_cluster_ready_depends_on_reachable() -> None:
    conditions = set_condition([], "Reachable", "True", "Connected", "", observed_generation=4, now=T0)
    result = summarize_ready(conditions, SpinnakerClusterStatus.READY_INPUTS, generation=4, now=T0)
    assert is_true(result, "Ready")


def test_dict_round_trip() -> None:
    raw = [{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    conditions = as_conditions(raw)
    assert conditions[0].last_transition_time == T0
    assert to_dicts(conditions) == raw
    assert as_conditions(None) == []
    assert as_conditions(conditions) == conditions


# ------------------------------------------------------------------------------ kstatus (issue 19 item 1)
# kstatus reads Reconciling=True as InProgress, Stalled=True as Failed, neither (with observedGeneration ==
# generation) as Current: sigs.k8s.io/cli-utils pkg/kstatus/status/core.go, checkGenericProperties.


def kstatus_of(conditions: list[Condition]) -> dict[str, tuple[str, str | None, str | None]]:
    return {c.type: (c.status.value, c.reason, c.message) for c in conditions if c.type in ("Reconciling", "Stalled")}


def test_ready_has_neither_reconciling_nor_stalled() -> None:
    summarized = summarize_ready(all_true(), ACCOUNT_INPUTS, generation=1, now=T0)
    assert is_true(summarized, "Ready")
    assert kstatus_of(summarized) == {}


def test_work_in_progress_is_reconciling() -> None:
    conditions = set_condition(
        [], ACCOUNT_INPUTS[0], "False", "NamespaceTerminating", "wait", observed_generation=1, now=T0
    )
    summarized = summarize_ready(conditions, ACCOUNT_INPUTS, generation=1, now=T0)
    assert kstatus_of(summarized) == {"Reconciling": ("True", "NamespaceTerminating", f"{ACCOUNT_INPUTS[0]}: wait")}
    fresh = summarize_ready([], ACCOUNT_INPUTS, generation=1, now=T0)
    assert set(kstatus_of(fresh)) == {"Reconciling"}


def test_refusal_is_stalled_with_ready_reason_and_message() -> None:
    conditions = set_condition(
        all_true(),
        ACCOUNT_INPUTS[0],
        "False",
        "NamespaceNotAllowed",
        "spec.namespace: kube-system",
        observed_generation=1,
        now=T0,
    )
    summarized = summarize_ready(conditions, ACCOUNT_INPUTS, generation=1, now=T0)
    ready = find_condition(summarized, "Ready")
    assert ready is not None
    assert kstatus_of(summarized) == {"Stalled": ("True", "NamespaceNotAllowed", ready.message)}


def test_spec_change_is_reconciling_until_handled_then_flips_back() -> None:
    stalled = summarize_ready(
        set_condition(all_true(), ACCOUNT_INPUTS[0], "False", "InvalidSpec", "bad", observed_generation=1, now=T0),
        ACCOUNT_INPUTS,
        generation=1,
        now=T0,
    )
    assert set(kstatus_of(stalled)) == {"Stalled"}
    # generation 2 not handled yet: the generation-1 refusal no longer holds
    pending = summarize_ready(stalled, ACCOUNT_INPUTS, generation=2, now=T1)
    assert set(kstatus_of(pending)) == {"Reconciling"}
    assert all(c.observed_generation == 2 for c in pending if c.type in ("Ready", "Reconciling"))
    handled = summarize_ready(_all_true_at(pending, 2), ACCOUNT_INPUTS, generation=2, now=T1)
    assert is_true(handled, "Ready")
    assert kstatus_of(handled) == {}


def _all_true_at(conditions: list[Condition], generation: int) -> list[Condition]:
    for type_ in ACCOUNT_INPUTS:
        conditions = set_condition(conditions, type_, "True", "Done", "ok", observed_generation=generation, now=T1)
    return conditions


def test_a_raw_condition_is_found_in_any_stored_shape() -> None:
    from spinop.api.conditions import raw_condition, raw_is_true

    status = {"conditions": ["junk", {"type": "Ready", "status": "True", "reason": "Ready"}]}
    assert raw_condition(status, "Ready") == {"type": "Ready", "status": "True", "reason": "Ready"}
    assert raw_is_true(status, "Ready") and not raw_is_true(status, "Synced")
    for odd in (None, "status", {"conditions": "none"}, {"conditions": None}, {}):
        assert raw_condition(odd, "Ready") is None and not raw_is_true(odd, "Ready")
