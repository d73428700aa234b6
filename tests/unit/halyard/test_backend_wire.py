"""`HalyardBackend` against the Halyard stand-in: the validate setting, an air-gapped daemon, and the read-back
that turns a field Halyard did not keep into a condition (Halyard drops unknown fields without a problem)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes.client import ApiClient

from spinop.config import HalyardSettings
from spinop.redact import Redacted
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from spinop.spinnaker.halyard_backend import HalyardBackend
from spinop.spinnaker.sync import Upsert
from tests.standins.halyard import HalyardStandin

from .conftest import kubeconfig, make_client, stored_accounts


def desired(name: str = "team-a-dev") -> DesiredSpinnakerAccount:
    return DesiredSpinnakerAccount(
        owner=AccountOwner("team-a", name, "uid-1"),
        name=name,
        environment="dev",
        namespace="team-a-dev-apps",
        context="remote",
        kubeconfig=Redacted(kubeconfig().decode()),
        kubeconfig_fingerprint="sha256:1111",
        kinds=("deployment",),
    )


async def backend_for(standin: HalyardStandin, task_timeout: float = 10.0, **settings: Any) -> HalyardBackend:
    values: dict[str, Any] = {"url": standin.daemon_url, "deploy_timeout_minutes": 1, **settings}
    config = HalyardSettings.model_validate(values)
    rest = make_client(standin, "rest", task_timeout=task_timeout)
    return HalyardBackend(config, rest, make_client(standin, "exec"), ApiClient())


@pytest.fixture
async def backend(standin: HalyardStandin) -> AsyncIterator[HalyardBackend]:
    b = await backend_for(standin)
    try:
        yield b
    finally:
        await b.close()


def validate_params(standin: HalyardStandin) -> set[str]:
    """The validate= values of every write and prep spinop sent (reads always send validate=false)."""
    return {
        part
        for r in standin.daemon.requests
        if r["method"] in ("POST", "PUT", "DELETE") and "/v1/tasks/" not in r["path"]
        for part in r["path"].split("?", 1)[-1].split("&")
        if part.startswith("validate=") and not r["path"].split("?")[0].endswith("/deploy/")
    }


async def test_validated_writes_by_default(backend: HalyardBackend, standin: HalyardStandin) -> None:
    result = await backend.apply([Upsert(desired(), None)], [])
    assert result.outcomes["team-a-dev"].ok
    assert validate_params(standin) == {"validate=true"}


async def test_airgapped_halyard_times_out_validated_writes(backend: HalyardBackend, standin: HalyardStandin) -> None:
    standin.go_airgapped(network_timeout_s=1.5, config_task_timeout_s=0.3)
    # Over REST enabling the provider rides on the burst's one provider write, so that write is what times out.
    result = await backend.apply([Upsert(desired(), None)], [])
    outcome = result.outcomes["team-a-dev"]
    assert not outcome.ok and outcome.reason == "HalyardTaskFailed"
    assert "timed out" in outcome.message and "halyard.validate: false" in outcome.message
    assert stored_accounts(standin) == {} and standin.deploys == []


async def test_spinop_giving_up_on_a_blocked_validation_also_hints(standin: HalyardStandin) -> None:
    # Upstream, the overdue task keeps RUNNING while its thread is blocked in connect(): with the default settings
    # spinop's own task deadline (2 minutes) passes first. Emulated here with a deadline shorter than the lookup.
    standin.go_airgapped(network_timeout_s=3, config_task_timeout_s=0.3)
    backend = await backend_for(standin, task_timeout=0.8)
    try:
        result = await backend.apply([Upsert(desired(), None)], [])
    finally:
        await backend.close()
    outcome = result.outcomes["team-a-dev"]
    assert not outcome.ok and outcome.reason == "HalyardUnavailable"
    assert re.search(r"did not finish within.*set halyard\.validate: false", outcome.message)
    assert stored_accounts(standin) == {}


async def test_validate_false_works_with_an_airgapped_halyard(standin: HalyardStandin) -> None:
    standin.go_airgapped(network_timeout_s=1.5, config_task_timeout_s=0.3)
    backend = await backend_for(standin, validate=False)
    try:
        result = await backend.apply([Upsert(desired(), None)], [])
    finally:
        await backend.close()
    assert result.outcomes["team-a-dev"].ok, result.outcomes
    assert validate_params(standin) == {"validate=false"}  # the provider enable, the add and the prep
    assert set(stored_accounts(standin)) == {"team-a-dev"} and len(standin.deploys) == 1


async def test_a_field_halyard_did_not_keep_is_a_condition_and_is_undone(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    # An older Halyard whose KubernetesAccount lacks `namespaces` would store the account unrestricted.
    standin.lack_account_fields("namespaces")
    result = await backend.apply([Upsert(desired(), None)], [])
    outcome = result.outcomes["team-a-dev"]
    assert (outcome.ok, outcome.reason, outcome.needs_user) == (False, "HalyardDroppedField", True)
    assert "did not keep namespaces" in outcome.message and "put the account back" in outcome.message
    assert stored_accounts(standin) == {} and standin.deploys == []


async def test_a_dropped_field_on_update_restores_the_live_account(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    assert (await backend.apply([Upsert(desired(), None)], [])).outcomes["team-a-dev"].ok
    live = stored_accounts(standin)["team-a-dev"]
    standin.lack_account_fields("kinds")
    changed = DesiredSpinnakerAccount(**{**desired().__dict__, "kinds": ("deployment", "service"), "environment": "x"})
    result = await backend.apply([Upsert(changed, live)], [])
    assert result.outcomes["team-a-dev"].reason == "HalyardDroppedField"
    restored = stored_accounts(standin)["team-a-dev"]
    assert restored["environment"] == "dev"  # the half-applied change is undone (this Halyard cannot keep kinds)
    assert {k: v for k, v in restored.items() if k != "kinds"} == {k: v for k, v in live.items() if k != "kinds"}
    assert len(standin.deploys) == 1  # only the first, successful batch deployed
