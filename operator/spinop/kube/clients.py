"""The only place that builds `kubernetes` API clients and talks to the API with them.

Calls are synchronous (the `kubernetes` package); async code runs them through `asyncio.to_thread`. Every request
gets a timeout, so an unreachable cluster fails fast instead of freezing a worker thread; kube/errors.py turns every
failure into a `spinop.errors` exception that says which cluster and what to do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

T = TypeVar("T")

#: (connect, read) seconds for every API request.
REQUEST_TIMEOUT = (5.0, 30.0)

#: Idle connections kept per cluster. At least the worker-thread limit (config.worker_threads allows 128): with
#: urllib3's default of 10, a burst on 16 threads discarded connections and paid a new TLS handshake per request.
CONNECTIONS_PER_CLUSTER = 128

_mgmt_lock = threading.Lock()
_mgmt_client: ApiClient | None = None


def mgmt_client() -> ApiClient:
    """The operator's own cluster (MGMT): in-cluster config when running in a Pod, else the kubeconfig."""
    global _mgmt_client
    with _mgmt_lock:
        if _mgmt_client is None:
            config = kubernetes.client.Configuration()
            if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
                kubernetes.config.load_incluster_config(client_configuration=config)
            else:
                kubernetes.config.load_kube_config(client_configuration=config)
            config.retries = 2
            config.connection_pool_maxsize = CONNECTIONS_PER_CLUSTER
            _mgmt_client = ApiClient(config)
        return _mgmt_client


def client_from_kubeconfig(kubeconfig: dict[str, Any]) -> ApiClient:
    """A client for a remote cluster from a kubeconfig document (current context)."""
    config = kubernetes.client.Configuration()
    loader = kubernetes.config.kube_config.KubeConfigLoader(config_dict=kubeconfig)
    loader.load_and_set(config)
    config.retries = 1
    config.connection_pool_maxsize = CONNECTIONS_PER_CLUSTER
    return ApiClient(config)


def client_with_token(server: str, ca_file: str | None, token: str, *, verify: bool = True) -> ApiClient:
    """A client that authenticates with a bearer token only (for proving what issued credentials can do)."""
    config = kubernetes.client.Configuration()
    config.host = server
    config.ssl_ca_cert = ca_file
    config.verify_ssl = verify
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    config.retries = 1
    config.connection_pool_maxsize = CONNECTIONS_PER_CLUSTER
    return ApiClient(config)


def to_dict(api: ApiClient, obj: Any) -> dict[str, Any]:
    """A client model object as the API's JSON (camelCase) dict."""
    result = api.sanitize_for_serialization(obj)
    assert isinstance(result, dict)
    return result


def not_found(err: BaseException) -> bool:
    return isinstance(err, ApiException) and err.status == 404


def conflict(err: BaseException) -> bool:
    return isinstance(err, ApiException) and err.status == 409


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a client method with spinop's request timeout."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    return fn(*args, **kwargs)


def get_or_none(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    try:
        return call(fn, *args, **kwargs)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
