"""The one way every kind reports: the status first, then the reconcile's own Events, then one per announced
transition."""

from __future__ import annotations

from typing import Any

import pytest

from spinop.api.reasons import Reason
from spinop.kube import events
from spinop.kube.status import ConditionUpdate, ObjectRef, StatusReport, StatusResult, Transition

REF = ObjectRef("spinnakeraccounts", "SpinnakerAccount", "web", "team-a", "uid-web")


class Writer:
    def __init__(self, result: StatusResult | None, log: list[Any]) -> None:
        self.result, self.log = result, log

    def update(self, ref: ObjectRef, **kwargs: Any) -> StatusResult | None:
        self.log.append(("status", kwargs["conditions"], kwargs["fields"], kwargs["generation"]))
        return self.result


def run(monkeypatch: pytest.MonkeyPatch, result: StatusResult | None) -> list[Any]:
    log: list[Any] = []
    monkeypatch.setattr(events, "post_event", lambda api, ref, **event: log.append(("event", event["reason"])))
    report = StatusReport(
        [ConditionUpdate("Synced", "False", Reason.DeployFailed, "x")], {"f": 1}, [("Normal", "Own", "m")]
    )
    flips = {"Synced": ("Warning", "SyncedFalse", "x")}
    events.write_status_then_events(
        None,
        Writer(result, log),  # type: ignore[arg-type]
        REF,
        report,
        generation=3,
        announce=lambda t: flips.get(t.type),
    )
    return log


def test_status_first_then_own_events_then_announced_transitions(monkeypatch: pytest.MonkeyPatch) -> None:
    transitions = [
        Transition("Ready", "True", "Ready", "False", "Broken", "x"),
        Transition("Synced", None, None, "False", "Broken", "x"),
    ]
    log = run(monkeypatch, StatusResult(written=True, transitions=transitions))
    assert log[0] == ("status", [ConditionUpdate("Synced", "False", Reason.DeployFailed, "x")], {"f": 1}, 3)
    assert log[1:] == [("event", "Own"), ("event", "SyncedFalse")]


def test_an_object_that_is_gone_gets_only_the_reconciles_own_events(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [entry[0] for entry in run(monkeypatch, None)] == ["status", "event"]
