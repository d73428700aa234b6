"""What an operator of spinop sees: Prometheus metrics, JSON logs with the object's identity, Events; no secrets."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
import yaml

from spinop.devcluster.controlplane import free_port
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def _sample(text: str, metric: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(metric + "{") and line.split(" ")[0] != metric:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def observed_operator(start_operator: Callable[..., OperatorProcess]) -> tuple[OperatorProcess, int]:
    port = free_port()
    process = start_operator({"metrics": {"port": port, "address": "127.0.0.1"}}, args=("--log-format", "json"))
    return process, port


def test_metrics_json_logs_and_events_tell_the_story_without_secrets(
    observed_operator: tuple[OperatorProcess, int],
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    fresh_namespace: Callable[..., str],
) -> None:
    operator, port = observed_operator
    tenant = fresh_namespace("mgmt", "obs", labels=objects.TENANT_LABEL)
    cluster = f"dev-{objects.short_id()}"
    objects.create(mgmt, objects.spinnaker_cluster(cluster, admin_kubeconfig_secrets["dev"], "dev"))
    try:
        objects.create(mgmt, objects.spinnaker_account(tenant, "web", cluster, f"{tenant}-dev"))
        objects.create(mgmt, objects.spinnaker_account(tenant, "bad", cluster, "kube-system"))
        account = objects.wait_condition(mgmt, "SpinnakerAccount", "web", tenant, "Ready")
        objects.wait_condition(mgmt, "SpinnakerAccount", "bad", tenant, "Ready", "False", reason="NamespaceNotAllowed")
        name = account["status"]["spinnakerAccountName"]

        def scraped() -> str | None:
            text = _scrape(port)
            ready = _sample(text, "spinop_reconciles_total", kind="SpinnakerAccount", result="ready")
            refused = _sample(text, "spinop_reconciles_total", kind="SpinnakerAccount", result="not_ready")
            return text if ready and refused else None

        text = wait_for(scraped, timeout=30, what="reconcile counters for ready and refused accounts")
        assert _sample(text, "spinop_remote_cluster_reachable", cluster=cluster) == 1.0
        assert _sample(text, "spinop_ready", kind="SpinnakerAccount", namespace=tenant, name="web") == 1.0
        assert _sample(text, "spinop_ready", kind="SpinnakerAccount", namespace=tenant, name="bad") == 0.0
        expiry = _sample(
            text, "spinop_credentials_expiry_timestamp_seconds", namespace=tenant, name="web", account=name
        )
        assert expiry is not None and expiry > 0
        assert _sample(text, "spinop_reconcile_duration_seconds_count", kind="SpinnakerAccount")

        # JSON logs: every line parses, and handler lines carry the object's identity.
        lines = [line for line in operator.log().splitlines() if line.strip() and not line.startswith("=====")]
        records = [json.loads(line) for line in lines]
        about_web = [r for r in records if (r.get("object") or {}).get("name") == "web"]
        assert about_web, "no log record names the object it is about"
        assert all((r.get("object") or {}).get("namespace") == tenant for r in about_web)

        # Events a tenant reads with kubectl describe.
        events = mgmt.core.list_namespaced_event(tenant).items
        reasons = {(e.involved_object.name, e.reason) for e in events}
        assert ("web", "CredentialsIssued") in reasons, reasons
        assert ("bad", "NamespaceNotAllowed") in reasons, reasons

        # Secret hygiene: the token is in the credentials Secret and nowhere else.
        ref = account["status"]["credentialsSecretRef"]
        token = yaml.safe_load(objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"]))["users"][0]["user"][
            "token"
        ]
        for where, content in (
            ("operator log", operator.log()),
            ("metrics", text),
            ("events", " ".join(str(e.message) for e in events)),
            ("status", json.dumps(account)),
        ):
            assert token not in content, f"the token leaked into the {where}"
            assert token[-24:] not in content, f"part of the token leaked into the {where}"
    finally:
        for name in ("web", "bad"):
            objects.delete(mgmt, "SpinnakerAccount", name, tenant)
        for name in ("web", "bad"):
            objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant)
        objects.delete(mgmt, "SpinnakerCluster", cluster)
