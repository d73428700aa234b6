"""The profiles' RBAC rules keep the promise `expected_access` makes, judged with the same matcher verify uses.

The Role spinop renders is the only grant the account's ServiceAccount has, and a Role reaches only its own
namespace: `role_authorizer` is that, as an authorizer. If a profile's rules and its expectations drift apart, the
proof of least privilege would fail on every cluster (or, worse, pass with access nobody meant to give).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from spinop.remote.access import AccessCheck, ResourceRule, expected_access, judge, rules_allow
from spinop.remote.profiles import Profile, Rule, kinds_for, namespace_rule, rules_for

NS = "team-a-dev"

# How clouddriver reaches each Spinnaker kind: (API group, resource).
KIND_RESOURCES = {
    "configMap": ("", "configmaps"),
    "controllerRevision": ("apps", "controllerrevisions"),
    "cronJob": ("batch", "cronjobs"),
    "daemonSet": ("apps", "daemonsets"),
    "deployment": ("apps", "deployments"),
    "event": ("", "events"),
    "horizontalpodautoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "ingress": ("networking.k8s.io", "ingresses"),
    "job": ("batch", "jobs"),
    "persistentVolumeClaim": ("", "persistentvolumeclaims"),
    "pod": ("", "pods"),
    "podDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "replicaSet": ("apps", "replicasets"),
    "secret": ("", "secrets"),
    "service": ("", "services"),
    "serviceAccount": ("", "serviceaccounts"),
    "statefulSet": ("apps", "statefulsets"),
}


def as_reviewed(rules: Iterable[Rule]) -> list[ResourceRule]:
    """The rules as SelfSubjectRulesReview reports them."""
    return [ResourceRule(r.verbs, r.api_groups, r.resources, r.resource_names) for r in rules]


def role_authorizer(rules: Iterable[Rule], namespace: str) -> Callable[[AccessCheck], bool]:
    reviewed = as_reviewed(rules)
    return lambda c: c.namespace == namespace and rules_allow(reviewed, c)


def decisions(profile_rules: Iterable[Rule], checks: Iterable[AccessCheck]) -> dict[AccessCheck, bool]:
    allows = role_authorizer(profile_rules, NS)
    return {c: allows(c) for c in checks}


@pytest.mark.parametrize("profile", list(Profile))
def test_each_profile_grants_exactly_what_it_promises(profile: Profile) -> None:
    e = expected_access(profile, NS)
    verdict = judge(e, decisions(rules_for(profile, NS), [*e.allowed, *e.denied]))
    assert verdict.ok, verdict.message()


@pytest.mark.parametrize("profile", list(Profile))
def test_extra_rules_granted_by_the_role_are_promised_too(profile: Profile) -> None:
    extra = (Rule(("",), ("pods/exec",), ("create",)), Rule(("",), ("secrets",), ("get", "list")))
    e = expected_access(profile, NS, as_reviewed(extra))
    verdict = judge(e, decisions(rules_for(profile, NS, extra), [*e.allowed, *e.denied]))
    assert verdict.ok, verdict.message()
    assert AccessCheck("create", "pods/exec", namespace=NS) in e.allowed


def test_the_judgement_notices_a_profile_that_grants_too_little_or_too_much() -> None:
    # The checks above can fail: the readonly rules do not keep the deployer's promise, and vice versa.
    deployer, readonly = expected_access(Profile.DEPLOYER, NS), expected_access(Profile.READONLY, NS)
    too_little = judge(deployer, decisions(rules_for(Profile.READONLY, NS), [*deployer.allowed, *deployer.denied]))
    assert AccessCheck("create", "deployments", "apps", namespace=NS) in too_little.missing
    too_much = judge(readonly, decisions(rules_for(Profile.DEPLOYER, NS), [*readonly.allowed, *readonly.denied]))
    assert AccessCheck("get", "secrets", namespace=NS) in too_much.excess


@pytest.mark.parametrize("profile", list(Profile))
def test_no_profile_rule_can_escalate_or_reach_rbac_or_use_wildcards(profile: Profile) -> None:
    for r in rules_for(profile, NS):
        assert "*" not in (*r.api_groups, *r.resources, *r.verbs), r
        assert not {"escalate", "bind", "impersonate"} & set(r.verbs), r
        assert "rbac.authorization.k8s.io" not in r.api_groups, r
        assert not {"serviceaccounts/token", "pods/exec", "pods/attach", "pods/portforward"} & set(r.resources), r


@pytest.mark.parametrize("profile", list(Profile))
def test_every_kind_spinnaker_is_told_about_can_be_cached(profile: Profile) -> None:
    # clouddriver drops a kind it cannot list/watch until restart (spinnaker#4562), so `kinds` must be readable.
    allows = role_authorizer(rules_for(profile, NS), NS)
    for kind in kinds_for(profile):
        group, resource = KIND_RESOURCES[kind]
        for verb in ("get", "list", "watch"):
            assert allows(AccessCheck(verb, resource, group, namespace=NS)), f"{profile}: {verb} {kind}"


def test_readonly_is_not_told_about_secrets_it_cannot_read() -> None:
    assert "secret" in kinds_for(Profile.DEPLOYER)
    assert "secret" not in kinds_for(Profile.READONLY)
    assert set(kinds_for(Profile.READONLY)) == set(kinds_for(Profile.DEPLOYER)) - {"secret"}


def test_the_deployer_can_change_every_workload_kind_it_deploys() -> None:
    allows = role_authorizer(rules_for(Profile.DEPLOYER, NS), NS)
    read_only_kinds = {"event", "controllerRevision", "serviceAccount"}
    for kind in set(kinds_for(Profile.DEPLOYER)) - read_only_kinds:
        group, resource = KIND_RESOURCES[kind]
        for verb in ("create", "update", "patch", "delete"):
            assert allows(AccessCheck(verb, resource, group, namespace=NS)), f"{verb} {kind}"
    for kind in read_only_kinds:
        group, resource = KIND_RESOURCES[kind]
        assert not allows(AccessCheck("create", resource, group, namespace=NS)), kind


def test_the_deployer_can_scale_but_not_write_status() -> None:
    allows = role_authorizer(rules_for(Profile.DEPLOYER, NS), NS)
    assert allows(AccessCheck("patch", "deployments/scale", "apps", namespace=NS))
    assert not allows(AccessCheck("patch", "deployments/status", "apps", namespace=NS))


def test_rules_for_appends_the_namespace_rule_and_then_the_extra_rules() -> None:
    extra = (Rule(("argoproj.io",), ("rollouts",), ("get",)),)
    rules = rules_for(Profile.READONLY, NS, extra)
    assert rules[-2:] == [namespace_rule(NS), *extra]
    assert rules_for(Profile.DEPLOYER, NS)[-1] == namespace_rule(NS)


def test_to_k8s_writes_resource_names_only_when_there_are_some() -> None:
    assert namespace_rule(NS).to_k8s() == {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "verbs": ["get"],
        "resourceNames": [NS],
    }
    assert Rule(("apps",), ("deployments",), ("get",)).to_k8s() == {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get"],
    }
