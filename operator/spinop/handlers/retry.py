"""One place where a handler turns a failed Kubernetes API call that escaped the controllers into kopf's retry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import urllib3.exceptions
from kubernetes.client.rest import ApiException

from spinop.controllers.retry import temporary
from spinop.kube.errors import from_mgmt_failure


@contextlib.contextmanager
def api_failures_retried(delay: float = 10) -> Iterator[None]:
    """An HTTP error answer or a transport failure (timeout, reset) is "try again later", never a traceback: the
    error is translated like every other (`kube.errors`, Reason MgmtApiError) and retried by the one retry policy."""
    try:
        yield
    except (ApiException, urllib3.exceptions.HTTPError) as err:
        raise temporary(from_mgmt_failure(err, retry_after=delay)) from None
