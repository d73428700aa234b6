"""Spinnaker sync against real stand-in processes: the Halyard and Gate stand-ins, the real operator per backend,
and a `spinnaker` view that answers the same questions for every backend (tests/integration/spinnaker/backends.py).

Tests that take `spinnaker` (or `operator`) run once per backend: `halyard-rest` (the daemon's REST API),
`halyard-exec` (`hal` in the Halyard pod over the exec WebSocket, authorized by a real TokenReview and
SubjectAccessReview on MGMT) and `accounts-api` (Gate's `/credentials`; no deploys).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.integration import objects
from tests.integration.conftest import OPERATOR_NAMESPACE
from tests.integration.kube import Cluster
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.backends import AccountsApiView, HalyardView, SpinnakerView
from tests.integration.spinnaker.standins import GateStandinProcess, HalyardStandinProcess

BACKENDS = ("halyard-rest", "halyard-exec", "accounts-api")
GATE_SECRET = "spinop-gate-credentials"  # the name deploy/base grants the operator `get` on
QUIET_SECONDS = 3
#: Clouddriver's credentials poller in the Gate stand-in; a test module may set GATE_POLL_SECONDS to change it.
GATE_POLL_SECONDS = 0.2


@pytest.fixture(scope="module")
def halyard(tmp_path_factory: pytest.TempPathFactory, mgmt: Cluster) -> Iterator[HalyardStandinProcess]:
    standin = HalyardStandinProcess.start(tmp_path_factory.mktemp("halyard"), mgmt.kubeconfig)
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[GateStandinProcess]:
    poll = float(getattr(request.module, "GATE_POLL_SECONDS", GATE_POLL_SECONDS))
    users = {"spinop": secrets.token_urlsafe(16), "alice": secrets.token_urlsafe(16)}
    standin = GateStandinProcess.start(tmp_path_factory.mktemp("gate"), users, poll)
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def operator_token_kubeconfig(operator_kubeconfig: Path) -> Path:
    """The operator's ServiceAccount token kubeconfig with deploy/base's RBAC (+ the Halyard components), as a Pod
    would have it: the stand-in's exec endpoint checks it with a real TokenReview and SubjectAccessReview on MGMT."""
    return operator_kubeconfig


def write_gate_secret(mgmt: Cluster, gate: GateStandinProcess) -> None:
    secret = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=GATE_SECRET, namespace=OPERATOR_NAMESPACE),
        data={
            "username": base64.b64encode(b"spinop").decode(),
            "password": base64.b64encode(gate.users["spinop"].encode()).decode(),
        },
    )
    try:
        mgmt.core.create_namespaced_secret(OPERATOR_NAMESPACE, secret)
    except ApiException as err:
        if err.status != 409:
            raise
        mgmt.core.replace_namespaced_secret(GATE_SECRET, OPERATOR_NAMESPACE, secret)


def halyard_settings(halyard: HalyardStandinProcess, transport: str = "rest") -> dict[str, Any]:
    return {
        "url": halyard.daemon_url,
        "transport": transport,
        "pod_namespace": halyard.namespace,
        "pod_name": halyard.pod,
        "exec_server": halyard.kube_url,
        "kubeconfig_delivery": "exec",
        "quiet_seconds": QUIET_SECONDS,
        "max_wait_seconds": 30,
        "deploy_timeout_minutes": 2,
    }


def operator_settings(
    backend: str, halyard: HalyardStandinProcess, gate: GateStandinProcess, **accounts_api: Any
) -> dict[str, Any]:
    """The operator's config for a backend. Every one keeps the Halyard settings, so a backend that redeployed
    clouddriver when it should not would show in the Halyard stand-in's deploy records."""
    if backend.startswith("halyard-"):
        return {
            "spinnaker_backend": "halyard",
            "drift_interval_seconds": 20,
            "halyard": halyard_settings(halyard, backend.removeprefix("halyard-")),
        }
    return {
        "spinnaker_backend": "accounts-api",
        "drift_interval_seconds": 20,
        "halyard": halyard_settings(halyard),
        "gate": {"url": gate.url, "auth_secret": GATE_SECRET},
        "accounts_api": {
            "quiet_seconds": QUIET_SECONDS,
            "max_wait_seconds": 30,
            "reload_seconds": 1.0,
            "load_timeout_seconds": 30,
            **accounts_api,
        },
    }


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def operator(
    backend: str,
    start_operator: Callable[..., OperatorProcess],
    gate: GateStandinProcess,
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
    mgmt: Cluster,
) -> Iterator[OperatorProcess]:
    # The stand-ins come first: fixtures stop in reverse order, so the operator stops before they do.
    write_gate_secret(mgmt, gate)
    process = start_operator(operator_settings(backend, halyard, gate), kubeconfig=operator_token_kubeconfig)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def spinnaker(
    backend: str, operator: OperatorProcess, halyard: HalyardStandinProcess, gate: GateStandinProcess
) -> SpinnakerView:
    if backend == "accounts-api":
        return AccountsApiView(gate, halyard, operator)
    return HalyardView(halyard, operator, backend.removeprefix("halyard-"))


@dataclass
class Tenant:
    namespace: str
    cluster: str

    def target(self, suffix: str) -> str:
        return f"{self.namespace}-dev-{suffix}"


@pytest.fixture()
def tenant(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Tenant]:
    """A tenant MGMT namespace and a SpinnakerCluster for it; its SpinnakerAccounts are deleted (and gone) after."""
    namespace = fresh_namespace("mgmt", "sp", labels=objects.TENANT_LABEL)
    cluster = f"dev-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            cluster, admin_kubeconfig_secrets["dev"], "dev", tenancy={"namespacePattern": "{tenant}-{environment}-*"}
        ),
    )
    yield Tenant(namespace, cluster)
    listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", namespace, "spinnakeraccounts")
    for item in listed["items"]:
        objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], namespace)
    for item in listed["items"]:
        objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], namespace, timeout=180)
    objects.delete(mgmt, "SpinnakerCluster", cluster)


def create_accounts(mgmt: Cluster, tenant: Tenant, names: list[str], **spec: object) -> None:
    for name in names:
        objects.create(
            mgmt, objects.spinnaker_account(tenant.namespace, name, tenant.cluster, tenant.target(name), **spec)
        )


def wait_ready(mgmt: Cluster, tenant: Tenant, names: list[str], timeout: float = 240) -> dict[str, dict[str, Any]]:
    return {
        name: objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant.namespace, "Ready", timeout=timeout)
        for name in names
    }


def stored_token(mgmt: Cluster, account: dict[str, Any]) -> str:
    """The token in the account's credentials Secret in MGMT (what Spinnaker should be using)."""
    ref = account["status"]["credentialsSecretRef"]
    text = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
    return str(yaml.safe_load(text)["users"][0]["user"]["token"])
