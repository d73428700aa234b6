"""The accounts-api backend against a Gate stand-in that answers as clouddriver does (see
tests/unit/upstream_wire/test_clouddriver_accounts.py for the upstream facts): defaults filled in, POST refused for a
loaded name, storage switched off, Fiat's lock-out rule, and a hostile tenant racing someone else's account.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.tenant import Tenant as RestrictedTenant
from tests.integration.spinnaker.conftest import (
    Tenant,
    create_accounts,
    operator_settings,
    wait_ready,
    write_gate_secret,
)
from tests.integration.spinnaker.standins import GateStandinProcess, HalyardStandinProcess

DRIFT_SECONDS = 3.0


@pytest.fixture(scope="module")
def backend() -> str:
    return "accounts-api"


@pytest.fixture(scope="module")
def operator(
    start_operator: Callable[..., OperatorProcess],
    gate: GateStandinProcess,
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
    mgmt: Cluster,
) -> Iterator[OperatorProcess]:
    write_gate_secret(mgmt, gate)
    settings = operator_settings("accounts-api", halyard, gate)
    settings["drift_interval_seconds"] = DRIFT_SECONDS  # steady state is judged over several drift checks
    process = start_operator(settings, kubeconfig=operator_token_kubeconfig)
    yield process
    process.stop()


def synced_message(obj: dict[str, Any]) -> str:
    condition = objects.condition(obj, "SpinnakerSynced") or {}
    return str(condition.get("message", ""))


@pytest.fixture()
def clouddriver(gate: GateStandinProcess, tenant: Tenant) -> Iterator[GateStandinProcess]:
    """The Gate stand-in, put back to storage on and Fiat off after the test: before the tenant's accounts are
    deleted (this fixture depends on `tenant`, so it is torn down first), or a Fiat lock-out blocks their deletion."""
    yield gate
    gate.control("PUT", "/_standin/credentials/api", {"storage": True, "fiat": False, "accountManagers": []})


def test_an_account_with_custom_resources_is_not_rewritten_at_steady_state(
    operator: OperatorProcess, clouddriver: GateStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    name = f"{tenant.namespace}-crd"
    create_accounts(
        mgmt,
        tenant,
        ["crd"],
        accountName=name,
        customResources=[{"kubernetesKind": "Certificate.cert-manager.io", "spinnakerKind": "configs"}],
    )
    wait_ready(mgmt, tenant, ["crd"])
    # Other engineers' operators may share this MGMT cluster (and spinop's inventory in it): wait until this
    # operator stored the account in its own Gate, then watch it.
    stored = wait_for(lambda: clouddriver.state()["accounts"].get(name), timeout=60, what=f"{name} stored in Gate")
    assert stored["customResources"][0]["deployPriority"] == "100"  # clouddriver filled its defaults in
    assert stored["customResources"][0]["namespaced"] is True
    revisions = len(clouddriver.state()["accountHistory"][name])
    offset = len(operator.log())
    time.sleep(4 * DRIFT_SECONDS)  # four drift checks compare the stored definition with the desired one
    # Every stored write of this name is a revision (requests for other tests' accounts may reach this Gate too).
    assert len(clouddriver.state()["accountHistory"][name]) == revisions, "steady state must cost no write"
    assert f"Spinnaker account {name} drifted" not in operator.log()[offset:]


def test_a_tenant_racing_someone_elses_new_account_never_overwrites_or_deletes_it(
    operator: OperatorProcess, clouddriver: GateStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    """Attack: claim the account name another Spinnaker user is creating at the same moment, so that spinop's
    write-ahead inventory entry makes the account look like spinop's, then edit or delete the SpinnakerAccount to
    make spinop overwrite or delete the other user's account."""
    name = f"{tenant.namespace}-contested"
    theirs = {
        "type": "kubernetes",
        "name": name,
        "namespaces": ["payments"],
        "kubeconfigContents": "apiVersion: v1\nkind: Config\n",
        "permissions": {"WRITE": ["payments-team"]},
    }
    clouddriver.control("PUT", "/_standin/credentials/race", {"principal": "alice", "account": theirs})
    attacker = RestrictedTenant(mgmt, tenant.namespace)
    body = objects.spinnaker_account(tenant.namespace, "contested", tenant.cluster, tenant.target("contested"))
    body["spec"]["accountName"] = name
    answer = attacker.create(body)
    assert answer.accepted, answer

    refused = objects.wait_condition(
        mgmt,
        "SpinnakerAccount",
        "contested",
        tenant.namespace,
        "SpinnakerSynced",
        "False",
        reason="AccountExistsInSpinnaker",
        timeout=120,
    )
    message = synced_message(refused)
    assert "spec.adopt" in message and "accountName" in message
    assert clouddriver.state()["accountHistory"][name][0]["modifiedBy"] == "alice"

    # Let the periodic reconcile and drift checks run, then delete the SpinnakerAccount.
    time.sleep(3 * DRIFT_SECONDS)
    objects.delete(mgmt, "SpinnakerAccount", "contested", tenant.namespace)
    objects.wait_gone(mgmt, "SpinnakerAccount", "contested", tenant.namespace, timeout=120)

    state = clouddriver.state()
    assert state["accounts"][name]["namespaces"] == ["payments"], "the other user's account was changed"
    assert [h["modifiedBy"] for h in state["accountHistory"][name]] == ["alice"]
    assert not [r for r in clouddriver.requests() if r["method"] == "DELETE" and r["path"] == f"/credentials/{name}"]


def test_storage_off_names_both_settings_and_converges_once_on(
    operator: OperatorProcess, clouddriver: GateStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    clouddriver.control("PUT", "/_standin/credentials/api", {"storage": False})
    create_accounts(mgmt, tenant, ["off"], accountName=f"{tenant.namespace}-off")
    off = objects.wait_condition(
        mgmt,
        "SpinnakerAccount",
        "off",
        tenant.namespace,
        "SpinnakerSynced",
        "False",
        reason="AccountsApiNotEnabled",
        timeout=120,
    )
    message = synced_message(off)
    assert "account.storage.enabled" in message and "account.storage.kubernetes.enabled" in message
    clouddriver.control("PUT", "/_standin/credentials/api", {"storage": True})
    wait_ready(mgmt, tenant, ["off"], timeout=240)


def test_fiat_lock_out_has_its_own_reason_and_says_what_to_change(
    operator: OperatorProcess, clouddriver: GateStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    # spinop's identity is an account manager with no role in the account's WRITE roles, and not a Fiat admin.
    clouddriver.control("PUT", "/_standin/credentials/api", {"fiat": True, "accountManagers": ["spinop"]})
    create_accounts(
        mgmt,
        tenant,
        ["locked"],
        accountName=f"{tenant.namespace}-locked",
        permissions={"READ": ["team-a"], "WRITE": ["team-a"]},
    )
    locked = objects.wait_condition(
        mgmt,
        "SpinnakerAccount",
        "locked",
        tenant.namespace,
        "SpinnakerSynced",
        "False",
        reason="SpinnakerAccountRolesExcludeOperator",
        timeout=120,
    )
    message = synced_message(locked)
    assert "Fiat admin" in message and "WRITE" in message
    assert f"{tenant.namespace}-locked" not in clouddriver.state()["accounts"]
