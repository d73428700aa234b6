"""The Halyard daemon unreachable for a moment while one of spinop's (long) deploys is still running in it.

spinop loses sight of its deploy task (the polls fail) but Halyard keeps deploying. Halyard has no locking, so
whatever spinop does next must not start another mutation while that deploy still runs; and the accounts must
converge once Halyard answers again. A module of its own: it needs deploys longer than spinop's first retry delay
(5 s), which would slow every other fault down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.integration.kube import wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.conftest import SCALE, Scale, SecretHygiene, Seeded, operator_settings
from tests.integration.reliability.fleet import (
    ENVIRONMENTS,
    Fleet,
    overlap_problems,
    reasons_seen,
    rollout_problems,
    wait_all,
)
from tests.integration.reliability.hygiene import SecretRecorder
from tests.integration.reliability.lifecycle import assert_no_traceback
from tests.integration.reliability.standin import running_deploy
from tests.integration.spinnaker.standins import HalyardStandinProcess

HALYARD_DEPLOY_SECONDS = 9.0


@pytest.fixture(scope="module")
def operator(halyard: HalyardStandinProcess, launch: Callable[..., OperatorProcess]) -> OperatorProcess:
    return launch(operator_settings(halyard))


@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])
def test_halyard_unreachable_during_a_running_deploy_never_overlaps_it(
    scale: Scale,
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    fleet: Fleet,
    seeded: Seeded,
    secret_hygiene: SecretHygiene,
    hygiene: SecretRecorder,
) -> None:
    names = [f"m{i:02d}" for i in range(scale.pick(3, 12))]
    for index, name in enumerate(names):
        fleet.create(name, ENVIRONMENTS[index % len(ENVIRONMENTS)])
    running = wait_for(lambda: running_deploy(halyard), timeout=120, interval=0.05, what="spinop's deploy running")
    since = time.time()
    halyard.faults(down="refuse")
    try:
        wait_for(
            lambda: "HalyardUnavailable" in reasons_seen(hygiene, fleet.tenant, names, since),
            timeout=60,
            what="spinop noticing that Halyard is unreachable",
        )
    finally:
        halyard.clear_faults()
    assert running_deploy(halyard) == running, "the deploy should still run when Halyard answers again"
    wait_all(fleet, names, "Ready", "True", timeout=scale.seconds(120, 300))
    problems = rollout_problems(fleet, halyard, names, overlaps=False)
    assert not problems, "\n".join([str(seeded), *problems])
    assert_no_traceback(operator)
    secret_hygiene.check()
    # spinop lost sight of its deploy, yet waits for it (GET /v1/tasks/) before the next mutation.
    overlaps = overlap_problems(halyard)
    assert not overlaps, f"a mutation started while the lost deploy still ran: {overlaps}"
