"""The admission webhook's pure parts: decisions, claims that count, verdicts, settings, certificates, the hook."""

from __future__ import annotations

import copy
import ipaddress
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from cryptography import x509

from spinop import tenancy
from spinop.admission import observe, rules, server
from spinop.admission.pipelines import (
    PipelineReview,
    pipeline_validators,
    register_pipeline_validator,
    unregister_pipeline_validator,
)
from spinop.admission.rules import AccountWorld, ClusterWorld, SecretState, TenantAccount
from spinop.api.errors import FieldError
from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerAccountSpec, SpinnakerCluster
from spinop.config import AdmissionSettings, OperatorConfig
from spinop.handlers import admission as handlers
from spinop.tenancy import AccountClaim
from tests.unit.api.invalid_corpus import (
    BASE_SETUP,
    MAX_ACCOUNTS_ON_MISSING_CLUSTERS,
    OPERATOR_NAMESPACES,
    InvalidCase,
    TenancyWorld,
    account,
    cases,
    cluster,
    pipeline,
)

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (a setting under test; nothing binds)

# --- helpers --------------------------------------------------------------------------------------------------


def world_for(case: InvalidCase, operation: str = rules.CREATE) -> AccountWorld:
    """What `observe.account_world` would read from an apiserver holding BASE_SETUP and the case's setup."""
    world = TenancyWorld.for_case(case)
    claims = [c for c in (tenancy.claim_from_body(a) for a in world.accounts) if c is not None]
    tenant = case.obj["metadata"]["namespace"]
    judge = world.judge()
    return AccountWorld(
        tenant_labels=world.namespace_labels.get(tenant, {}),
        clusters=world.clusters,
        winners=tuple(observe.winning_claims(operation, claims, case.obj, judge.stands)),
        boundaries=judge.boundaries,
        on_missing_clusters=observe.claims_on_missing_clusters(operation, claims, case.obj, world.clusters),
    )


def decide(case: InvalidCase) -> rules.Verdict:
    operation = rules.UPDATE if case.old is not None else rules.CREATE
    return rules.decide_account(
        operation,
        case.obj,
        case.old,
        world_for(case, operation),
        reserved=OPERATOR_NAMESPACES,
        max_accounts_on_missing_clusters=MAX_ACCOUNTS_ON_MISSING_CLUSTERS,
    )


def stored(body: Mapping[str, Any], uid: str, created: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(body))
    out["metadata"].update(uid=uid, creationTimestamp=created)
    return out


def names_field(verdict: rules.Verdict, field: str) -> bool:
    return any(e.path == field or field in e.message for e in verdict.errors) and field in verdict.message


# --- the corpus -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("admission"), ids=lambda c: c.id)
def test_every_admission_case_is_refused_as_forbidden_naming_the_field(case: InvalidCase) -> None:
    verdict = decide(case)
    assert not verdict.allowed, f"{case.id}: admitted"
    # 422 for an unreadable SpinnakerCluster: no tenancy rule forbids it, the cluster it names is malformed.
    assert verdict.code == (rules.INVALID if verdict.reason == "ClusterInvalid" else rules.FORBIDDEN)
    assert names_field(verdict, case.field), verdict.message
    assert verdict.message.startswith(verdict.reason + ": ")


@pytest.mark.parametrize(
    "case",
    [c for c in cases("schema") if c.obj["kind"] == "SpinnakerAccount" and not c.strict],
    ids=lambda c: c.id,
)
def test_schema_cases_are_refused_again_as_invalid(case: InvalidCase) -> None:
    """The webhook repeats the CRD's checks from the models (an older installed CRD must not let them through)."""
    verdict = decide(case)
    assert not verdict.allowed and verdict.code == rules.INVALID and verdict.reason == "Invalid"
    assert names_field(verdict, case.field), verdict.message


def test_setup_objects_are_admitted_in_order() -> None:
    for case in cases("admission"):
        for i, obj in enumerate(case.setup):
            earlier = InvalidCase(case.id, "", "admission", "", obj, setup=case.setup[:i])
            assert decide(earlier).allowed, f"{case.id}: setup {obj['metadata']['name']}: {decide(earlier).message}"


def test_all_violations_are_reported_at_once_under_the_first_reason() -> None:
    case = InvalidCase("x", "", "admission", "", account(namespace="kube-system", profile="readonly"))
    verdict = decide(case)
    assert verdict.reason == "NamespaceNotAllowed"
    assert [e.path for e in verdict.errors] == ["spec.namespace", "spec.profile"]


def test_tenancy_refusal_is_the_reconciles_first_violation() -> None:
    """The reconcile keeps reporting one reason: the first violated rule, with all its errors."""
    world = TenancyWorld.for_case(InvalidCase("x", "", "admission", "", account()))
    model = SpinnakerAccount.model_validate(account(namespace="kube-system", profile="readonly"))
    refusal = tenancy.tenancy_refusal(
        model.spec,
        tenant="corpus-a",
        name="corpus-account",
        tenant_labels=world.namespace_labels["corpus-a"],
        cluster_name="corpus",
        cluster=SpinnakerCluster.model_validate(world.clusters["corpus"]).spec,
        winners=[],
        reserved=OPERATOR_NAMESPACES,
    )
    assert refusal is not None and refusal.reason == "NamespaceNotAllowed" and refusal.needs_user
    assert refusal.message.startswith("spec.namespace: ") and "spec.profile" not in refusal.message


# --- which requests are looked at -----------------------------------------------------------------------------


def test_only_creates_and_spec_changes_are_reviewed() -> None:
    old = stored(account(), "u1", "2026-01-01T00:00:00Z")
    annotated = copy.deepcopy(old)
    annotated["metadata"]["annotations"] = {"kopf.spinop.io/reconcile": "{}"}
    annotated["metadata"]["finalizers"] = ["spinop.io/finalizer"]
    changed = copy.deepcopy(old)
    changed["spec"]["profile"] = "readonly"
    deleting = copy.deepcopy(changed)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"

    assert rules.needs_review(rules.CREATE, account(), None)
    assert rules.needs_review(rules.UPDATE, changed, old)
    assert not rules.needs_review(rules.UPDATE, annotated, old)  # kopf's bookkeeping, finalizers
    assert not rules.needs_review(rules.UPDATE, deleting, old)  # never block a finalizer's removal
    assert not rules.needs_review("DELETE", None, old)


def test_a_new_account_loses_to_every_existing_claim_an_update_only_to_older_ones() -> None:
    older = stored(account("holder", tenant="corpus-b", accountName="shared"), "u-old", "2026-01-01T00:00:00Z")
    me = stored(account("me", accountName="shared"), "u-me", "2026-01-02T00:00:00Z")
    younger = stored(account("late", tenant="corpus-x", accountName="shared"), "u-new", "2026-01-03T00:00:00Z")
    claims = [c for c in (tenancy.claim_from_body(b) for b in (older, me, younger)) if c is not None]

    on_create = observe.winning_claims(rules.CREATE, [c for c in claims if c.uid != "u-me"], account("me"))
    assert {c.name for c in on_create} == {"holder", "late"}
    on_update = observe.winning_claims(rules.UPDATE, claims, me)
    assert [c.name for c in on_update] == ["holder"]
    # The older holder stays editable although a younger account (admitted while the webhook was down) has its name.
    assert observe.winning_claims(rules.UPDATE, claims, older) == []


def test_an_update_that_keeps_the_claim_is_not_refused_by_itself() -> None:
    old = stored(account(), "u1", "2026-01-01T00:00:00Z")
    new = copy.deepcopy(old)
    new["spec"]["cacheThreads"] = 4
    case = InvalidCase("x", "", "admission", "", new, old=old, setup=(old,))
    assert decide(case).allowed


def test_an_update_cannot_widen_beyond_the_rules() -> None:
    old = stored(account(), "u1", "2026-01-01T00:00:00Z")
    new = copy.deepcopy(old)
    new["spec"]["extraRules"] = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    verdict = decide(InvalidCase("x", "", "admission", "", new, old=old, setup=(old,)))
    assert verdict.code == rules.FORBIDDEN and verdict.reason == "ExtraRulesNotAllowed"


# --- unknown and unreadable clusters --------------------------------------------------------------------------


def test_an_unknown_cluster_is_admitted_with_a_warning_listing_the_clusters_open_to_the_tenant() -> None:
    # GitOps syncs send accounts and clusters together in no fixed order; the reconcile reports ClusterNotFound.
    verdict = decide(InvalidCase("x", "", "admission", "", account(cluster="nowhere")))
    assert verdict.allowed
    (warning,) = verdict.warnings
    assert warning.startswith("spec.cluster: SpinnakerCluster 'nowhere' does not exist")
    # corpus-closed has no namespaceSelector: it is not offered.
    assert "open to namespace corpus-a: corpus, corpus-wild" in warning


def test_an_unknown_cluster_for_an_unselected_tenant_says_to_ask_an_admin() -> None:
    verdict = decide(InvalidCase("x", "", "admission", "", account(tenant="corpus-unlabelled", cluster="nowhere")))
    assert verdict.allowed
    assert "no SpinnakerCluster accepts namespace corpus-unlabelled yet" in verdict.warnings[0]


def test_an_update_after_the_cluster_was_deleted_is_admitted_with_a_warning() -> None:
    old = stored(account(cluster="gone"), "u1", "2026-01-01T00:00:00Z")
    new = copy.deepcopy(old)
    new["spec"]["deletionPolicy"] = "Delete"
    verdict = decide(InvalidCase("x", "", "admission", "", new, old=old))
    assert verdict.allowed and "does not exist" in verdict.warnings[0]


def test_a_cluster_with_an_unreadable_spec_refuses_accounts_with_the_reason() -> None:
    case = InvalidCase("x", "", "admission", "", account())
    world = world_for(case)
    broken = copy.deepcopy(dict(world.clusters))
    broken["corpus"] = cluster(environment="Not A Label")
    verdict = rules.decide_account(
        rules.CREATE,
        case.obj,
        None,
        AccountWorld(world.tenant_labels, broken, world.winners),
        reserved=OPERATOR_NAMESPACES,
    )
    assert verdict.reason == "ClusterInvalid" and "spec.environment" in verdict.message


@pytest.mark.parametrize(("policy", "allowed", "code"), [("Ignore", True, None), ("Fail", False, rules.UNAVAILABLE)])
def test_when_mgmt_cannot_be_read_the_failure_policy_decides(policy: str, allowed: bool, code: int | None) -> None:
    verdict = rules.unavailable("the tenancy rules", policy, "MGMT API answered HTTP 500")
    assert verdict.allowed is allowed
    if allowed:
        assert "checks it when it reconciles" in verdict.warnings[0]
    else:
        assert verdict.code == code and "try again" in verdict.message


# --- SpinnakerCluster -----------------------------------------------------------------------------------------


def test_a_cluster_whose_secret_is_missing_is_admitted_with_a_warning() -> None:
    body = cluster("c1")
    missing = rules.decide_cluster(
        rules.CREATE,
        "c1",
        body,
        None,
        ClusterWorld(secret=SecretState("devops", "c1-admin-kubeconfig", exists=False)),
        reserved=OPERATOR_NAMESPACES,
    )
    assert missing.allowed
    assert missing.warnings[0].startswith("spec.kubeconfigSecretRef: Secret devops/c1-admin-kubeconfig does not exist")
    wrong_key = rules.decide_cluster(
        rules.CREATE,
        "c1",
        body,
        None,
        ClusterWorld(secret=SecretState("devops", "c1-admin-kubeconfig", exists=True, keys=frozenset({"config"}))),
        reserved=OPERATOR_NAMESPACES,
    )
    assert wrong_key.allowed and "has no key 'kubeconfig' (its keys: config)" in wrong_key.warnings[0]
    fine = rules.decide_cluster(
        rules.CREATE,
        "c1",
        body,
        None,
        ClusterWorld(secret=SecretState("devops", "c1-admin-kubeconfig", exists=True, keys=frozenset({"kubeconfig"}))),
        reserved=OPERATOR_NAMESPACES,
    )
    assert fine == rules.ADMIT


def test_tightening_tenancy_warns_about_the_accounts_it_strands() -> None:
    old = cluster("corpus")
    new = cluster("corpus", tenancy={"allowedProfiles": ["readonly"]})
    assert rules.tenancy_changed(new, old) and not rules.tenancy_changed(old, old)
    stranded = TenantAccount(
        spec=SpinnakerAccountSpec.model_validate(account()["spec"]),
        tenant="corpus-a",
        name="corpus-account",
        tenant_labels={"spinop.io/tenant": "true"},
        winners=(),
    )
    verdict = rules.decide_cluster(
        rules.UPDATE, "corpus", new, old, ClusterWorld(accounts=(stranded,)), reserved=OPERATOR_NAMESPACES
    )
    assert verdict.allowed
    assert verdict.warnings == (
        "spec.tenancy: 1 existing SpinnakerAccount(s) no longer meet these rules: corpus-a/corpus-account "
        "(spec.profile: ProfileNotAllowed); they report the refusal in status.conditions and spinop stops "
        "maintaining them until they or the rules change",
    )


@pytest.mark.parametrize(
    "case", [c for c in cases("schema") if c.obj["kind"] == "SpinnakerCluster"], ids=lambda c: c.id
)
def test_cluster_schema_cases_are_refused_again(case: InvalidCase) -> None:
    verdict = rules.decide_cluster(
        rules.CREATE, case.obj["metadata"]["name"], case.obj, None, ClusterWorld(), reserved=OPERATOR_NAMESPACES
    )
    assert verdict.code == rules.INVALID and names_field(verdict, case.field), verdict.message


def test_base_setup_clusters_are_admitted() -> None:
    for obj in BASE_SETUP:
        if obj["kind"] == "SpinnakerCluster":
            verdict = rules.decide_cluster(
                rules.CREATE, obj["metadata"]["name"], obj, None, ClusterWorld(), reserved=OPERATOR_NAMESPACES
            )
            assert verdict == rules.ADMIT


# --- SpinnakerPipeline and the hook ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", [c for c in cases("schema") if c.obj["kind"] == "SpinnakerPipeline"], ids=lambda c: c.id
)
def test_pipeline_schema_cases_are_refused_again(case: InvalidCase) -> None:
    operation = rules.UPDATE if case.old is not None else rules.CREATE
    verdict = rules.decide_pipeline_schema(operation, case.obj, case.old)
    assert verdict.code == rules.INVALID and names_field(verdict, case.field), verdict.message


def fake_memo(policy: str = "Ignore") -> kopf.Memo:
    config = OperatorConfig.model_validate({"admission": {"failure_policy": policy}})
    memo = kopf.Memo()
    memo["ctx"] = SimpleNamespace(config=config, mgmt=None)
    return memo


async def test_registered_pipeline_validators_refuse_with_403_and_all_their_errors() -> None:
    seen: list[PipelineReview] = []

    async def guard(review: PipelineReview) -> Sequence[FieldError]:
        seen.append(review)
        return [FieldError("spec.pipeline.stages[0].account", "not one of namespace corpus-a's accounts: use a, b")]

    register_pipeline_validator(guard)
    register_pipeline_validator(guard)  # once is enough
    try:
        with pytest.raises(kopf.AdmissionError) as refused:
            await handlers.validate_pipeline(
                memo=fake_memo(), warnings=[], dryrun=True, operation="CREATE", new=pipeline(), old=None
            )
    finally:
        unregister_pipeline_validator(guard)
    assert refused.value.code == rules.FORBIDDEN
    assert str(refused.value) == (
        "PipelineNotAllowed: spec.pipeline.stages[0].account: not one of namespace corpus-a's accounts: use a, b"
    )
    assert len(seen) == 1 and seen[0].dry_run and seen[0].pipeline.spec.application == "corpus-a-app"


async def test_a_failing_pipeline_validator_is_answered_by_the_failure_policy() -> None:
    async def broken(review: PipelineReview) -> Sequence[FieldError]:
        raise RuntimeError("bug")

    register_pipeline_validator(broken)
    try:
        warnings: list[str] = []
        await handlers.validate_pipeline(
            memo=fake_memo("Ignore"), warnings=warnings, dryrun=False, operation="CREATE", new=pipeline(), old=None
        )
        assert "could not check the pipeline tenant guard" in warnings[0]
        with pytest.raises(kopf.AdmissionError) as refused:
            await handlers.validate_pipeline(
                memo=fake_memo("Fail"), warnings=[], dryrun=False, operation="CREATE", new=pipeline(), old=None
            )
        assert refused.value.code == rules.UNAVAILABLE
    finally:
        unregister_pipeline_validator(broken)


async def test_account_handler_answers_from_the_observed_world(monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in cases("admission") if c.id == "tenancy-account-name-taken")
    monkeypatch.setattr(observe, "account_world", lambda api, operation, body, reserved: world_for(case))
    with pytest.raises(kopf.AdmissionError) as refused:
        await handlers.validate_account(memo=fake_memo(), warnings=[], operation="CREATE", new=case.obj, old=None)
    assert refused.value.code == rules.FORBIDDEN
    assert str(refused.value).startswith("AccountNameTaken: spec.accountName: Spinnaker account name 'corpus-a-shared'")


async def test_account_handler_admits_when_mgmt_is_unreadable_under_ignore(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(api: Any, operation: str, body: Any, reserved: Any) -> AccountWorld:
        raise ConnectionRefusedError

    monkeypatch.setattr(observe, "account_world", unreachable)
    warnings: list[str] = []
    await handlers.validate_account(memo=fake_memo(), warnings=warnings, operation="CREATE", new=account(), old=None)
    assert "ConnectionRefusedError" in warnings[0]


@pytest.fixture()
def validators_restored() -> Iterator[None]:
    """`register` adds the pipeline tenant guard to the process-wide validators: put them back as they were, or
    later tests' webhook calls would run the guard against their fake (None) MGMT client."""
    before = pipeline_validators()
    yield
    for validator in pipeline_validators():
        unregister_pipeline_validator(validator)
    for validator in before:
        register_pipeline_validator(validator)


def test_register_is_idempotent_and_sets_the_failure_policy(validators_restored: None) -> None:
    registry = kopf.OperatorRegistry()
    handlers.register(AdmissionSettings(failure_policy="Fail"), registry)
    handlers.register(AdmissionSettings(failure_policy="Fail"), registry)
    webhooks = registry._webhooks.get_all_handlers()
    assert sorted(h.id for h in webhooks) == [
        handlers.ACCOUNT_WEBHOOK,
        handlers.CLUSTER_WEBHOOK,
        handlers.PIPELINE_WEBHOOK,
    ]
    assert all(h.ignore_failures is False and h.persistent is True for h in webhooks)
    assert all(sorted(h.operations or ()) == ["CREATE", "UPDATE"] for h in webhooks)


def test_refusals_are_logged_at_info_other_errors_stay_errors() -> None:
    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, msg, None, None)

    refusal = record("Webhook 'validate-spinnakeraccount' failed permanently: AccountNameTaken: spec.accountName: ...")
    other = record("Handler 'reconcile' failed permanently: boom")
    log_filter = handlers.RefusalsAreNotErrors()
    assert log_filter.filter(refusal) and log_filter.filter(other)
    assert (refusal.levelname, other.levelname) == ("INFO", "ERROR")


# --- settings and certificates --------------------------------------------------------------------------------


def test_admission_settings_from_the_environment() -> None:
    config = OperatorConfig.load(
        {
            "SPINOP_ADMISSION__ENABLED": "true",
            "SPINOP_ADMISSION__LISTEN_ADDRESS": ALL_INTERFACES,
            "SPINOP_ADMISSION__CERT_FILE": "/etc/spinop-webhook/tls.crt",
            "SPINOP_ADMISSION__KEY_FILE": "/etc/spinop-webhook/tls.key",
            "SPINOP_ADMISSION__MANAGED": "",
        }
    )
    assert config.admission.enabled and config.admission.managed is None
    assert OperatorConfig.load({}).admission.enabled is False


@pytest.mark.parametrize(
    "settings",
    [
        {"enabled": True},  # static configuration without a certificate
        {"enabled": True, "managed": "spinop.io", "cert_file": "/tls.crt"},  # a certificate without its key
        {"failure_policy": "Sometimes"},
    ],
)
def test_incomplete_admission_settings_fail_at_start_up(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="admission"):
        OperatorConfig.model_validate({"admission": settings})


def test_listen_address_defaults_by_mode() -> None:
    assert AdmissionSettings(managed="spinop.io").address == "127.0.0.1"  # development: next to the apiserver
    assert AdmissionSettings(cert_file="c", key_file="k").address == ALL_INTERFACES  # a Pod behind a Service
    assert AdmissionSettings(listen_address="10.1.2.3").address == "10.1.2.3"


def test_advertised_host() -> None:
    assert server.advertised_host(AdmissionSettings(managed="spinop.io")) == "127.0.0.1"
    assert server.advertised_host(AdmissionSettings(listen_address=ALL_INTERFACES)) == "127.0.0.1"
    assert server.advertised_host(AdmissionSettings(listen_address=ALL_INTERFACES, host="spinop.example")) == (
        "spinop.example"
    )


def test_development_certificate_is_issued_by_its_own_ca_for_the_advertised_host(tmp_path: Path) -> None:
    files = server.generate_serving_files(AdmissionSettings(managed="spinop.io", enabled=True), tmp_path)
    assert files.ca_file is not None
    ca = x509.load_pem_x509_certificate(Path(files.ca_file).read_bytes())
    leaf = x509.load_pem_x509_certificate(Path(files.cert_file).read_bytes())
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert Path(files.key_file).stat().st_mode & 0o077 == 0


def test_production_files_are_used_as_given() -> None:
    settings = AdmissionSettings(enabled=True, cert_file="/etc/w/tls.crt", key_file="/etc/w/tls.key")
    files = server.serving_files(settings)
    assert (files.cert_file, files.key_file, files.ca_file) == ("/etc/w/tls.crt", "/etc/w/tls.key", None)


def test_the_index_claim_is_the_claim_tenancy_judges() -> None:
    claim = tenancy.claim_from_body(stored(account(), "u", "t"))
    assert isinstance(claim, AccountClaim)
