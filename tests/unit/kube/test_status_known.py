"""StatusWriter.update with the object the caller already has (kopf's live body): nothing read when nothing changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient

from spinop.api.reasons import Reason
from spinop.kube.status import ConditionUpdate, ObjectRef, StatusWriter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REF = ObjectRef("spinnakeraccounts", "SpinnakerAccount", "a", "team", "uid-1")
VERIFIED = ConditionUpdate("PermissionsVerified", "True", Reason.Verified, "as promised")


class RecordingWriter(StatusWriter):
    """The writer with the object kept here instead of on an apiserver, counting reads and writes."""

    def __init__(self, stored: dict[str, Any]) -> None:
        super().__init__(ApiClient(), lambda obj: ("PermissionsVerified",))
        self.stored = stored
        self.reads = self.writes = 0

    def _get(self, ref: ObjectRef) -> dict[str, Any]:
        self.reads += 1
        return copy.deepcopy(self.stored)

    def _patch(self, ref: ObjectRef, body: dict[str, Any]) -> None:
        self.writes += 1
        self.stored["status"] = body["status"]
        self.stored["metadata"]["resourceVersion"] = str(int(self.stored["metadata"]["resourceVersion"]) + 1)


def _object() -> dict[str, Any]:
    return {"metadata": {"name": "a", "namespace": "team", "uid": "uid-1", "resourceVersion": "1"}, "status": {}}


def test_an_update_that_changes_nothing_in_the_known_object_reads_nothing() -> None:
    writer = RecordingWriter(_object())
    first = writer.update(REF, conditions=[VERIFIED], generation=1, now=T0)
    assert first is not None and first.written and (writer.reads, writer.writes) == (1, 1)

    again = writer.update(REF, conditions=[VERIFIED], generation=1, now=T0, known=copy.deepcopy(writer.stored))
    assert again is not None and not again.written and again.transitions == []
    assert (writer.reads, writer.writes) == (1, 1)


def test_a_change_is_merged_into_the_freshest_object_not_the_known_one() -> None:
    writer = RecordingWriter(_object())
    writer.update(REF, conditions=[VERIFIED], generation=1, now=T0)
    known = copy.deepcopy(writer.stored)
    writer.stored["status"]["lastAppliedToSpinnaker"] = "2026-01-01T00:00:00Z"  # written meanwhile by someone else
    failed = ConditionUpdate(
        "PermissionsVerified", "False", Reason.PermissionsMismatch, "can unexpectedly list secrets"
    )
    result = writer.update(REF, conditions=[failed], generation=1, now=T0, known=known)
    assert result is not None and result.written and (writer.reads, writer.writes) == (2, 2)
    assert writer.stored["status"]["lastAppliedToSpinnaker"] == "2026-01-01T00:00:00Z"
    assert "PermissionsMismatch" in [t.reason for t in result.transitions]


def test_a_known_object_of_another_uid_is_not_trusted() -> None:
    writer = RecordingWriter(_object())
    writer.update(REF, conditions=[VERIFIED], generation=1, now=T0)
    other = copy.deepcopy(writer.stored)
    other["metadata"]["uid"] = "uid-old"
    writer.update(REF, conditions=[VERIFIED], generation=1, now=T0, known=other)
    assert writer.reads == 2, "read the object itself"
