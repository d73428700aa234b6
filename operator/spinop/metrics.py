"""Prometheus metrics: what an on-call person needs to see spinop's health without reading its logs.

Served on `metrics.port` (default 8081, `/metrics`). Labels never carry secrets; account labels are names only.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from spinop.api.conditions import raw_is_true

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "spinop_reconciles_total",
    "Reconciles by kind and result (ready, not_ready: reported in status, error: retried).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "spinop_reconcile_duration_seconds",
    "How long one reconcile took, by kind.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
SPINNAKER_CHANGES = Counter(
    "spinop_spinnaker_changes_total",
    "Backend changes (a Halyard deploy or an accounts-API batch) by backend and result.",
    ["backend", "result"],
    registry=REGISTRY,
)
SPINNAKER_CHANGE_SECONDS = Histogram(
    "spinop_spinnaker_change_duration_seconds",
    "How long applying one batch took (for Halyard: account writes plus the clouddriver deploy).",
    ["backend"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200),
    registry=REGISTRY,
)
SPINNAKER_QUEUE = Gauge(
    "spinop_spinnaker_queue_depth", "Account changes waiting for the next batch.", registry=REGISTRY
)
SPINNAKER_BATCH_SIZE = Histogram(
    "spinop_spinnaker_batch_size",
    "Account changes per batch (how well bursts are batched).",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
    registry=REGISTRY,
)
CREDENTIALS_EXPIRY = Gauge(
    "spinop_credentials_expiry_timestamp_seconds",
    "When each account's current token expires (unix time; absent for long-lived tokens).",
    ["namespace", "name", "account"],
    registry=REGISTRY,
)
CLUSTER_REACHABLE = Gauge(
    "spinop_remote_cluster_reachable",
    "1 when the SpinnakerCluster's API answered the last probe.",
    ["cluster"],
    registry=REGISTRY,
)
CONDITION = Gauge(
    "spinop_ready",
    "1 when the object's Ready condition is True, 0 otherwise.",
    ["kind", "namespace", "name"],
    registry=REGISTRY,
)

_server_lock = threading.Lock()
_server_started = False


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - a Pod's metrics port listens on all addresses
    """Start the /metrics endpoint once (a daemon thread in the operator process)."""
    global _server_started
    with _server_lock:
        if _server_started or port <= 0:
            return
        start_http_server(port, addr=address, registry=REGISTRY)
        _server_started = True
        log.info("metrics on http://%s:%d/metrics", address, port)


@contextmanager
def timed_reconcile(kind: str) -> Iterator[dict[str, str]]:
    """Count and time one reconcile; the caller sets `outcome["result"]` (default: error if it raised)."""
    outcome = {"result": "error"}
    started = time.monotonic()
    try:
        yield outcome
    finally:
        RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - started)
        RECONCILES.labels(kind, outcome["result"]).inc()


def record_account_status(namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """A SpinnakerAccount's Ready and credentials expiry, from the status just written."""
    CONDITION.labels("SpinnakerAccount", namespace, name).set(1 if raw_is_true(status, "Ready") else 0)
    account = status.get("spinnakerAccountName")
    expires = status.get("tokenExpiresAt")
    if account and expires:
        moment = datetime.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        CREDENTIALS_EXPIRY.labels(namespace, name, account).set(moment.timestamp())


def forget(kind: str, namespace: str, name: str, account: str | None = None) -> None:
    """Drop per-object series of a deleted object (metrics must not grow without bound)."""
    with contextlib.suppress(KeyError):
        CONDITION.remove(kind, namespace, name)
    if account is not None:
        with contextlib.suppress(KeyError):
            CREDENTIALS_EXPIRY.remove(namespace, name, account)
