"""Hostile SpinnakerAccounts (and SpinnakerCluster policies that would open accounts), each with the field path its
refusal must name. Played by tests/integration/hostile/test_hostile_accounts.py as a tenant restricted by real MGMT
RBAC (and, for cluster policies, as the platform admin: only the CRD's own rules stand between a typo and every
tenant's accounts being open).

Every case must be refused (by the apiserver's schema, or reported by the reconcile in status) naming `field`, and
must leave nothing behind: no remote namespace, no credentials Secret, no Spinnaker account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class AccountWorld(Protocol):
    """What a case needs to build its body (see the test's World)."""

    a: str  # the attacking tenant's MGMT namespace
    b: str  # another tenant's
    open: str  # a SpinnakerCluster open to both, namespaces {tenant}-{environment}-*, deployer only
    closed: str  # a SpinnakerCluster open to nobody
    legacy: str  # a Spinnaker account someone added with hal, not listed as adoptable
    holder_account_name: str  # tenant b's Ready account's Spinnaker name

    def account(self, name: str, target: str | None = None, **spec: Any) -> dict[str, Any]: ...

    def target(self, suffix: str) -> str: ...


Build = Callable[[AccountWorld, str], dict[str, Any]]


@dataclass(frozen=True)
class HostileAccount:
    id: str
    attack: str
    build: Build
    field: str
    """The field path the refusal must name (`spec.permissions`, `spec.namespace`, ...; `a|b`: either)."""
    reason: str = ""
    """The condition reason when the reconcile (not the schema) refuses it (`A|B`: either)."""
    as_admin: bool = False
    """A SpinnakerCluster body applied with the admin's identity (tenants cannot write clusters at all)."""


def _spec(**spec: Any) -> Build:
    return lambda w, n: w.account(n, **spec)


def _target(target: Callable[[AccountWorld], str], **spec: Any) -> Build:
    return lambda w, n: w.account(n, target(w), **spec)


def _on_cluster(cluster: Callable[[AccountWorld], str]) -> Build:
    def build(w: AccountWorld, n: str) -> dict[str, Any]:
        body = w.account(n)
        body["spec"]["cluster"] = cluster(w)
        return body

    return build


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> list[dict[str, Any]]:
    return [{"apiGroups": groups, "resources": resources, "verbs": verbs}]


def _cluster_policy(account_permissions: Any) -> Build:
    def build(w: AccountWorld, n: str) -> dict[str, Any]:
        return {
            "apiVersion": "spinop.io/v1alpha1",
            "kind": "SpinnakerCluster",
            "metadata": {"name": n},
            "spec": {
                "kubeconfigSecretRef": {"name": "dev-admin-kubeconfig"},
                "environment": "dev",
                "tenancy": {
                    "namespaceSelector": {"matchLabels": {"spinop.io/tenant": "true"}},
                    "accountPermissions": account_permissions,
                },
            },
        }

    return build


CORPUS: tuple[HostileAccount, ...] = (
    # Spinnaker (Fiat) permissions: an account whose permissions grant no role is open to every Spinnaker user.
    HostileAccount(
        "permissions-admin-key",
        "an ADMIN key Fiat does not know (pruned, it left READ/WRITE empty: open to everyone)",
        lambda w, n: w.account(n, permissions={"ADMIN": [w.a]}),
        "spec.permissions",
    ),
    HostileAccount(
        "permissions-lowercase-keys",
        "lowercase read/write keys (pruned before: open to everyone)",
        lambda w, n: w.account(n, permissions={"read": [w.a], "write": [w.a]}),
        "spec.permissions",
    ),
    HostileAccount(
        "permissions-fifth-key",
        "the four Fiat keys plus an invented one",
        lambda w, n: w.account(
            n, permissions={"READ": [w.a], "WRITE": [w.a], "EXECUTE": [w.a], "CREATE": [w.a], "OWNER": [w.a]}
        ),
        "spec.permissions",
    ),
    HostileAccount(
        "permissions-empty",
        "permissions: {} to switch the cluster's default off",
        _spec(permissions={}),
        "spec.permissions",
        reason="PermissionsGrantNoRole",
    ),
    HostileAccount(
        "permissions-empty-lists",
        "every key present with no role",
        _spec(permissions={"READ": [], "WRITE": [], "EXECUTE": [], "CREATE": []}),
        "spec.permissions",
        reason="PermissionsGrantNoRole",
    ),
    HostileAccount(
        "permissions-blank-roles",
        "roles Fiat trims to nothing and drops",
        _spec(permissions={"READ": [" "], "WRITE": ["\t", "  "]}),
        "spec.permissions",
        reason="PermissionsGrantNoRole",
    ),
    # Account-related cluster-policy abuses: what tenants may ask of a cluster.
    HostileAccount(
        "system-namespace",
        "deploy into kube-system",
        _target(lambda w: "kube-system"),
        "spec.namespace",
        reason="NamespaceNotAllowed",
    ),
    HostileAccount(
        "other-tenants-namespace",
        "deploy into a namespace of the other tenant's pattern",
        _target(lambda w: f"{w.b}-dev-web"),
        "spec.namespace",
        reason="NamespaceNotAllowed",
    ),
    HostileAccount(
        "closed-cluster",
        "an account on a cluster whose tenancy selects no tenant",
        _on_cluster(lambda w: w.closed),
        "metadata.namespace",
        reason="TenantNotAllowed",
    ),
    HostileAccount(
        "profile-not-allowed",
        "a profile the cluster does not allow",
        _spec(profile="readonly"),
        "spec.profile",
        reason="ProfileNotAllowed",
    ),
    HostileAccount(
        "extra-rule-secrets",
        "read Secrets through an extra rule the cluster does not allow",
        _spec(extraRules=_rule([""], ["secrets"], ["get", "list"])),
        "spec.extraRules[0]",
        reason="ExtraRulesNotAllowed",
    ),
    HostileAccount(
        "extra-rule-escalate",
        "escalate on Roles",
        _spec(extraRules=_rule(["rbac.authorization.k8s.io"], ["roles"], ["escalate"])),
        "verbs",
    ),
    HostileAccount(
        "adopt-unlisted",
        "adopt a Spinnaker account the admin did not list for this tenant",
        lambda w, n: w.account(n, accountName=w.legacy, adopt=True),
        "spec.adopt|spec.accountName",  # the name without the tenant's prefix is refused first (issue 16)
        reason="AdoptNotAllowed|AccountNameNotAllowed",
    ),
    HostileAccount(
        "other-tenants-account-name",
        "take the other tenant's Spinnaker account name",
        lambda w, n: w.account(n, accountName=w.holder_account_name),
        "spec.accountName",
    ),
    HostileAccount(
        "cache-threads-huge",
        "make clouddriver spend every thread on this account",
        _spec(cacheThreads=10_000),
        "spec.cacheThreads",
    ),
    # Cluster policies that would open every tenant's accounts (refused by the CRD even for an admin).
    HostileAccount(
        "cluster-account-permissions-empty",
        "tenancy.accountPermissions: {} (no role: every account open)",
        _cluster_policy({}),
        "spec.tenancy.accountPermissions",
        as_admin=True,
    ),
    HostileAccount(
        "cluster-account-permissions-blank",
        "tenancy.accountPermissions whose roles are blank",
        _cluster_policy({"READ": [" "], "WRITE": []}),
        "spec.tenancy.accountPermissions",
        as_admin=True,
    ),
    HostileAccount(
        "cluster-account-permissions-unknown-key",
        "tenancy.accountPermissions with a key Fiat does not know",
        _cluster_policy({"ADMIN": ["{tenant}"]}),
        "spec.tenancy.accountPermissions",
        as_admin=True,
    ),
    HostileAccount(
        "cluster-account-permissions-unknown-placeholder",
        "a role template with a placeholder spinop does not fill (left literal: a role anyone could be given)",
        _cluster_policy({"READ": ["{namespace}"], "WRITE": ["{namespace}"]}),
        "spec.tenancy.accountPermissions",
        as_admin=True,
    ),
)
