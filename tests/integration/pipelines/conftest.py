"""The Gate stand-in as a real process on loopback (HTTP Basic, like an LDAP Gate), the operator pointed at it, and
tenant namespaces with Ready SpinnakerAccounts on the real remote clusters."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from tests.integration import objects
from tests.integration.conftest import OPERATOR_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess

GATE_SECRET = "spinop-gate-credentials"
PRINCIPAL = "spinop"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class GateProcess:
    """The Gate stand-in (tests/standins/gate) running as its own process; its `/_standin/` control API."""

    proc: subprocess.Popen[str]
    url: str
    password: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback stand-in)
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        return json.loads(text) if text else None

    def state(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_standin/state"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_standin/requests"))

    def writes(self) -> list[dict[str, Any]]:
        """Every request that could change Spinnaker (saves, tasks, deletes), in order."""
        return [r for r in self.requests() if r["method"] in WRITE_METHODS]

    def pipelines(self, application: str) -> list[dict[str, Any]]:
        return [p for p in self.state()["pipelines"] if str(p.get("application", "")).lower() == application.lower()]

    def pipeline(self, pipeline_id: str) -> dict[str, Any] | None:
        return next((p for p in self.state()["pipelines"] if p["id"] == pipeline_id), None)

    def application(self, name: str) -> dict[str, Any] | None:
        app = self.state()["applications"].get(name.lower())
        return dict(app) if app is not None else None

    def ui_save(self, pipeline: dict[str, Any], principal: str = "alice") -> dict[str, Any]:
        """A save from Deck by someone else (no staleCheck; Front50 records them as lastModifiedBy)."""
        return dict(self.control("POST", "/_standin/ui/pipelines", {"principal": principal, "pipeline": pipeline}))

    def ui_delete(self, pipeline_id: str) -> None:
        self.control("DELETE", f"/_standin/ui/pipelines/{pipeline_id}")

    def faults(self, **spec: Any) -> None:
        self.control("POST", "/_standin/faults", spec)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_standin/faults")


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateProcess]:
    log = tmp_path_factory.mktemp("gate") / "standin.log"
    password = secrets.token_urlsafe(16)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.standins.gate",
            "--port",
            "0",
            "--auth",
            "basic",
            "--user",
            f"{PRINCIPAL}={password}",
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the Gate stand-in did not start:\n{log.read_text()}")
    ready = json.loads(line)
    assert ready["event"] == "ready", ready
    yield GateProcess(proc, ready["url"], password)
    proc.terminate()
    proc.wait(timeout=15)


def write_gate_secret(mgmt: Cluster, data: dict[str, str]) -> None:
    secret = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=GATE_SECRET, namespace=OPERATOR_NAMESPACE),
        data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    )
    try:
        mgmt.core.create_namespaced_secret(OPERATOR_NAMESPACE, secret)
    except ApiException as err:
        if err.status != 409:
            raise
        mgmt.core.replace_namespaced_secret(GATE_SECRET, OPERATOR_NAMESPACE, secret)


#: Non-Kubernetes accounts a platform admin grants every tenant: its own registry and Kayenta accounts.
GRANTS = {
    "*": {
        "registry_accounts": ["{namespace}-registry"],
        "kayenta_accounts": ["{namespace}-prometheus", "{namespace}-canary-storage"],
        "artifact_accounts": ["{namespace}-github"],
    }
}


@pytest.fixture(scope="module")
def operator(
    gate: GateProcess, start_operator: Callable[..., OperatorProcess], mgmt: Cluster, admin_kubeconfig_secrets: Any
) -> OperatorProcess:
    # `gate` first: fixtures stop in reverse order, so the operator stops before its Gate does.
    write_gate_secret(mgmt, {"username": PRINCIPAL, "password": gate.password})
    return start_operator(
        {
            "gate": {"url": gate.url, "auth_secret": GATE_SECRET, "principal": PRINCIPAL},
            "pipelines": {"drift_interval_seconds": 2, "grants": GRANTS},
        }
    )


@dataclass
class Tenant:
    """A tenant namespace in MGMT with Ready SpinnakerAccounts (`accounts`: environment -> Spinnaker account)."""

    namespace: str
    accounts: dict[str, str] = field(default_factory=dict)

    def target(self, env: str) -> str:
        return f"{self.namespace}-{env}"


@pytest.fixture(scope="module")
def spinnaker_clusters(mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str]) -> Iterator[dict[str, str]]:
    """SpinnakerClusters of this module for the remote clusters: environment -> name."""
    suffix = objects.short_id()
    names = {}
    for env in ("dev", "prod"):
        names[env] = f"{env}-{suffix}"
        objects.create(mgmt, objects.spinnaker_cluster(names[env], admin_kubeconfig_secrets[env], env))
    yield names
    for name in names.values():
        objects.delete(mgmt, "SpinnakerCluster", name)


@pytest.fixture(scope="module")
def make_tenant(
    mgmt: Cluster, remotes: dict[str, Cluster], operator: OperatorProcess, spinnaker_clusters: dict[str, str]
) -> Iterator[Callable[..., Tenant]]:
    """Tenants for the whole module (accounts take seconds to provision): namespaces and CRs removed at the end."""
    made: list[Tenant] = []

    def make(prefix: str = "tn", envs: tuple[str, ...] = ("dev",)) -> Tenant:
        tenant = Tenant(mgmt.create_namespace(prefix, objects.TENANT_LABEL))
        made.append(tenant)
        for env in envs:
            objects.create(
                mgmt, objects.spinnaker_account(tenant.namespace, env, spinnaker_clusters[env], tenant.target(env))
            )
        for env in envs:
            account = objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "Ready")
            tenant.accounts[env] = account["status"]["spinnakerAccountName"]
        return tenant

    yield make
    for tenant in made:
        delete_all(mgmt, tenant.namespace, "SpinnakerPipeline")
    for tenant in made:
        delete_all(mgmt, tenant.namespace, "SpinnakerAccount")
    for tenant in made:
        mgmt.delete_namespace(tenant.namespace)
        for env, remote in remotes.items():
            remote.delete_namespace(tenant.target(env))


def delete_all(mgmt: Cluster, namespace: str, kind: str, timeout: float = 120) -> None:
    plural = kind.lower() + "s"
    names = [
        item["metadata"]["name"]
        for item in mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", namespace, plural)["items"]
    ]
    for name in names:
        objects.delete(mgmt, kind, name, namespace)
    for name in names:
        objects.wait_gone(mgmt, kind, name, namespace, timeout=timeout)


def events(mgmt: Cluster, namespace: str, name: str) -> list[Any]:
    listed = mgmt.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return list(listed.items)


def wait_event(mgmt: Cluster, namespace: str, name: str, reason: str, timeout: float = 60) -> Any:
    return wait_for(
        lambda: next((e for e in events(mgmt, namespace, name) if e.reason == reason), None),
        timeout=timeout,
        what=f"Event {reason} on {name}",
    )


def wait_generation_synced(mgmt: Cluster, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until Synced is True for the object's current generation; returns the object."""

    def probe() -> dict[str, Any] | None:
        obj = objects.get(mgmt, "SpinnakerPipeline", name, namespace)
        cond = objects.condition(obj, "Synced")
        if (
            obj
            and cond
            and cond["status"] == "True"
            and cond.get("observedGeneration") == obj["metadata"]["generation"]
        ):
            return obj
        return None

    return wait_for(probe, timeout=timeout, what=f"SpinnakerPipeline {name} synced at its generation")
