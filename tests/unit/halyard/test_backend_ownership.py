"""The Halyard backend never overwrites or deletes an account spinop cannot show is its own.

An inventory entry spinop wrote ahead but never saw confirmed ("adding") makes the name look like spinop's, yet
Halyard may hold someone else's account under it: another `hal` user added it between spinop's listing and its
write (Halyard has no locking, so spinop's own add then fails validation as a duplicate and is retried), or it
appeared after a write of spinop's failed. spinop's accounts carry no kubeconfigContents to compare, so spinop's proof
is the kubeconfig file the account reads: spinop writes its own at `<kubeconfig_dir>/<name>.yaml` and nobody else's
account names that file. Against the Halyard stand-in over both transports: REST (one provider write per burst)
and exec (`hal`, one write per account).

Upstream (spinnaker/halyard): `halyard-config/.../model/v1/providers/kubernetes/KubernetesAccount.java` holds both
`kubeconfigFile` and `kubeconfigContents` (someone else's account may use either); `halyard-config/.../validate/v1/
providers/ProvidersValidator.java` refuses a name that appears twice with a FATAL problem ("Account "<name>" appears
more than once"), which is why spinop's add fails when another user's account of that name landed first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from spinop.config import HalyardSettings
from spinop.spinnaker.desired import AccountOwner
from spinop.spinnaker.halyard_backend import HalyardBackend
from spinop.spinnaker.sync import Removal, Upsert
from tests.standins.halyard import HalyardStandin

from .conftest import make_client, stored_accounts
from .test_provider_burst import desired

NAME = "team-a-contested"
THEIRS: dict[str, Any] = {
    "name": NAME,
    "providerVersion": "V2",
    "context": "payments",
    "kubeconfigFile": "/home/spinnaker/.kube/payments.yaml",
    "namespaces": ["payments"],
    "omitKinds": [],
    "permissions": {"WRITE": ["payments-team"]},
}


@pytest.fixture(params=["rest", "exec"])
async def backend(request: pytest.FixtureRequest, standin: HalyardStandin) -> AsyncIterator[HalyardBackend]:
    config = HalyardSettings.model_validate({"url": standin.daemon_url, "deploy_timeout_minutes": 1})
    b = HalyardBackend(config, make_client(standin, request.param), make_client(standin, "exec"), ApiClient())
    try:
        yield b
    finally:
        await b.close()


async def add_theirs(standin: HalyardStandin) -> str:
    async with make_client(standin, "rest") as someone:
        await someone.add_account(THEIRS, validate=False)
    return as_stored(standin)


def as_stored(standin: HalyardStandin) -> str:
    """The account exactly as ~/.hal/config holds it."""
    hc = yaml.safe_load(standin.halconfig_text())
    accounts = hc["deploymentConfigurations"][0]["providers"]["kubernetes"]["accounts"]
    return json.dumps([a for a in accounts if a["name"] == NAME])


def unconfirmed_removal() -> Removal:
    return Removal(AccountOwner("team-a", "contested", f"uid-{NAME}"), NAME, confirmed=False)


async def test_an_unconfirmed_name_holding_someone_elses_account_is_refused_and_left_byte_identical(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    theirs = await add_theirs(standin)
    deploys = len(standin.deploys)
    result = await backend.apply([Upsert(desired(NAME), stored_accounts(standin)[NAME], owned=False)], [])
    refused = result.outcomes[NAME]
    assert (refused.ok, refused.reason, refused.disown, refused.needs_user) == (
        False,
        "AccountExistsInSpinnaker",
        True,
        True,
    )
    assert "spec.adopt" in refused.message
    assert as_stored(standin) == theirs and len(standin.deploys) == deploys
    assert standin.pod_file(backend.kubeconfig_path(NAME)) is None, "no kubeconfig delivered for a refused name"


async def test_the_same_name_appearing_after_spinops_listing_is_refused_too(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    """The batch listed no account of this name (existing=None); another `hal` user added it before spinop's
    write. Over REST the provider read inside the batch sees it; over exec spinop's add fails validation as a
    duplicate, and the retry, now listing it, is refused."""
    theirs = await add_theirs(standin)
    first = (await backend.apply([Upsert(desired(NAME), None, owned=False)], [])).outcomes[NAME]
    assert not first.ok
    assert as_stored(standin) == theirs
    retry = await backend.apply([Upsert(desired(NAME), stored_accounts(standin)[NAME], owned=False)], [])
    assert retry.outcomes[NAME].reason == "AccountExistsInSpinnaker"
    assert as_stored(standin) == theirs


async def test_spinops_own_write_whose_answer_was_lost_is_recognised_and_updated(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    assert (await backend.apply([Upsert(desired(NAME), None)], [])).outcomes[NAME].ok
    live = stored_accounts(standin)[NAME]
    assert live["kubeconfigFile"] == backend.kubeconfig_path(NAME)
    # The inventory never heard that write succeed: its entry is still "adding" (owned=False).
    result = await backend.apply([Upsert(desired(NAME, environment="prod"), live, owned=False)], [])
    assert result.outcomes[NAME].ok, result.outcomes
    assert stored_accounts(standin)[NAME]["environment"] == "prod"


async def test_adopt_takes_someone_elses_account_over(backend: HalyardBackend, standin: HalyardStandin) -> None:
    await add_theirs(standin)
    result = await backend.apply([Upsert(desired(NAME, adopt=True), stored_accounts(standin)[NAME], owned=False)], [])
    assert result.outcomes[NAME].ok, result.outcomes
    assert stored_accounts(standin)[NAME]["kubeconfigFile"] == backend.kubeconfig_path(NAME)


async def test_an_unconfirmed_removal_leaves_someone_elses_account(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    theirs = await add_theirs(standin)
    deploys = len(standin.deploys)
    result = await backend.apply([], [unconfirmed_removal()])
    assert result.outcomes[NAME].ok  # nothing of spinop's to remove: the SpinnakerAccount may go
    assert as_stored(standin) == theirs and len(standin.deploys) == deploys


async def test_an_unconfirmed_removal_still_deletes_spinops_own_account(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    assert (await backend.apply([Upsert(desired(NAME), None)], [])).outcomes[NAME].ok
    result = await backend.apply([], [unconfirmed_removal()])
    assert result.outcomes[NAME].ok
    assert NAME not in stored_accounts(standin)


async def test_a_confirmed_removal_deletes_whatever_file_the_account_reads(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    """Once spinop saw its write succeed the inventory is the proof, so an account spinop wrote under another
    kubeconfig directory (a changed halyard.kubeconfig_dir) is still removed."""
    moved = {**THEIRS, "kubeconfigFile": "/home/spinnaker/.hal/old-spinop-dir/team-a-contested.yaml"}
    async with make_client(standin, "rest") as admin:
        await admin.add_account(moved, validate=False)
    result = await backend.apply([], [Removal(AccountOwner("team-a", "contested", f"uid-{NAME}"), NAME)])
    assert result.outcomes[NAME].ok
    assert NAME not in stored_accounts(standin)


async def test_someone_elses_account_with_an_inline_kubeconfig_is_refused_too(
    backend: HalyardBackend, standin: HalyardStandin
) -> None:
    inline = {k: v for k, v in THEIRS.items() if k != "kubeconfigFile"}
    async with make_client(standin, "rest") as someone:
        await someone.add_account({**inline, "kubeconfigContents": "apiVersion: v1\nkind: Config\n"}, validate=False)
    theirs = as_stored(standin)
    result = await backend.apply([Upsert(desired(NAME), stored_accounts(standin)[NAME], owned=False)], [])
    assert result.outcomes[NAME].reason == "AccountExistsInSpinnaker"
    assert as_stored(standin) == theirs
