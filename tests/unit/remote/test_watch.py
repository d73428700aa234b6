"""The pure parts of the remote drift watches: which account an event wakes, what a re-list wakes, the back-off."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import MANAGED_BY, OWNER_UID
from spinop.errors import ClusterUnreachable
from spinop.remote.watch import (
    BACKOFF_MAX,
    KindWatch,
    Seen,
    backoff_seconds,
    describe_failure,
    owner_to_wake,
    owners_changed,
)


def _obj(name: str, owner: str | None = "uid-1", version: str = "7", namespace: str = "team-dev") -> dict[str, Any]:
    labels = {MANAGED_BY: "spinop", **({OWNER_UID: owner} if owner else {})}
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version, "labels": labels}}


def test_an_edit_or_deletion_wakes_the_owner_and_spinops_own_creates_wake_nobody() -> None:
    assert owner_to_wake("MODIFIED", _obj("spinop-a"), {}) == "uid-1"
    assert owner_to_wake("DELETED", _obj("spinop-a"), {}) == "uid-1"
    assert owner_to_wake("ADDED", _obj("spinop-a"), {}) is None
    assert owner_to_wake("BOOKMARK", {"metadata": {"resourceVersion": "9"}}, {}) is None
    assert owner_to_wake("ERROR", {"code": 500}, {}) is None


def test_an_object_whose_owner_label_was_removed_wakes_the_owner_the_watch_knew() -> None:
    known = {("team-dev", "spinop-a"): Seen("6", "uid-1")}
    assert owner_to_wake("DELETED", _obj("spinop-a", owner=None), known) == "uid-1"
    assert owner_to_wake("DELETED", _obj("spinop-a", owner=None), {}) is None


def test_a_relist_wakes_the_owners_of_what_changed_or_went_away_meanwhile() -> None:
    before = {
        ("a", "kept"): Seen("1", "uid-kept"),
        ("a", "edited"): Seen("1", "uid-edited"),
        ("a", "gone"): Seen("1", "uid-gone"),
        ("a", "relabelled"): Seen("1", "uid-old"),
    }
    after = {
        ("a", "kept"): Seen("1", "uid-kept"),
        ("a", "edited"): Seen("2", "uid-edited"),
        ("a", "relabelled"): Seen("3", "uid-new"),
        ("a", "new"): Seen("4", "uid-new-object"),  # created meanwhile: spinop's own create, like ADDED
    }
    assert owners_changed(before, after) == {"uid-edited", "uid-gone", "uid-old", "uid-new"}
    assert owners_changed(before, before) == set()


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_seconds(50) == BACKOFF_MAX == 60.0
    assert backoff_seconds(0) == 1.0


def test_failures_are_described_without_response_bodies() -> None:
    err = ApiException(status=403, reason="Forbidden")
    err.body = '{"message": "secret stuff"}'
    assert describe_failure(err) == "HTTP 403 Forbidden"
    assert describe_failure(ClusterUnreachable("cannot reach cluster prod")) == "cannot reach cluster prod"
    assert describe_failure(ConnectionRefusedError("x")) == "ConnectionRefusedError"


def test_a_watch_that_cannot_connect_keeps_trying_wakes_nobody_and_stops_at_once() -> None:
    attempts = threading.Semaphore(0)
    woken: list[str] = []

    def connect() -> ApiClient:
        attempts.release()
        raise ClusterUnreachable("cannot reach cluster dead")

    watch = KindWatch("dead", "roles", connect, woken.append)
    watch.start()
    assert attempts.acquire(timeout=5)
    assert attempts.acquire(timeout=5), "a failed watch tries again (after a back-off of about a second)"
    watch.stop()
    watch._thread.join(timeout=5)
    assert not watch._thread.is_alive()
    assert woken == []


class _ScriptedWatch(KindWatch):
    """A KindWatch whose list and stream are scripted: each `_follow` takes the next step (events or a failure)."""

    def __init__(self, listed: dict[tuple[str, str], Seen]) -> None:
        super().__init__("dev", "roles", lambda: ApiClient(), lambda uid: None)
        self.listed = listed
        self.steps: queue.Queue[dict[tuple[str, str], Seen] | Exception] = queue.Queue()
        self.follows = threading.Semaphore(0)

    def _list(self, api: ApiClient) -> tuple[dict[tuple[str, str], Seen], str]:
        return dict(self.listed), "1"

    def _follow(self, api: ApiClient, version: str, known: dict[tuple[str, str], Seen]) -> str:
        self.follows.release()
        step = self.steps.get(timeout=10)
        if isinstance(step, Exception):
            raise step
        known.update(step)
        return version


def _eventually(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_a_watch_answers_versions_only_while_synced() -> None:
    watch = _ScriptedWatch({("team-dev", "spinop-a"): Seen("7", "uid-1")})
    assert watch.version_of("team-dev", "spinop-a") is None, "not listed yet: it knows nothing"
    watch.start()
    try:
        assert watch.follows.acquire(timeout=5)
        assert watch.version_of("team-dev", "spinop-a") == "7"
        assert watch.version_of("team-dev", "spinop-b") == "", "synced and absent: does not exist"
        watch.steps.put({("team-dev", "spinop-a"): Seen("8", "uid-1")})  # an event, then the stream ends
        assert watch.follows.acquire(timeout=5)
        assert watch.version_of("team-dev", "spinop-a") == "8"
        watch.steps.put(ConnectionResetError())
        assert _eventually(lambda: watch.version_of("team-dev", "spinop-a") is None), "a failed watch is not synced"
        assert watch.follows.acquire(timeout=5), "listed again after the back-off"
        assert watch.version_of("team-dev", "spinop-a") == "7"
        watch.reconnect()
        assert watch.version_of("team-dev", "spinop-a") is None, "a new connection: what it knew may be stale"
    finally:
        watch.stop()
        watch.steps.put(ConnectionResetError())
        watch._thread.join(timeout=5)
