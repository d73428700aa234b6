"""GitOps tools read spinop's objects right (issue 19 items 1-4), on the real control planes.

For each kind, a Ready, a provisioning and a refused object are judged by the real kstatus library
(sigs.k8s.io/cli-utils pkg/kstatus/status.Compute, built from tools/kstatus: what Flux's `wait: true` uses) and by
the Argo CD health check shipped in deploy/argocd (run with a Lua 5.1 runtime as Argo CD's gopher-lua):
Current/Healthy, InProgress/Progressing, Failed/Degraded. The objects read are the live ones from MGMT.
"""

# ruff: noqa: F811 (the pipelines package's module fixtures are imported here and named as test parameters)
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop import GROUP, VERSION
from spinop.devcluster.build import ensure_kstatus
from spinop.tenancy import claim_from_body
from tests.argocd.lua_health import argocd_health
from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import (  # noqa: F401 (fixtures)
    GateProcess,
    Tenant,
    gate,
    make_tenant,
    operator,
    spinnaker_clusters,
)
from tests.integration.rbac_manifests import store_admin_kubeconfig
from tests.integration.reliability.tenant import Tenant as RestrictedTenant

#: kstatus verdict -> the Argo CD health deploy/argocd/health.lua must give the same object.
ARGOCD = {"Current": "Healthy", "InProgress": "Progressing", "Failed": "Degraded"}
#: Where captured objects are kept for the unit tests of the Lua (tests/unit/deploy/test_argocd_health.py); refreshed
#: only with SPINOP_CAPTURE_STATUS=1, so that a test run leaves the checkout as it was.
CAPTURED = Path(__file__).resolve().parents[1] / "argocd" / "captured"
CAPTURE = os.environ.get("SPINOP_CAPTURE_STATUS") == "1"


@pytest.fixture(scope="module")
def kstatus() -> Path:
    return ensure_kstatus()


def verdict(kstatus: Path, obj: dict[str, Any]) -> dict[str, str]:
    result = subprocess.run(
        [str(kstatus)], input=json.dumps(obj), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def wait_verdict(
    kstatus: Path, mgmt: Cluster, kind: str, name: str, namespace: str | None, want: str, timeout: float = 120
) -> dict[str, Any]:
    """Poll the live object until kstatus says `want`; returns the object."""
    seen: list[Any] = []

    def probe() -> dict[str, Any] | None:
        obj = objects.get(mgmt, kind, name, namespace)
        if obj is None:
            return None
        got = verdict(kstatus, obj)
        seen[:] = [got, obj.get("status")]
        # Before spinop's first status write kstatus reads a custom resource as Current (no observedGeneration to
        # compare): wait until spinop has reported on this generation.
        handled = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")
        return obj if handled and got["status"] == want else None

    try:
        return wait_for(probe, timeout=timeout, what=f"kstatus {want} for {kind} {name}")
    except AssertionError as err:
        raise AssertionError(f"{err}; last verdict and conditions: {seen}") from None


def judge(kstatus: Path, mgmt: Cluster, kind: str, name: str, namespace: str | None, want: str, label: str) -> None:
    obj = wait_verdict(kstatus, mgmt, kind, name, namespace, want)
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    ready = conditions["Ready"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    if want == "Current":
        assert ready["status"] == "True"
        assert "Reconciling" not in conditions and "Stalled" not in conditions
    elif want == "Failed":
        stalled = conditions["Stalled"]
        assert (stalled["reason"], stalled["message"]) == (ready["reason"], ready["message"])
        assert "Reconciling" not in conditions
    else:
        assert conditions["Reconciling"]["status"] == "True" and "Stalled" not in conditions
    health = argocd_health(obj)
    assert health["status"] == ARGOCD[want], (health, obj["status"])
    if not CAPTURE:
        return
    CAPTURED.mkdir(exist_ok=True)
    kept = {k: obj[k] for k in ("apiVersion", "kind", "status")}
    kept["metadata"] = {k: obj["metadata"][k] for k in ("name", "generation") if k in obj["metadata"]}
    (CAPTURED / f"{kind}-{label}.yaml").write_text(
        f"# captured by tests/integration/test_kstatus.py; kstatus: {want}\n" + yaml.safe_dump(kept, sort_keys=True)
    )


@pytest.fixture(scope="module")
def unreachable_cluster(
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    spinnaker_clusters: dict[str, str],
    make_tenant: Callable[..., Tenant],
) -> Iterator[str]:
    """A SpinnakerCluster whose kubeconfig points at a port nothing listens on: spinop keeps trying (progress).

    Set up after `make_tenant`, so it is removed first: its accounts' finalizers then skip the remote clean-up.
    """
    raw = objects.secret_kubeconfig(mgmt, CREDENTIALS_NAMESPACE, admin_kubeconfig_secrets["dev"])
    kubeconfig = yaml.safe_load(raw)
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:9"
    name = f"unreachable-{objects.short_id()}"
    secret = store_admin_kubeconfig(mgmt, kubeconfig, name=name, namespace=CREDENTIALS_NAMESPACE)
    objects.create(mgmt, objects.spinnaker_cluster(name, secret, "dev"))
    yield name
    objects.delete(mgmt, "SpinnakerCluster", name)
    mgmt.core.delete_namespaced_secret(secret, CREDENTIALS_NAMESPACE)


def test_spinnaker_cluster_current_inprogress_failed(
    kstatus: Path, mgmt: Cluster, operator: Any, spinnaker_clusters: dict[str, str], unreachable_cluster: str
) -> None:
    judge(kstatus, mgmt, "SpinnakerCluster", spinnaker_clusters["dev"], None, "Current", "ready")
    judge(kstatus, mgmt, "SpinnakerCluster", unreachable_cluster, None, "InProgress", "provisioning")
    missing = f"no-secret-{objects.short_id()}"
    objects.create(mgmt, objects.spinnaker_cluster(missing, f"{missing}-absent", "dev"))
    try:
        judge(kstatus, mgmt, "SpinnakerCluster", missing, None, "Failed", "refused")
    finally:
        objects.delete(mgmt, "SpinnakerCluster", missing)


def test_spinnaker_account_current_inprogress_failed(
    kstatus: Path, mgmt: Cluster, make_tenant: Callable[..., Tenant], unreachable_cluster: str
) -> None:
    tenant = make_tenant("ks")
    judge(kstatus, mgmt, "SpinnakerAccount", "dev", tenant.namespace, "Current", "ready")
    objects.create(
        mgmt, objects.spinnaker_account(tenant.namespace, "later", unreachable_cluster, tenant.target("dev"))
    )
    judge(kstatus, mgmt, "SpinnakerAccount", "later", tenant.namespace, "InProgress", "provisioning")
    objects.create(
        mgmt, objects.spinnaker_account(tenant.namespace, "nowhere", "no-such-cluster", f"{tenant.namespace}-x")
    )
    judge(kstatus, mgmt, "SpinnakerAccount", "nowhere", tenant.namespace, "Failed", "refused")


def create_pipeline(tenant: RestrictedTenant, body: dict[str, Any]) -> bool:
    answer = tenant.attempt(
        tenant.custom.create_namespaced_custom_object, GROUP, VERSION, tenant.namespace, "spinnakerpipelines", body
    )
    assert answer.accepted, answer
    return True


def test_spinnaker_pipeline_current_waiting_for_account_failed(
    kstatus: Path, mgmt: Cluster, gate: GateProcess, make_tenant: Callable[..., Tenant], unreachable_cluster: str
) -> None:
    """Played as the tenant under deploy/base's tenant RBAC: a pipeline for an account spinop has not proven yet
    waits (progress), and neither it nor a refused one reaches Gate."""
    tenant = make_tenant("kp")
    restricted = RestrictedTenant(mgmt, tenant.namespace)
    application = f"{tenant.namespace}-web"
    ready_body = deploy_pipeline(
        application=application, account=tenant.accounts["dev"], namespace=tenant.target("dev"), tenant=tenant.namespace
    )
    objects.create(mgmt, spinnaker_pipeline(tenant.namespace, "ready", application, "ready", ready_body))
    judge(kstatus, mgmt, "SpinnakerPipeline", "ready", tenant.namespace, "Current", "ready")

    # A pipeline for an account that is still being provisioned waits for it: progress, never a refusal.
    answer = restricted.create(
        objects.spinnaker_account(tenant.namespace, "later", unreachable_cluster, tenant.target("dev"))
    )
    assert answer.accepted and answer.obj is not None, answer
    claim = claim_from_body(answer.obj)
    assert claim is not None
    waiting_body = deploy_pipeline(
        application=application, account=claim.account_name, namespace=claim.namespace, tenant=tenant.namespace
    )
    assert create_pipeline(
        restricted, spinnaker_pipeline(tenant.namespace, "waiting", application, "waiting", waiting_body)
    )
    judge(kstatus, mgmt, "SpinnakerPipeline", "waiting", tenant.namespace, "InProgress", "provisioning")
    waiting = objects.wait_condition(mgmt, "SpinnakerPipeline", "waiting", tenant.namespace, "Ready", "False")
    assert objects.condition(waiting, "Ready")["reason"] == "WaitingForAccount"  # type: ignore[index]

    # An account the namespace has no SpinnakerAccount for at all is a refusal only a person can fix.
    refused_body = deploy_pipeline(
        application=application, account="someone-elses-account", namespace="elsewhere", tenant=tenant.namespace
    )
    assert create_pipeline(
        restricted, spinnaker_pipeline(tenant.namespace, "refused", application, "refused", refused_body)
    )
    judge(kstatus, mgmt, "SpinnakerPipeline", "refused", tenant.namespace, "Failed", "refused")
    assert {p["name"] for p in gate.pipelines(application)} == {"ready"}
    assert not [w for w in gate.writes() if "waiting" in json.dumps(w) or "refused" in json.dumps(w)]
    restricted.close()
