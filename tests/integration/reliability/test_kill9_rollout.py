"""kill -9 of the operator at random moments of a rollout, with the Halyard backend.

A rollout is waves of SpinnakerAccounts over the three remote clusters, with some extra ("churn") accounts
deleted again while the wave is still rolling out, so finalizers are interrupted too. Kills happen at chosen kinds of
moments, found by watching the Halyard stand-in and the clock: while a Halyard deploy runs, while a Halyard config
mutation runs, at a random moment, right after deletions, and during the start-up resume of a restarted operator.

Afterwards: every account Ready; exactly one ServiceAccount, Role and RoleBinding per account namespace, labelled
with its owner; exactly the expected Spinnaker accounts in the halconfig, each once, all carried (with the stored
token) by the last successful deploy; no credentials Secret without an existing owner; deleted accounts left
nothing; and Halyard never saw two mutations at once.

Short (CI): 20 accounts + 4 churn, 2 kills (mid-deploy; right after the churn deletions). Long
(SPINOP_LONG_RELIABILITY=1): 100 accounts + 20 churn in 4 waves, 20 kills (five kinds of moment per wave).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.integration.kube import wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.conftest import SCALE, Scale, SecretHygiene, Seeded, operator_settings
from tests.integration.reliability.fleet import ENVIRONMENTS, Fleet, rollout_problems, wait_all, wait_gone
from tests.integration.reliability.lifecycle import assert_no_traceback, restart_after_kill
from tests.integration.spinnaker.standins import HalyardStandinProcess

#: Long deploys leave a wider window to be killed in.
HALYARD_DEPLOY_SECONDS = SCALE.seconds(0.5, 1.0)


@pytest.fixture(scope="module")
def operator(halyard: HalyardStandinProcess, launch: Callable[..., OperatorProcess]) -> OperatorProcess:
    return launch(operator_settings(halyard))


@dataclass
class Kill:
    trigger: str
    observed: str
    at: float


class Chaos:
    """Kills the operator at a kind of moment and starts it again; remembers what it hit."""

    def __init__(self, operator: OperatorProcess, halyard: HalyardStandinProcess, seeded: Seeded) -> None:
        self.operator = operator
        self.halyard = halyard
        self.rng = seeded.rng
        self.seeded = seeded
        self.kills: list[Kill] = []
        self.started = time.monotonic()

    def _running(self, needle: str) -> str | None:
        running = [label for label in self.halyard.concurrency()["running"] if needle in label]
        return running[0] if running else None

    def kill(self, trigger: str) -> None:
        observed = "-"
        if trigger in ("mid-deploy", "mid-mutation"):
            needle = "Apply deployment" if trigger == "mid-deploy" else ""
            try:
                observed = wait_for(lambda: self._running(needle), timeout=60, interval=0.02, what=trigger)
            except AssertionError:
                observed = "nothing was running within 60s: killed anyway"
        elif trigger == "during-resume":
            # Kill the running operator, start it again, and kill that one while it resumes. (Starting without the
            # first kill left two operators running, and the first one running after the test.)
            self.operator.kill()
            restart_after_kill(self.operator)
            time.sleep(self.rng.uniform(0.0, 2.0))  # a chosen kill moment, not a wait for a condition
            observed = "killed while resuming"
        else:
            time.sleep(self.rng.uniform(0.0, 3.0))  # a chosen kill moment
        self.operator.kill()
        self.kills.append(Kill(trigger, observed, round(time.monotonic() - self.started, 1)))
        restart_after_kill(self.operator)

    def story(self) -> str:
        return f"{self.seeded}; kills: " + "; ".join(f"{k.at}s {k.trigger} ({k.observed})" for k in self.kills)


@dataclass(frozen=True)
class Plan:
    waves: int
    accounts_per_wave: int
    churn_per_wave: int
    kills_per_wave: tuple[str, ...]  # triggers; "delete-churn" marks when the wave's churn is deleted


def plan_for(scale: Scale) -> Plan:
    if not scale.long:
        return Plan(1, 20, 4, ("mid-deploy", "delete-churn"))
    return Plan(4, 25, 5, ("mid-deploy", "mid-mutation", "delete-churn", "random", "during-resume"))


@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])
@pytest.mark.timeout(SCALE.pick(600, 3600))
def test_kill9_mid_rollout_leaves_no_duplicates_and_no_orphans(
    scale: Scale,
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    fleet: Fleet,
    seeded: Seeded,
    secret_hygiene: SecretHygiene,
) -> None:
    plan = plan_for(scale)
    chaos = Chaos(operator, halyard, seeded)
    rng = seeded.rng
    live: list[str] = []
    gone: list[str] = []
    try:
        for wave in range(plan.waves):
            accounts = [f"w{wave}a{i:02d}" for i in range(plan.accounts_per_wave)]
            churn = [f"w{wave}c{i:02d}" for i in range(plan.churn_per_wave)]
            order = accounts + churn
            rng.shuffle(order)
            for index, name in enumerate(order):
                fleet.create(name, ENVIRONMENTS[(index + wave) % len(ENVIRONMENTS)])
            live += accounts
            for trigger in plan.kills_per_wave:
                if trigger == "delete-churn":
                    for name in churn:
                        fleet.delete(name)
                    gone += churn
                    trigger = "random"  # right after the deletions: finalizers in flight
                chaos.kill(trigger)
        timeout = scale.seconds(240, 900)
        wait_all(fleet, live, "Ready", "True", timeout=timeout)
        wait_gone(fleet, gone, timeout=timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{chaos.story()}") from None

    print(f"[reliability] {chaos.story()}", file=sys.__stderr__, flush=True)
    assert len(chaos.kills) >= scale.pick(2, 10), chaos.story()
    # A kill mid-deploy is the point of the exercise: it must really have happened.
    assert any(k.trigger == "mid-deploy" and "Apply deployment" in k.observed for k in chaos.kills), chaos.story()
    problems = rollout_problems(fleet, halyard, live, gone)
    assert not problems, "\n".join([chaos.story(), *problems])
    assert_no_traceback(operator)
    secret_hygiene.check()
