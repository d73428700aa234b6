"""Migration from the Halyard backend to the accounts API: every account stays visible in Spinnaker throughout.

Both stand-ins play one Spinnaker: the Gate stand-in's clouddriver serves static accounts (what Halyard deployed:
a bridge copies each successful Halyard deploy's accounts there, as a restarted clouddriver would load them) merged
with the definitions its credentials poller loaded (contract §2). The poller runs every 6 s here, so a migration
that removed the static copies before clouddriver loaded the definitions would leave a gap that the sampler sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import objects
from tests.integration.conftest import OPERATOR_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.backends import kubeconfig_token
from tests.integration.spinnaker.conftest import (
    Tenant,
    create_accounts,
    operator_settings,
    stored_token,
    wait_ready,
    write_gate_secret,
)
from tests.integration.spinnaker.standins import GateStandinProcess, HalyardStandinProcess

GATE_POLL_SECONDS = 6.0  # read by the `gate` fixture: clouddriver's poller period (longer than the removal takes)
LEGACY = "legacy-hal"


class DeployBridge:
    """Clouddriver restarted by a Halyard deploy: its static accounts become what that deploy carried."""

    def __init__(self, halyard: HalyardStandinProcess, gate: GateStandinProcess) -> None:
        self.halyard, self.gate = halyard, gate
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deploy-bridge", daemon=True)

    def publish(self, accounts: list[dict[str, Any]]) -> None:
        self.gate.set_static_accounts([{**a, "type": "kubernetes"} for a in accounts])

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            deploys = self.halyard.deploys()
            done = [d for d in deploys if d["state"] != "RUNNING"]
            if len(done) > self.seen:
                self.seen = len(done)
                succeeded = [d for d in done if d["state"] == "SUCCEEDED"]
                if succeeded:
                    self.publish(succeeded[-1]["accounts"])

    def __enter__(self) -> DeployBridge:
        self.seen = len([d for d in self.halyard.deploys() if d["state"] != "RUNNING"])
        self.publish(list(self.halyard.accounts().values()))  # what clouddriver runs with now
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class VisibilitySampler:
    """Reads Gate's `GET /credentials` as fast as it answers and records every moment an account was missing."""

    gate: GateStandinProcess
    expected: set[str]
    samples: int = 0
    gaps: list[tuple[float, set[str]]] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-sampler", daemon=True)

    def _run(self) -> None:
        self.first = time.time()
        while not self._stop.wait(0.05):
            missing = self.expected - self.gate.visible()
            self.samples += 1
            self.last = time.time()
            if missing:
                self.gaps.append((self.last, missing))

    def __enter__(self) -> VisibilitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture()
def operators() -> Iterator[list[OperatorProcess]]:
    """Operators a test starts; stopped after the tenant's accounts are gone (request it before `tenant`)."""
    started: list[OperatorProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture()
def legacy(halyard: HalyardStandinProcess) -> Iterator[None]:
    """An account someone added with `hal`: it stays in Halyard, untouched, through the migration."""
    path = "/home/spinnaker/.hal/legacy/hal.yaml"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "legacy", "cluster": {"server": "https://legacy.example:6443"}}],
        "users": [{"name": "legacy", "user": {"token": "legacy-token"}}],
        "contexts": [{"name": "legacy", "context": {"cluster": "legacy", "user": "legacy"}}],
        "current-context": "legacy",
    }
    halyard.control("PUT", f"/_standin/pod-file?path={path}", yaml.safe_dump(config))
    halconfig = halyard.halconfig()
    provider = halconfig["deploymentConfigurations"][0].setdefault("providers", {}).setdefault("kubernetes", {})
    provider["enabled"] = True
    provider["accounts"] = [
        {"name": LEGACY, "providerVersion": "V2", "context": "legacy", "kubeconfigFile": path, "namespaces": ["l"]}
    ]
    halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(halconfig, sort_keys=False))
    yield


@pytest.mark.parametrize("first_removal_fails", [False, True], ids=["clean", "first-removal-deploy-fails"])
def test_migration_from_halyard_keeps_every_account_visible(
    start_operator: Callable[..., OperatorProcess],
    gate: GateStandinProcess,
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
    mgmt: Cluster,
    operators: list[OperatorProcess],
    tenant: Tenant,
    legacy: None,
    first_removal_fails: bool,
) -> None:
    """`first-removal-deploy-fails`: Halyard's config has lost the accounts but the deploy failed, so the running
    clouddriver still has them; the retry must still deploy (the pending-removal ConfigMap remembers the names)."""
    write_gate_secret(mgmt, gate)
    names = [f"m{i}" for i in range(6)]
    with DeployBridge(halyard, gate):
        # 1. spinop on Halyard: six accounts, deployed to clouddriver as static config.
        before = start_operator(operator_settings("halyard-rest", halyard, gate), kubeconfig=operator_token_kubeconfig)
        operators.append(before)
        create_accounts(mgmt, tenant, names)
        accounts = wait_ready(mgmt, tenant, names)
        spinnaker_names = {a["status"]["spinnakerAccountName"] for a in accounts.values()}
        expected = spinnaker_names | {LEGACY}
        wait_for(lambda: expected <= gate.visible(), timeout=30, what="clouddriver serving the deployed accounts")
        deploys_before = len(halyard.deploys())
        if first_removal_fails:
            halyard.faults(deploy_fail={})

        # 2. The switch, sampled all along: stop spinop, start it on the accounts API with the migration on.
        with VisibilitySampler(gate, expected) as sampler:
            before.stop()
            after = start_operator(
                operator_settings(
                    "accounts-api", halyard, gate, reload_seconds=GATE_POLL_SECONDS + 0.5, migrate_from_halyard=True
                ),
                kubeconfig=operator_token_kubeconfig,
            )
            operators.append(after)
            after.wait_logged("migration from Halyard finished", timeout=120)
            moved = halyard.deploys()[deploys_before:]
            # Let the bridge publish the deploy and clouddriver poll once more before the sampling stops.
            time.sleep(GATE_POLL_SECONDS + 0.5)

    assert not sampler.gaps, f"accounts missing from Spinnaker during the switch: {sampler.gaps[:5]}"
    assert sampler.samples >= 50, sampler.samples
    states = [d["state"] for d in moved]
    assert states == (["FAILED", "SUCCEEDED"] if first_removal_fails else ["SUCCEEDED"]), "exactly one deploy"
    removal = moved[-1]
    marker = mgmt.core.read_namespaced_config_map("spinop-halyard-migration", OPERATOR_NAMESPACE)
    assert marker.data["pending-removal.json"] == "[]", "nothing left to remove"
    assert removal["serviceNames"] == ["clouddriver"]
    # The definitions were stored at least one poller period before the static copies started to go.
    stored_at = [
        r["at"]
        for r in gate.requests()
        if r["path"] == "/credentials" and r["method"] in ("POST", "PUT") and r["status"] == 200
        if sampler.first <= r["at"] <= removal["startedAt"]
    ]
    assert len(stored_at) == len(names) and removal["startedAt"] - max(stored_at) >= GATE_POLL_SECONDS
    assert sampler.first < removal["startedAt"] and removal["finishedAt"] < sampler.last

    # Halyard keeps only what spinop never owned; the API has spinop's, loaded before the static copies went.
    in_halyard = halyard.accounts()
    assert LEGACY in in_halyard and not spinnaker_names & set(in_halyard)
    assert {a["name"] for a in removal["accounts"]} == {LEGACY}
    state = gate.state()
    for name, account in accounts.items():
        spinnaker_name = account["status"]["spinnakerAccountName"]
        stored = state["accounts"][spinnaker_name]
        assert "kubeconfigFile" not in stored and "providerVersion" not in stored
        assert kubeconfig_token(stored["kubeconfigContents"]) == stored_token(mgmt, account)
        assert stored["namespaces"] == [tenant.target(name)]
        loaded = state["loadedAccounts"][spinnaker_name]
        assert loaded["loadedAt"] / 1000 < removal["startedAt"], "clouddriver had it before Halyard dropped it"
    for name in names:
        ready = objects.condition(objects.get(mgmt, "SpinnakerAccount", name, tenant.namespace), "Ready") or {}
        assert ready.get("status") == "True", (name, ready)

    # 3. From now on changes go through the API with zero deploys: a rotation and a deletion.
    mark = len(halyard.deploys())
    rotated = accounts["m0"]["status"]["spinnakerAccountName"]
    old_token = stored_token(mgmt, accounts["m0"])
    rotate = {"metadata": {"annotations": {"spinop.io/rotate-credentials": "1"}}}
    objects.patch(mgmt, "SpinnakerAccount", "m0", tenant.namespace, rotate)
    objects.delete(mgmt, "SpinnakerAccount", "m5", tenant.namespace)
    objects.wait_gone(mgmt, "SpinnakerAccount", "m5", tenant.namespace, timeout=120)

    def rotated_and_loaded() -> bool:
        loaded = gate.state()["loadedAccounts"].get(rotated) or {}
        return kubeconfig_token((loaded.get("account") or {}).get("kubeconfigContents")) not in (None, old_token)

    wait_for(rotated_and_loaded, timeout=90, what="clouddriver loading the rotated token")
    assert accounts["m5"]["status"]["spinnakerAccountName"] not in gate.state()["accounts"]
    assert len(halyard.deploys()) == mark, "no deploy after the migration"
