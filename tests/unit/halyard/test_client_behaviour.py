"""`HalyardClient` behaves the same over both transports (REST and `hal` through pods/exec).

Every test runs twice (the `client` fixture is parametrized) and asserts effects in the stand-in: its
halconfig file, its deploy records and its concurrency report.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from spinop.halyard import (
    CustomResource,
    DockerRegistryReference,
    HalyardClient,
    HalyardNotFound,
    HalyardProtocolError,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardUnavailable,
    KubernetesAccount,
    RawResourcesEndpointConfig,
    Severity,
)
from tests.standins.halyard import HalyardStandin

from .conftest import KUBE_DIR, kubeconfig, make_client, make_standin, stored_accounts


def account(name: str = "prod", **fields: Any) -> KubernetesAccount:
    fields.setdefault("namespaces", ["apps"])
    fields.setdefault("permissions", {"READ": ["devs"], "WRITE": ["ops"]})
    fields.setdefault("kubeconfig_file", f"{KUBE_DIR}/{name}.yaml")
    return KubernetesAccount(name=name, **fields)


async def test_account_round_trip(client: HalyardClient, standin: HalyardStandin) -> None:
    assert await client.current_deployment() == "default"
    result = await client.add_account(account(context="ctx"))
    assert result.state == "SUCCEEDED"
    stored = stored_accounts(standin)["prod"]
    assert stored["namespaces"] == ["apps"] and stored["context"] == "ctx"
    assert stored["permissions"] == {"READ": ["devs"], "WRITE": ["ops"]}
    got = await client.get_account("prod")
    assert KubernetesAccount.from_halyard(got) == account(context="ctx")
    assert [a["name"] for a in await client.list_accounts()] == ["prod"]
    provider = await client.get_provider()
    assert provider["primaryAccount"] == "prod"
    assert (await client.get_deployment())["name"] == "default"

    await client.replace_account("prod", account(namespaces=["apps", "jobs"], permissions={"READ": ["all"]}))
    stored = stored_accounts(standin)["prod"]
    assert stored["namespaces"] == ["apps", "jobs"] and stored["permissions"] == {"READ": ["all"]}
    assert "context" not in stored

    await client.delete_account("prod")
    assert stored_accounts(standin) == {}


async def test_replace_needing_several_edit_rounds(client: HalyardClient, standin: HalyardStandin) -> None:
    await client.add_account(account(omit_namespaces=["kube-system", "default"], namespaces=[], cache_threads=2))
    desired = account(
        namespaces=[],
        omit_namespaces=[],
        kinds=["Deployment"],
        cache_threads=4,
        only_spinnaker_managed=True,
        custom_resources=[CustomResource(kubernetes_kind="Foo.example.com", spinnaker_kind="foo", versioned=True)],
    )
    result = await client.replace_account("prod", desired)
    assert result.state == "SUCCEEDED"
    stored = stored_accounts(standin)["prod"]
    assert KubernetesAccount.from_halyard(stored) == desired
    unchanged = await client.replace_account("prod", desired)
    assert unchanged.state in ("SUCCEEDED", "UNCHANGED")


async def test_duplicate_name_is_rejected_with_its_location(client: HalyardClient, standin: HalyardStandin) -> None:
    await client.add_account(account())
    before = standin.halconfig_text()
    with pytest.raises(HalyardRejected) as rejected:
        await client.add_account(account(namespaces=["other"]))
    [problem] = rejected.value.blocking
    assert problem.message == 'Account "prod" appears more than once'
    assert problem.location == "default.provider"
    assert problem.remediation == "Change the name of the account in kubernetes"
    assert problem.severity >= Severity.ERROR
    assert not rejected.value.retryable
    assert standin.halconfig_text() == before


async def test_kinds_and_omit_kinds_is_an_error(client: HalyardClient, standin: HalyardStandin) -> None:
    with pytest.raises(HalyardRejected) as rejected:
        await client.add_account(account(kinds=["Pod"], omit_kinds=["Secret"]))
    [problem] = rejected.value.blocking
    assert problem.severity == Severity.ERROR
    assert problem.message == 'At most one of "kinds" and "omitKinds" may be specified.'
    assert problem.location == "default.provider.kubernetes.prod"
    assert rejected.value.warnings  # the providerVersion warning travels with the rejection
    assert stored_accounts(standin) == {}


async def test_custom_resource_without_kind_leaves_nothing_behind(
    client: HalyardClient, standin: HalyardStandin
) -> None:
    with pytest.raises(HalyardRejected, match="Missing custom resource name"):
        await client.add_account(
            account(custom_resources=[CustomResource(kubernetes_kind="Ok"), CustomResource(spinnaker_kind="x")])
        )
    assert stored_accounts(standin) == {}


async def test_unknown_field_is_refused_before_sending(client: HalyardClient, standin: HalyardStandin) -> None:
    # Halyard would drop these without a problem (DefaultObjectMapper): the client refuses to send them at all.
    raw = {**account().to_halyard(), "kubeconfigPath": "/x", "customResources": [{"kubernetesKind": "F", "kind": "x"}]}
    before = len(standin.daemon.requests)
    with pytest.raises(HalyardProtocolError, match=r"kubeconfigPath, customResources\[0\]\.kind are not fields"):
        await client.add_account(raw)
    with pytest.raises(HalyardProtocolError, match="kubeconfigPath is not a field"):
        await client.replace_account("prod", {**account().to_halyard(), "kubeconfigPath": "/x"})
    assert stored_accounts(standin) == {}
    assert all("/accounts/" not in r["path"] for r in standin.daemon.requests[before:])


async def test_warnings_are_surfaced(client: HalyardClient, standin: HalyardStandin) -> None:
    result = await client.add_account(account(required_group_membership=["legacy"]))
    messages = {(w.location, w.message.split(".")[0]) for w in result.warnings}
    assert ("default.provider.kubernetes.prod", "requiredGroupMembership has been deprecated") in messages
    assert any("providerVersion" in w.message for w in result.warnings)
    enabled = await client.set_provider_enabled(True)
    assert enabled.state == "SUCCEEDED"
    assert "kubernetes:\n      enabled: true" in standin.halconfig_text()


async def test_each_warning_is_logged_once(
    client: HalyardClient, standin: HalyardStandin, caplog: pytest.LogCaptureFixture
) -> None:
    # A deletion validates the whole provider: the providerVersion warning of every remaining account comes back
    # each time. Logged as it came, deleting 1,000 accounts one by one would log half a million lines.
    caplog.set_level(logging.WARNING, logger="spinop.halyard")
    for i in range(4):
        await client.add_account(account(f"acct-{i}", kubeconfig_file=f"{KUBE_DIR}/acct-{i}.yaml"))
    await client.delete_account("acct-3")
    result = await client.delete_account("acct-2")
    assert sum("providerVersion" in w.message for w in result.warnings) == 2  # still all returned to the caller
    lines = [r.getMessage() for r in caplog.records if "providerVersion" in r.getMessage()]
    assert [line.split(" WARNING at ")[1].split(":")[0] for line in lines] == [
        f"default.provider.kubernetes.acct-{i}" for i in range(4)
    ]


async def test_missing_accounts_are_not_found(client: HalyardClient) -> None:
    with pytest.raises(HalyardNotFound, match='No account with name "ghost" was found'):
        await client.get_account("ghost")
    with pytest.raises(HalyardNotFound):
        await client.delete_account("ghost")
    with pytest.raises(HalyardNotFound):
        await client.replace_account("ghost", account("ghost"))


async def test_deploy_of_only_clouddriver_copies_kubeconfigs(client: HalyardClient, standin: HalyardStandin) -> None:
    await client.set_provider_enabled(True)
    await client.add_account(account("prod"))
    await client.add_account(account("dev"))
    await client.add_account(KubernetesAccount(name="mgmt", service_account=True))
    standin.write_pod_file(f"{KUBE_DIR}/prod.yaml", kubeconfig("prod-ctx", token="prod-token"))
    standin.write_pod_file(f"{KUBE_DIR}/dev.yaml", kubeconfig("dev-ctx", token="dev-token"))
    prep = await client.prep(["clouddriver"])
    assert prep.state == "SUCCEEDED" and standin.deploys == []
    result = await client.deploy(["clouddriver"], wait_timeout_minutes=5)
    assert result.state == "SUCCEEDED"
    assert any("providerVersion" in w.message for w in result.warnings)  # from the validating prep
    [record] = standin.deploys
    assert record["serviceNames"] == ["clouddriver"] and record["state"] == "SUCCEEDED"
    assert record["waitForCompletionTimeoutMinutes"] == 5
    assert {k: v["content"] for k, v in record["kubeconfigs"].items()} == {
        "prod": kubeconfig("prod-ctx", token="prod-token").decode(),
        "dev": kubeconfig("dev-ctx", token="dev-token").decode(),
    }
    assert standin.concurrency_report()["overlaps"] == []


async def test_missing_kubeconfig_is_fatal_at_deploy(client: HalyardClient, standin: HalyardStandin) -> None:
    await client.set_provider_enabled(True)
    await client.add_account(account("prod"))  # adding does not need the file
    with pytest.raises(HalyardRejected) as rejected:
        await client.deploy(["clouddriver"])
    assert rejected.value.blocking[0].message == f"Failed to backup user file: {KUBE_DIR}/prod.yaml"
    assert standin.deploys == []


async def test_mutations_are_serialized(client: HalyardClient, standin: HalyardStandin) -> None:
    standin.daemon.settings.task_latency_s = 0.05
    names = [f"acct-{i}" for i in range(4)]
    await asyncio.gather(*(client.add_account(account(n)) for n in names))
    assert sorted(stored_accounts(standin)) == names  # nothing lost to a last-writer-wins race
    report = standin.concurrency_report()
    assert report["overlaps"] == [] and report["maxConcurrent"] == 1


# -- faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "drop"])
async def test_daemon_down_is_unavailable(client: HalyardClient, standin: HalyardStandin, mode: str) -> None:
    await standin.go_down(mode)
    with pytest.raises(HalyardUnavailable) as down:
        await client.add_account(account())
    assert down.value.retryable
    await standin.come_up()
    await client.add_account(account())
    assert list(stored_accounts(standin)) == ["prod"]


async def test_http_500_is_unavailable(client: HalyardClient, standin: HalyardStandin) -> None:
    await client.current_deployment()
    standin.http500(1)
    with pytest.raises(HalyardUnavailable):
        await client.add_account(account())
    assert stored_accounts(standin) == {}


async def test_failed_task_is_rejected_with_the_problem(client: HalyardClient, standin: HalyardStandin) -> None:
    standin.fail_next_task("storage is read-only", location="default", remediation="remount it")
    with pytest.raises(HalyardRejected) as rejected:
        await client.add_account(account())
    assert [(p.message, p.location, p.remediation) for p in rejected.value.blocking] == [
        ("storage is read-only", "default", "remount it")
    ]
    assert stored_accounts(standin) == {}


async def test_timed_out_task_is_task_failed(client: HalyardClient, standin: HalyardStandin) -> None:
    standin.time_out_next_task()
    with pytest.raises(HalyardTaskFailed) as failed:
        await client.add_account(account())
    assert failed.value.state == "TIMED_OUT" and failed.value.retryable
    assert stored_accounts(standin) == {}


async def test_slow_daemon_is_unavailable(standin: HalyardStandin, request: pytest.FixtureRequest) -> None:
    for transport, options in (("rest", {"request_timeout": 0.2}), ("exec", {"command_timeout": 0.3})):
        client = make_client(standin, transport, **options)
        standin.set_latency(1.0)
        try:
            with pytest.raises(HalyardUnavailable):
                await client.current_deployment()
        finally:
            standin.set_latency(0.0)
            await client.close()


async def test_deploy_failing_half_way_is_task_failed(client: HalyardClient, standin: HalyardStandin) -> None:
    standin.fail_next_deploy("echo")
    with pytest.raises(HalyardTaskFailed) as failed:
        await client.deploy(["clouddriver", "echo", "gate"])
    assert failed.value.state == "FAILED"
    assert "spin-echo" in str(failed.value)
    [record] = standin.deploys
    assert record["state"] == "FAILED" and record["children"]["echo"] == "FAILED"
    assert record["children"]["clouddriver"] == "SUCCEEDED"


async def test_both_transports_leave_the_same_halconfig(tmp_path: Path) -> None:
    """The same operation sequence through each transport yields byte-identical halconfig files."""
    texts = {}
    for transport in ("rest", "exec"):
        async with make_standin(tmp_path / transport) as standin, make_client(standin, transport) as client:
            await client.set_provider_enabled(True)
            await client.add_account(
                account(
                    "prod",
                    context="p",
                    custom_resources=[CustomResource(kubernetes_kind="Foo", spinnaker_kind="foo")],
                )
            )
            await client.add_account(
                account(
                    "dev",
                    docker_registries=[DockerRegistryReference(account_name="hub")],
                    raw_resources_endpoint_config=RawResourcesEndpointConfig(kind_expressions=["Pod"]),
                )
            )
            await client.add_account(KubernetesAccount(name="mgmt", service_account=True, environment="ops"))
            await client.replace_account("dev", account("dev", namespaces=["x"], check_permissions_on_startup=False))
            await client.delete_account("mgmt")
            texts[transport] = standin.halconfig_text()
            assert standin.concurrency_report()["overlaps"] == []
    assert texts["rest"] == texts["exec"]
