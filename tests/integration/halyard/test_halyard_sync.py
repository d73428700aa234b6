"""Spinnaker follows the declared accounts through Halyard: batched, one clouddriver deploy per burst, only
spinop's own accounts touched, and convergence after every kind of Halyard failure.

Real MGMT and remote control planes, the real operator process, and the Halyard stand-in (a test double of the
daemon's REST API and of `hal` over pods/exec, tests/standins/halyard) over real HTTP/WebSocket. Every test runs
for both transports: `rest` (the daemon API) and `exec` (`hal` in the Halyard pod through the exec WebSocket,
authorized by a real TokenReview/SubjectAccessReview on MGMT).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.halyard.conftest import HalyardStandinProcess
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess

QUIET_SECONDS = 3
LEGACY = "legacy-prod"
LEGACY_KUBECONFIG = "/home/spinnaker/.hal/legacy/prod.yaml"


@pytest.fixture(scope="module", params=["rest", "exec"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def operator(
    transport: str,
    start_operator: Callable[..., OperatorProcess],
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    process = start_operator(
        {
            "spinnaker_backend": "halyard",
            "drift_interval_seconds": 20,
            "halyard": {
                "url": halyard.daemon_url,
                "transport": transport,
                "pod_namespace": halyard.namespace,
                "pod_name": halyard.pod,
                "exec_server": halyard.kube_url,
                "kubeconfig_delivery": "exec",
                "quiet_seconds": QUIET_SECONDS,
                "max_wait_seconds": 30,
                "deploy_timeout_minutes": 2,
            },
        },
        kubeconfig=operator_token_kubeconfig,
    )
    yield process
    process.stop()


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
    namespace = fresh_namespace("mgmt", "hy", labels=objects.TENANT_LABEL)
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


def _untouched(live: dict[str, object], original: dict[str, object]) -> bool:
    """Every field the owner set is as it was (Halyard re-serializes the file with defaults on every write)."""
    return {key: live.get(key) for key in original} == original


@pytest.fixture()
def legacy_account(halyard: HalyardStandinProcess) -> dict[str, object]:
    """An account someone added with `hal` long ago; spinop must never change it."""
    halyard.control("PUT", f"/_standin/pod-file?path={LEGACY_KUBECONFIG}", _legacy_kubeconfig())
    config = halyard.halconfig()
    deployment = config["deploymentConfigurations"][0]
    provider = deployment.setdefault("providers", {}).setdefault("kubernetes", {"enabled": True, "accounts": []})
    provider["enabled"] = True
    provider["accounts"] = [a for a in provider.get("accounts") or [] if a["name"] != LEGACY]
    legacy = {
        "name": LEGACY,
        "providerVersion": "V2",
        "context": "legacy",
        "kubeconfigFile": LEGACY_KUBECONFIG,
        "namespaces": ["legacy"],
        "permissions": {"READ": ["ops"], "WRITE": ["ops"], "EXECUTE": ["release-managers"]},
        "cacheThreads": 4,
    }
    provider["accounts"].append(legacy)
    halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(config, sort_keys=False))
    return dict(legacy)


def _legacy_kubeconfig() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "legacy", "cluster": {"server": "https://legacy.example:6443"}}],
            "users": [{"name": "legacy", "user": {"token": "legacy-token-not-spinops"}}],
            "contexts": [{"name": "legacy", "context": {"cluster": "legacy", "user": "legacy"}}],
            "current-context": "legacy",
        }
    )


def _create_accounts(mgmt: Cluster, tenant: Tenant, names: list[str], **spec: object) -> None:
    for name in names:
        objects.create(
            mgmt, objects.spinnaker_account(tenant.namespace, name, tenant.cluster, tenant.target(name), **spec)
        )


def _wait_ready(mgmt: Cluster, tenant: Tenant, names: list[str], timeout: float = 240) -> dict[str, dict[str, Any]]:
    return {
        name: objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant.namespace, "Ready", timeout=timeout)
        for name in names
    }


def _stored_token(mgmt: Cluster, account: dict[str, Any]) -> str:
    ref = account["status"]["credentialsSecretRef"]
    text = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
    return str(yaml.safe_load(text)["users"][0]["user"]["token"])


def test_a_burst_is_one_clouddriver_deploy_and_only_spinops_accounts_change(
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    mgmt: Cluster,
    tenant: Tenant,
    legacy_account: dict[str, Any],
) -> None:
    halyard.control("DELETE", "/_standin/deploys")
    names = [f"a{i:02d}" for i in range(50)]
    _create_accounts(mgmt, tenant, names)
    accounts = _wait_ready(mgmt, tenant, names)

    deploys = halyard.deploys()
    assert len(deploys) == 1, [d["serviceNames"] for d in deploys]
    deploy = deploys[0]
    assert deploy["serviceNames"] == ["clouddriver"]
    assert deploy["state"] == "SUCCEEDED"
    live = halyard.accounts()
    assert _untouched(live[LEGACY], legacy_account), "an account spinop did not create was changed"
    for name, account in accounts.items():
        spinnaker_name = account["status"]["spinnakerAccountName"]
        stored = live[spinnaker_name]
        # What Halyard's validators demand (contracts/halyard.md §3): V2, kinds xor omitKinds, uppercase keys.
        assert stored["providerVersion"] == "V2"
        assert stored["kinds"] and not stored["omitKinds"]
        assert stored["namespaces"] == [tenant.target(name)]
        assert all(key.isupper() for key in stored.get("permissions") or {})
        # The deploy copied the kubeconfig file Halyard read, and it holds the token spinop stored.
        copied = deploy["kubeconfigs"][spinnaker_name]
        assert copied["path"] == stored["kubeconfigFile"]
        assert yaml.safe_load(copied["content"])["users"][0]["user"]["token"] == _stored_token(mgmt, account)
        last = account["status"]["lastDeploy"]
        assert last["id"] == deploy["taskUuid"] or halyard_transport_is_exec(operator)
    assert not halyard.concurrency()["overlaps"], "two Halyard mutations ran at once"

    # Deleting ten removes exactly those ten, in one more deploy.
    gone = names[:10]
    for name in gone:
        objects.delete(mgmt, "SpinnakerAccount", name, tenant.namespace)
    for name in gone:
        objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant.namespace, timeout=120)
    deploys = halyard.deploys()
    assert len(deploys) == 2, [d["serviceNames"] for d in deploys]
    live = halyard.accounts()
    for name, account in accounts.items():
        spinnaker_name = account["status"]["spinnakerAccountName"]
        assert (spinnaker_name in live) == (name not in gone), name
    assert _untouched(live[LEGACY], legacy_account)
    assert not halyard.concurrency()["overlaps"]


def halyard_transport_is_exec(operator: OperatorProcess) -> bool:
    return operator.settings["halyard"]["transport"] == "exec"


def test_an_unmanaged_account_of_the_same_name_is_refused_unless_adopted(
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    mgmt: Cluster,
    tenant: Tenant,
    legacy_account: dict[str, Any],
) -> None:
    _create_accounts(mgmt, tenant, ["clash"], accountName=LEGACY)
    objects.wait_condition(
        mgmt,
        "SpinnakerAccount",
        "clash",
        tenant.namespace,
        "SpinnakerSynced",
        "False",
        reason="AccountExistsInSpinnaker",
        timeout=90,
    )
    assert _untouched(halyard.accounts()[LEGACY], legacy_account)

    objects.patch(mgmt, "SpinnakerAccount", "clash", tenant.namespace, {"spec": {"adopt": True}})
    if halyard_transport_is_exec(operator):
        # `hal … account edit` would silently drop the EXECUTE roles an admin set: spinop refuses instead.
        objects.wait_condition(
            mgmt,
            "SpinnakerAccount",
            "clash",
            tenant.namespace,
            "SpinnakerSynced",
            "False",
            reason="HalTransportCannotExpress",
            timeout=90,
        )
        assert _untouched(halyard.accounts()[LEGACY], legacy_account)
        return
    adopted = objects.wait_condition(mgmt, "SpinnakerAccount", "clash", tenant.namespace, "Ready", timeout=90)
    live = halyard.accounts()[LEGACY]
    assert live["namespaces"] == [tenant.target("clash")]
    assert live["kubeconfigFile"] != LEGACY_KUBECONFIG
    # A whole-account PUT keeps what spinop does not manage: the EXECUTE roles an admin set.
    assert live["permissions"]["EXECUTE"] == ["release-managers"]
    assert adopted["status"]["spinnakerAccountName"] == LEGACY
    objects.delete(mgmt, "SpinnakerAccount", "clash", tenant.namespace)
    objects.wait_gone(mgmt, "SpinnakerAccount", "clash", tenant.namespace, timeout=120)
    assert LEGACY not in halyard.accounts(), "an adopted account is spinop's: deleting the CR removes it"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"down": "refuse"}, "HalyardUnavailable"),
        ({"http500": {"count": 1000}}, "HalyardUnavailable"),
        ({"timeout_next": {}}, None),
        ({"deploy_fail": {}}, None),
        ({"latency_s": 0.5}, None),
    ],
    ids=["down", "http500", "task-timed-out", "deploy-fails-half-way", "slow"],
)
def test_halyard_faults_converge_after_they_clear(
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tenant: Tenant,
    fault: dict[str, object],
    reason: str | None,
) -> None:
    names = ["f1", "f2", "f3"]
    halyard.faults(**fault)
    try:
        _create_accounts(mgmt, tenant, names)
        if reason:
            for name in names:
                account = objects.wait_condition(
                    mgmt,
                    "SpinnakerAccount",
                    name,
                    tenant.namespace,
                    "SpinnakerSynced",
                    "False",
                    reason=reason,
                    timeout=90,
                )
                # The remote side is provisioned meanwhile; only the Spinnaker side waits.
                assert (objects.condition(account, "RemoteProvisioned") or {}).get("status") == "True"
    finally:
        halyard.clear_faults()
    accounts = _wait_ready(mgmt, tenant, names, timeout=180)
    live = halyard.accounts()
    last = halyard.deploys()[-1]
    for account in accounts.values():
        spinnaker_name = account["status"]["spinnakerAccountName"]
        assert spinnaker_name in live, "no half-registered account: every Ready account is in Halyard"
        assert spinnaker_name in last["kubeconfigs"], "and the last deploy carried it"
    assert not halyard.concurrency()["overlaps"]


def test_rotation_reaches_clouddriver_with_the_next_deploy(
    operator: OperatorProcess, halyard: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    _create_accounts(mgmt, tenant, ["rot"])
    before = _wait_ready(mgmt, tenant, ["rot"])["rot"]
    name = before["status"]["spinnakerAccountName"]
    old_token = _stored_token(mgmt, before)
    deploys_before = len(halyard.deploys())
    objects.patch(
        mgmt,
        "SpinnakerAccount",
        "rot",
        tenant.namespace,
        {"metadata": {"annotations": {"spinop.io/rotate-credentials": "r1"}}},
    )

    def carried() -> bool:
        deploys = halyard.deploys()
        if len(deploys) <= deploys_before:
            return False
        content = deploys[-1]["kubeconfigs"].get(name, {}).get("content", "")
        return bool(content) and yaml.safe_load(content)["users"][0]["user"]["token"] != old_token

    wait_for(carried, timeout=90, what="a deploy carrying the rotated token")
    after = objects.wait_condition(mgmt, "SpinnakerAccount", "rot", tenant.namespace, "Ready")
    assert _stored_token(mgmt, after) != old_token


def test_credentials_secret_namespace_and_no_secret_in_status(
    operator: OperatorProcess, halyard: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    _create_accounts(mgmt, tenant, ["s1"])
    account = _wait_ready(mgmt, tenant, ["s1"])["s1"]
    token = _stored_token(mgmt, account)
    assert account["status"]["credentialsSecretRef"]["namespace"] == CREDENTIALS_NAMESPACE
    assert token not in str(account)
    assert token not in operator.log()
    assert base64.b64encode(token.encode()).decode() not in operator.log()
