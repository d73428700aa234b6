"""Halyard failing in every way the stand-in can fail, each in the middle of a rollout, and converging afterwards.

Each phase injects one fault into the Halyard stand-in, then rolls out new accounts and rotates the credentials of
one that is already registered, so both new and existing accounts have a change in flight. Until the fault is
cleared the accounts report it (`HalyardUnavailable`, `HalyardTaskFailed`, `HalyardRejected`, `DeployFailed`, or
`Pending` while a slow deploy runs) and, sampled every second, no account is Ready unless the last successful
deploy carried it. After the fault clears, every account converges with nobody touching anything, and the
invariants hold: Ready ⇔ in the halconfig ⇔ carried (with the token stored in MGMT) by the last successful deploy,
each Spinnaker account once, no orphaned credentials, and never two Halyard mutations at once.

Short (CI): each fault once, 2 new accounts per phase. Long: each fault twice in a random order, 6 new accounts
per phase.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration import objects
from tests.integration.kube import wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.conftest import SCALE, Scale, SecretHygiene, Seeded, operator_settings
from tests.integration.reliability.fleet import ENVIRONMENTS, Fleet, ready, reasons_seen, rollout_problems, wait_all
from tests.integration.reliability.hygiene import SecretRecorder
from tests.integration.reliability.lifecycle import assert_alive, assert_no_traceback
from tests.integration.reliability.standin import running_deploy, succeeded_deploys
from tests.integration.spinnaker.standins import HalyardStandinProcess

#: A deploy long enough for changes to arrive while it runs (they must wait for it: Halyard has no locking).
HALYARD_DEPLOY_SECONDS = 2.0


@dataclass(frozen=True)
class Fault:
    name: str
    spec: dict[str, Any]  # body of PUT /_standin/faults
    reasons: tuple[str, ...]  # what the accounts report while it lasts (any of them proves it bit); () for slow
    one_shot: bool = False  # consumed by the first task it hits; nothing to clear


#: The one-shot config-task faults aim at the provider write ("Edit the kubernetes provider"). A rotation alone
#: changes no provider field (the kubeconfig path is per account; only the file changes), so its batch is a bare
#: deploy: an unaimed fault taken by that deploy is reported as DeployFailed, and the new accounts' write after it
#: then succeeds. That race failed CI once (stop 24, task-timed-out).
CONFIG_TASK = "provider"

FAULTS = (
    Fault("down", {"down": "refuse"}, ("HalyardUnavailable",)),
    Fault("connections-dropped", {"down": "drop"}, ("HalyardUnavailable",)),
    Fault("http-500", {"http500": {"count": 1_000_000}}, ("HalyardUnavailable",)),
    Fault(
        "task-failed",
        {
            "fail_next": {
                "message": "Unexpected exception: java.lang.IllegalStateException: injected",
                "match": CONFIG_TASK,
            }
        },
        ("HalyardTaskFailed",),
        one_shot=True,
    ),
    Fault(
        "task-rejected",  # ERROR about the input: retried only by the periodic pass (drift_interval_seconds)
        {"fail_next": {"message": "injected: the account is invalid", "severity": "ERROR", "match": CONFIG_TASK}},
        ("HalyardRejected",),
        one_shot=True,
    ),
    Fault("task-timed-out", {"timeout_next": {"match": CONFIG_TASK}}, ("HalyardTaskFailed",), one_shot=True),
    Fault("deploy-failed", {"deploy_fail": {}}, ("DeployFailed",), one_shot=True),
    # No reason to report: a change that arrives while a (slowed) deploy runs waits for the next one.
    Fault("slow", {"latency_s": 0.4}, ()),
)


@pytest.fixture(scope="module")
def operator(halyard: HalyardStandinProcess, launch: Callable[..., OperatorProcess]) -> OperatorProcess:
    # The periodic pass is what retries a change Halyard rejected for its content: keep it short.
    return launch(operator_settings(halyard, drift_interval_seconds=15))


@dataclass
class Phase:
    fault: Fault
    started: float
    created: list[str]
    rotated: str | None
    samples: int = 0
    violations: list[str] = field(default_factory=list)
    late: tuple[str, str] | None = None  # an account created while deploy <uuid> ran


def sample_ready_means_deployed(fleet: Fleet, halyard: HalyardStandinProcess, phase: Phase) -> None:
    """No account is Ready unless the last successful deploy (read after the accounts) carried it."""
    listed = fleet.listed()
    deploys = succeeded_deploys(halyard)
    carried = {a["name"] for a in deploys[-1]["accounts"]} if deploys else set()
    phase.samples += 1
    for name, account in listed.items():
        if ready(account) and fleet.spinnaker_name(name) not in carried:
            phase.violations.append(f"{name} Ready but not carried by the last successful deploy")


@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])
@pytest.mark.timeout(SCALE.pick(600, 2400))
def test_halyard_faults_mid_rollout_converge_with_nothing_half_registered(
    scale: Scale,
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    fleet: Fleet,
    seeded: Seeded,
    secret_hygiene: SecretHygiene,
    hygiene: SecretRecorder,
) -> None:
    rng = seeded.rng
    per_phase = scale.pick(2, 6)
    faults = list(FAULTS) * scale.pick(1, 2)
    if scale.long:
        rng.shuffle(faults)
    timeout = scale.seconds(120, 300)
    live: list[str] = []
    # Accounts registered before any fault, so every phase also changes accounts Spinnaker already has.
    for i, env in enumerate(ENVIRONMENTS):
        fleet.create(f"base{i}", env)
        live.append(f"base{i}")
    wait_all(fleet, live, "Ready", "True", timeout=timeout)

    phases: list[Phase] = []
    for number, fault in enumerate(faults):
        started = time.time()
        halyard.faults(**fault.spec)
        created = [f"p{number:02d}{fault.name[:4]}{i}" for i in range(per_phase)]
        rotated = rng.choice(live)
        phase = Phase(fault, started, created, rotated)
        phases.append(phase)
        try:
            for name in created:
                fleet.create(name, rng.choice(ENVIRONMENTS))
            objects.patch(
                fleet.mgmt,
                "SpinnakerAccount",
                rotated,
                fleet.tenant,
                {"metadata": {"annotations": {"spinop.io/rotate-credentials": f"phase-{number}"}}},
            )

            if fault.reasons:

                def bit(phase: Phase = phase) -> set[str] | None:
                    sample_ready_means_deployed(fleet, halyard, phase)
                    seen = reasons_seen(hygiene, fleet.tenant, [*phase.created, phase.rotated or ""], phase.started)
                    return (seen & set(phase.fault.reasons)) or None

                wait_for(bit, timeout=timeout, interval=1, what=f"{fault.reasons} reported during {fault.name}")
            else:
                running = wait_for(
                    lambda: running_deploy(halyard), timeout=timeout, interval=0.05, what="a slow deploy running"
                )
                late = f"p{number:02d}late"
                fleet.create(late, rng.choice(ENVIRONMENTS))
                created.append(late)
                phase.late = (late, running)
            if not fault.one_shot:
                # The fault lasts a while longer: nothing may become Ready through it.
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    sample_ready_means_deployed(fleet, halyard, phase)
                    time.sleep(1)
            assert_alive(operator)
        finally:
            halyard.clear_faults()
        live += created
        wait_all(fleet, live, "Ready", "True", timeout=timeout)
        sample_ready_means_deployed(fleet, halyard, phase)
        if phase.late is not None:
            late, running = phase.late
            carried_by = ((fleet.listed()[late].get("status") or {}).get("lastDeploy") or {}).get("id")
            assert carried_by != running, f"{late} was created during deploy {running}, which cannot have carried it"
        problems = rollout_problems(fleet, halyard, live)
        assert not problems and not phase.violations, "\n".join(
            [f"after fault {fault.name} ({seeded})", *phase.violations, *problems]
        )
        print(
            f"[reliability] fault {fault.name}: converged {time.time() - started:.0f}s after injection "
            f"({phase.samples} samples)",
            file=sys.__stderr__,
            flush=True,
        )

    assert not halyard.concurrency()["overlaps"]
    assert_no_traceback(operator)
    secret_hygiene.check()
