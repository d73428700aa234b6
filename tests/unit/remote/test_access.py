"""RBAC rule matching as the Kubernetes authorizer does it, what each profile promises, and the verdict on answers."""

from __future__ import annotations

import pytest

from spinop.remote.access import (
    BASELINE_RULES,
    PROBE_NAMESPACE,
    AccessCheck,
    Expectations,
    ResourceRule,
    TokenExposure,
    Verdict,
    expected_access,
    judge,
    rules_allow,
)
from spinop.remote.profiles import Profile

NS = "team-a-dev"


def rule(verbs: str, groups: str, resources: str, names: str = "") -> ResourceRule:
    """A rule from space-separated lists ("-" is the core group "")."""
    return ResourceRule(
        verbs=tuple(verbs.split()),
        api_groups=tuple("" if g == "-" else g for g in groups.split()),
        resources=tuple(resources.split()),
        resource_names=tuple(names.split()),
    )


def check(verb: str, resource: str, group: str = "", name: str | None = None) -> AccessCheck:
    return AccessCheck(verb, resource, group, namespace=NS, name=name)


# ---------------------------------------------------------------------------------------------------- rules_allow


@pytest.mark.parametrize(
    ("granted", "wanted", "allowed"),
    [
        (rule("get list", "-", "pods"), check("list", "pods"), True),
        (rule("get list", "-", "pods"), check("delete", "pods"), False),
        (rule("get", "apps", "deployments"), check("get", "deployments"), False),  # core group is not apps
        (rule("get", "-", "deployments"), check("get", "deployments", "apps"), False),
        (rule("get", "-", "pods"), check("get", "services"), False),
        (rule("*", "-", "pods"), check("escalate", "pods"), True),
        (rule("get", "*", "deployments"), check("get", "deployments", "apps"), True),
        (rule("get", "-", "*"), check("get", "secrets"), True),
        (rule("*", "*", "*"), check("create", "clusterrolebindings", "rbac.authorization.k8s.io"), True),
    ],
    ids=[
        "exact",
        "other-verb",
        "group-apps-vs-core",
        "group-core-vs-apps",
        "other-resource",
        "verb-wildcard",
        "group-wildcard",
        "resource-wildcard",
        "all-wildcards",
    ],
)
def test_verbs_groups_and_resources_must_all_match(granted: ResourceRule, wanted: AccessCheck, allowed: bool) -> None:
    assert rules_allow([granted], wanted) is allowed


@pytest.mark.parametrize(
    ("resources", "wanted", "allowed"),
    [
        ("pods", "pods/log", False),  # a resource never implies its subresources
        ("pods/log", "pods", False),
        ("pods/log", "pods/log", True),
        ("pods/log", "pods/exec", False),
        ("*", "pods/exec", True),  # "*" is every resource and subresource
        ("*/scale", "deployments/scale", True),
        ("*/scale", "statefulsets/scale", True),
        ("*/scale", "deployments", False),
        ("*/scale", "deployments/status", False),
        ("*/log", "pods/exec", False),
    ],
)
def test_subresources_match_only_by_name_or_star_slash_subresource(resources: str, wanted: str, allowed: bool) -> None:
    assert rules_allow([rule("get create", "- apps", resources)], check("get", wanted)) is allowed


def test_resource_slash_star_is_not_a_wildcard_in_kubernetes_rbac() -> None:
    # Kubernetes' ResourceMatches (pkg/apis/rbac/v1/evaluation_helpers.go) knows "*", exact "res/sub" and "*/sub";
    # "pods/*" grants only a subresource literally named "*". Treating it as every subresource of pods makes
    # verify_access believe in access the cluster denies (and report excess access that does not exist).
    assert rules_allow([rule("get create", "-", "pods/*")], check("get", "pods/log")) is False
    assert rules_allow([rule("get create", "-", "pods/*")], check("create", "pods/exec")) is False


def test_resource_names_restrict_a_rule_to_named_objects() -> None:
    named = rule("get update", "-", "configmaps", names="app-config")
    assert rules_allow([named], check("get", "configmaps", name="app-config"))
    assert not rules_allow([named], check("get", "configmaps", name="other"))
    assert not rules_allow([named], check("list", "configmaps"))  # no name: a collection request
    assert not rules_allow([named], check("get", "configmaps"))


def test_any_one_rule_is_enough_and_no_rules_allow_nothing() -> None:
    rules = [rule("get", "-", "pods"), rule("create", "apps", "deployments")]
    assert rules_allow(rules, check("create", "deployments", "apps"))
    assert rules_allow(rules, check("get", "pods"))
    assert not rules_allow(rules, check("create", "pods"))
    assert not rules_allow([], check("get", "pods"))
    assert rules_allow(iter(rules), check("get", "pods"))  # any iterable, consumed once


# ------------------------------------------------------------------------------------------------ expected_access


def test_a_deployer_may_read_and_write_workloads_but_never_rbac_tokens_exec_or_guardrails() -> None:
    e = expected_access(Profile.DEPLOYER, NS)
    assert check("create", "deployments", "apps") in e.allowed
    assert check("create", "secrets") in e.allowed
    assert check("get", "pods/log") in e.allowed
    assert check("get", "namespaces", name=NS) in e.allowed
    for forbidden in (
        check("create", "rolebindings", "rbac.authorization.k8s.io"),
        check("escalate", "roles", "rbac.authorization.k8s.io"),
        check("bind", "clusterroles", "rbac.authorization.k8s.io"),
        check("impersonate", "serviceaccounts"),
        check("create", "serviceaccounts/token"),
        check("create", "pods/exec"),
        check("get", "pods/exec"),  # the exec WebSocket's verb (tests/integration/test_pods_exec_verbs.py)
        check("delete", "networkpolicies", "networking.k8s.io"),
        check("update", "resourcequotas"),
        check("delete", "limitranges"),
        check("update", "namespaces", name=NS),
    ):
        assert forbidden in e.denied, forbidden.describe()


def test_a_readonly_account_may_read_but_not_write_nor_read_secrets() -> None:
    e = expected_access(Profile.READONLY, NS)
    assert check("list", "pods") in e.allowed
    assert check("get", "pods/log") in e.allowed
    assert check("create", "deployments", "apps") in e.denied
    assert check("update", "configmaps") in e.denied
    assert check("get", "secrets") in e.denied
    assert not any(c.verb not in ("get", "list", "watch") for c in e.allowed)


@pytest.mark.parametrize("profile", list(Profile))
def test_every_profile_is_refused_outside_its_namespace_and_cluster_wide(profile: Profile) -> None:
    e = expected_access(profile, NS, other_namespace="elsewhere")
    outside = [c for c in e.denied if c.namespace != NS]
    assert {c.namespace for c in outside} == {"elsewhere", None}
    assert AccessCheck("get", "secrets", namespace="elsewhere") in outside
    assert AccessCheck("list", "namespaces") in outside
    assert all(c.namespace == NS for c in e.allowed)
    assert not set(e.allowed) & set(e.denied)
    assert any(c.namespace == PROBE_NAMESPACE for c in expected_access(profile, NS).denied)  # the default probe


def test_extra_rules_move_the_checks_they_cover_from_denied_to_allowed() -> None:
    exec_rule = rule("create", "-", "pods/exec")
    base, extended = expected_access(Profile.DEPLOYER, NS), expected_access(Profile.DEPLOYER, NS, [exec_rule])
    moved = check("create", "pods/exec")
    assert moved in base.denied and moved not in base.allowed
    assert moved in extended.allowed and moved not in extended.denied
    assert set(extended.allowed) == {*base.allowed, moved}
    assert set(extended.denied) == set(base.denied) - {moved}


def test_readonly_with_an_extra_secrets_rule_is_promised_secrets() -> None:
    e = expected_access(Profile.READONLY, NS, [rule("get list", "-", "secrets")])
    assert check("get", "secrets") in e.allowed and check("get", "secrets") not in e.denied
    assert check("create", "secrets") in e.denied  # only what the rule covers moves


def test_extra_rules_never_reach_outside_the_namespace() -> None:
    e = expected_access(Profile.DEPLOYER, NS, [rule("*", "*", "*")])
    assert {c.namespace for c in e.denied} == {PROBE_NAMESPACE, None}
    assert all(c.namespace == NS for c in e.allowed)


# ----------------------------------------------------------------------------------------------------------- judge


def test_describe_names_verb_resource_group_object_and_scope() -> None:
    assert AccessCheck("get", "secrets", namespace="kube-system").describe() == "get secrets in namespace kube-system"
    assert check("create", "deployments", "apps").describe() == f"create deployments.apps in namespace {NS}"
    assert check("get", "namespaces", name=NS).describe() == f"get namespaces '{NS}' in namespace {NS}"
    assert AccessCheck("list", "namespaces").describe() == "list namespaces cluster-wide"


def test_answers_that_match_the_promise_are_ok() -> None:
    e = expected_access(Profile.DEPLOYER, NS)
    verdict = judge(e, {c: True for c in e.allowed} | {c: False for c in e.denied})
    assert verdict.ok and verdict == Verdict((), ())
    assert verdict.message() == "the credentials can do exactly what the profile promises"


def test_missing_and_excess_access_are_both_failures_and_both_named() -> None:
    can_list, can_exec, can_read_secrets = check("list", "pods"), check("create", "pods/exec"), check("get", "secrets")
    e = Expectations(allowed=(can_list, can_read_secrets), denied=(can_exec,))

    missing = judge(e, {can_list: False, can_read_secrets: True, can_exec: False})
    assert not missing.ok and missing.missing == (can_list,) and missing.excess == ()
    assert missing.message() == f"cannot list pods in namespace {NS}"

    excess = judge(e, {can_list: True, can_read_secrets: True, can_exec: True})
    assert not excess.ok and excess.excess == (can_exec,) and excess.missing == ()
    assert excess.message() == f"can unexpectedly create pods/exec in namespace {NS}"

    both = judge(e, {can_list: False, can_read_secrets: False, can_exec: True})
    assert both.missing == (can_list, can_read_secrets)
    assert both.message() == (
        f"cannot list pods in namespace {NS}; get secrets in namespace {NS}. "
        f"can unexpectedly create pods/exec in namespace {NS}"
    )


# ------------------------------------------------------------------------------------- full comparison with the Role


def _rules_of(profile: Profile) -> list[ResourceRule]:
    return list(expected_access(profile, NS).role)


def _all_decided(expectations: Expectations) -> dict[AccessCheck, bool]:
    """Every fixed probe answered as promised."""
    return {c: c in expectations.allowed for c in (*expectations.allowed, *expectations.denied)}


@pytest.mark.parametrize("profile", list(Profile))
def test_a_namespace_granting_exactly_the_role_plus_the_baseline_is_ok(profile: Profile) -> None:
    expectations = expected_access(profile, NS)
    granted = [*_rules_of(profile), *BASELINE_RULES]
    verdict = judge(expectations, _all_decided(expectations), granted=granted, complete=True)
    assert verdict.ok, verdict.message()


def test_any_grant_beyond_the_role_is_excess_even_one_the_probes_do_not_ask_about() -> None:
    expectations = expected_access(Profile.DEPLOYER, NS)
    # A RoleBinding to the built-in `edit` adds e.g. serviceaccounts write and pods/attach: no fixed probe asks.
    added = rule("create", "-", "pods/attach serviceaccounts")
    verdict = judge(
        expectations, _all_decided(expectations), granted=[*_rules_of(Profile.DEPLOYER), added], complete=True
    )
    assert {(c.verb, c.resource) for c in verdict.excess} == {("create", "pods/attach"), ("create", "serviceaccounts")}
    assert "can unexpectedly create pods/attach in namespace" in verdict.message()


def test_a_wildcard_grant_is_excess_even_when_it_covers_the_role() -> None:
    expectations = expected_access(Profile.READONLY, NS)
    verdict = judge(expectations, _all_decided(expectations), granted=[rule("*", "*", "*")], complete=True)
    assert AccessCheck("*", "*", "*", namespace=NS) in verdict.excess


def test_what_the_role_grants_but_the_cluster_does_not_report_is_missing_only_from_a_complete_report() -> None:
    expectations = expected_access(Profile.DEPLOYER, NS)
    granted = [r for r in _rules_of(Profile.DEPLOYER) if "ingresses" not in r.resources]
    complete = judge(expectations, _all_decided(expectations), granted=granted, complete=True)
    assert {c.resource for c in complete.missing} == {"ingresses"}
    assert len(complete.missing) == 7  # the seven verbs of the deployer's ingresses rule
    assert judge(expectations, _all_decided(expectations), granted=granted, complete=False).ok


def test_long_lists_are_cut_in_the_message() -> None:
    expectations = expected_access(Profile.DEPLOYER, NS)
    verdict = judge(expectations, _all_decided(expectations), granted=[], complete=True)
    assert not verdict.ok and "more" in verdict.message()


@pytest.mark.parametrize(
    "attack",
    [
        AccessCheck("get", "nodes/proxy"),
        AccessCheck("create", "certificatesigningrequests", "certificates.k8s.io"),
        AccessCheck("update", "certificatesigningrequests/approval", "certificates.k8s.io"),
        AccessCheck("impersonate", "users"),
        AccessCheck("impersonate", "serviceaccounts"),
        AccessCheck("create", "validatingwebhookconfigurations", "admissionregistration.k8s.io"),
        AccessCheck("create", "mutatingwebhookconfigurations", "admissionregistration.k8s.io"),
        AccessCheck("list", "secrets"),
    ],
)
@pytest.mark.parametrize("profile", list(Profile))
def test_cluster_wide_escapes_are_probed_and_refused_for_every_profile(profile: Profile, attack: AccessCheck) -> None:
    assert attack in expected_access(profile, NS).denied


# --------------------------------------------------------------------------------- long-lived tokens out of rotation


def test_the_account_service_account_tokens_are_expected_out_of_reach_when_named() -> None:
    assert expected_access(Profile.DEPLOYER, NS).exposures == ()
    exposures = expected_access(Profile.DEPLOYER, NS, service_account="spinop-acct").exposures
    assert [(e.kind, e.service_account, e.namespace) for e in exposures] == [
        ("secret", "spinop-acct", NS),
        ("pod", "spinop-acct", NS),
    ]
    assert [e.access for e in exposures] == [check("create", "secrets"), check("create", "pods")]


def test_an_exposure_fails_the_verdict_and_names_the_policy() -> None:
    expectations = expected_access(Profile.DEPLOYER, NS, service_account="spinop-acct")
    verdict = judge(expectations, _all_decided(expectations), exposed=expectations.exposures[:1])
    assert not verdict.ok
    assert "create a service-account-token Secret for its ServiceAccount spinop-acct" in verdict.message()
    assert "spinop-tenant-limits" in verdict.message()


# ------------------------------------------------------------------------------------------- the verdict's refusal


def test_a_verdict_that_holds_refuses_nothing() -> None:
    assert Verdict(missing=(), excess=()).refusal("deployer") is None


def test_rights_other_than_the_profile_are_a_mismatch_naming_the_profile() -> None:
    refusal = Verdict(missing=(check("create", "deployments", "apps"),), excess=()).refusal("deployer")
    assert refusal is not None and refusal.reason == "PermissionsMismatch" and refusal.needs_user
    assert "profile deployer" in refusal.message and "create deployments" in refusal.message


def test_only_an_exposed_token_asks_for_the_remote_admission_policy() -> None:
    exposed = Verdict(missing=(), excess=(), exposed=(TokenExposure("secret", "spinop-web", NS),))
    refusal = exposed.refusal("deployer")
    assert refusal is not None and refusal.reason == "TenantLimitsNotEnforced"
    assert "deploy/remote" in refusal.message
    both = Verdict(missing=(), excess=(check("list", "secrets"),), exposed=exposed.exposed).refusal("deployer")
    assert both is not None and both.reason == "PermissionsMismatch"
