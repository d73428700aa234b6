"""One Halyard config write per burst (issue 17 item 1), against the Halyard stand-in over REST.

Upstream (spinnaker/halyard): `halyard-web/.../controllers/v1/ProviderController.java` serves
`PUT /v1/config/deployments/{d}/providers/{p}/` through `GenericUpdateRequest`, whose
`halyard-core/.../core/DaemonResponse.java` UpdateRequestBuilder runs update → validate (the whole provider,
`ProviderService.validateProvider`: every account) → save once, or revert and save nothing when a problem exceeds
the severity. Each per-account task does the same whole-halconfig load/validate/save, so N account writes cost N
saves; one provider write costs one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from spinop.config import HalyardSettings
from spinop.redact import Redacted
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from spinop.spinnaker.halyard_backend import HalyardBackend
from spinop.spinnaker.sync import Removal, Upsert
from tests.standins.halyard import HalyardStandin
from tests.standins.halyard.problems import Severity

from .conftest import kubeconfig, make_client, stored_accounts

UNMANAGED: dict[str, Any] = {
    "name": "legacy-ops",
    "providerVersion": "V2",
    "context": "ops",
    "kubeconfigFile": "/home/spinnaker/.kube/legacy",
    "namespaces": ["ops", "infra"],
    "omitKinds": [],
    "cacheThreads": 3,
    "permissions": {"READ": ["ops"], "EXECUTE": ["ops-admins"]},
    "environment": "ops",
}


def desired(name: str, tenant: str = "team-a", **fields: Any) -> DesiredSpinnakerAccount:
    values: dict[str, Any] = {
        "owner": AccountOwner(tenant, name, f"uid-{name}"),
        "name": name,
        "environment": "dev",
        "namespace": f"{name}-apps",
        "context": "remote",
        "kubeconfig": Redacted(kubeconfig().decode()),
        "kubeconfig_fingerprint": "sha256:1111",
        "kinds": ("deployment",),
        **fields,
    }
    return DesiredSpinnakerAccount(**values)


@pytest.fixture
async def backend(standin: HalyardStandin) -> AsyncIterator[HalyardBackend]:
    config = HalyardSettings.model_validate({"url": standin.daemon_url, "deploy_timeout_minutes": 1})
    b = HalyardBackend(config, make_client(standin, "rest"), make_client(standin, "exec"), ApiClient())
    try:
        yield b
    finally:
        await b.close()


def file_account(standin: HalyardStandin, name: str) -> str:
    """The account exactly as stored in ~/.hal/config (key order included)."""
    hc = yaml.safe_load(standin.halconfig_text())
    accounts = hc["deploymentConfigurations"][0]["providers"]["kubernetes"]["accounts"]
    return json.dumps([a for a in accounts if a["name"] == name])


async def test_twenty_accounts_are_one_config_write(backend: HalyardBackend, standin: HalyardStandin) -> None:
    names = [f"team-a-{i:02d}" for i in range(20)]
    before = standin.daemon.config_writes
    result = await backend.apply([Upsert(desired(n), None) for n in names], [])
    assert all(o.ok for o in result.outcomes.values()), result.outcomes
    assert standin.daemon.config_writes - before == 1  # per-account writes (and the provider enable) made 21
    assert set(stored_accounts(standin)) == set(names) and len(standin.deploys) == 1
    # Updating 10 and removing 5 in one burst is one write too.
    before = standin.daemon.config_writes
    live = stored_accounts(standin)
    upserts = [Upsert(desired(n, environment="prod"), live[n], owned=True) for n in names[:10]]
    removals = [Removal(AccountOwner("team-a", n, f"uid-{n}"), n) for n in names[15:]]
    result = await backend.apply(upserts, removals)
    assert all(o.ok for o in result.outcomes.values()), result.outcomes
    assert standin.daemon.config_writes - before == 1
    after = stored_accounts(standin)
    assert set(after) == set(names[:15]) and {after[n]["environment"] for n in names[:10]} == {"prod"}


async def test_unmanaged_accounts_come_back_byte_identical(backend: HalyardBackend, standin: HalyardStandin) -> None:
    async with make_client(standin, "rest") as admin:
        await admin.add_account(UNMANAGED, validate=False)
    before = file_account(standin, UNMANAGED["name"])
    assert before != "[]"
    await backend.apply([Upsert(desired(f"team-a-{i}"), None) for i in range(5)], [])
    live = stored_accounts(standin)
    await backend.apply(
        [Upsert(desired("team-a-0", environment="x"), live["team-a-0"], owned=True)],
        [Removal(AccountOwner("team-a", "team-a-1", "uid-team-a-1"), "team-a-1")],
    )
    assert file_account(standin, UNMANAGED["name"]) == before


async def test_a_refused_account_is_bisected_out_and_named_only_on_itself(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    good = [desired(f"team-a-{i}") for i in range(7)]
    # Halyard refuses kinds together with omitKinds (KubernetesAccountValidator): an ERROR on that account only.
    bad = desired("team-b-bad", tenant="team-b", omit_kinds=("secret",))
    result = await backend.apply([Upsert(d, None) for d in [*good[:3], bad, *good[3:]]], [])
    refused = result.outcomes["team-b-bad"]
    assert (refused.ok, refused.reason, refused.needs_user) == (False, "HalyardRejected", True)
    assert "kinds" in refused.message
    assert not any(d.name in refused.message for d in good)
    assert all(result.outcomes[d.name].ok for d in good), result.outcomes
    assert set(stored_accounts(standin)) == {d.name for d in good} and len(standin.deploys) == 1


async def test_a_dropped_field_is_found_in_the_one_read_back(backend: HalyardBackend, standin: HalyardStandin) -> None:
    first = await backend.apply([Upsert(desired("team-a-0"), None)], [])
    assert first.outcomes["team-a-0"].ok
    live = stored_accounts(standin)["team-a-0"]
    standin.lack_account_fields("kinds")
    before, requests = standin.daemon.config_writes, len(standin.daemon.requests)
    changed = dataclasses.replace(desired("team-a-0"), kinds=("deployment", "service"), environment="x")
    result = await backend.apply([Upsert(changed, live, owned=True), Upsert(desired("team-a-1", kinds=()), None)], [])
    assert result.outcomes["team-a-0"].reason == "HalyardDroppedField"
    assert result.outcomes["team-a-1"].ok
    assert stored_accounts(standin)["team-a-0"]["environment"] == "dev"  # put back in the same second write
    assert standin.daemon.config_writes - before == 2
    account_reads = [r for r in standin.daemon.requests[requests:] if "/accounts/account/" in r["path"]]
    assert account_reads == []  # verified from the provider read-back, not per account


async def test_a_refusal_located_at_no_account_is_not_bisected(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    # Halyard locates account problems at the account; one that is not would refuse every half as well.
    standin.fail_next_task("injected: refused", severity=Severity.ERROR)
    result = await backend.apply([Upsert(desired(f"team-a-{i}"), None) for i in range(4)], [])
    assert {o.reason for o in result.outcomes.values()} == {"HalyardRejected"}
    puts = [r for r in standin.daemon.requests if r["method"] == "PUT" and "/providers/kubernetes/?" in r["path"]]
    assert len(puts) == 1 and stored_accounts(standin) == {}
