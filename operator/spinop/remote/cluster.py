"""Connections to remote clusters, built from the admin kubeconfig Secret a SpinnakerCluster references.

One client per cluster, cached and rebuilt when the Secret (its resourceVersion) or the connection settings change.
The Secret is re-read at most every `refresh_seconds`, and at once after the cluster rejected the credentials.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes.client import ApiClient

from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerClusterSpec
from spinop.errors import InvalidRequest
from spinop.kube.clients import call, client_from_kubeconfig, get_or_none
from spinop.kube.errors import remote_errors
from spinop.remote.identity import beyond_remote_identity


@dataclass(frozen=True)
class ClusterConnection:
    """What a SpinnakerCluster says about reaching its cluster (a plain view of its spec)."""

    name: str
    secret_name: str
    secret_key: str = "kubeconfig"
    server_override: str | None = None
    ca_data_override: str | None = None

    @classmethod
    def of(cls, name: str, spec: SpinnakerClusterSpec) -> ClusterConnection:
        """The connection SpinnakerCluster `name` with `spec` describes."""
        return cls(
            name=name,
            secret_name=spec.kubeconfig_secret_ref.name,
            secret_key=spec.kubeconfig_secret_ref.key,
            server_override=spec.server,
            ca_data_override=spec.certificate_authority_data,
        )


@dataclass
class RemoteCluster:
    name: str
    api: ApiClient
    server: str  # how spinop reaches the cluster (from the admin kubeconfig)
    tenant_server: str  # written into tenant kubeconfigs (spec.server, else the same)
    ca_data: str | None  # base64 PEM of the cluster CA for tenant kubeconfigs
    ca_file: str | None  # the same CA as a file, for spinop's own token-authenticated clients
    insecure: bool
    fingerprint: str
    loaded_at: float


def _current_cluster_entry(kubeconfig: dict[str, Any]) -> dict[str, Any]:
    contexts = {c["name"]: c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    current = kubeconfig.get("current-context") or next(iter(contexts), None)
    if current is None or current not in contexts:
        raise InvalidRequest("the admin kubeconfig has no usable context (set current-context)")
    cluster_name = contexts[current].get("cluster")
    for entry in kubeconfig.get("clusters") or []:
        if entry.get("name") == cluster_name:
            return dict(entry.get("cluster") or {})
    raise InvalidRequest(f"the admin kubeconfig's context {current!r} names a cluster it does not define")


class RemoteClusters:
    """The registry of remote cluster clients, shared by every handler."""

    def __init__(
        self,
        mgmt: ApiClient,
        credentials_namespace: str,
        refresh_seconds: float = 60.0,
        *,
        refuse_powerful: bool = False,
    ) -> None:
        self.mgmt = mgmt
        self.credentials_namespace = credentials_namespace
        self.refresh_seconds = refresh_seconds
        # Policy: an admin kubeconfig beyond deploy/remote is refused, not only reported (CredentialsTooPowerful).
        self.refuse_powerful = refuse_powerful
        self._lock = threading.Lock()
        self._cache: dict[str, RemoteCluster] = {}
        self._ca_dir = tempfile.TemporaryDirectory(prefix="spinop-ca-")

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)

    def get(self, connection: ClusterConnection) -> RemoteCluster:
        """A client for the cluster; raises InvalidRequest when the Secret is missing or malformed."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(connection.name)
        if cached is not None and now - cached.loaded_at < self.refresh_seconds:
            return cached
        secret = get_or_none(
            k8s.CoreV1Api(self.mgmt).read_namespaced_secret, connection.secret_name, self.credentials_namespace
        )
        if secret is None:
            raise InvalidRequest(
                f"Secret {self.credentials_namespace}/{connection.secret_name} (spec.kubeconfigSecretRef of "
                f"SpinnakerCluster {connection.name}) does not exist",
                reason=Reason.ClusterSecretMissing,
                retry_after=30,
            )
        raw = (secret.data or {}).get(connection.secret_key)
        if not raw:
            raise InvalidRequest(
                f"Secret {self.credentials_namespace}/{connection.secret_name} has no key {connection.secret_key!r} "
                f"(spec.kubeconfigSecretRef.key of SpinnakerCluster {connection.name})",
                reason=Reason.ClusterSecretInvalid,
                retry_after=30,
            )
        fingerprint = hashlib.sha256(f"{secret.metadata.resource_version}|{connection}".encode()).hexdigest()
        if cached is not None and cached.fingerprint == fingerprint:
            cached.loaded_at = now
            return cached
        try:
            kubeconfig = yaml.safe_load(base64.b64decode(raw))
            entry = _current_cluster_entry(kubeconfig)
            api = client_from_kubeconfig(kubeconfig)
        except InvalidRequest as err:
            raise InvalidRequest(
                f"Secret {self.credentials_namespace}/{connection.secret_name}: {err.message}",
                reason=Reason.ClusterSecretInvalid,
            ) from None
        except Exception as err:  # a malformed document must not crash the handler
            raise InvalidRequest(
                f"Secret {self.credentials_namespace}/{connection.secret_name} key {connection.secret_key!r} is "
                f"not a usable kubeconfig ({type(err).__name__})",
                reason=Reason.ClusterSecretInvalid,
            ) from None
        if self.refuse_powerful:
            with remote_errors(connection.name):
                beyond = beyond_remote_identity(api)
            if beyond:
                api.close()
                raise InvalidRequest(
                    f"the admin kubeconfig of SpinnakerCluster {connection.name} can do more than deploy/remote grants "
                    f"({'; '.join(c.describe() for c in beyond[:3])}{'; ...' if len(beyond) > 3 else ''}) and this "
                    "operator refuses such credentials: give spinop deploy/remote's identity (docs/install.md)",
                    reason=Reason.CredentialsTooPowerful,
                    retry_after=60,
                )
        ca_data = connection.ca_data_override or entry.get("certificate-authority-data")
        ca_file = None
        if ca_data:
            path = f"{self._ca_dir.name}/{connection.name}.crt"
            with open(path, "wb") as out:
                out.write(base64.b64decode(ca_data))
            ca_file = path
        remote = RemoteCluster(
            name=connection.name,
            api=api,
            server=str(entry.get("server") or api.configuration.host),
            tenant_server=connection.server_override or str(entry.get("server") or api.configuration.host),
            ca_data=ca_data,
            ca_file=ca_file,
            insecure=bool(entry.get("insecure-skip-tls-verify")),
            fingerprint=fingerprint,
            loaded_at=now,
        )
        with self._lock:
            self._cache[connection.name] = remote
        return remote

    def version(self, remote: RemoteCluster) -> str:
        info = call(k8s.VersionApi(remote.api).get_code)
        return str(info.git_version)
