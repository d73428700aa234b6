"""The Halyard stand-in as a real process on loopback, and an operator identity that can exec into "its pod"."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.integration.conftest import OPERATOR_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.objects import ensure_namespace


@dataclass
class HalyardStandinProcess:
    proc: subprocess.Popen[str]
    daemon_url: str
    kube_url: str
    control_url: str
    namespace: str
    pod: str

    def control(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        data = None if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        request = urllib.request.Request(self.control_url + path, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        return text if raw else (json.loads(text) if text else None)

    def deploys(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_standin/deploys")["deploys"])

    def halconfig(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.control("GET", "/_standin/halconfig", raw=True)))

    def accounts(self) -> dict[str, dict[str, Any]]:
        deployment = self.halconfig()["deploymentConfigurations"][0]
        kubernetes = (deployment.get("providers") or {}).get("kubernetes") or {}
        return {a["name"]: a for a in kubernetes.get("accounts") or []}

    def faults(self, **spec: Any) -> None:
        self.control("PUT", "/_standin/faults", spec)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_standin/faults")

    def concurrency(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_standin/concurrency"))


@pytest.fixture(scope="module")
def halyard(tmp_path_factory: pytest.TempPathFactory, mgmt: Cluster) -> Iterator[HalyardStandinProcess]:
    root = tmp_path_factory.mktemp("halyard")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.standins.halyard",
            "--port",
            "0",
            "--root",
            str(root),
            "--deploy-seconds",
            "0.5",
            "--kubeconfig",
            str(mgmt.kubeconfig),
            "--cli-poll-interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=(root / "standin.log").open("w"),
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the Halyard stand-in did not start:\n{(root / 'standin.log').read_text()}")
    ready = json.loads(line)
    standin = HalyardStandinProcess(
        proc, ready["daemon_url"], ready["kube_url"], ready["control_url"], ready["namespace"], ready["pod"]
    )
    yield standin
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="session")
def operator_token_kubeconfig(mgmt: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig for the operator that authenticates with a ServiceAccount token (like a real in-cluster pod),
    so the stand-in's exec endpoint can check it with a real TokenReview and SubjectAccessReview on MGMT."""
    ensure_namespace(mgmt, OPERATOR_NAMESPACE)
    name = "spinop-halyard-tests"
    try:
        mgmt.core.create_namespaced_service_account(
            OPERATOR_NAMESPACE, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
        )
    except ApiException as err:
        if err.status != 409:
            raise
    binding = k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=name),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=name, namespace=OPERATOR_NAMESPACE)],
    )
    try:
        mgmt.rbac.create_cluster_role_binding(binding)
    except ApiException as err:
        if err.status != 409:
            raise
    token = mgmt.core.create_namespaced_service_account_token(
        name,
        OPERATOR_NAMESPACE,
        k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(expiration_seconds=86400)),
    ).status.token
    config = yaml.safe_load(mgmt.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = tmp_path_factory.mktemp("operator-identity") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))

    def authorized() -> bool:
        client = mgmt.client_with_token(token)
        return bool(k8s.CoreV1Api(client).list_namespace() is not None)

    wait_for(authorized, timeout=30, what="the operator's token is accepted")
    return path
