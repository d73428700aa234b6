"""The `hal` CLI emulator: JCommander-style parsing and `hal`'s output, against the stand-in daemon."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.standins.halyard import HalyardStandin
from tests.standins.halyard.hal_cli import ParameterError, build_hal, parse, run_hal

from .conftest import KUBE_DIR, Daemon, stored_accounts

ADD = ["config", "provider", "kubernetes", "account", "add"]
EDIT = ["config", "provider", "kubernetes", "account", "edit"]


async def hal(standin: HalyardStandin, *argv: str) -> tuple[int, str, str]:
    return await run_hal(list(argv), daemon_url=standin.daemon_url, poll_interval=0.01, request_timeout=2.0)


def parsed(*argv: str) -> tuple[list[str], str | None, dict[str, Any]]:
    values: dict[str, Any] = {}
    path, main = parse(build_hal(), list(argv), values)
    return path, main, values


def test_equals_and_space_separators_are_the_same() -> None:
    assert parsed(*ADD, "a", "--context=ctx")[2]["--context"] == "ctx"
    assert parsed(*ADD, "a", "--context", "ctx")[2]["--context"] == "ctx"
    assert parsed(*ADD, "a", "--context=x=y")[2]["--context"] == "x=y"


def test_variable_arity_lists_run_to_the_next_flag_and_split_commas() -> None:
    path, main, values = parsed(*ADD, "acct", "--namespaces", "a", "b,c", "-q", "--kinds=Pod")
    assert path == ["hal", *ADD] and main == "acct"
    assert values["--namespaces"] == ["a", "b", "c"] and values["--quiet"] is True and values["--kinds"] == ["Pod"]


def test_a_list_swallows_the_account_name_when_it_comes_last() -> None:
    _, main, values = parsed(*ADD, "--namespaces", "a", "acct")
    assert main is None and values["--namespaces"] == ["a", "acct"]


def test_booleans_arity_one_need_a_value_presence_ones_do_not() -> None:
    assert parsed(*ADD, "a", "--service-account", "TRUE")[2]["--service-account"] is True
    with pytest.raises(ParameterError, match="couldn't convert"):
        parsed(*ADD, "a", "--service-account", "yes")
    with pytest.raises(ParameterError, match="Expected a value after parameter --service-account"):
        parsed(*ADD, "a", "--service-account")
    assert parsed(*EDIT, "a", "--clear-context", "--all-namespaces")[2]["--all-namespaces"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*ADD, "a", "--contextual"], "Unknown option: --contextual"),  # prefix-matches a known flag
        ([*ADD, "a", "--bogus"], "Only one main parameter allowed"),  # matches nothing: a main parameter
        ([*ADD, "a", "--context", "x", "--context", "y"], "Can only specify option --context once."),
        ([*ADD, "a", "--namespaces"], "Expected a value after parameter --namespaces"),
        (["config", "provider", "nosuch"], "Expected a command, got nosuch"),
        ([*ADD, "a", "--provider-version", "v3"], "Allowed values:[V1, V2]"),
    ],
)
def test_parse_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parsed(*argv)


async def test_add_get_list_with_json_output(standin: HalyardStandin) -> None:
    code, out, err = await hal(
        standin,
        *ADD,
        "prod",
        "--namespaces",
        "apps",
        "--read-permissions",
        "b",
        "a",
        "--kubeconfig-file",
        "kube/prod.yaml",
        "-q",
    )
    assert (code, out) == (0, "\n")  # the blank line after each problem goes to stdout
    assert "- WARNING Field KubernetesAccount.providerVersion" in err  # warnings go to stderr, even with -q
    stored = stored_accounts(standin)["prod"]
    assert stored["permissions"] == {"READ": ["a", "b"]}
    assert stored["kubeconfigFile"] == "/home/spinnaker/kube/prod.yaml"  # made absolute against the CLI's cwd
    assert stored["configureImagePullSecrets"] is True and stored["onlySpinnakerManaged"] is False
    code, out, _ = await hal(standin, "config", "provider", "kubernetes", "account", "get", "prod", "-q", "-o", "json")
    assert code == 0
    blank, first, trailer = out.split("\n", 2)  # the warning's blank line, the JSON, the node summary
    assert blank == ""
    assert json.loads(first)["namespaces"] == ["apps"]
    assert trailer.startswith("+ PROD")  # `get` prints the node summary whatever -q/-o say
    code, out, _ = await hal(standin, "config", "provider", "kubernetes", "account", "list", "-q")
    assert out.strip() == "+ Accounts for kubernetes:\n  - prod"


async def test_add_failure_prints_problems_and_exits_1(standin: HalyardStandin) -> None:
    await hal(standin, *ADD, "prod", "-q")
    code, _, err = await hal(standin, *ADD, "prod", "-q")
    assert code == 1
    lines = err.splitlines()
    assert "Validation in default.provider:" in lines
    assert '! ERROR Account "prod" appears more than once' in lines  # FATAL prints as "! ERROR"
    assert "? Change the name of the account in kubernetes" in lines
    assert lines[-1] == "- Failed to add account prod for provider kubernetes."


async def test_long_messages_wrap_at_80_columns(standin: HalyardStandin) -> None:
    _, _, err = await hal(standin, *ADD, "prod", "-q")
    warning = next(line for line in err.splitlines() if line.startswith("- WARNING"))
    assert len(warning) <= 80
    assert "\n  " in err


async def test_edit_rebuilds_permissions_with_read_and_write_only(standin: HalyardStandin, daemon: Daemon) -> None:
    body = {"name": "prod", "permissions": {"READ": ["r"], "WRITE": ["w"], "EXECUTE": ["x"], "CREATE": ["c"]}}
    await daemon.run("POST", "/v1/config/deployments/default/providers/kubernetes/accounts/", body)
    code, _, err = await hal(standin, *EDIT, "prod", "--add-namespace", "apps", "-q")
    assert code == 0, err
    stored = stored_accounts(standin)["prod"]
    assert stored["namespaces"] == ["apps"]
    assert stored["permissions"] == {"READ": ["r"], "WRITE": ["w"]}  # EXECUTE and CREATE are gone


async def test_edit_semantics(standin: HalyardStandin) -> None:
    await hal(standin, *ADD, "prod", "--namespaces", "a", "b", "--context", "c1", "-q")
    code, _, err = await hal(standin, *EDIT, "prod", "--namespaces", "x", "--add-namespace", "y", "-q")
    assert code == 3 and "Set either --namespaces or --[add/remove]-namespace" in err
    code, _, _ = await hal(
        standin,
        *EDIT,
        "prod",
        "--remove-namespace",
        "a",
        "--clear-context",
        "--add-custom-resource",
        "Foo",
        "--versioned",
        "true",
        "-q",
    )
    assert code == 0
    stored = stored_accounts(standin)["prod"]
    assert stored["namespaces"] == ["b"] and "context" not in stored
    assert stored["customResources"] == [{"kubernetesKind": "Foo", "versioned": True}]
    code, _, err = await hal(standin, *EDIT, "prod", "--all-kinds", "-q")
    assert code == 0 and err.strip() == "- No changes supplied."


async def test_provider_enable_and_deploy_apply(standin: HalyardStandin) -> None:
    assert (await hal(standin, "config", "provider", "kubernetes", "enable", "-q"))[0] == 0
    code, out, _ = await hal(standin, "config", "provider", "kubernetes", "-q", "-o", "json", "--no-validate")
    assert json.loads(out)["enabled"] is True
    await hal(standin, *ADD, "prod", "--service-account", "true", "-q")
    code, out, err = await hal(
        standin, "deploy", "apply", "--service-names", "clouddriver", "-q", "--wait-for-completion-timeout-minutes=4"
    )
    assert code == 0, err
    [record] = standin.deploys
    assert record["serviceNames"] == ["clouddriver"] and record["deployOptions"] == []
    assert record["waitForCompletionTimeoutMinutes"] == 4
    methods = [(r["method"], r["path"].split("?")[0]) for r in standin.daemon.requests]
    assert ("POST", "/v1/config/deployments/default/prep/") in methods
    deploy = [r for r in standin.daemon.requests if r["path"].startswith("/v1/config/deployments/default/deploy/")]
    assert "validate=false" in deploy[0]["path"] and deploy[0]["body"] == '""'


async def test_missing_kubeconfig_fails_deploy_apply(standin: HalyardStandin) -> None:
    await hal(standin, "config", "provider", "kubernetes", "enable", "-q")
    await hal(standin, *ADD, "prod", f"--kubeconfig-file={KUBE_DIR}/prod.yaml", "-q")
    code, _, err = await hal(standin, "deploy", "apply", "--service-names", "clouddriver", "-q")
    assert code == 1
    assert f"! ERROR Failed to backup user file: {KUBE_DIR}/prod.yaml" in err
    # Deployer.prep does nothing for kubectl deploys (spinnaker/halyard halyard-deploy/.../deployment/v1/
    # Deployer.java): the kubeconfig is first read when deploy stages it, so it is the deploy that fails.
    assert err.splitlines()[-1] == "- Failed to deploy Spinnaker."


async def test_daemon_down_timeouts_and_ready(standin: HalyardStandin) -> None:
    assert (await hal(standin, "--ready"))[0] == 0
    standin.time_out_next_task()
    code, _, err = await hal(standin, *ADD, "prod", "-q")
    assert code == 7
    assert "Validation in null:" in err
    assert (
        "- Failed to add account prod for provider kubernetes. Task killed because it was taking too long."
        in " ".join(err.split())
    )
    standin.http500(1)
    code, _, err = await hal(standin, *ADD, "prod", "-q")
    assert code == 1 and "! ERROR 500 Internal Server Error" in err and "? Try the command again" in err
    await standin.go_down()
    code, _, err = await hal(standin, "--ready")
    assert code == 1 and "? Is your daemon running?" in err
    code, _, err = await hal(standin, *ADD, "prod", "-q")
    assert code == 1 and "! ERROR Failed to connect to" in err
    assert stored_accounts(standin) == {}
