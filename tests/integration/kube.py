"""Helpers for integration tests: a handle per real cluster and polling with timeouts (never bare sleeps)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` and the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except ApiException as err:
            last = f"ApiException {err.status}: {err.reason}"
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


@dataclass
class Cluster:
    """One real control plane, as the admin (client certificate in system:masters)."""

    name: str
    server: str
    kubeconfig: Path
    ca_file: Path
    kubectl_binary: Path
    api: k8s.ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = new_client_from_config(config_file=str(self.kubeconfig))

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def rbac(self) -> k8s.RbacAuthorizationV1Api:
        return k8s.RbacAuthorizationV1Api(self.api)

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def client_with_token(self, token: str) -> k8s.ApiClient:
        """An API client that authenticates with a bearer token only (no admin certificate)."""
        config = k8s.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(self.ca_file)
        config.api_key = {"authorization": token}
        config.api_key_prefix = {"authorization": "Bearer"}
        return k8s.ApiClient(config)

    def kubectl(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl (built with the control planes) against this cluster."""
        return subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def create_namespace(self, prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels or {})))
        return name

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise

    def namespace_gone(self, name: str) -> bool:
        try:
            self.core.read_namespace(name)
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        return False
