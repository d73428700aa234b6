"""A remote cluster's kube-apiserver stopped in the middle of a rollout.

While it is down: the other clusters' accounts still become Ready (and Halyard gets them); every account of the
stopped cluster reports Ready=False with reason ClusterUnreachable (those that were Ready before as well, at their
next periodic pass); the SpinnakerCluster reports Reachable=False; and Spinnaker does not forget the stopped
cluster's accounts it already had. After `start_apiserver` everything becomes Ready without anyone touching
anything, and the rollout ends in the same invariants as after kill -9 (one ServiceAccount/Role/RoleBinding each,
exactly the expected Spinnaker accounts, no orphaned credentials, no overlapping Halyard mutations).

Short (CI): 4 accounts per cluster, prod stopped once. Long: 15 accounts per cluster per round, two rounds (prod,
then staging stopped).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest

from spinop.devcluster.controlplane import ControlPlanes
from tests.integration import objects
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.conftest import SCALE, Scale, SecretHygiene, Seeded, operator_settings
from tests.integration.reliability.fleet import ENVIRONMENTS, Fleet, ready, rollout_problems, wait_all
from tests.integration.reliability.lifecycle import assert_alive, assert_no_traceback
from tests.integration.reliability.standin import halconfig_account_names
from tests.integration.spinnaker.standins import HalyardStandinProcess


@pytest.fixture(scope="module")
def operator(halyard: HalyardStandinProcess, launch: Callable[..., OperatorProcess]) -> OperatorProcess:
    # Short periodic passes, so accounts that were Ready before the outage notice it within seconds.
    return launch(operator_settings(halyard, drift_interval_seconds=8, cluster_probe_seconds=5))


def _wait_cluster_reachable(fleet: Fleet, env: str, status: str, timeout: float) -> None:
    objects.wait_condition(
        fleet.mgmt, "SpinnakerCluster", fleet.clusters[env], None, "Reachable", status=status, timeout=timeout
    )


@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])
@pytest.mark.timeout(SCALE.pick(600, 2400))
def test_a_stopped_remote_apiserver_affects_only_its_accounts_and_they_recover_by_themselves(
    scale: Scale,
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    fleet: Fleet,
    control_planes: ControlPlanes,
    seeded: Seeded,
    secret_hygiene: SecretHygiene,
) -> None:
    per_cluster = scale.pick(4, 15)
    outages = ("prod",) if not scale.long else ("prod", "staging")
    timeout = scale.seconds(150, 600)
    rng = seeded.rng
    live: list[str] = []
    for round_, down in enumerate(outages):
        pairs = [(f"r{round_}{env[0]}{i:02d}", env) for env in ENVIRONMENTS for i in range(per_cluster)]
        rng.shuffle(pairs)
        for name, env in pairs:
            fleet.create(name, env)
        batch = [name for name, _ in pairs]
        live += batch
        # Mid-rollout: stop the cluster once a random share of this round's accounts is Ready.
        share = rng.uniform(0.1, 0.5)
        wait_all(fleet, rng.sample(batch, max(1, int(len(batch) * share))), "Ready", "True", timeout=timeout)
        on_down = [n for n in live if fleet.env_of[n] == down]
        others = [n for n in live if fleet.env_of[n] != down]
        known = {fleet.spinnaker_name(n) for n in on_down} & set(halconfig_account_names(halyard))
        print(
            f"[reliability] {seeded}: stopping {down} with {len(known)} of its {len(on_down)} accounts in Halyard",
            file=sys.__stderr__,
            flush=True,
        )
        stopped_at = time.monotonic()
        control_planes.stop_apiserver(down)
        try:
            wait_all(fleet, others, "Ready", "True", timeout=timeout)
            unreachable = wait_all(fleet, on_down, "Ready", "False", reasons=("ClusterUnreachable",), timeout=timeout)
            for name, account in unreachable.items():
                message = (objects.condition(account, "Ready") or {}).get("message") or ""
                assert fleet.clusters[down] in message, f"{name}: the message does not name the cluster: {message}"
            _wait_cluster_reachable(fleet, down, "False", timeout=60)
            # A cluster outage does not make Spinnaker forget the accounts it had.
            still = set(halconfig_account_names(halyard))
            assert known <= still, f"Halyard lost accounts of the stopped cluster: {sorted(known - still)}"
            assert all(ready(a) for a in fleet.listed().values() if fleet.env_of.get(a["metadata"]["name"]) != down)
            assert_alive(operator)
        finally:
            control_planes.start_apiserver(down)
        recovered = wait_all(fleet, on_down, "Ready", "True", timeout=timeout)
        _wait_cluster_reachable(fleet, down, "True", timeout=60)
        print(
            f"[reliability] {down}: down {time.monotonic() - stopped_at:.0f}s in all; {len(recovered)} accounts "
            "Ready again without intervention",
            file=sys.__stderr__,
            flush=True,
        )

    wait_all(fleet, live, "Ready", "True", timeout=timeout)
    problems = rollout_problems(fleet, halyard, live)
    assert not problems, "\n".join([str(seeded), *problems])
    assert_no_traceback(operator)
    secret_hygiene.check()
