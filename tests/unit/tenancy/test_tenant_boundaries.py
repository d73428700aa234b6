"""Issue 16: the boundaries between tenants (namespaces, Spinnaker account names, claims that hold nothing) and the
caps on shared resources (cacheThreads, accounts on missing clusters, requested rotations)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from spinop import tenancy
from spinop.admission import observe, rules
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.config import OperatorConfig
from spinop.credentials.policy import rotation_deferred_until
from spinop.credentials.store import StoredCredentials
from spinop.redact import Redacted
from spinop.tenancy import AccountClaim, Boundaries

RESERVED = ("spinop-system", "devops")
TENANT_LABELS = {"spinop.io/tenant": "true"}


def cluster_spec(environment: str = "prod", **tenancy_spec: Any) -> SpinnakerClusterSpec:
    tenancy_spec.setdefault("namespaceSelector", {"matchLabels": TENANT_LABELS})
    return SpinnakerClusterSpec.model_validate(
        {"kubeconfigSecretRef": {"name": "k"}, "environment": environment, "tenancy": tenancy_spec}
    )


def allowed(namespace: str, tenant: str, spec: SpinnakerClusterSpec, tenants: tuple[str, ...] = ()) -> bool:
    return not tenancy.check_namespace_allowed(
        namespace, tenant=tenant, cluster_name="prod", cluster=spec, reserved_namespaces=RESERVED, tenants=tenants
    )


# --- item 1: `*` is one segment, and a namespace belongs to one tenant -------------------------------------------


def test_a_wildcard_never_reaches_another_tenants_namespace() -> None:
    spec = cluster_spec(namespacePattern="{tenant}-*")
    # Before: `*` matched [a-z0-9-]+, so tenant customer got customer-a's namespaces.
    assert not allowed("customer-a-prod", "customer", spec)
    assert allowed("customer-a-prod", "customer-a", spec)
    assert allowed("customer-prod", "customer", spec)
    (error,) = tenancy.check_namespace_allowed("customer-a-prod", tenant="customer", cluster_name="prod", cluster=spec)
    assert error.path == "spec.namespace" and "<any of a-z0-9>" in error.message


def test_an_ambiguous_namespace_belongs_to_the_tenant_with_the_longest_literal_prefix() -> None:
    spec = cluster_spec(namespacePattern="{tenant}*")  # no separator: `ab` + `c1` and `abc` + `1` both match
    tenants = ("ab", "abc")
    assert allowed("abc1", "abc", spec, tenants)
    assert not allowed("abc1", "ab", spec, tenants)
    assert allowed("abx1", "ab", spec, tenants)
    (error,) = tenancy.check_namespace_allowed("abc1", tenant="ab", cluster_name="prod", cluster=spec, tenants=tenants)
    assert "tenant abc" in error.message and "that tenant's" in error.message
    # Unknown tenants decide nothing: without abc, ab may have it.
    assert allowed("abc1", "ab", spec, ("ab",))


def test_a_tie_on_the_literal_prefix_is_nobodys() -> None:
    spec = cluster_spec(namespacePattern="*{tenant}")  # every literal prefix is empty
    tenants = ("b", "ab")
    assert not allowed("xab", "b", spec, tenants)
    assert not allowed("xab", "ab", spec, tenants)
    (error,) = tenancy.check_namespace_allowed("xab", tenant="ab", cluster_name="prod", cluster=spec, tenants=tenants)
    assert "ambiguous" in error.message


def test_an_existing_namespace_grant_decides_for_its_tenant_only() -> None:
    spec = cluster_spec(
        namespacePattern="{tenant}-*",
        existingNamespaces=[
            {"namespace": "payments-legacy", "tenant": "payments"},
            {"namespace": "team-b-prod", "tenant": "team-a"},
            {"namespace": "kube-system", "tenant": "team-a"},
            {"namespace": "legacy-apps", "tenant": "apps"},
        ],
    )
    assert allowed("payments-legacy", "payments", spec)
    assert not allowed("team-b-prod", "team-a", spec)  # a grant does not lift the pattern
    (error,) = tenancy.check_namespace_allowed("team-b-prod", tenant="team-b", cluster_name="prod", cluster=spec)
    assert "existingNamespaces grants it to tenant team-a" in error.message
    assert not allowed("kube-system", "team-a", spec)  # system namespaces stay refused
    assert not allowed("legacy-apps", "apps", spec)


def test_existing_namespaces_are_listed_once() -> None:
    with pytest.raises(ValueError, match="listed more than once: old"):
        cluster_spec(existingNamespaces=[{"namespace": "old", "tenant": "a"}, {"namespace": "old", "tenant": "b"}])


# --- item 4: Spinnaker account names carry the tenant ------------------------------------------------------------

CLUSTERS = {
    "dev": cluster_spec("dev", adoptableAccounts=[{"accountName": "legacy-dev", "tenant": "team-b"}]),
    "prod": cluster_spec("prod"),
}
BOUNDARIES = Boundaries(tenants=frozenset({"team-a", "team-a-x", "team-b", "dev"}), clusters=CLUSTERS)


def name_errors(name: str, tenant: str = "team-a", default: str = "dev-team-a-dev") -> list[str]:
    found = tenancy.check_account_name_owned(name, tenant=tenant, default_name=default, boundaries=BOUNDARIES)
    return [e.message for e in found]


def test_account_names_that_carry_the_tenant_are_allowed() -> None:
    assert name_errors("dev-team-a-dev") == []  # the default
    assert name_errors("team-a-web") == []
    assert name_errors("prod-team-a-prod") == []  # this tenant's default name on another cluster
    assert name_errors("legacy-dev", tenant="team-b", default="dev-team-b-dev") == []  # granted by the admin


def test_account_names_that_do_not_carry_the_tenant_are_refused() -> None:
    (message,) = name_errors("shared")
    assert "must start with 'team-a-'" in message


def test_another_tenants_default_name_is_refused() -> None:
    # Tenant `dev` could otherwise take team-a's future default name on cluster dev.
    (message,) = name_errors("dev-team-a-dev", tenant="dev", default="dev-dev-dev")
    assert "default Spinnaker account name of namespace team-a-dev" in message and "team-a" in message
    (message,) = name_errors("prod-team-b-prod")
    assert "team-b" in message


def test_a_longer_tenants_names_are_refused() -> None:
    (message,) = name_errors("team-a-x-web")
    assert "tenant team-a-x" in message
    assert name_errors("team-a-x-web", tenant="team-a-x", default="dev-team-a-x-dev") == []


def test_a_name_an_admin_granted_to_another_tenant_is_refused() -> None:
    (message,) = name_errors("legacy-dev")
    assert "reserved for tenant team-b" in message and "adoptableAccounts" in message


# --- item 3: only claims that stand on their own count -----------------------------------------------------------


def body(
    tenant: str, name: str, namespace: str, uid: str, created: str, cluster: str = "prod", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"namespace": tenant, "name": name, "uid": uid, "creationTimestamp": created},
        "spec": {"cluster": cluster, "namespace": namespace, **spec},
    }


def judge(**tenancy_spec: Any) -> tenancy.TenancyJudge:
    cluster = {"spec": cluster_spec("prod", **tenancy_spec).model_dump(by_alias=True, exclude_none=True)}
    return tenancy.TenancyJudge(
        namespace_labels={"customer": TENANT_LABELS, "customer-a": TENANT_LABELS},
        cluster_bodies={"prod": cluster},
        reserved=RESERVED,
    )


def claims_of(*bodies: dict[str, Any]) -> list[tenancy.AccountClaim]:
    return [c for c in (tenancy.claim_from_body(b) for b in bodies) if c is not None]


def test_a_refused_older_claim_does_not_hold_the_namespace_or_the_name() -> None:
    # customer squats customer-a's namespace (admitted while the webhook was down), before customer-a asks for it.
    squatter = body("customer", "squat", "customer-a-prod", "u1", "2026-01-01T00:00:00Z")
    owner = body("customer-a", "mine", "customer-a-prod", "u2", "2026-01-02T00:00:00Z")
    claims = claims_of(squatter, owner)
    me = claims[1]
    j = judge(namespacePattern="{tenant}-*")
    assert not j.stands(claims[0]) and j.stands(me)
    assert [c.name for c in tenancy.older_claims(claims, me)] == ["squat"]  # before: the squatter won for ever
    assert tenancy.older_claims(claims, me, j.stands) == []

    spec = SpinnakerAccountSpec.model_validate(owner["spec"])
    assert (
        tenancy.tenancy_refusal(
            spec,
            tenant="customer-a",
            name="mine",
            tenant_labels=TENANT_LABELS,
            cluster_name="prod",
            cluster=j.boundaries.clusters["prod"],
            winners=tenancy.older_claims(claims, me, j.stands),
            reserved=RESERVED,
            boundaries=j.boundaries,
        )
        is None
    )
    # The admission webhook judges the same way.
    assert observe.winning_claims(rules.CREATE, claims[:1], owner, j.stands) == []
    assert [c.name for c in observe.winning_claims(rules.CREATE, claims[:1], owner)] == ["squat"]


def test_a_claim_that_stands_still_wins() -> None:
    first = body("customer-a", "first", "customer-a-prod", "u1", "2026-01-01T00:00:00Z")
    second = body("customer-a", "second", "customer-a-prod", "u2", "2026-01-02T00:00:00Z")
    claims = claims_of(first, second)
    j = judge(namespacePattern="{tenant}-*")
    assert [c.name for c in tenancy.older_claims(claims, claims[1], j.stands)] == ["first"]


def test_a_claim_on_a_cluster_that_does_not_exist_or_with_an_unreadable_spec_stands_for_nothing() -> None:
    j = judge(namespacePattern="{tenant}-*")
    (elsewhere,) = claims_of(body("customer-a", "x", "customer-a-prod", "u1", "t", cluster="gone"))
    assert not j.stands(elsewhere)
    (broken,) = claims_of(body("customer-a", "y", "customer-a-prod", "u2", "t", profile="root"))
    assert not j.stands(broken)


# --- item 6: caps on shared resources ----------------------------------------------------------------------------


def test_cache_threads_per_tenant_are_capped_across_its_accounts_on_the_cluster() -> None:
    spec = cluster_spec(maxCacheThreadsPerTenant=8)
    mine = [AccountClaim("team-a", "a", "prod", "team-a-prod", "prod-team-a-prod", 6)]
    others = [
        AccountClaim("team-b", "b", "prod", "team-b-prod", "x", 30),
        AccountClaim("team-a", "c", "dev", "team-a-dev", "y", 30),
    ]
    check = tenancy.check_cache_threads
    assert check(2, tenant="team-a", name="new", cluster_name="prod", cluster=spec, claims=mine + others) == []
    (error,) = check(3, tenant="team-a", name="new", cluster_name="prod", cluster=spec, claims=mine + others)
    assert error.path == "spec.cacheThreads" and "maxCacheThreadsPerTenant (8)" in error.message
    (alone,) = check(9, tenant="team-a", name="new", cluster_name="prod", cluster=spec, claims=())
    assert "use at most 8" in alone.message
    assert check(32, tenant="team-a", name="new", cluster_name="prod", cluster=cluster_spec(), claims=mine) == []


def test_cache_threads_cap_is_a_tenancy_violation() -> None:
    spec = cluster_spec(maxCacheThreadsPerTenant=4)
    account = SpinnakerAccountSpec.model_validate({"cluster": "prod", "namespace": "team-a-prod", "cacheThreads": 32})
    judged = tenancy.AccountUnderJudgement(account, "team-a", "greedy", TENANT_LABELS, "prod", spec, RESERVED)
    violations = tenancy.tenancy_violations(judged)
    assert [v.reason for v in violations] == ["TenantCacheThreadsExceeded"]


def test_accounts_on_missing_clusters_are_capped_per_tenant() -> None:
    winners = [AccountClaim("team-a", f"a{i}", f"gone{i}", "ns", f"n{i}") for i in range(3)]
    winners.append(AccountClaim("team-b", "b", "gone", "ns", "nb"))
    winners.append(AccountClaim("team-a", "real", "prod", "ns", "nr"))
    assert tenancy.missing_cluster_refusal("team-a", "gone9", winners, {"prod"}, 4) is None
    refusal = tenancy.missing_cluster_refusal("team-a", "gone9", winners, {"prod"}, 3)
    assert (
        refusal is not None
        and refusal.path == "spec.cluster"
        and "max_accounts_on_missing_clusters: 3" in (refusal.message)
    )


NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def stored(**changes: Any) -> StoredCredentials:
    base = StoredCredentials(
        name="spinop-dev-web",
        kubeconfig=Redacted("apiVersion: v1"),
        fingerprint="sha256:0011",
        source="TokenRequest",
        expires_at=NOW + 600 * MINUTE,
        issued_at=NOW - 2 * MINUTE,
        token_secret="",
        previous_token_secret="",
        rotation_request="",
        service_account_uid="sa-1",
        render_key="rk-1",
        owner_uid="uid-web",
    )
    return dataclasses.replace(base, **changes)


def test_a_requested_rotation_soon_after_the_previous_one_waits_and_is_not_lost() -> None:
    def deferred(current: StoredCredentials | None, request: str) -> datetime.datetime | None:
        return rotation_deferred_until(current, request, now=NOW, min_interval_seconds=600)

    assert deferred(stored(), "1") is None  # the first request: at once
    assert deferred(stored(rotation_request="1"), "1") is None  # nothing new requested
    assert deferred(stored(rotation_request="1"), "2") == NOW + 8 * MINUTE  # 2 minutes after the last one
    assert deferred(stored(rotation_request="1", issued_at=NOW - 11 * MINUTE), "2") is None
    assert deferred(None, "2") is None
    assert OperatorConfig().min_rotation_interval_seconds == 600
    assert OperatorConfig().max_accounts_on_missing_clusters == 10
