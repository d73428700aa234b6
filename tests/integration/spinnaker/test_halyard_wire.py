"""The Halyard backend against a Halyard stand-in that answers as the daemon does (tests/unit/upstream_wire/
test_halyard.py for the upstream facts): unknown fields dropped without a problem, and validation that needs the
network. Accounts are created by a real tenant (a ServiceAccount bound to spinop-tenant-edit in its namespace).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spinop.halyard import HalyardClient
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.tenant import Tenant as RestrictedTenant
from tests.integration.spinnaker.conftest import Tenant, halyard_settings
from tests.integration.spinnaker.standins import HalyardStandinProcess

KIND = "SpinnakerAccount"


@pytest.fixture(scope="module")
def backend() -> str:
    return "halyard-rest"


@pytest.fixture(scope="module")
def operator(
    start_operator: Callable[..., OperatorProcess],
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    # Validation off, as an air-gapped installation runs it (docs/halyard.md).
    settings = {"spinnaker_backend": "halyard", "halyard": {**halyard_settings(halyard), "validate": False}}
    process = start_operator(settings, kubeconfig=operator_token_kubeconfig)
    yield process
    process.stop()


@pytest.fixture()
def standin(halyard: HalyardStandinProcess) -> Iterator[HalyardStandinProcess]:
    yield halyard
    halyard.clear_faults()


def test_an_account_halyard_would_keep_without_its_namespaces_never_reaches_clouddriver(
    operator: OperatorProcess, standin: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    """A Halyard whose KubernetesAccount lacks `namespaces` accepts the write and stores the account unrestricted
    (every namespace of the cluster). The read-back refuses it: the account is removed again, nothing deployed."""
    standin.faults(absent_account_fields=["namespaces"])
    deploys_before = len(standin.deploys())
    restricted = RestrictedTenant(mgmt, tenant.namespace)
    try:
        name = f"{tenant.namespace}-wide"
        answer = restricted.create(
            objects.spinnaker_account(tenant.namespace, "wide", tenant.cluster, tenant.target("wide"), accountName=name)
        )
        assert answer.accepted, str(answer)
        refused = objects.wait_condition(
            mgmt, KIND, "wide", tenant.namespace, "SpinnakerSynced", "False", "HalyardDroppedField", timeout=120
        )
        synced, ready = objects.condition(refused, "SpinnakerSynced"), objects.condition(refused, "Ready")
        assert synced is not None and ready is not None
        assert "did not keep namespaces" in synced["message"] and "put the account back" in synced["message"]
        assert ready["status"] == "False"
        assert name not in standin.accounts()  # not left behind unrestricted in the halconfig
        assert len(standin.deploys()) == deploys_before  # and no deploy carried it to clouddriver
        operator.assert_clean()
    finally:
        restricted.close()


def test_validate_false_registers_accounts_through_an_airgapped_halyard(
    operator: OperatorProcess, standin: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    # Every validated change would wait on the network past the task timeout (see the unit tests for that mode).
    standin.faults(airgapped={"network_timeout_s": 60, "config_task_timeout_s": 2})
    restricted = RestrictedTenant(mgmt, tenant.namespace)
    try:
        answer = restricted.create(
            objects.spinnaker_account(tenant.namespace, "offline", tenant.cluster, tenant.target("offline"))
        )
        assert answer.accepted, str(answer)
        name = f"{tenant.cluster}-{tenant.namespace}-dev-offline"  # the default accountName
        # Judged in the stand-in: only this operator talks to it (the condition alone could come from any operator
        # on the shared control planes).
        wait_for(
            lambda: any(name in d["kubeconfigs"] and d["state"] == "SUCCEEDED" for d in standin.deploys()),
            timeout=180,
            what=f"{name} stored and deployed through the air-gapped Halyard",
        )
        assert standin.accounts()[name]["namespaces"] == [tenant.target("offline")]
        writes = [
            r
            for r in standin.control("GET", "/_standin/requests")["requests"]
            if r["method"] in ("POST", "PUT", "DELETE") and "/v1/config/" in r["path"]
        ]
        assert writes and all("validate=false" in r["path"] for r in writes), writes
        operator.assert_clean()
    finally:
        restricted.close()


def test_a_tenant_racing_someone_elses_new_account_never_overwrites_or_deletes_it(
    operator: OperatorProcess, standin: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    """Attack (the Halyard form of test_accounts_api_wire's): claim the name another `hal` user is adding. spinop's
    first write of it fails (a one-shot task failure), so its write-ahead inventory entry stays unconfirmed; the
    other user's `hal config provider kubernetes account add` lands before spinop's retry. Halyard has no locking
    and spinop's accounts carry no kubeconfigContents, so only the kubeconfig file the account reads tells spinop
    it is not its own:
    the retry must refuse the name, and deleting the SpinnakerAccount must leave the other user's account."""
    name = f"{tenant.namespace}-contested"
    theirs = {
        "name": name,
        "providerVersion": "V2",
        "context": "payments",
        "kubeconfigFile": "/home/spinnaker/.kube/payments.yaml",
        "namespaces": ["payments"],
        "omitKinds": [],
        "permissions": {"WRITE": ["payments-team"]},
    }
    standin.faults(fail_next={"message": "Unexpected exception: injected", "match": "provider"})
    restricted = RestrictedTenant(mgmt, tenant.namespace)
    try:
        body = objects.spinnaker_account(
            tenant.namespace, "contested", tenant.cluster, tenant.target("contested"), accountName=name
        )
        answer = restricted.create(body)
        assert answer.accepted, str(answer)
        objects.wait_condition(
            mgmt, KIND, "contested", tenant.namespace, "SpinnakerSynced", "False", "HalyardTaskFailed", timeout=60
        )
        asyncio.run(_hal_account_add(standin.daemon_url, theirs))  # spinop retries 5 s after the failure
        stored = standin.accounts()[name]
        assert stored["kubeconfigFile"] == theirs["kubeconfigFile"]
        refused = objects.wait_condition(
            mgmt,
            KIND,
            "contested",
            tenant.namespace,
            "SpinnakerSynced",
            "False",
            "AccountExistsInSpinnaker",
            timeout=120,
        )
        synced = objects.condition(refused, "SpinnakerSynced")
        assert synced is not None and "spec.adopt" in synced["message"]
        assert standin.accounts()[name] == stored

        deleted = restricted.attempt(
            restricted.custom.delete_namespaced_custom_object,
            "spinop.io",
            "v1alpha1",
            tenant.namespace,
            "spinnakeraccounts",
            "contested",
        )
        assert deleted.accepted, str(deleted)
        objects.wait_gone(mgmt, KIND, "contested", tenant.namespace, timeout=120)
        assert standin.accounts()[name] == stored, "the other user's account was changed or deleted"
        operator.assert_clean()
    finally:
        restricted.close()


async def _hal_account_add(daemon_url: str, account: dict[str, Any]) -> None:
    """What `hal config provider kubernetes account add` sends the daemon (another Halyard user)."""
    async with HalyardClient.rest(daemon_url) as someone:
        await someone.add_account(account, validate=False)
