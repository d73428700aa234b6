"""The accounts-api backend: its pure parts, and its batches against the Gate stand-in on loopback."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from spinop.config import AccountsApiSettings
from spinop.gate import (
    GateAccountExists,
    GateAccountRolesExcludeCaller,
    GateAccountsApiDisabled,
    GateClient,
    GateNotFound,
    GateRateLimited,
    GateRejected,
    GateSettings,
    GateUnauthorized,
    GateUnavailable,
)
from spinop.redact import Redacted
from spinop.spinnaker.account_definitions import (
    account_definition,
    definition_differs,
    gate_failure,
    kubernetes_view,
    to_definition,
)
from spinop.spinnaker.accounts_api_backend import AccountsApiBackend
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from spinop.spinnaker.inventory import InventoryEntry
from spinop.spinnaker.migration import plan_migration
from spinop.spinnaker.sync import BackendUnavailable, BatchResult, Removal, Upsert
from tests.standins.gate import GateStandin, Rejected

TOKEN = "eyJhbGciOiJSUzI1NiJ9.token-of-the-tenant"


def kubeconfig(token: str = TOKEN) -> Redacted[str]:
    return Redacted(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        f"users:\n- name: a\n  user:\n    token: {token}\n"
        "clusters:\n- name: a\n  cluster:\n    server: https://dev.example:6443\n"
        "contexts:\n- name: a\n  context: {cluster: a, user: a, namespace: team-dev}\n"
    )


def desired(name: str = "dev-team", token: str = TOKEN, **overrides: Any) -> DesiredSpinnakerAccount:
    config = kubeconfig(token)
    values: dict[str, Any] = {
        "owner": AccountOwner("team", name, f"uid-{name}"),
        "name": name,
        "environment": "dev",
        "namespace": "team-dev",
        "context": name,
        "kubeconfig": config,
        "kubeconfig_fingerprint": config.fingerprint(),
        "kinds": ("deployment", "service"),
        "permissions": (("READ", ("team",)), ("WRITE", ("team",))),
    }
    values.update(overrides)
    return DesiredSpinnakerAccount(**values)


# ------------------------------------------------------------------------------------------------- pure parts


def test_a_definition_is_clouddriver_shaped_with_the_kubeconfig_inline() -> None:
    halyard = {
        "name": "legacy",
        "providerVersion": "V2",
        "kubeconfigFile": "/home/spinnaker/.hal/legacy.yaml",
        "configureImagePullSecrets": True,
        "dockerRegistries": [],
        "kubectlPath": "/usr/local/bin/kubectl",
        "namespaces": ["legacy"],
        "cachingPolicies": [{"kubernetesKind": "pod", "maxEntriesPerAgent": 100}],
    }
    body = to_definition(halyard, kubeconfig())
    assert body["type"] == "kubernetes" and "@type" not in body
    assert body["kubeconfigContents"] == kubeconfig()
    assert body["kubectlExecutable"] == "/usr/local/bin/kubectl"
    for key in ("providerVersion", "kubeconfigFile", "configureImagePullSecrets", "dockerRegistries", "kubectlPath"):
        assert key not in body
    assert body["cachingPolicies"] == halyard["cachingPolicies"], "fields nobody manages travel as they are"
    assert TOKEN not in repr(body) and TOKEN not in str(body)


def test_spinops_fields_are_laid_over_the_stored_definition() -> None:
    stored = {
        "type": "kubernetes",
        "name": "dev-team",
        "namespaces": ["elsewhere"],
        "permissions": {"READ": ["old"], "EXECUTE": ["release-managers"]},
        "cachingPolicies": [{"kubernetesKind": "pod", "maxEntriesPerAgent": 5}],
        "kubeconfigFile": "encryptedFile:s3!b:bucket!f:old.yaml",
    }
    body = account_definition(desired(), stored)
    assert body["namespaces"] == ["team-dev"]
    assert body["permissions"] == {"READ": ["team"], "WRITE": ["team"], "EXECUTE": ["release-managers"]}
    assert body["cachingPolicies"] == stored["cachingPolicies"]
    assert "kubeconfigFile" not in body and "providerVersion" not in body
    assert body["kubeconfigContents"].reveal() == desired().kubeconfig.reveal()


def test_a_definition_differs_when_it_is_missing_edited_or_has_old_credentials() -> None:
    wanted = desired()
    stored = account_definition(wanted, None)
    assert definition_differs(wanted, None)
    assert not definition_differs(wanted, stored)
    assert definition_differs(wanted, {**stored, "namespaces": ["kube-system"]})
    assert definition_differs(desired(token="rotated"), stored)
    hidden = {k: v for k, v in stored.items() if k != "kubeconfigContents"}
    assert not definition_differs(wanted, hidden), "a listing without secrets is judged on the other fields"


@pytest.mark.parametrize(
    ("error", "reason", "needs_user"),
    [
        (GateUnavailable("GET: refused"), "GateUnavailable", False),
        (GateRateLimited("429", status=429), "GateRateLimited", False),
        (GateUnauthorized("403", status=403), "GateUnauthorized", False),
        (GateNotFound("404", status=404), "AccountsApiNotEnabled", False),
        (GateAccountsApiDisabled("storage off", status=400), "AccountsApiNotEnabled", False),
        (GateAccountExists("already exists", status=400), "AccountCreatedConcurrently", False),
        (GateAccountRolesExcludeCaller("locked out", status=400), "SpinnakerAccountRolesExcludeOperator", False),
        (GateRejected("kinds and omitKinds", status=400), "AccountsApiRejected", True),
    ],
)
def test_gate_failures_become_outcomes(error: Exception, reason: str, needs_user: bool) -> None:
    assert isinstance(error, GateUnavailable | GateRejected | GateUnauthorized)
    outcome = gate_failure(error, action="wrote account x")
    assert (outcome.ok, outcome.reason, outcome.needs_user) == (False, reason, needs_user)


def test_only_kubernetes_accounts_count_in_clouddriver_s_view() -> None:
    view = kubernetes_view(
        [{"name": "k", "cloudProvider": "kubernetes"}, {"name": "registry", "cloudProvider": "dockerRegistry"}]
    )
    assert list(view) == ["k"]


def test_the_migration_moves_spinops_accounts_and_only_drops_those_being_deleted() -> None:
    entries = {
        "a": InventoryEntry("u1", "t/a", "present"),
        "b": InventoryEntry("u2", "t/b", "adding"),
        "c": InventoryEntry("u3", "t/c", "deleting"),
        "not-in-halyard": InventoryEntry("u4", "t/d", "present"),
    }
    plan = plan_migration(entries, {"a", "b", "c", "legacy"})
    assert plan.move == ("a", "b")
    assert plan.drop == ("c",)


# --------------------------------------------------------------------------------- against the Gate stand-in


def fast(url: str) -> GateSettings:
    return dataclasses.replace(GateSettings(url=url), retry_backoff=0.01, rate_limit_min_wait=0.01, request_timeout=5.0)


@pytest.fixture
async def gate() -> AsyncIterator[GateStandin]:
    async with GateStandin(credentials_poll_interval=0.05) as standin:
        yield standin


@pytest.fixture
async def client(gate: GateStandin) -> AsyncIterator[GateClient]:
    async with GateClient(fast(gate.url)) as c:
        yield c


@pytest.fixture
async def no_poller() -> AsyncIterator[tuple[GateStandin, GateClient]]:
    """A Gate whose clouddriver polls only when the test says so."""
    async with (
        GateStandin(credentials_poll_interval=None) as standin,
        GateClient(fast(standin.url)) as c,
    ):
        yield standin, c


def backend(client: GateClient, **settings: Any) -> AccountsApiBackend:
    values: dict[str, Any] = {"reload_seconds": 0.0, "load_timeout_seconds": 5.0, "concurrency": 4, **settings}
    return AccountsApiBackend(AccountsApiSettings(**values), client)


async def apply(
    b: AccountsApiBackend, upserts: list[DesiredSpinnakerAccount], removals: tuple[str, ...] = ()
) -> BatchResult:
    live = await b.list_accounts()
    return await b.apply(
        [Upsert(d, live.get(d.name), owned=d.name in live) for d in upserts],  # as the sync's inventory says
        [Removal(AccountOwner("team", n, f"uid-{n}"), n) for n in removals],
    )


async def test_a_batch_creates_updates_and_deletes_without_a_deploy(
    gate: GateStandin, client: GateClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    b = backend(client, reload_seconds=0.3)
    names = [f"acct-{i}" for i in range(6)]
    result = await apply(b, [desired(n) for n in names])
    assert all(o.ok for o in result.outcomes.values()) and set(result.outcomes) == set(names)
    assert result.change is not None and result.change.backend == "accounts-api"
    assert gate.request_count("POST", "^/credentials$") == 6
    assert set(gate.state.loaded_accounts) == set(names), "Synced means clouddriver loaded them"
    assert gate.state.accounts["acct-0"]["kubeconfigContents"] == kubeconfig().reveal()

    # Rotation: one PUT, and the batch waits one poller period before it reports.
    started = time.monotonic()
    result = await apply(b, [desired("acct-0", token="rotated-token")], ("acct-5",))
    assert time.monotonic() - started >= 0.3
    assert all(o.ok for o in result.outcomes.values())
    assert gate.request_count("PUT", "^/credentials$") == 1
    assert "rotated-token" in gate.state.accounts["acct-0"]["kubeconfigContents"]
    assert "acct-5" not in gate.state.accounts

    # Nothing to change: no write and no change record.
    writes = len([r for r in gate.requests if r.method != "GET"])
    result = await apply(b, [desired("acct-1")])
    assert result.outcomes["acct-1"].ok and result.change is None
    assert len([r for r in gate.requests if r.method != "GET"]) == writes
    assert TOKEN not in caplog.text and "rotated-token" not in caplog.text


async def test_a_deleted_name_is_created_again(gate: GateStandin, client: GateClient) -> None:
    b = backend(client)
    await apply(b, [desired("again")])
    await apply(b, [], ("again",))
    assert "again" in gate.state.deleted_accounts
    result = await apply(b, [desired("again", token="second-life")])
    assert result.outcomes["again"].ok
    assert "second-life" in gate.state.accounts["again"]["kubeconfigContents"]
    history = gate.state.account_history["again"]
    assert [h["deleted"] for h in history] == [False, True, False]


async def test_a_freshly_deleted_account_still_loaded_is_not_mistaken_for_a_static_one(
    no_poller: tuple[GateStandin, GateClient],
) -> None:
    gate, client = no_poller
    b = backend(client, load_timeout_seconds=0)
    await apply(b, [desired("gone")])
    gate.state.poll_credentials()
    await apply(b, [], ("gone",))
    live = await b.list_accounts()  # clouddriver has not polled yet: it still shows "gone"
    assert "gone" not in live


async def test_a_static_account_is_reported_and_never_taken_over(gate: GateStandin, client: GateClient) -> None:
    gate.state.static_accounts = {"halconfig-prod": {"name": "halconfig-prod", "type": "kubernetes"}}
    b = backend(client)
    live = await b.list_accounts()
    assert "halconfig-prod" in live, "the sync must see the name as taken"
    adopt = desired("halconfig-prod", adopt=True)
    assert b.needs_write(adopt, live["halconfig-prod"])
    result = await b.apply([Upsert(adopt, live["halconfig-prod"])], [])
    outcome = result.outcomes["halconfig-prod"]
    assert (outcome.ok, outcome.reason, outcome.needs_user) == (False, "AccountInStaticConfig", True)
    assert "halconfig-prod" not in gate.state.accounts


async def test_gate_down_fails_the_batch_account_by_account_and_listing_as_unavailable(
    gate: GateStandin, client: GateClient
) -> None:
    b = backend(client)
    live = await b.list_accounts()
    await gate.go_down()
    result = await b.apply([Upsert(desired(n), live.get(n)) for n in ("x", "y", "z")], [])
    assert {o.reason for o in result.outcomes.values()} == {"GateUnavailable"}
    assert not any(o.needs_user for o in result.outcomes.values())
    with pytest.raises(BackendUnavailable) as raised:
        await b.list_accounts()
    assert raised.value.reason == "GateUnavailable"


async def test_refused_content_needs_the_user_and_says_why(gate: GateStandin, client: GateClient) -> None:
    b = backend(client)
    gate.fail_next(1, status=422, path="^/credentials$", method="POST")
    result = await apply(b, [desired("bad")])
    outcome = result.outcomes["bad"]
    assert (outcome.reason, outcome.needs_user) == ("AccountsApiRejected", True)
    assert TOKEN not in outcome.message


async def test_an_account_clouddriver_never_loads_is_reported(no_poller: tuple[GateStandin, GateClient]) -> None:
    _, client = no_poller
    result = await apply(backend(client, load_timeout_seconds=0.5), [desired("stored-only")])
    outcome = result.outcomes["stored-only"]
    assert (outcome.ok, outcome.reason) == (False, "NotLoadedByClouddriver")
    assert "credentials.poller" in outcome.message
    assert "account.storage.enabled" in outcome.message and "account.storage.kubernetes.enabled" in outcome.message


async def test_an_account_with_custom_resources_is_not_rewritten_at_steady_state(
    gate: GateStandin, client: GateClient
) -> None:
    # Clouddriver stores CustomKubernetesResource with deployPriority/namespaced (and more) filled in.
    b = backend(client)
    crd = desired("crd-team", custom_resources=(("certificate.cert-manager.io", "unclassified", False),))
    assert (await apply(b, [crd])).outcomes["crd-team"].ok
    stored = gate.state.accounts["crd-team"]["customResources"][0]
    assert (stored["deployPriority"], stored["namespaced"]) == ("100", True)
    writes = gate.request_count("PUT") + gate.request_count("POST", "^/credentials$")
    for _ in range(3):
        live = await b.list_accounts()
        assert not b.needs_write(crd, live["crd-team"])
        result = await b.apply([Upsert(crd, live["crd-team"], owned=True)], [])
        assert result.change is None
    assert gate.request_count("PUT") + gate.request_count("POST", "^/credentials$") == writes


async def test_a_name_someone_else_creates_meanwhile_is_refused_and_left_alone(
    gate: GateStandin, client: GateClient
) -> None:
    b = backend(client)
    live = await b.list_accounts()
    assert "contested" not in live
    theirs = {"type": "kubernetes", "name": "contested", "namespaces": ["kube-system"], "kubeconfigContents": "x"}
    gate.state.create_account(theirs, "alice")
    gate.state.poll_credentials()
    result = await b.apply([Upsert(desired("contested"), None, owned=False)], [])
    outcome = result.outcomes["contested"]
    assert (outcome.ok, outcome.reason, outcome.needs_user, outcome.disown) == (
        False,
        "AccountExistsInSpinnaker",
        True,
        True,
    )
    assert gate.state.accounts["contested"]["namespaces"] == ["kube-system"]
    assert gate.request_count("PUT") == 0


async def test_an_account_only_written_ahead_is_spinops_only_if_it_holds_spinops_kubeconfig(
    gate: GateStandin, client: GateClient
) -> None:
    # The inventory entry is still "adding" (an earlier attempt failed): ownership is proven by the stored token.
    b = backend(client)
    theirs = {"type": "kubernetes", "name": "taken", "namespaces": ["x"], "kubeconfigContents": "theirs"}
    gate.state.create_account(theirs, "alice")
    gate.state.create_account({**theirs, "name": "lost-answer", "kubeconfigContents": kubeconfig().reveal()}, "spinop")
    gate.state.poll_credentials()
    live = await b.list_accounts()
    result = await b.apply([Upsert(desired(n), live[n], owned=False) for n in ("taken", "lost-answer")], [])
    assert (result.outcomes["taken"].reason, result.outcomes["taken"].disown) == ("AccountExistsInSpinnaker", True)
    assert gate.state.accounts["taken"]["namespaces"] == ["x"]
    assert result.outcomes["lost-answer"].ok
    assert gate.state.accounts["lost-answer"]["namespaces"] == ["team-dev"]


async def test_a_name_spinop_already_owns_converges_after_a_refused_post(gate: GateStandin, client: GateClient) -> None:
    b = backend(client)
    gate.state.create_account(
        {"type": "kubernetes", "name": "mine", "namespaces": ["old"], "kubeconfigContents": "x"}, "spinop"
    )
    gate.state.poll_credentials()  # e.g. an earlier attempt whose answer was lost
    result = await b.apply([Upsert(desired("mine"), None, owned=True)], [])
    assert result.outcomes["mine"].ok
    assert gate.state.accounts["mine"]["namespaces"] == ["team-dev"]


async def test_storage_off_is_reported_with_both_settings(gate: GateStandin, client: GateClient) -> None:
    gate.set_accounts_api(storage=False)
    b = backend(client)
    with pytest.raises(BackendUnavailable) as listing:
        await b.list_accounts()
    result = await b.apply([Upsert(desired("x"), None)], [])
    assert listing.value.reason == result.outcomes["x"].reason == "AccountsApiNotEnabled"
    for message in (listing.value.message, result.outcomes["x"].message):
        assert "account.storage.enabled" in message and "account.storage.kubernetes.enabled" in message
    assert gate.state.accounts == {}


async def test_fiat_refuses_an_account_that_locks_spinop_out_with_its_own_reason() -> None:
    # clouddriver AccountDefinitionService.validateAccountAuthorization: only a Fiat admin is exempt.
    async with (
        GateStandin(
            credentials_poll_interval=0.05,
            fiat=True,
            roles={"anonymous": ["spinop-operators"]},
            account_managers=["anonymous"],
        ) as gate,
        GateClient(fast(gate.url)) as client,
    ):
        b = backend(client)
        result = await b.apply([Upsert(desired("locked"), None)], [])
        outcome = result.outcomes["locked"]
        assert (outcome.ok, outcome.reason) == (False, "SpinnakerAccountRolesExcludeOperator")
        assert "Fiat admin" in outcome.message and "WRITE" in outcome.message
        assert gate.state.accounts == {}
        gate.set_accounts_api(admins=["anonymous"])
        assert (await b.apply([Upsert(desired("locked"), None)], [])).outcomes["locked"].ok


async def test_a_failed_insert_for_a_name_nobody_has_is_retried_not_blamed_on_someone(
    gate: GateStandin, client: GateClient
) -> None:
    # clouddriver-sql SqlAccountDefinitionRepository.create turns any failed insert into a 400 "Cannot create
    # account with definition ..."; when the name is neither stored nor loaded it was not someone else's.
    def failed_insert(definition: dict[str, Any], user: str, roles: list[str] | None = None) -> dict[str, Any]:
        raise Rejected("Cannot create account with definition {}", 400)

    gate.state.create_account = failed_insert  # type: ignore[method-assign,assignment]
    result = await backend(client).apply([Upsert(desired("flaky"), None)], [])
    outcome = result.outcomes["flaky"]
    assert (outcome.reason, outcome.needs_user, outcome.disown) == ("AccountCreatedConcurrently", False, False)
    assert gate.request_count("PUT") == 0
