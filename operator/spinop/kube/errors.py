"""The Kubernetes API's failures turned into spinop's: the one place that reads an ApiException or a transport error
of the `kubernetes` client against a remote cluster and decides its Reason (issue 18 item 3).

- `from_api_exception`: an HTTP answer of a remote cluster (401/403: spinop's admin credentials are refused, or
  401 to an account's own token: that token is; no answer or 5xx: the cluster is unreachable; anything else: a
  refusal to look at, retried).
- `from_transport_error`: no HTTP answer at all (refused, reset, timed out, TLS).
- `remote_errors`: both, as a context manager around calls to a remote cluster.
- `from_probe_failure`: the cluster probe's verdict (controllers/clusters.py), where any failure is "unreachable".
- `from_mgmt_failure`: a failed call to the MGMT apiserver that escaped a controller (handlers/retry.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
from kubernetes.client.rest import ApiException

from spinop.api.reasons import Reason
from spinop.errors import ClusterUnreachable, RemoteApiError, RemoteCredentialsRejected, SpinopError, TokenRejected


def api_message(err: ApiException) -> str:
    """The apiserver's own message from an error response (it names fields and rules)."""
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        return str(err.reason)
    return str(body.get("message") or err.reason)


def from_api_exception(err: ApiException, *, cluster: str, token: bool = False) -> SpinopError:
    """An error answer of remote cluster `cluster` as spinop's error; `token`: the request carried an account's
    token (remote/verify.py), not spinop's admin credentials."""
    if err.status == 401 and token:
        return TokenRejected(f"cluster {cluster} rejected the account's token (HTTP 401)")
    if err.status == 401:
        return RemoteCredentialsRejected(
            f"cluster {cluster} rejected spinop's admin credentials (HTTP 401); the platform admin must update "
            f"the Secret referenced by SpinnakerCluster {cluster} spec.kubeconfigSecretRef."
        )
    if err.status == 403:
        return RemoteCredentialsRejected(
            f"spinop's admin credentials for cluster {cluster} are not allowed to do this: {api_message(err)}",
        )
    if err.status == 0 or err.status is None or err.status >= 500:
        return ClusterUnreachable(
            f"cluster {cluster} is not answering ({err.status or 'no response'}: {err.reason}); will retry"
        )
    return RemoteApiError(f"cluster {cluster} refused a request: {api_message(err)}")


def from_transport_error(err: urllib3.exceptions.HTTPError | OSError, *, cluster: str) -> ClusterUnreachable:
    """No answer from remote cluster `cluster`."""
    return ClusterUnreachable(f"cannot reach cluster {cluster}: {type(err).__name__}; will retry")


@contextmanager
def remote_errors(cluster: str, *, token: bool = False) -> Iterator[None]:
    """Turn client failures against a remote cluster into spinop errors naming that cluster (`token`: see
    `from_api_exception`)."""
    try:
        yield
    except ApiException as err:
        raise from_api_exception(err, cluster=cluster, token=token) from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise from_transport_error(err, cluster=cluster) from None


def from_probe_failure(
    err: ApiException | urllib3.exceptions.HTTPError | OSError, *, cluster: str
) -> ClusterUnreachable:
    """Why the cluster probe (version, outside `remote_errors`) failed: every failure reads as unreachable, with the
    HTTP status, the OS error, or urllib3's error class (refused, reset, timed out: urllib3's are not OSErrors)."""
    if isinstance(err, ApiException):
        return ClusterUnreachable(f"cluster {cluster} answered HTTP {err.status}")
    if isinstance(err, OSError):
        return ClusterUnreachable(f"cannot reach cluster {cluster}: {err}")
    return ClusterUnreachable(f"cannot reach cluster {cluster}: {type(err).__name__}")


def from_mgmt_failure(err: ApiException | urllib3.exceptions.HTTPError, *, retry_after: float) -> SpinopError:
    """A failed call to the MGMT apiserver (a status write, an Event, a Secret) that escaped a controller: time can fix
    it, so it is retried after `retry_after` seconds."""
    what = f"answered HTTP {err.status}" if isinstance(err, ApiException) else f"did not answer ({type(err).__name__})"
    return SpinopError(
        f"the Kubernetes API of the MGMT cluster {what}; will retry",
        reason=Reason.MgmtApiError,
        retry_after=retry_after,
    )
