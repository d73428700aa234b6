"""One place where a handler turns a failed Kubernetes API call that escaped the controllers into kopf's retry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kopf
import urllib3.exceptions
from kubernetes.client.rest import ApiException


@contextlib.contextmanager
def api_failures_retried(delay: float = 10) -> Iterator[None]:
    """An HTTP error answer or a transport failure (timeout, reset) is "try again later", never a traceback."""
    try:
        yield
    except ApiException as err:
        raise kopf.TemporaryError(f"the Kubernetes API answered HTTP {err.status}; will retry", delay=delay) from None
    except urllib3.exceptions.HTTPError as err:
        raise kopf.TemporaryError(
            f"the Kubernetes API did not answer ({type(err).__name__}); will retry", delay=delay
        ) from None
