"""The access proof covers the guardrails: a tenant's credentials may neither edit nor remove nor add to them."""

from __future__ import annotations

import pytest

from spinop.remote.access import (
    AccessCheck,
    Expectations,
    ResourceRule,
    Verdict,
    expected_access,
    guardrail_checks,
    judge,
    rules_allow,
)
from spinop.remote.profiles import Profile, rules_for

NS = "team-a-dev"


def answers(expectations: Expectations, rules: list[ResourceRule]) -> Verdict:
    """What the cluster would answer: `rules` in the account's namespace, nothing anywhere else."""
    checks = (*expectations.allowed, *expectations.denied)
    return judge(expectations, {c: c.namespace == NS and rules_allow(rules, c) for c in checks})


def as_reported(profile: Profile) -> list[ResourceRule]:
    """The profile's Role as SelfSubjectRulesReview reports it."""
    return [ResourceRule(r.verbs, r.api_groups, r.resources, r.resource_names) for r in rules_for(profile, NS)]


@pytest.mark.parametrize("profile", list(Profile))
def test_every_profile_is_denied_every_guardrail_change(profile: Profile) -> None:
    denied = set(expected_access(profile, NS).denied)
    checks = guardrail_checks(NS)
    assert set(checks) <= denied
    described = {c.describe() for c in checks}
    for expected in (
        f"create networkpolicies.networking.k8s.io in namespace {NS}",  # an extra policy can only allow more
        f"patch resourcequotas 'spinop-guardrails' in namespace {NS}",
        f"delete limitranges 'spinop-guardrails' in namespace {NS}",
        f"update resourcequotas in namespace {NS}",
        f"patch namespaces '{NS}' in namespace {NS}",  # the Pod Security labels
        f"delete namespaces '{NS}' in namespace {NS}",
    ):
        assert expected in described


@pytest.mark.parametrize("profile", list(Profile))
def test_the_profiles_own_rules_pass_the_guardrail_checks(profile: Profile) -> None:
    verdict = answers(expected_access(profile, NS), as_reported(profile))
    assert verdict.ok, verdict.message()


def test_a_role_edited_to_allow_guardrail_changes_fails_the_proof() -> None:
    expectations = expected_access(Profile.DEPLOYER, NS)
    rules = [
        *as_reported(Profile.DEPLOYER),
        ResourceRule(("patch",), ("",), ("resourcequotas",), ("spinop-guardrails",)),
    ]
    verdict = answers(expectations, rules)
    assert verdict.excess == (AccessCheck("patch", "resourcequotas", namespace=NS, name="spinop-guardrails"),)
