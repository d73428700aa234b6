"""Event-driven drift repair: one watch per kind per remote cluster on spinop's objects, waking their accounts.

Each remote cluster in use gets three watches (ServiceAccounts, Roles, RoleBindings labelled managed-by=spinop, all
namespaces), shared by all its accounts. A MODIFIED or DELETED event wakes the owning account's periodic pass, which
repairs the drift within seconds; ADDED is spinop's own create (or a list) and wakes nobody. The periodic pass stays
the safety net for anything a watch misses. While all three are synced they also answer the resourceVersions of an
account's objects (`RemoteWatches.versions`), so an idle pass need not read them (`remote.proof.trust_watches`).

The `kubernetes` watch is synchronous, so each watch runs in its own daemon thread (never in the asyncio executor,
whose workers it would hold for good) and hands uids to the event loop with `call_soon_threadsafe`. When the server
ends a watch, the next one resumes from the last resourceVersion seen; after 410 Gone or a failure (backed off) it
lists again and wakes the owners of whatever changed in between. One cluster's failing watch never touches another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from kubernetes.watch import Watch

from spinop.api.labels import MANAGED_BY, OWNER_UID
from spinop.errors import SpinopError
from spinop.remote.cluster import ClusterConnection, RemoteClusters

log = logging.getLogger("spinop")

SELECTOR = f"{MANAGED_BY}=spinop"
#: Resource (as in RBAC rules and logs) -> the cluster-wide list call the watch is made with.
WATCHED: dict[str, Callable[[ApiClient], Callable[..., Any]]] = {
    "serviceaccounts": lambda api: k8s.CoreV1Api(api).list_service_account_for_all_namespaces,
    "roles": lambda api: k8s.RbacAuthorizationV1Api(api).list_role_for_all_namespaces,
    "rolebindings": lambda api: k8s.RbacAuthorizationV1Api(api).list_role_binding_for_all_namespaces,
}
#: The apiserver ends each watch after about this long (jittered); the next one resumes where it stopped.
WATCH_SECONDS = 300
CONNECT_SECONDS = 5.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0

Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True)
class Seen:
    """What a watch remembers of one object: enough to tell after a re-list whether it changed, and whose it is."""

    resource_version: str
    owner: str | None


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def seen(obj: Mapping[str, Any]) -> Seen:
    meta = obj.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(OWNER_UID)
    return Seen(str(meta.get("resourceVersion") or ""), str(owner) if owner else None)


def owner_to_wake(event_type: str, obj: Mapping[str, Any], known: Mapping[Key, Seen]) -> str | None:
    """The account to wake for one watch event: the owner of a spinop object someone changed or deleted.

    An object whose owner label was edited away arrives as DELETED (it left the selector); its owner is then the one
    the watch knew."""
    if event_type not in ("MODIFIED", "DELETED"):
        return None
    return seen(obj).owner or getattr(known.get(_key(obj)), "owner", None)


def owners_changed(before: Mapping[Key, Seen], after: Mapping[Key, Seen]) -> set[str]:
    """After a re-list (the watch fell too far behind): the owners of objects that changed or went away meanwhile."""
    owners: set[str] = set()
    for key, was in before.items():
        now = after.get(key)
        if now is None or now.resource_version != was.resource_version:
            owners.update(o for o in (was.owner, now.owner if now else None) if o)
    return owners


def backoff_seconds(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row: 1, 2, 4, ... up to a minute."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1)))


def describe_failure(err: BaseException) -> str:
    """One line, without response bodies or headers (an ApiException's str carries both)."""
    if isinstance(err, ApiException):
        return f"HTTP {err.status} {err.reason}"
    if isinstance(err, SpinopError):
        return err.message
    return type(err).__name__


class _Gone(Exception):
    """The resourceVersion to resume from is too old (410): list again."""


class KindWatch:
    """One kind on one cluster, in its own thread, until stopped."""

    def __init__(
        self,
        cluster: str,
        kind: str,
        connect: Callable[[], ApiClient],
        notify: Callable[[str], None],
    ) -> None:
        self.cluster, self.kind = cluster, kind
        self._connect, self._notify = connect, notify
        self._stopped = threading.Event()
        self._relist = threading.Event()  # the connection changed: what we knew may be another cluster's
        self._lock = threading.Lock()
        self._current: Watch | None = None
        # What the watch knows while it follows the stream without a gap; None while it lists again or fails.
        self._synced: dict[Key, Seen] | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{cluster}-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._end_stream()

    def reconnect(self) -> None:
        """List and watch again with the cluster's current connection."""
        self._synced = None
        self._relist.set()
        self._end_stream()

    def version_of(self, namespace: str, name: str) -> str | None:
        """The resourceVersion of one of spinop's objects as the watch last saw it ("" when it does not exist), or
        None when the watch is not synced (listing, failing, or reconnecting) and knows nothing for sure."""
        known = self._synced
        if known is None:
            return None
        found = known.get((namespace, name))
        return found.resource_version if found is not None else ""

    def _end_stream(self) -> None:
        # Watch.stop shuts the socket down, so a read blocked in the thread returns now.
        with self._lock:
            if self._current is not None:
                self._current.stop()

    def _run(self) -> None:
        known: dict[Key, Seen] | None = None
        version: str | None = None
        failures, recovered = 0, False
        while not self._stopped.is_set():
            if self._relist.is_set():
                self._relist.clear()
                known, version = None, None
                self._synced = None
            following_since: float | None = None
            try:
                api = self._connect()
                if version is None:
                    listed, version = self._list(api)
                    if known is None:
                        log.info("watching %s on cluster %s (%d of spinop's)", self.kind, self.cluster, len(listed))
                    else:
                        self._wake(owners_changed(known, listed))
                    if failures and not recovered:
                        log.info("the watch of %s on cluster %s works again", self.kind, self.cluster)
                        recovered = True
                    known = listed
                assert known is not None
                self._synced = known
                following_since = time.monotonic()
                version = self._follow(api, version, known)
                failures, recovered = 0, False
            except _Gone:
                self._synced = None
                version = None
            except Exception as err:  # a watch thread must never die: back off and try again
                self._synced = None
                if self._stopped.is_set():
                    break
                if self._relist.is_set():
                    continue
                # List again once the cluster answers: the list proves it does, and its difference from what we
                # knew wakes the owners of whatever changed meanwhile (an outage may outlast the watch cache).
                version = None
                if following_since is not None and time.monotonic() - following_since > BACKOFF_MAX:
                    failures, recovered = 0, False  # it had worked for a while: a new failure streak
                failures += 1
                if failures == 1:
                    log.warning(
                        "the watch of %s on cluster %s failed (%s): retrying with back-off; meanwhile drift there is "
                        "repaired by the periodic pass",
                        self.kind,
                        self.cluster,
                        describe_failure(err),
                    )
                self._stopped.wait(backoff_seconds(failures) * random.uniform(0.8, 1.2))

    def _list(self, api: ApiClient) -> tuple[dict[Key, Seen], str]:
        response = WATCHED[self.kind](api)(
            label_selector=SELECTOR, _preload_content=False, _request_timeout=(CONNECT_SECONDS, 60.0)
        )
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        listed = {_key(item): seen(item) for item in body.get("items") or []}
        return listed, str(body["metadata"]["resourceVersion"])

    def _follow(self, api: ApiClient, version: str, known: dict[Key, Seen]) -> str:
        """Stream events from `version` until the server ends the watch; returns the version to resume from."""
        watch = Watch()
        with self._lock:
            if self._stopped.is_set():
                return version
            self._current = watch
        seconds = int(WATCH_SECONDS * random.uniform(0.8, 1.2))
        try:
            for event in watch.stream(
                WATCHED[self.kind](api),
                label_selector=SELECTOR,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=seconds,
                deserialize=False,
                _request_timeout=(CONNECT_SECONDS, seconds + 30.0),
            ):
                obj = event.get("object") or {}
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                type_ = event.get("type")
                if type_ == "BOOKMARK":
                    continue
                owner = owner_to_wake(str(type_), obj, known)
                if type_ == "DELETED":
                    known.pop(_key(obj), None)
                else:
                    known[_key(obj)] = seen(obj)
                if owner is not None:
                    log.debug(
                        "%s %s/%s %s on cluster %s: waking account %s",
                        self.kind,
                        *_key(obj),
                        type_,
                        self.cluster,
                        owner,
                    )
                    self._wake({owner})
        except ApiException as err:
            if err.status == 410:
                raise _Gone() from None
            raise
        finally:
            with self._lock:
                self._current = None
        return version

    def _wake(self, owners: Iterable[str]) -> None:
        for owner in owners:
            self._notify(owner)


class RemoteWatches:
    """The watches of every remote cluster in use, started by the first account reconcile there."""

    def __init__(self, clusters: RemoteClusters, wake: Callable[[str], None], loop: asyncio.AbstractEventLoop) -> None:
        """`wake(uid)` runs in the event loop."""
        self._clusters = clusters
        self._wake = wake
        self._loop = loop
        self._lock = threading.Lock()
        self._watching: dict[str, tuple[ClusterConnection, list[KindWatch]]] = {}

    def ensure(self, connection: ClusterConnection) -> None:
        """Watch this cluster (thread-safe, cheap when already watched); a changed connection restarts the streams."""
        with self._lock:
            current = self._watching.get(connection.name)
            if current is not None:
                if current[0] != connection:
                    log.info("SpinnakerCluster %s now connects differently: its watches start again", connection.name)
                    self._watching[connection.name] = (connection, current[1])
                    for kind_watch in current[1]:
                        kind_watch.reconnect()
                return
            watches = [
                KindWatch(connection.name, kind, lambda: self._client(connection.name), self._notify)
                for kind in WATCHED
            ]
            self._watching[connection.name] = (connection, watches)
        for kind_watch in watches:
            kind_watch.start()

    def stop(self, name: str) -> None:
        """Stop a cluster's watches (its SpinnakerCluster is gone, or the operator stops); returns at once."""
        with self._lock:
            current = self._watching.pop(name, None)
        if current is not None:
            log.info("stopped watching cluster %s", name)
        for kind_watch in current[1] if current else ():
            kind_watch.stop()

    def stop_all(self) -> None:
        with self._lock:
            names = list(self._watching)
        for name in names:
            self.stop(name)

    def versions(self, cluster: str, namespace: str, name: str) -> dict[str, str] | None:
        """The resourceVersion of one account's object of each watched kind ("" for none), when every watch of the
        cluster is synced; else None (not watched, listing, or failing: read the objects instead)."""
        with self._lock:
            current = self._watching.get(cluster)
        if current is None:
            return None
        versions = {}
        for kind_watch in current[1]:
            version = kind_watch.version_of(namespace, name)
            if version is None:
                return None
            versions[kind_watch.kind] = version
        return versions

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._watching)

    def _client(self, name: str) -> ApiClient:
        # The connection as of now: a reconnect after a spec or Secret change uses the new one.
        with self._lock:
            connection = self._watching[name][0]
        return self._clusters.get(connection).api

    def _notify(self, uid: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the operator is stopping
            self._loop.call_soon_threadsafe(self._wake, uid)
