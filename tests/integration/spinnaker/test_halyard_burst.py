"""One Halyard config write per burst (issue 17 item 1), end to end: the real operator over REST against the Halyard
stand-in, which saves the whole halconfig once per accepted config task and counts those saves, as upstream's
`GenericUpdateRequest` does (halyard-web/.../util/v1/GenericUpdateRequest.java, halyard-core/.../DaemonResponse.java:
load → update → validate → save once; a refused task saves nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.tenant import Tenant as RestrictedTenant
from tests.integration.spinnaker.conftest import Tenant, create_accounts, halyard_settings, wait_ready
from tests.integration.spinnaker.standins import HalyardStandinProcess

KIND = "SpinnakerAccount"
UNMANAGED = "ops-legacy"
UNMANAGED_KUBECONFIG = "/home/spinnaker/.hal/legacy/ops.yaml"


@pytest.fixture(scope="module")
def backend() -> str:
    return "halyard-rest"


@pytest.fixture(scope="module")
def operator(
    start_operator: Callable[..., OperatorProcess],
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    process = start_operator(
        {"spinnaker_backend": "halyard", "halyard": halyard_settings(halyard)}, kubeconfig=operator_token_kubeconfig
    )
    yield process
    process.stop()


def _wait_deployed(
    halyard: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant, names: list[str], since: int
) -> list[dict[str, Any]]:
    """Ready, and carried by a deploy of THIS module's Halyard stand-in (other engineers' operators on the shared
    clusters may reconcile the same objects; only this stand-in's records prove what this operator did)."""
    wait_ready(mgmt, tenant, names)
    wanted = {f"{tenant.cluster}-{tenant.target(n)}" for n in names}

    def carried() -> list[dict[str, Any]] | None:
        deploys = [d for d in halyard.deploys()[since:] if d["state"] == "SUCCEEDED"]
        done = set().union(*(d["kubeconfigs"] for d in deploys)) if deploys else set()
        return deploys if wanted <= done else None

    return wait_for(carried, timeout=240, what=f"a deploy carrying {sorted(wanted)}")


def _stored(halyard: HalyardStandinProcess, name: str) -> str:
    """The account as ~/.hal/config holds it, key order included."""
    text = halyard.control("GET", "/_standin/halconfig", raw=True)
    accounts = yaml.safe_load(text)["deploymentConfigurations"][0]["providers"]["kubernetes"]["accounts"]
    return json.dumps([a for a in accounts if a["name"] == name])


def _add_unmanaged(halyard: HalyardStandinProcess) -> None:
    account: dict[str, Any] = {
        "name": UNMANAGED,
        "providerVersion": "V2",
        "context": "legacy",
        "kubeconfigFile": UNMANAGED_KUBECONFIG,
        "namespaces": ["legacy", "ops"],
        "permissions": {"READ": ["ops"], "WRITE": ["ops"], "EXECUTE": ["release-managers"]},
        "cacheThreads": 4,
        "environment": "ops",
    }
    halyard.control("PUT", f"/_standin/pod-file?path={UNMANAGED_KUBECONFIG}", "apiVersion: v1\nkind: Config\n")
    config = halyard.halconfig()
    provider = config["deploymentConfigurations"][0].setdefault("providers", {}).setdefault("kubernetes", {})
    provider["enabled"] = True
    provider["accounts"] = [a for a in provider.get("accounts") or [] if a["name"] != UNMANAGED] + [account]
    halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(config, sort_keys=False))


def test_twenty_accounts_cost_at_most_two_config_writes_and_leave_others_byte_identical(
    operator: OperatorProcess, halyard: HalyardStandinProcess, mgmt: Cluster, tenant: Tenant
) -> None:
    _add_unmanaged(halyard)
    # Halyard re-serializes the whole file on its first save (defaults filled in); from then on an account nobody
    # changes must come back exactly as stored.
    create_accounts(mgmt, tenant, ["first"])
    _wait_deployed(halyard, mgmt, tenant, ["first"], len(halyard.deploys()))
    before = _stored(halyard, UNMANAGED)
    assert before != "[]"
    writes, deploys = halyard.config_writes(), len(halyard.deploys())

    names = [f"b{i:02d}" for i in range(20)]
    create_accounts(mgmt, tenant, names)
    carried = _wait_deployed(halyard, mgmt, tenant, names, deploys)

    assert len(carried) == 1, "the burst was split"
    assert halyard.config_writes() - writes <= 2, "a burst of 20 must cost at most two Halyard config writes"
    assert {f"{tenant.cluster}-{tenant.target(n)}" for n in names} <= set(halyard.accounts())
    assert _stored(halyard, UNMANAGED) == before, "an account spinop does not manage changed"
    operator.assert_clean()


def test_an_account_halyard_refuses_in_a_burst_blocks_no_other_tenant_and_names_none(
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,
    mgmt: Cluster,
    tenant: Tenant,
    fresh_namespace: Callable[..., str],
) -> None:
    """Tenant B's account is refused by Halyard's validation in the same burst as five of tenant A's. The provider
    write is refused as a whole (Halyard validates the whole provider); spinop bisects it, so A's accounts are
    written and deployed, B's alone is refused, and B's status names none of A's accounts."""
    other = Tenant(fresh_namespace("mgmt", "sp", labels=objects.TENANT_LABEL), tenant.cluster)
    bad = f"{other.cluster}-{other.target('bad')}"
    good = [f"g{i}" for i in range(5)]
    good_names = [f"{tenant.cluster}-{tenant.target(n)}" for n in good]
    halyard.faults(refused_accounts=[bad])
    deploys = len(halyard.deploys())
    a, b = RestrictedTenant(mgmt, tenant.namespace), RestrictedTenant(mgmt, other.namespace)
    try:
        for n in good:
            answer = a.create(objects.spinnaker_account(tenant.namespace, n, tenant.cluster, tenant.target(n)))
            assert answer.accepted, str(answer)
        answer = b.create(objects.spinnaker_account(other.namespace, "bad", other.cluster, other.target("bad")))
        assert answer.accepted, str(answer)

        _wait_deployed(halyard, mgmt, tenant, good, deploys)
        refused = objects.wait_condition(
            mgmt, KIND, "bad", other.namespace, "SpinnakerSynced", "False", "HalyardRejected", timeout=240
        )
        synced = objects.condition(refused, "SpinnakerSynced")
        assert synced is not None and bad in synced["message"]
        assert not any(n in synced["message"] for n in good_names), synced["message"]
        assert tenant.namespace not in synced["message"], synced["message"]
        assert bad not in halyard.accounts() and set(good_names) <= set(halyard.accounts())
        assert all(bad not in d["kubeconfigs"] for d in halyard.deploys()[deploys:])
        operator.assert_clean()
    finally:
        halyard.clear_faults()
        a.close()
        b.close()
        objects.delete(mgmt, KIND, "bad", other.namespace)
        objects.wait_gone(mgmt, KIND, "bad", other.namespace, timeout=180)
