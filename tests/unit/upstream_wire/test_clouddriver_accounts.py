"""Clouddriver's account management API (`/credentials`, through Gate): wire facts spinop and the stand-in rely on.

Read in spinnaker/clouddriver at 2f5e98f0 (May 2025), spinnaker/gate at c0c8d1d7, spinnaker/kork at a7b6fdea and
spinnaker/fiat at 25404916. Each test names the upstream file it pins.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from spinop.gate import (
    GateAccountExists,
    GateAccountRolesExcludeCaller,
    GateAccountsApiDisabled,
    GateClient,
    GateNotFound,
    GateRejected,
    GateSettings,
)
from spinop.gate.client import _account_error, _Response
from spinop.redact import Redacted
from spinop.spinnaker.account_definitions import (
    CUSTOM_RESOURCE_DEFAULTS,
    MANAGED_ACCOUNT_DEFAULTS,
    account_definition,
    as_clouddriver_stores,
)
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from tests.standins.gate import GateStandin
from tests.standins.gate import clouddriver_accounts as standin_clouddriver

KUBECONFIG = "apiVersion: v1\nkind: Config\n"
LOCKED_OUT = "without granting permissions for current user"


def desired(**overrides: Any) -> DesiredSpinnakerAccount:
    values: dict[str, Any] = {
        "owner": AccountOwner("team", "acct", "uid-1"),
        "name": "dev-team",
        "environment": "dev",
        "namespace": "team-dev",
        "context": "dev-team",
        "kubeconfig": Redacted(KUBECONFIG),
        "kubeconfig_fingerprint": "sha256:1",
        "kinds": ("deployment",),
        "permissions": (("READ", ("team",)), ("WRITE", ("team",))),
        "custom_resources": (("certificate.cert-manager.io", "unclassified", False),),
    }
    values.update(overrides)
    return DesiredSpinnakerAccount(**values)


@pytest.fixture
async def gate() -> AsyncIterator[GateStandin]:
    async with GateStandin(credentials_poll_interval=None) as standin:
        yield standin


@pytest.fixture
async def client(gate: GateStandin) -> AsyncIterator[GateClient]:
    async with GateClient(GateSettings(url=gate.url, retry_backoff=0.01)) as c:
        yield c


# ---- the body spinop sends -----------------------------------------------------------------------------------


async def test_the_exact_body_spinop_posts(gate: GateStandin, client: GateClient) -> None:
    # clouddriver-core jackson/mixins/CredentialsDefinitionMixin.java: @JsonTypeInfo(use = NAME, property = "type")
    # (since clouddriver #5666); clouddriver-kubernetes KubernetesAccountProperties.java: ManagedAccount is
    # @JsonTypeName("kubernetes"), `kubeconfigContents` carries the kubeconfig inline. Gate forwards the body as is
    # (gate-core ClouddriverService.AccountDefinition keeps `type` and every other key).
    await client.create_account(account_definition(desired(), None))
    [post] = [r for r in gate.requests if r.method == "POST"]
    assert (post.path, post.status) == ("/credentials", 200)
    assert gate.state.accounts["dev-team"]["type"] == "kubernetes"
    assert sent_body() == {
        "type": "kubernetes",
        "name": "dev-team",
        "environment": "dev",
        "context": "dev-team",
        "namespaces": ["team-dev"],
        "omitNamespaces": [],
        "kinds": ["deployment"],
        "omitKinds": [],
        "onlySpinnakerManaged": True,
        "cacheThreads": 1,
        "customResources": [
            {"kubernetesKind": "certificate.cert-manager.io", "spinnakerKind": "unclassified", "versioned": False}
        ],
        "serviceAccount": False,
        "permissions": {"READ": ["team"], "WRITE": ["team"]},
        "kubeconfigContents": KUBECONFIG,
    }


def sent_body() -> dict[str, Any]:
    body = account_definition(desired(), None)
    return {k: (v.reveal() if isinstance(v, Redacted) else v) for k, v in body.items()}


def test_at_type_is_never_sent_and_a_body_without_type_is_refused_like_clouddriver() -> None:
    # Jackson's polymorphic read (CredentialsDefinitionMixin) fails on a body without the "type" property.
    assert "@type" not in sent_body()
    with pytest.raises(standin_clouddriver.Rejected, match="missing type id property 'type'"):
        standin_clouddriver.read_definition({"@type": "kubernetes", "name": "x"})


def test_put_sends_the_same_body_as_post() -> None:
    # gate-web controllers/CredentialsController.groovy: PUT /credentials -> clouddriver PUT /credentials
    # (CredentialsController.saveAccount -> AccountDefinitionService.saveAccount -> repository.save, an upsert).
    stored = {**sent_body(), "metrics": True, "namingStrategy": "kubernetesAnnotations"}
    body = account_definition(desired(), stored)
    assert body["type"] == "kubernetes" and "@type" not in body
    assert body["metrics"] is True, "fields spinop does not set travel back as stored"


# ---- what clouddriver answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        # clouddriver-core security/AccountDefinitionService.java createAccount (InvalidRequestException -> 400 by
        # kork-web GenericExceptionHandlers), decided by accountCredentialsProvider, i.e. what is *loaded*.
        (400, "Cannot create an account which already exists (name: a)", GateAccountExists),
        # clouddriver-sql SqlAccountDefinitionRepository.create: a failed insert (the name stored, not yet loaded)
        # becomes SqlAccountDefinitionException, a kork UserException (400); measured as a 500 duplicate key too.
        (400, "Cannot create account with definition <redacted>", GateAccountExists),
        # clouddriver-web controllers/CredentialsController.java validateAccountStorageEnabled: kork's
        # ConfigurationException is a UserException -> 400 (not 404).
        (
            400,
            "Cannot use AccountDefinitionService endpoints without enabling AccountDefinitionService bean",
            GateAccountsApiDisabled,
        ),
        # AccountDefinitionService.validateAccountAuthorization, AccountAction CREATE / SAVE.
        (
            400,
            "Cannot create account without granting permissions for current user (name: a)",
            GateAccountRolesExcludeCaller,
        ),
        (
            400,
            "Cannot save account without granting permissions for current user (name: a)",
            GateAccountRolesExcludeCaller,
        ),
        # clouddriver-sql SqlAccountDefinitionRepository.delete: NotFoundException -> 404.
        (404, "No account found with name a", GateNotFound),
        (400, "Mismatched account names. URI value: a. Request body value: b.", GateRejected),
    ],
)
def test_error_texts_are_classified(status: int, message: str, error: type[GateRejected]) -> None:
    body = json.dumps({"timestamp": 1, "status": status, "error": "Bad Request", "message": message})
    classified = _account_error("POST", "/credentials", _Response(status, {}, body))
    assert type(classified) is error and classified.status == status


def test_the_standin_uses_the_same_texts() -> None:
    assert standin_clouddriver.STORAGE_OFF == (
        "Cannot use AccountDefinitionService endpoints without enabling AccountDefinitionService bean"
    )


async def test_put_never_answers_404_and_duplicate_post_is_400(gate: GateStandin, client: GateClient) -> None:
    await client.update_account(account_definition(desired(name="new-by-put"), None))  # upsert creates
    gate.state.poll_credentials()
    with pytest.raises(GateAccountExists) as dup:
        await client.create_account(account_definition(desired(name="new-by-put"), None))
    assert dup.value.status == 400
    assert [r.status for r in gate.requests] == [200, 400]


# ---- paging -----------------------------------------------------------------------------------------------------


async def test_paging_params_and_an_inclusive_start(gate: GateStandin, client: GateClient) -> None:
    # clouddriver-web CredentialsController.listAccountsByType: `limit` (default 100) and `startingAccountName`;
    # clouddriver-sql SqlAccountDefinitionRepository.listByType: `id >= startingAccountName ORDER BY id LIMIT n`,
    # rows that fail to deserialize dropped after the LIMIT; AccountDefinitionService.listAccountDefinitionsByType
    # adds Fiat's @PostFilter. So a page may be short while more remain: spinop pages until no new name comes.
    for name in ("a", "b", "c", "d", "e"):
        gate.state.create_account({"type": "kubernetes", "name": name}, "admin")
    gate.state.accounts["b"]["kubeconfigContents"] = "encrypted:s3!b:bucket!f:unreadable"
    names = [a["name"] for a in await client.list_accounts(page_size=2)]
    assert names == ["a", "c", "d", "e"]
    queries = [r.query for r in gate.requests if r.path == "/credentials/type/kubernetes"]
    assert queries[0] == "limit=2"
    assert queries[1] == "limit=3&startingAccountName=a", "the start is inclusive: one more to move a full page"


# ---- defaults clouddriver fills in ------------------------------------------------------------------------------


def test_defaulted_fields_are_clouddrivers() -> None:
    # clouddriver-kubernetes config/KubernetesAccountProperties.java (ManagedAccount field initialisers) and
    # config/CustomKubernetesResource.java; spinnaker's ObjectMapper writes NON_NULL (CloudDriverConfig.java).
    managed = standin_clouddriver.MANAGED_ACCOUNT_FIELDS
    for key, default in MANAGED_ACCOUNT_DEFAULTS.items():
        assert managed[key] == default, key
    assert (managed["namingStrategy"], managed["metrics"], managed["checkPermissionsOnStartup"]) == (
        "kubernetesAnnotations",
        True,
        True,
    )
    assert (managed["debug"], managed["cacheAllApplicationRelationships"]) == (False, False)
    assert set(managed["rawResourcesEndpointConfig"]) == {
        "kindExpressions",
        "omitKindExpressions",
        "kindPatterns",
        "omitKindPatterns",
    }
    assert (
        CUSTOM_RESOURCE_DEFAULTS
        == standin_clouddriver.CUSTOM_RESOURCE_DEFAULTS
        == {
            "spinnakerKind": "unclassified",  # SpinnakerKind.UNCLASSIFIED.toString()
            "deployPriority": "100",
            "versioned": False,
            "namespaced": True,
        }
    )
    stored = standin_clouddriver.kubernetes_definition({**sent_body(), "providerVersion": "V2"})
    assert "providerVersion" not in stored, "unknown keys are dropped"
    assert stored["customResources"][0] == {
        **sent_body()["customResources"][0],
        "deployPriority": "100",
        "namespaced": True,
    }
    assert as_clouddriver_stores(stored) == as_clouddriver_stores({**stored, **sent_body()}), "spinop's fields equal"


def test_permission_levels_are_sets() -> None:
    # fiat-core model/resources/Permissions.java: Permissions.Builder is a Map<Authorization, Set<String>>, so
    # order and duplicates do not survive a round trip; names are lowercased only when built for Fiat checks.
    a = as_clouddriver_stores({"permissions": {"WRITE": ["b", "a", "a"]}})
    b = as_clouddriver_stores({"permissions": {"WRITE": ["a", "b"]}})
    assert a["permissions"] == b["permissions"]


# ---- secrets behind references ----------------------------------------------------------------------------------


def test_an_encrypted_reference_is_decrypted_on_every_read_through_a_cache_that_is_never_cleared() -> None:
    # clouddriver-core security/AccountDefinitionMapper.java deserialize(): every textual field that is an
    # `encrypted:`/`encryptedFile:` reference is decrypted each time a definition is read (every poll, every
    # listing), through the SecretSession built once in config/AccountDefinitionConfiguration.java; kork-secrets
    # SecretSession.java caches by reference string and only clearCachedSecrets() empties it, which clouddriver
    # never calls for account definitions. So a secret rotated behind an unchanged reference stays old until restart.
    engine = standin_clouddriver.SecretEngine(values={"encrypted:s3!b:x!f:k": "v1"})
    stored = {"type": "kubernetes", "name": "a", "kubeconfigContents": "encrypted:s3!b:x!f:k"}
    assert engine.deserialize(stored)["kubeconfigContents"] == "v1"  # type: ignore[index]
    engine.values["encrypted:s3!b:x!f:k"] = "v2"
    assert engine.deserialize(stored)["kubeconfigContents"] == "v1"  # type: ignore[index]
    assert standin_clouddriver.is_encrypted_reference("encryptedFile:gcs!b:x!f:k")
    assert standin_clouddriver.is_encrypted_reference("ENCRYPTEDFILE:gcs!b:x!f:k")  # kork: case-insensitive
    assert not standin_clouddriver.is_encrypted_reference("ENCRYPTED:s3!b:x")  # ... but `encrypted:` is not


# ---- Fiat -------------------------------------------------------------------------------------------------------


def test_only_a_fiat_admin_may_store_an_account_whose_write_roles_exclude_its_own() -> None:
    # clouddriver-core AccountDefinitionService.validateAccountWritePermissions: returns early for policy.isAdmin;
    # DefaultAccountSecurityPolicy.isAccountManager lets account managers call the API but they are still checked;
    # AccessControlledAccountDefinitionAuthorizedRolesExtractor reads the WRITE roles; no WRITE roles = no check.
    fiat = standin_clouddriver.FiatPolicy(enabled=True, admins={"root"}, account_managers={"spinop"})
    locked = {"name": "a", "permissions": {"WRITE": ["team"]}}
    with pytest.raises(standin_clouddriver.Rejected) as refused:
        fiat.check_write_roles("spinop", ["spinop-role"], locked, "create")
    assert refused.value.message == "Cannot create account without granting permissions for current user (name: a)"
    fiat.check_write_roles("root", [], locked, "create")
    fiat.check_write_roles("spinop", ["team"], locked, "save")
    fiat.check_write_roles("spinop", [], {"name": "open", "permissions": {}}, "create")
    assert standin_clouddriver.FiatPolicy(enabled=False).is_admin("anyone"), "AllowAllAccountSecurityPolicy"
