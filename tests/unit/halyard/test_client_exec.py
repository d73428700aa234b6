"""Exec-transport specifics: what `hal` cannot express, file placement, multi-round edits and their undo."""

from __future__ import annotations

import pytest

from spinop.halyard import (
    CachingPolicy,
    CustomResource,
    HalyardClient,
    HalyardNotSupported,
    HalyardProtocolError,
    HalyardRejected,
    HalyardUnavailable,
    KubernetesAccount,
    Severity,
)
from spinop.halyard.hal_argv import add_flags, first_json, parse_stderr, plan_edit
from spinop.halyard.model import account_to_halyard
from spinop.redact import Redacted
from tests.standins.halyard import HalyardStandin

from .conftest import KUBE_DIR, exec_client_for, kubeconfig, stored_accounts


async def test_place_kubeconfig_add_account_and_deploy(exec_: HalyardClient, standin: HalyardStandin) -> None:
    path = f"{KUBE_DIR}/prod.yaml"
    await exec_.write_file(path, Redacted(kubeconfig("prod-ctx")), 0o600)
    assert standin.pod_file(path) == kubeconfig("prod-ctx")
    await exec_.set_provider_enabled(True)
    await exec_.add_account(KubernetesAccount(name="prod", kubeconfig_file=path))
    await exec_.deploy(["clouddriver"])
    [record] = standin.deploys
    assert record["kubeconfigs"]["prod"]["content"] == kubeconfig("prod-ctx").decode()
    await exec_.remove_file(path)
    assert standin.pod_file(path) is None
    exec_log = [r.to_json()["argv"] for r in standin.exec.log]
    assert ["sh", "-c", "<script>", "sh", path, str(len(kubeconfig("prod-ctx"))), "0600"] in exec_log


async def test_v4_file_placement(standin: HalyardStandin) -> None:
    client = HalyardClient.exec(exec_client_for(standin, protocols=("v4.channel.k8s.io",)))
    await client.write_file(f"{KUBE_DIR}/v4.yaml", b"x" * 70000)
    assert standin.pod_file(f"{KUBE_DIR}/v4.yaml") == b"x" * 70000


@pytest.mark.parametrize(
    "fields",
    [
        {"permissions": {"READ": ["r"], "EXECUTE": ["x"]}},
        {"kubeconfig_contents": "apiVersion: v1"},
        {"cluster": "c"},
        {"caching_policies": [CachingPolicy(kubernetes_kind="Pod", max_entries_per_agent=5)]},
        {"namespaces": ["-q"]},
        {"namespaces": ["a,b"]},
    ],
)
async def test_inexpressible_accounts_are_not_supported(
    exec_: HalyardClient, standin: HalyardStandin, fields: dict[str, object]
) -> None:
    with pytest.raises(HalyardNotSupported):
        await exec_.add_account(KubernetesAccount(name="a", **fields))  # type: ignore[arg-type]
    assert stored_accounts(standin) == {}


async def test_edit_would_drop_execute_so_it_is_refused(
    exec_: HalyardClient, rest: HalyardClient, standin: HalyardStandin
) -> None:
    perms = {"READ": ["r"], "EXECUTE": ["x"]}
    await rest.add_account(KubernetesAccount(name="a", permissions=perms))  # type: ignore[arg-type]
    with pytest.raises(HalyardNotSupported, match=r"permissions\.EXECUTE"):
        await exec_.replace_account("a", KubernetesAccount(name="a", permissions=perms, namespaces=["n"]))  # type: ignore[arg-type]
    with pytest.raises(HalyardNotSupported, match="EXECUTE/CREATE"):  # the edit would silently drop them
        await exec_.replace_account("a", KubernetesAccount(name="a", permissions={"READ": ["r"]}, namespaces=["n"]))
    with pytest.raises(HalyardNotSupported, match="rename"):
        await exec_.replace_account("a", KubernetesAccount(name="b"))
    assert stored_accounts(standin)["a"]["permissions"] == perms


async def test_failed_last_round_restores_the_account(exec_: HalyardClient, standin: HalyardStandin) -> None:
    await exec_.add_account(KubernetesAccount(name="a", omit_namespaces=["x", "y"]))
    before = stored_accounts(standin)["a"]
    invalid = KubernetesAccount(name="a", kinds=["Pod"], omit_kinds=["Secret"])  # needs two rounds, then fails
    with pytest.raises(HalyardRejected, match="At most one of"):
        await exec_.replace_account("a", invalid)
    assert stored_accounts(standin)["a"] == before
    edits = [r.argv for r in standin.exec.log if "edit" in r.argv]
    assert len(edits) >= 3  # two rounds and the undo


async def test_exec_refusals_map_to_halyard_errors(standin: HalyardStandin) -> None:
    bad = HalyardClient.exec(exec_client_for(standin, token="wrong"))
    with pytest.raises(HalyardUnavailable, match="HTTP 401"):
        await bad.current_deployment()
    no_hal = HalyardClient.exec(exec_client_for(standin), hal="halyard-cli")
    with pytest.raises(HalyardProtocolError, match="exit 127"):
        await no_hal.current_deployment()
    assert not await bad.health()


def test_add_flags_cover_the_cli_add_command() -> None:
    flags = add_flags(
        {
            "name": "a",
            "context": "c",
            "namespaces": ["n1", "n2"],
            "serviceAccount": True,
            "permissions": {"WRITE": ["w"], "READ": ["b", "a"]},
            "rawResourcesEndpointConfig": {"kindExpressions": ["P.*"]},
        }
    )
    assert "--context=c" in flags and "--service-account=true" in flags
    assert flags[flags.index("--namespaces") + 1 : flags.index("--namespaces") + 3] == ["n1", "n2"]
    assert flags[flags.index("--read-permissions") + 1 : flags.index("--read-permissions") + 3] == ["a", "b"]
    assert "--raw-resource-endpoint-kind-expressions" in flags


def test_plan_edit_rounds() -> None:
    current = account_to_halyard(
        {
            "name": "a",
            "omitNamespaces": ["x", "y"],
            "context": "c",
            "kubeconfigFile": "/home/spinnaker/.kube/config",
            "customResources": [{"kubernetesKind": "A"}],
        }
    )
    desired = {
        "name": "a",
        "rawResourcesEndpointConfig": {"kindExpressions": ["P", "Q"]},
        "customResources": [{"kubernetesKind": "B"}],
    }
    plan = plan_edit(current, desired, "a")
    assert plan.rounds[0][:3] == [
        "--clear-context",
        "--raw-resource-endpoint-kind-expressions=P",
        "--raw-resource-endpoint-kind-expressions=Q",
    ]
    assert "--remove-omit-namespace=x" in plan.rounds[0] and "--remove-custom-resource=A" in plan.rounds[0]
    assert plan.rounds[1] == ["--remove-omit-namespace=y", "--add-custom-resource=B"]
    assert plan_edit(current, current, "a").rounds == []
    with pytest.raises(HalyardNotSupported, match="reset cacheIntervalSeconds"):
        plan_edit({**current, "cacheIntervalSeconds": 30}, current, "a")
    from_sa = account_to_halyard({"name": "a", "serviceAccount": True, "checkPermissionsOnStartup": False})
    assert plan_edit(from_sa, {"name": "a", "checkPermissionsOnStartup": False}, "a").rounds == [
        ["--service-account=false"]  # null serviceAccount means false; the default kubeconfig fills in
    ]
    with pytest.raises(HalyardNotSupported, match="checkPermissionsOnStartup"):
        plan_edit(from_sa, {"name": "a", "serviceAccount": True}, "a")  # null there means true
    with pytest.raises(HalyardNotSupported, match="kubeconfigFile"):
        plan_edit({**current, "kubeconfigFile": "/custom"}, current | {"kubeconfigFile": None}, "a")


def test_parse_stderr_reads_hal_output() -> None:
    report = parse_stderr(
        "Validation in default.provider.kubernetes.a:\n"
        '! ERROR At most one of "kinds" and\n  "omitKinds" may be specified.\n'
        "? Fix it\n  now.\n"
        "- WARNING careful\n"
        "? Options include: \n  - one\n  - two\n"
        "Validation in null:\n! ERROR boom\n"
        "- Failed to edit account a for provider kubernetes.\n"
        "! ERROR 500 Internal Server Error\n? Try the command again with the --debug flag.\n"
    )
    error, warning, boom = report.problems
    assert (error.severity, error.location, error.message, error.remediation) == (
        Severity.ERROR,
        "default.provider.kubernetes.a",
        'At most one of "kinds" and "omitKinds" may be specified.',
        "Fix it now.",
    )
    assert warning.severity == Severity.WARNING and warning.options == ("one", "two")
    assert boom.location is None
    assert report.failures == ["Failed to edit account a for provider kubernetes."]
    assert report.daemon_errors == ["500 Internal Server Error"] and not report.daemon_unreachable


def test_first_json_skips_surrounding_lines() -> None:
    assert first_json('\n- INFO x\n{"a": [1]}\n+ A\n\nKubernetesAccount(a=1)\n') == {"a": [1]}
    assert first_json("+ No configured accounts\n") is None


def test_account_model_round_trip_and_secret_repr() -> None:
    acct = KubernetesAccount(
        name="a", kubeconfig_contents="token: hunter2", custom_resources=[CustomResource(kubernetes_kind="K")]
    )
    assert "hunter2" not in repr(acct)
    rendered = acct.to_halyard()
    assert rendered["customResources"] == [{"kubernetesKind": "K", "versioned": False}]
    assert rendered["permissions"] == {} and rendered["configureImagePullSecrets"] is True
    assert KubernetesAccount.from_halyard(rendered) == acct
