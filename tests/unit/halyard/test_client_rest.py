"""REST-transport specifics: exact paths and bodies, task polling, FATAL severities, EXECUTE permissions."""

from __future__ import annotations

from itertools import islice

import pytest

from spinop.halyard import (
    HalyardClient,
    HalyardNotFound,
    HalyardNotSupported,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardUnavailable,
    KubernetesAccount,
    Severity,
)
from spinop.halyard.rest import poll_delays
from tests.standins.halyard import HalyardStandin

from .conftest import KUBE_DIR, kubeconfig, make_client, poll, stored_accounts


def _requests(standin: HalyardStandin, prefix: str = "/v1/config/") -> list[tuple[str, str, str]]:
    return [(r["method"], r["path"], r["body"]) for r in standin.daemon.requests if r["path"].startswith(prefix)]


async def test_exact_paths_query_parameters_and_bodies(rest: HalyardClient, standin: HalyardStandin) -> None:
    await rest.set_provider_enabled(True)
    await rest.add_account(KubernetesAccount(name="a b", service_account=True))
    await rest.replace_account("a b", KubernetesAccount(name="a b", service_account=True, namespaces=["x"]))
    await rest.deploy(["clouddriver"], wait_timeout_minutes=7)
    await rest.delete_account("a b")
    base = "/v1/config/deployments/default/"
    calls = [(m, p, b) for m, p, b in _requests(standin) if not p.startswith("/v1/tasks/")]
    assert calls[0][:2] == ("GET", "/v1/config/currentDeployment/")
    assert calls[1] == ("PUT", base + "providers/kubernetes/enabled/?validate=true", "true")
    assert calls[2][:2] == ("POST", base + "providers/kubernetes/accounts/?validate=true")
    assert calls[3][:2] == ("PUT", base + "providers/kubernetes/accounts/account/a%20b/?validate=true")
    assert calls[4] == ("POST", base + "prep/?validate=true&serviceNames=clouddriver", '""')
    assert calls[5] == (
        "POST",
        base + "deploy/?validate=false&deployOptions=WAIT_FOR_COMPLETION&serviceNames=clouddriver"
        "&waitForCompletionTimeoutMinutes=7",
        '""',
    )
    assert calls[6][:2] == ("DELETE", base + "providers/kubernetes/accounts/account/a%20b/?validate=true")


async def test_polls_the_task_until_it_is_terminal(standin: HalyardStandin) -> None:
    standin.daemon.settings.deploy_seconds = 0.2
    async with make_client(standin, "rest", poll_interval=0.02) as client:
        result = await client.deploy(["clouddriver", "deck"])
    assert result.state == "SUCCEEDED" and result.uuid
    assert [(c.name, c.state) for c in result.children] == [
        ("Deploy spin-clouddriver", "SUCCEEDED"),
        ("Deploy spin-deck", "SUCCEEDED"),
    ]
    polls = [p for _, p, _ in _requests(standin, "/v1/tasks/") if result.uuid in p]
    assert len(polls) >= 5  # 0.2 s of work polled every 0.02 s
    assert "Apply deployment" in result.events


async def test_fatal_problems_keep_their_severity(rest: HalyardClient) -> None:
    await rest.add_account(KubernetesAccount(name="a"))
    with pytest.raises(HalyardRejected) as rejected:
        await rest.add_account(KubernetesAccount(name="a"))
    assert rejected.value.blocking[0].severity == Severity.FATAL


async def test_execute_and_create_permissions_are_kept(rest: HalyardClient, standin: HalyardStandin) -> None:
    perms = {"READ": ["r"], "WRITE": ["w"], "EXECUTE": ["x"], "CREATE": ["c"]}
    await rest.add_account(KubernetesAccount(name="a", permissions=perms))  # type: ignore[arg-type]
    assert stored_accounts(standin)["a"]["permissions"] == perms


async def test_files_are_not_supported(rest: HalyardClient) -> None:
    with pytest.raises(HalyardNotSupported):
        await rest.write_file(f"{KUBE_DIR}/a.yaml", kubeconfig())
    with pytest.raises(HalyardNotSupported):
        await rest.remove_file(f"{KUBE_DIR}/a.yaml")


async def test_overdue_task_is_interrupted(standin: HalyardStandin) -> None:
    standin.daemon.settings.deploy_seconds = 30
    async with make_client(standin, "rest", deploy_timeout=0.3) as client:
        with pytest.raises(HalyardUnavailable, match="did not finish"):
            await client.deploy(["clouddriver"])
    [task] = [t for t in standin.daemon.registry.all() if t.name == "Apply deployment"]
    await poll(lambda: task.state.terminal)
    assert task.state.value == "INTERRUPTED"


async def test_poll_failures_are_retried(standin: HalyardStandin) -> None:
    standin.daemon.settings.task_latency_s = 0.1
    async with make_client(standin, "rest") as client:
        await client.current_deployment()
        standin.http500(2, path="/v1/tasks/")
        result = await client.add_account(KubernetesAccount(name="a"))
    assert result.state == "SUCCEEDED"
    assert list(stored_accounts(standin)) == ["a"]


async def test_unknown_provider_is_not_found(rest: HalyardClient) -> None:
    with pytest.raises(HalyardNotFound, match='No provider with name "nimbus"'):
        await rest.get_provider(provider="nimbus")
    with pytest.raises(HalyardNotFound):
        await rest.set_provider_enabled(True, "nimbus")


async def test_health(rest: HalyardClient, standin: HalyardStandin) -> None:
    assert await rest.health()
    await standin.go_down()
    assert not await rest.health()


async def test_deploy_failure_reports_children(rest: HalyardClient, standin: HalyardStandin) -> None:
    standin.fail_next_deploy("deck")
    with pytest.raises(HalyardTaskFailed) as failed:
        await rest.deploy(["clouddriver", "deck"])
    assert {c.name: c.state for c in failed.value.children} == {
        "Deploy spin-clouddriver": "SUCCEEDED",
        "Deploy spin-deck": "FAILED",
    }


def test_task_polls_start_fast_and_back_off_to_the_cli_interval() -> None:
    assert list(islice(poll_delays(0.025, 0.4), 7)) == [0.025, 0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    # An interval configured below the first pause is never exceeded.
    assert list(islice(poll_delays(0.025, 0.01), 3)) == [0.01, 0.01, 0.01]
