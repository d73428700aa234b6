"""Halyard wire facts, pinned to upstream source (spinnaker/halyard, snapshot 23e66d69, tag v1.70.0).

Path abbreviations: CFG = halyard-config/src/main/java/com/netflix/spinnaker/halyard/config,
CORE = halyard-core/src/main/java/com/netflix/spinnaker/halyard/core,
CLI = halyard-cli/src/main/java/com/netflix/spinnaker/halyard/cli/command/v1.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spinop.halyard import HalyardClient, HalyardRejected, exec_transport, hal_argv
from spinop.halyard.hal_argv import add_flags, custom_resource_flags, plan_edit
from spinop.halyard.model import ACCOUNT_FIELDS, LEGACY_ACCOUNT_FIELDS, NESTED_ACCOUNT_FIELDS, unknown_account_fields
from tests.standins.halyard.halconfig import ACCOUNT_ALIASES, ACCOUNT_KEYS
from tests.standins.halyard.tasks import DaemonTask, Kind
from tests.unit.halyard.conftest import make_standin

REPO = Path(__file__).resolve().parents[3]
CLI_FLAGS = REPO.parent / "shared" / "contracts" / "halyard-cli-flags.txt"

# The JSON keys of a Kubernetes account, class by class (Jackson's names: Lombok getters, @JsonProperty where set).
UPSTREAM_ACCOUNT_FIELDS = {
    # CFG/model/v1/node/Account.java (Node.java contributes only @JsonIgnore getters)
    "Account": ("name", "environment", "requiredGroupMembership", "permissions"),
    # CFG/model/v1/providers/containers/ContainerAccount.java
    "ContainerAccount": ("dockerRegistries",),
    # CFG/model/v1/providers/kubernetes/KubernetesAccount.java
    "KubernetesAccount": (
        "providerVersion",
        "context",
        "cluster",
        "user",
        "configureImagePullSecrets",
        "serviceAccount",
        "cacheThreads",
        "cacheIntervalSeconds",
        "namespaces",
        "omitNamespaces",
        "kinds",
        "omitKinds",
        "customResources",
        "cachingPolicies",
        "kubeconfigFile",
        "kubeconfigContents",
        "kubectlPath",
        "kubectlRequestTimeoutSeconds",
        "checkPermissionsOnStartup",
        "rawResourcesEndpointConfig",
        "cacheAllApplicationRelationships",
        "liveManifestCalls",
        "oAuthServiceAccount",  # @JsonProperty: Lombok's getter alone would make it "oauthServiceAccount"
        "oAuthScopes",
        "namingStrategy",
        "skin",
        "onlySpinnakerManaged",
        "debug",
    ),
}
# KubernetesAccount.java: setOauthScopes/setOauthServiceAccount still read the old spellings, never written.
UPSTREAM_LEGACY_SPELLINGS = ("oauthScopes", "oauthServiceAccount")
# KubernetesAccount.java (CustomKubernetesResource, KubernetesCachingPolicy, RawResourcesEndpointConfig) and
# CFG/model/v1/providers/containers/DockerRegistryReference.java
UPSTREAM_NESTED_FIELDS = {
    "customResources": ("kubernetesKind", "spinnakerKind", "versioned"),
    "cachingPolicies": ("kubernetesKind", "maxEntriesPerAgent"),
    "rawResourcesEndpointConfig": ("kindExpressions", "omitKindExpressions"),
    "dockerRegistries": ("accountName", "namespaces"),
}
ALLOWLIST = {field for fields in UPSTREAM_ACCOUNT_FIELDS.values() for field in fields}


def test_the_operator_sends_only_fields_halyard_has() -> None:
    # CFG/config/v1/DefaultObjectMapper.java (@Primary, FAIL_ON_UNKNOWN_PROPERTIES false) is what
    # halyard-web/.../controllers/v1/AccountController.java converts request bodies with: anything else is dropped.
    assert set(ACCOUNT_FIELDS) == ALLOWLIST and len(ACCOUNT_FIELDS) == len(ALLOWLIST) == 33
    assert set(LEGACY_ACCOUNT_FIELDS) == set(UPSTREAM_LEGACY_SPELLINGS)
    assert {k: set(v) for k, v in NESTED_ACCOUNT_FIELDS.items()} == {
        k: set(v) for k, v in UPSTREAM_NESTED_FIELDS.items()
    }


def test_the_standin_knows_the_same_fields() -> None:
    assert set(ACCOUNT_KEYS) == ALLOWLIST
    assert set(ACCOUNT_ALIASES) == set(UPSTREAM_LEGACY_SPELLINGS)


@pytest.mark.parametrize(
    ("body", "unknown"),
    [
        ({"name": "a", "kubeconfigPath": "/x"}, ["kubeconfigPath"]),
        ({"name": "a", "Namespaces": ["x"]}, ["Namespaces"]),  # Jackson matches names case-sensitively
        ({"name": "a", "customResources": [{"kubernetesKind": "K", "kind": "x"}]}, ["customResources[0].kind"]),
        ({"name": "a", "rawResourcesEndpointConfig": {"kinds": []}}, ["rawResourcesEndpointConfig.kinds"]),
        ({"name": "a", "oauthScopes": ["s"], "executePermissions": ["r"]}, ["executePermissions"]),
        ({field: None for field in ALLOWLIST}, []),
    ],
)
def test_unknown_fields_are_named(body: dict[str, Any], unknown: list[str]) -> None:
    assert unknown_account_fields(body) == unknown


def test_daemon_task_json_shape() -> None:
    # CORE/tasks/v1/DaemonTask.java (@Data: events, children, name, uuid, timedOut, timeout, version, state,
    # response, fatalError, runningJobs; runner/context/currentStage are @JsonIgnore),
    # CORE/DaemonResponse.java (responseBody, problemSet), CORE/tasks/v1/DaemonEvent.java (stage, message,
    # timestamp) and CORE/problem/v1/Problem.java (message, remediation, options, severity, location).
    task = DaemonTask(name="Add the a account", kind=Kind.MUTATE, timeout_s=60.0)
    assert set(task.to_json()) == {
        "events",
        "children",
        "name",
        "uuid",
        "timedOut",
        "timeout",
        "version",
        "state",
        "response",
        "fatalError",
        "runningJobs",
    }
    assert task.to_json()["timeout"] == 60_000  # milliseconds: TaskRepository.DEFAULT_TIMEOUT is 1 minute
    # CORE/tasks/v1/TaskRepository.java ShallowTaskInfo, what GET /v1/tasks/ lists
    assert set(task.shallow_json()) == {"uuid", "name", "state", "lastEvent", "fatalException", "jobs", "children"}


# -- the hal argv spinop emits --------------------------------------------------------------------------------

# The flags of `hal`, from the @Parameter(names = …) annotations of
# CLI/config/providers/kubernetes/KubernetesAddAccountCommand.java, KubernetesEditAccountCommand.java,
# CLI/config/providers/account/AbstractAddAccountCommand.java, AbstractEditAccountCommand.java,
# CLI/config/AbstractConfigCommand.java (--no-validate, --deployment), CLI/NestableCommand.java (global options),
# CLI/HalCommand.java (--ready) and CLI/deploy/ApplyDeployCommand.java, as listed in
# ../shared/contracts/halyard-cli-flags.txt.


def contract_flags() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current = None
    for line in CLI_FLAGS.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = set()
        else:
            assert current is not None
            sections[current].add(line)
    return sections


def flag_names(argv: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in argv if a.startswith("-")}


def everything_account() -> dict[str, Any]:
    """An account with every field `hal` can express set to a non-default value."""
    return {
        "name": "all",
        "environment": "prod",
        "requiredGroupMembership": ["legacy"],
        "permissions": {"READ": ["r"], "WRITE": ["w"]},
        "providerVersion": "V2",
        "context": "ctx",
        "serviceAccount": False,
        "kubeconfigFile": "/home/spinnaker/.hal/kube/all.yaml",
        "namespaces": ["a"],
        "omitNamespaces": ["b"],
        "kinds": ["deployment"],
        "omitKinds": ["secret"],
        "onlySpinnakerManaged": True,
        "customResources": [{"kubernetesKind": "Foo", "spinnakerKind": "bar", "versioned": True}],
        "cacheThreads": 4,
        "cacheIntervalSeconds": 30,
        "cacheAllApplicationRelationships": True,
        "configureImagePullSecrets": False,
        "checkPermissionsOnStartup": False,
        "liveManifestCalls": True,
        "rawResourcesEndpointConfig": {"kindExpressions": ["k.*"], "omitKindExpressions": ["o.*"]},
        "oAuthServiceAccount": "/x.json",
        "oAuthScopes": ["scope"],
        "namingStrategy": "default",
        "skin": "v2",
        "dockerRegistries": [{"accountName": "reg", "namespaces": []}],
    }


def edit_argvs() -> Iterator[list[str]]:
    full, empty = everything_account(), {"name": "all"}
    lists = ("requiredGroupMembership", "namespaces", "omitNamespaces", "kinds", "omitKinds", "customResources")
    cleared = {
        **full,
        **{key: [] for key in (*lists, "oAuthScopes", "dockerRegistries")},
        "context": None,
        "permissions": {},
        "rawResourcesEndpointConfig": {"kindExpressions": [], "omitKindExpressions": []},
    }
    other = {**full, "namespaces": ["c"], "customResources": [{"kubernetesKind": "Baz"}]}
    for before, after in ((empty, full), (full, cleared), (full, other), (other, full)):
        yield from plan_edit(before, after, "all").rounds


def test_add_argv_uses_only_add_flags() -> None:
    flags = flag_names(add_flags(everything_account()))
    assert flags <= contract_flags()["add"], flags - contract_flags()["add"]
    assert "--kubeconfig-file" in flags and "--read-permissions" in flags  # the account really was expressed


def test_edit_argv_uses_only_edit_flags() -> None:
    used = set().union(*(flag_names(step) for step in edit_argvs()))
    used |= flag_names(custom_resource_flags({"kubernetesKind": "Foo", "spinnakerKind": "x", "versioned": True}))
    assert used <= contract_flags()["edit"], used - contract_flags()["edit"]
    assert {"--clear-context", "--add-custom-resource", "--remove-custom-resource"} <= used


def _flag_literals(module: Any) -> set[str]:
    """Every flag-looking string literal (and leading f-string part) in a module's source."""
    tree = ast.parse(Path(module.__file__).read_text())
    found = set()
    for node in ast.walk(tree):
        texts = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            texts.append(str(node.values[0].value))
        for text in texts:
            match = re.fullmatch(r"(--?[a-z][a-z-]*)(=.*)?", text, flags=re.DOTALL)
            if match:
                found.add(match.group(1))
    return found


def test_every_flag_spinop_can_build_is_a_hal_flag() -> None:
    """Static sweep over the modules that build `hal` argv: nothing outside the contract's flag list."""
    known = set().union(*contract_flags().values())
    used = _flag_literals(hal_argv) | _flag_literals(exec_transport)
    assert {"-q", "-o", "--no-validate", "--deployment", "--service-names"} <= used  # the sweep sees them
    assert used <= known, used - known
    for never in ("--kubeconfig-contents", "--execute-permissions", "--permissions", "--namespace"):
        assert never not in used


async def test_a_provider_put_is_one_task_that_saves_the_halconfig_once_or_not_at_all(tmp_path: Path) -> None:
    """halyard-web/.../controllers/v1/ProviderController.java `setProvider`: `PUT /v1/config/deployments/{d}/providers/
    {p}` (the CLI's paths end in `/`) with the whole provider as the body, run by halyard-web/.../util/v1/
    GenericUpdateRequest.java; CORE/DaemonResponse.java `UpdateRequestBuilder.build`: update, validate
    (CFG/services/v1/ProviderService.java `validateProvider`: the provider and every account), then save once,
    or revert and save nothing when a problem exceeds the severity."""
    standin = make_standin(tmp_path)
    await standin.start()
    client = HalyardClient.rest(standin.daemon_url, poll_interval=0.01, request_timeout=3.0, task_timeout=10.0)
    try:
        provider = await client.get_provider()
        good = {"name": "a", "providerVersion": "V2", "context": "c", "kinds": ["deployment"]}
        bad = {**good, "name": "b", "omitKinds": ["secret"]}  # KubernetesAccountValidator: ERROR
        writes = standin.daemon.config_writes
        await client.set_provider({**provider, "enabled": True, "accounts": [good]}, validate=True)
        assert standin.daemon.config_writes == writes + 1
        put = [r for r in standin.daemon.requests if r["method"] == "PUT"][-1]
        assert put["path"].split("?")[0] == "/v1/config/deployments/default/providers/kubernetes/"
        text = standin.halconfig_text()
        with pytest.raises(HalyardRejected):
            await client.set_provider({**provider, "enabled": True, "accounts": [good, bad]}, validate=True)
        assert standin.daemon.config_writes == writes + 1 and standin.halconfig_text() == text
    finally:
        await client.close()
        await standin.stop()


async def test_a_provider_put_has_no_body_size_limit(tmp_path: Path) -> None:
    """halyard-web/.../controllers/v1/ProviderController.java `setProvider` takes `@RequestBody Object rawProvider`:
    Spring MVC reads it with Jackson from the servlet stream of the embedded Tomcat (halyard-web/halyard-web.gradle:
    spring-boot-starter-web). Tomcat's `maxPostSize` (2 MB) covers form parameters only, and spinnaker/kork
    kork-tomcat/.../DefaultTomcatConnectorCustomizer.java sets SSL and relaxed URI characters, no size. So a
    provider of thousands of accounts (several MiB) is one accepted PUT; the stand-in once refused it with 413."""
    standin = make_standin(tmp_path)
    await standin.start()
    client = HalyardClient.rest(standin.daemon_url, poll_interval=0.01, request_timeout=30.0, task_timeout=60.0)
    try:
        provider = await client.get_provider()
        accounts = [
            {
                "name": f"tenant-{i:04d}",
                "providerVersion": "V2",
                "context": "remote",
                "kubeconfigFile": f"/home/spinnaker/.hal/spinop/tenant-{i:04d}-{'0' * 64}.kubeconfig",
                "namespaces": [f"tenant-{i:04d}-apps"],
                "kinds": ["deployment", "service", "configMap", "replicaSet", "pod"],
                "permissions": {"READ": [f"tenant-{i:04d}-readers"], "WRITE": [f"tenant-{i:04d}-writers"]},
                "environment": "dev",
            }
            for i in range(6_000)
        ]
        body = {**provider, "enabled": True, "accounts": accounts}
        assert len(json.dumps(body)) > 2 * 1024 * 1024
        writes = standin.daemon.config_writes
        await client.set_provider(body, validate=False)
        assert standin.daemon.config_writes == writes + 1
        stored = (await client.get_provider())["accounts"]
        assert len(stored) == len(accounts)
    finally:
        await client.close()
        await standin.stop()
