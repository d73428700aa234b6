"""spinop.tenancy: which tenant may have which SpinnakerAccount on which SpinnakerCluster."""

from __future__ import annotations

from typing import Any

import pytest

from spinop import tenancy
from spinop.api.v1alpha1 import LabelSelector, PolicyRule, Profile, SpinnakerAccount, SpinnakerClusterSpec
from spinop.tenancy import AccountClaim

RESERVED = ("spinop-system", "devops")
TENANT_LABELS = {"spinop.io/tenant": "true"}


def cluster_spec(**tenancy_spec: Any) -> SpinnakerClusterSpec:
    tenancy_spec.setdefault("namespaceSelector", {"matchLabels": TENANT_LABELS})
    return SpinnakerClusterSpec.model_validate(
        {"kubeconfigSecretRef": {"name": "k"}, "environment": "dev", "tenancy": tenancy_spec}
    )


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> PolicyRule:
    return PolicyRule(api_groups=groups, resources=resources, verbs=verbs)


def claim(
    tenant: str, name: str, namespace: str, cluster: str = "dev", account_name: str | None = None
) -> AccountClaim:
    return AccountClaim(tenant, name, cluster, namespace, account_name or f"{cluster}-{namespace}")


# --- namespaces ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "namespace",
    ["kube-system", "kube-public", "kube-node-lease", "default", "kube-anything", "spinop-system", "devops"],
)
def test_system_namespaces_are_never_targets(namespace: str) -> None:
    assert tenancy.is_system_namespace(namespace, RESERVED)
    # even when a pattern would match them
    spec = cluster_spec(namespacePattern="{tenant}*")
    errors = tenancy.check_namespace_allowed(
        namespace, tenant="d", cluster_name="dev", cluster=spec, reserved_namespaces=RESERVED
    )
    assert [e.path for e in errors] == ["spec.namespace"]
    assert "system namespace" in errors[0].message


@pytest.mark.parametrize("namespace", ["kubernetes-apps", "team-kube-system", "defaults", "my-devops"])
def test_similar_names_are_not_system_namespaces(namespace: str) -> None:
    assert not tenancy.is_system_namespace(namespace, RESERVED)


@pytest.mark.parametrize(
    ("pattern", "namespace", "allowed"),
    [
        ("{tenant}-{environment}", "team-a-dev", True),
        ("{tenant}-{environment}", "team-a-staging", False),
        ("{tenant}-{environment}", "team-b-dev", False),
        ("{tenant}-{environment}", "team-a-dev-x", False),
        ("{tenant}-{environment}", "xteam-a-dev", False),
        ("{tenant}-{environment}-*", "team-a-dev-api", True),
        ("{tenant}-{environment}-*", "team-a-dev-api-v2", False),  # * is one segment: no '-'
        ("{tenant}-*", "team-a-b-dev", False),  # so {tenant}-* never reaches tenant team-a-b's namespaces
        ("{tenant}-{environment}-*", "team-a-dev-", False),  # * is one or more characters
        ("{tenant}-{environment}-*", "team-a-dev", False),
        ("{tenant}-{cluster}", "team-a-eu1", True),
        ("{tenant}", "team-a", True),
        ("*-{tenant}", "apps-team-a", True),
        ("*-{tenant}", "-team-a", False),
        ("{tenant}.{environment}", "team-aXdev", False),  # '.' cannot appear in a pattern, but never a regex dot
    ],
)
def test_namespace_pattern(pattern: str, namespace: str, allowed: bool) -> None:
    spec = cluster_spec()
    spec.tenancy.namespace_pattern = pattern  # bypass the CRD pattern to test the matcher alone
    errors = tenancy.check_namespace_allowed(namespace, tenant="team-a", cluster_name="eu1", cluster=spec)
    assert (errors == []) is allowed


def test_namespace_error_says_what_would_be_accepted() -> None:
    (error,) = tenancy.check_namespace_allowed(
        "team-b-dev", tenant="team-a", cluster_name="dev", cluster=cluster_spec()
    )
    assert error.path == "spec.namespace"
    assert "'team-a-dev'" in error.message and "{tenant}-{environment}" in error.message
    (wild,) = tenancy.check_namespace_allowed(
        "x", tenant="team-a", cluster_name="dev", cluster=cluster_spec(namespacePattern="{tenant}-*")
    )
    assert "team-a-<any of a-z0-9>" in wild.message


def test_expected_namespace() -> None:
    assert tenancy.expected_namespace("{tenant}-{environment}", tenant="t", environment="prod", cluster="c") == "t-prod"
    assert tenancy.expected_namespace("{cluster}-{tenant}-*", tenant="t", environment="e", cluster="c").startswith(
        "c-t-<"
    )


# --- label selectors ----------------------------------------------------------------------------------------------


def selector(**spec: Any) -> LabelSelector:
    return LabelSelector.model_validate(spec)


@pytest.mark.parametrize(
    ("spec", "labels", "matches"),
    [
        ({}, {}, True),
        ({}, {"anything": "x"}, True),
        ({"matchLabels": {"spinop.io/tenant": "true"}}, {"spinop.io/tenant": "true"}, True),
        ({"matchLabels": {"spinop.io/tenant": "true"}}, {"spinop.io/tenant": "false"}, False),
        ({"matchLabels": {"spinop.io/tenant": "true"}}, {}, False),
        ({"matchLabels": {"a": "1", "b": "2"}}, {"a": "1"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]}]},
            {"tier": "gold"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}, {"tier": "bronze"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["restricted"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["restricted"]}]}, {"tier": "x"}, True),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["restricted"]}]},
            {"tier": "restricted"},
            False,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {"team": ""}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "frozen", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "frozen", "operator": "DoesNotExist"}]}, {"frozen": "yes"}, False),
        (
            {
                "matchLabels": {"spinop.io/tenant": "true"},
                "matchExpressions": [
                    {"key": "tier", "operator": "NotIn", "values": ["restricted"]},
                    {"key": "team", "operator": "Exists"},
                ],
            },
            {"spinop.io/tenant": "true", "team": "a"},
            True,
        ),
    ],
)
def test_selector_matches(spec: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert tenancy.selector_matches(selector(**spec), labels) is matches


def test_no_selector_selects_nothing() -> None:
    assert tenancy.selector_matches(None, {"spinop.io/tenant": "true"}) is False
    (error,) = tenancy.check_tenant_selected(
        "team-a", TENANT_LABELS, cluster_name="prod", cluster=cluster_spec(namespaceSelector=None)
    )
    assert error.path == "spec.cluster" and "no spec.tenancy.namespaceSelector" in error.message


def test_unselected_tenant_error_names_the_selector() -> None:
    spec = cluster_spec(
        namespaceSelector={
            "matchLabels": {"spinop.io/tenant": "true"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["restricted"]}],
        }
    )
    (error,) = tenancy.check_tenant_selected("team-a", {}, cluster_name="prod", cluster=spec)
    assert error.path == "metadata.namespace"
    assert "spinop.io/tenant=true, tier notin (restricted)" in error.message
    assert tenancy.check_tenant_selected("team-a", TENANT_LABELS, cluster_name="prod", cluster=spec) == []


# --- profile and extra rules --------------------------------------------------------------------------------------


def test_profiles() -> None:
    spec = cluster_spec(allowedProfiles=["deployer"])
    assert tenancy.check_profile(Profile.DEPLOYER, cluster_name="prod", cluster=spec) == []
    (error,) = tenancy.check_profile(Profile.READONLY, cluster_name="prod", cluster=spec)
    assert error.path == "spec.profile" and "allowed: deployer" in error.message
    (closed,) = tenancy.check_profile(Profile.DEPLOYER, cluster_name="prod", cluster=cluster_spec(allowedProfiles=[]))
    assert "accepts no profile" in closed.message


ALLOWED = [
    rule(["apps"], ["deployments", "statefulsets"], ["get", "list", "watch"]),
    rule(["apps"], ["deployments"], ["create", "update", "patch", "delete"]),
    rule([""], ["configmaps"], ["get"]),
]


@pytest.mark.parametrize(
    ("requested", "within"),
    [
        (rule(["apps"], ["deployments"], ["get"]), True),
        (rule(["apps"], ["deployments"], ["get", "delete"]), True),  # covered by two allowed rules together
        (rule(["apps"], ["deployments", "statefulsets"], ["list", "watch"]), True),
        (rule(["apps"], ["statefulsets"], ["delete"]), False),
        (rule(["apps"], ["deployments/scale"], ["get"]), False),  # subresources are separate
        (rule(["extensions"], ["deployments"], ["get"]), False),
        (rule([""], ["configmaps"], ["get"]), True),
        (rule([""], ["configmaps"], ["list"]), False),
        (rule(["", "apps"], ["configmaps"], ["get"]), False),  # apps/configmaps is not allowed
    ],
)
def test_rule_subset(requested: PolicyRule, within: bool) -> None:
    assert tenancy.rule_is_within(requested, ALLOWED) is within


def test_nothing_allowed_means_no_extra_rules() -> None:
    assert not tenancy.rule_is_within(rule([""], ["pods"], ["get"]), [])
    spec = cluster_spec()
    (error,) = tenancy.check_extra_rules([rule([""], ["pods"], ["get"])], cluster_name="dev", cluster=spec)
    assert error.path == "spec.extraRules[0]" and "allowed: none" in error.message
    assert tenancy.check_extra_rules(None, cluster_name="dev", cluster=spec) == []


def test_extra_rule_errors_list_what_is_missing_and_allowed() -> None:
    spec = cluster_spec(allowedExtraRules=[r.model_dump(by_alias=True) for r in ALLOWED])
    requested = [
        rule(["apps"], ["deployments"], ["get"]),
        rule(["apps"], ["statefulsets"], ["get", "delete", "patch"]),
    ]
    (error,) = tenancy.check_extra_rules(requested, cluster_name="dev", cluster=spec)
    assert error.path == "spec.extraRules[1]"
    assert "delete apps/statefulsets" in error.message and "patch apps/statefulsets" in error.message
    assert "core/configmaps: get" in error.message
    many = rule(["apps", "batch"], ["a", "b", "c"], ["get", "list"])
    (error,) = tenancy.check_extra_rules([many], cluster_name="dev", cluster=spec)
    assert "and 7 more" in error.message


# --- claims: quota, sharing, names ----------------------------------------------------------------------------------


def test_quota_counts_only_this_tenant_on_this_cluster() -> None:
    spec = cluster_spec(maxAccountsPerTenant=2)
    claims = [
        claim("team-a", "one", "team-a-dev-1"),
        claim("team-a", "other-cluster", "team-a-dev-2", cluster="prod"),
        claim("team-b", "theirs", "team-b-dev"),
    ]
    assert (
        tenancy.check_tenant_quota(tenant="team-a", name="two", cluster_name="dev", cluster=spec, claims=claims) == []
    )
    claims.append(claim("team-a", "two", "team-a-dev-3"))
    (error,) = tenancy.check_tenant_quota(
        tenant="team-a", name="three", cluster_name="dev", cluster=spec, claims=claims
    )
    assert error.path == "spec.cluster" and "maxAccountsPerTenant (2)" in error.message
    # updating an existing account does not count itself twice
    assert (
        tenancy.check_tenant_quota(tenant="team-a", name="two", cluster_name="dev", cluster=spec, claims=claims) == []
    )
    assert (
        tenancy.check_tenant_quota(tenant="team-a", name="x", cluster_name="dev", cluster=cluster_spec(), claims=claims)
        == []
    )
    zero = cluster_spec(maxAccountsPerTenant=0)
    assert tenancy.check_tenant_quota(tenant="team-a", name="x", cluster_name="dev", cluster=zero, claims=[]) != []


def test_namespace_sharing() -> None:
    mine = [claim("team-a", "deployer", "team-a-dev")]
    closed, shared = cluster_spec(), cluster_spec(allowNamespaceSharing=True)
    kwargs: dict[str, Any] = {"tenant": "team-a", "name": "readonly", "cluster_name": "dev", "claims": mine}
    (error,) = tenancy.check_namespace_sharing("team-a-dev", cluster=closed, **kwargs)
    assert error.path == "spec.namespace" and "allowNamespaceSharing" in error.message
    assert tenancy.check_namespace_sharing("team-a-dev", cluster=shared, **kwargs) == []
    assert tenancy.check_namespace_sharing("team-a-dev2", cluster=closed, **kwargs) == []
    # the same namespace name on another cluster is another namespace
    other_cluster = [claim("team-a", "deployer", "team-a-dev", cluster="prod")]
    assert tenancy.check_namespace_sharing("team-a-dev", cluster=closed, **{**kwargs, "claims": other_cluster}) == []
    # an account does not conflict with itself
    assert tenancy.check_namespace_sharing("team-a-dev", cluster=closed, **{**kwargs, "name": "deployer"}) == []


def test_another_tenants_namespace_is_never_shared() -> None:
    theirs = [claim("team-a-dev", "owner", "team-a-dev-dev-app")]
    (error,) = tenancy.check_namespace_sharing(
        "team-a-dev-dev-app",
        tenant="team-a",
        name="mine",
        cluster_name="dev",
        cluster=cluster_spec(allowNamespaceSharing=True),
        claims=theirs,
    )
    assert "belongs to another tenant; choose another namespace" in error.message  # not which one
    assert "team-a-dev" not in error.message.replace("team-a-dev-dev-app", "")


def test_account_names_are_unique_everywhere() -> None:
    claims = [claim("team-b", "x", "team-b-prod", cluster="prod", account_name="shared")]
    (error,) = tenancy.check_account_name_unique("shared", tenant="team-a", name="y", claims=claims)
    assert error.path == "spec.accountName" and "held by another tenant" in error.message
    assert "team-b" not in error.message and "x;" not in error.message
    assert tenancy.check_account_name_unique("shared", tenant="team-b", name="x", claims=claims) == []
    assert tenancy.check_account_name_unique("mine", tenant="team-a", name="y", claims=claims) == []


def test_claim_from_resource() -> None:
    model = SpinnakerAccount.model_validate(
        {
            "apiVersion": "spinop.io/v1alpha1",
            "kind": "SpinnakerAccount",
            "metadata": {"name": "dev", "namespace": "team-a"},
            "spec": {"cluster": "dev", "namespace": "team-a-dev"},
        }
    )
    assert AccountClaim.from_resource(model) == AccountClaim("team-a", "dev", "dev", "team-a-dev", "dev-team-a-dev")


# --- everything together ------------------------------------------------------------------------------------------


def test_check_account_allows_a_good_request() -> None:
    spec = cluster_spec(allowedExtraRules=[r.model_dump(by_alias=True) for r in ALLOWED], maxAccountsPerTenant=3)
    account = SpinnakerAccount.model_validate(
        {
            "apiVersion": "spinop.io/v1alpha1",
            "kind": "SpinnakerAccount",
            "metadata": {"name": "dev", "namespace": "team-a"},
            "spec": {
                "cluster": "dev",
                "namespace": "team-a-dev",
                "profile": "readonly",
                "extraRules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "delete"]}],
            },
        }
    )
    judged = tenancy.AccountUnderJudgement(account.spec, "team-a", "dev", TENANT_LABELS, "dev", spec, RESERVED)
    errors = tenancy.check_account(judged, [AccountClaim.from_resource(account), claim("team-b", "dev", "team-b-dev")])
    assert errors == []


def test_check_account_reports_every_problem() -> None:
    spec = cluster_spec(allowedProfiles=["deployer"], maxAccountsPerTenant=1)
    account = SpinnakerAccount.model_validate(
        {
            "apiVersion": "spinop.io/v1alpha1",
            "kind": "SpinnakerAccount",
            "metadata": {"name": "new", "namespace": "team-a"},
            "spec": {
                "cluster": "dev",
                "namespace": "kube-system",
                "profile": "readonly",
                "accountName": "team-a-taken",
                "extraRules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
            },
        }
    )
    judged = tenancy.AccountUnderJudgement(account.spec, "team-a", "new", {}, "dev", spec, RESERVED)
    errors = tenancy.check_account(judged, [claim("team-a", "old", "team-a-dev", account_name="team-a-taken")])
    assert [e.path for e in errors] == [
        "metadata.namespace",
        "spec.namespace",
        "spec.profile",
        "spec.extraRules[0]",
        "spec.cluster",
        "spec.accountName",
    ]


def test_adopt_needs_the_admin_to_list_the_account_for_this_tenant() -> None:
    listed = cluster_spec(adoptableAccounts=[{"accountName": "legacy-dev", "tenant": "team-a"}])

    def errors(adopt: bool, name: str, tenant: str, spec: SpinnakerClusterSpec = listed) -> list[str]:
        return [str(e) for e in tenancy.check_adopt(adopt, name, tenant=tenant, cluster_name="dev", cluster=spec)]

    assert errors(True, "legacy-dev", "team-a") == []
    assert errors(False, "anything", "team-b") == [], "no adopt, nothing to check"
    (other_tenant,) = errors(True, "legacy-dev", "team-b")
    assert other_tenant.startswith("spec.adopt: ") and "listed for another tenant, not 'team-b'" in other_tenant
    assert "team-a" not in other_tenant
    (unlisted,) = errors(True, "prod-admin", "team-a")
    assert "not in the cluster's tenancy.adoptableAccounts" in unlisted
    (nothing_listed,) = errors(True, "legacy-dev", "team-a", cluster_spec())
    assert "ask a platform admin" in nothing_listed


def test_adoptable_accounts_are_listed_once() -> None:
    with pytest.raises(ValueError, match="listed more than once: legacy"):
        cluster_spec(
            adoptableAccounts=[{"accountName": "legacy", "tenant": "a"}, {"accountName": "legacy", "tenant": "b"}]
        )
