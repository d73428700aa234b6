"""Which condition changes a status write reports as transitions (what becomes Events): status or reason flips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spinop.api.conditions import READY, set_condition
from spinop.api.v1alpha1 import Condition, ConditionStatus
from spinop.kube.status import Transition, _transitions

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def conditions(*specs: tuple[str, str, str, str], now: datetime = T0) -> list[Condition]:
    out: list[Condition] = []
    for type_, status, reason, message in specs:
        out = set_condition(out, type_, status, reason, message, observed_generation=1, now=now)
    return out


def test_nothing_changed_is_no_transition() -> None:
    same = conditions(("RemoteProvisioned", "True", "Provisioned", "ok"), (READY, "True", "Ready", "ok"))
    assert _transitions(same, same) == []


def test_a_new_condition_is_a_transition_from_nothing() -> None:
    after = conditions(("RemoteProvisioned", "False", "ClusterUnreachable", "dial tcp: refused"))
    assert _transitions([], after) == [
        Transition("RemoteProvisioned", None, None, "False", "ClusterUnreachable", "dial tcp: refused")
    ]


def test_a_status_flip_and_a_new_reason_are_transitions_a_new_message_is_not() -> None:
    before = conditions(
        ("RemoteProvisioned", "True", "Provisioned", "ok"),
        ("CredentialsIssued", "True", "Issued", "expires at 10:00"),
        ("SpinnakerSynced", "False", "HalyardUnavailable", "refused"),
    )
    after = conditions(
        ("RemoteProvisioned", "False", "ClusterUnreachable", "timeout"),
        ("CredentialsIssued", "True", "Issued", "expires at 11:00"),
        ("SpinnakerSynced", "False", "HalyardDeployFailed", "clouddriver crashed"),
        now=T1,
    )
    assert _transitions(before, after) == [
        Transition("RemoteProvisioned", "True", "Provisioned", "False", "ClusterUnreachable", "timeout"),
        Transition(
            "SpinnakerSynced", "False", "HalyardUnavailable", "False", "HalyardDeployFailed", "clouddriver crashed"
        ),
    ]


def test_ready_comes_first_whatever_its_place_in_the_list() -> None:
    before = conditions(("RemoteProvisioned", "True", "Provisioned", "ok"), (READY, "True", "Ready", "ok"))
    after = conditions(
        ("RemoteProvisioned", "False", "ClusterUnreachable", "timeout"),
        ("SpinnakerSynced", "Unknown", "Pending", "queued"),
        (READY, "False", "ClusterUnreachable", "RemoteProvisioned: timeout"),
    )
    assert [t.type for t in _transitions(before, after)] == [READY, "RemoteProvisioned", "SpinnakerSynced"]


def test_a_condition_that_disappears_is_not_reported() -> None:
    before = conditions(("RemoteProvisioned", "True", "Provisioned", "ok"), ("Legacy", "True", "Old", "x"))
    after = conditions(("RemoteProvisioned", "True", "Provisioned", "ok"))
    assert _transitions(before, after) == []


def test_missing_reason_and_message_become_empty_strings() -> None:
    after = [Condition(type="Custom", status=ConditionStatus.UNKNOWN)]
    assert _transitions([], after) == [Transition("Custom", None, None, "Unknown", "", "")]
