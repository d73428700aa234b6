"""Kubernetes Events on spinop's objects: what `kubectl describe` shows a tenant.

Posted only on state changes (a condition flips or changes reason, a repair, a rotation), never per reconcile, and
messages are spinop's own words: no token, no kubeconfig ever reaches an Event.
"""

from __future__ import annotations

import datetime
import logging
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop import API_VERSION
from spinop.kube.clients import call
from spinop.kube.status import Event, ObjectRef, StatusReport, StatusResult, StatusWriter, Transition

log = logging.getLogger(__name__)
COMPONENT = "spinop"
_INSTANCE = socket.gethostname()


def post_event(api: ApiClient, ref: ObjectRef, *, type_: str, reason: str, message: str) -> None:
    """Best effort: an Event that cannot be written is logged, never fails the reconcile."""
    now = datetime.datetime.now(datetime.UTC)
    namespace = ref.namespace or "default"
    event = k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:12]}", namespace=namespace),
        involved_object=k8s.V1ObjectReference(
            api_version=API_VERSION, kind=ref.kind, name=ref.name, namespace=ref.namespace, uid=ref.uid
        ),
        type=type_,
        reason=reason,
        message=message[:1024],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=k8s.V1EventSource(component=COMPONENT),
        reporting_component=f"{COMPONENT}.io/operator",
        reporting_instance=_INSTANCE,
    )
    try:
        call(k8s.CoreV1Api(api).create_namespaced_event, namespace, event)
    except ApiException as err:
        log.warning("could not post event %s on %s: HTTP %s", reason, ref.describe(), err.status)


def write_status_then_events(
    api: ApiClient,
    writer: StatusWriter,
    ref: ObjectRef,
    report: StatusReport,
    *,
    generation: int | None = None,
    announce: Callable[[Transition], Event | None] = lambda _: None,
    known: Mapping[str, Any] | None = None,
) -> StatusResult | None:
    """Every kind's one way to report: write the status, then post the reconcile's own Events and one for each
    condition transition the kind announces (`announce`), in that order. None when the object is gone.

    `known`: the object as kopf has it; when the report changes nothing there, the status is not even read."""
    result = writer.update(ref, conditions=report.conditions, fields=report.fields, generation=generation, known=known)
    posted = list(report.events)
    if result is not None:
        posted += [event for t in result.transitions if (event := announce(t)) is not None]
    for type_, reason, message in posted:
        post_event(api, ref, type_=type_, reason=reason, message=message)
    return result
