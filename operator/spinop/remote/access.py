"""What an account's credentials must and must not be able to do, and how to judge RBAC rules against that.

Pure: the remote cluster answers with SelfSubjectRulesReview / SelfSubjectAccessReview (see `remote.verify`), and
this module decides whether the answers match the profile's promise. A mismatch either way is an error: missing
access breaks deploys, excess access breaks tenant isolation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spinop.remote.profiles import Profile

# Namespace used to prove the credentials reach nothing outside their own; the most sensitive one on any cluster.
PROBE_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class AccessCheck:
    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None  # None: a cluster-scoped request
    name: str | None = None

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        target = f" {self.name!r}" if self.name else ""
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{target}{where}"


@dataclass(frozen=True)
class ResourceRule:
    """A rule as SelfSubjectRulesReview reports it."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()


def _matches(values: Sequence[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def _resource_matches(rule_resources: Sequence[str], wanted: str) -> bool:
    """Kubernetes' ResourceMatches: `*`, an exact `resource[/subresource]`, or `*/subresource` (`pods/*` is not a
    wildcard in RBAC)."""
    if "*" in rule_resources or wanted in rule_resources:
        return True
    if "/" in wanted:
        return f"*/{wanted.split('/', 1)[1]}" in rule_resources
    return False


def rules_allow(rules: Iterable[ResourceRule], check: AccessCheck) -> bool:
    """Kubernetes RBAC matching for one request against a set of rules."""
    for rule in rules:
        if not _matches(rule.verbs, check.verb):
            continue
        if not _matches(rule.api_groups, check.group):
            continue
        if not _resource_matches(rule.resources, check.resource):
            continue
        if rule.resource_names and (check.name is None or check.name not in rule.resource_names):
            continue
        return True
    return False


GUARDRAILS_NAME = "spinop-guardrails"  # as remote.plan.GUARDRAILS (access stays free of the planner)
GUARDRAIL_RESOURCES = (
    ("resourcequotas", ""),
    ("limitranges", ""),
    ("networkpolicies", "networking.k8s.io"),
)


def guardrail_checks(namespace: str) -> tuple[AccessCheck, ...]:
    """The namespace's guardrails must be out of a tenant's reach: no edit or removal of the spinop-guardrails
    objects, no new ones (a second NetworkPolicy can only add allowances: policies are a union), and no relabelling
    or deleting of the namespace (its Pod Security labels)."""
    checks = [AccessCheck("create", resource, group, namespace=namespace) for resource, group in GUARDRAIL_RESOURCES]
    checks += [
        AccessCheck(verb, resource, group, namespace=namespace, name=name)
        for resource, group in GUARDRAIL_RESOURCES
        for verb in ("update", "patch", "delete")
        for name in (None, GUARDRAILS_NAME)
    ]
    checks += [
        AccessCheck(verb, "namespaces", namespace=namespace, name=namespace) for verb in ("update", "patch", "delete")
    ]
    return tuple(checks)


@dataclass(frozen=True)
class Expectations:
    allowed: tuple[AccessCheck, ...]
    denied: tuple[AccessCheck, ...]


def expected_access(
    profile: Profile,
    namespace: str,
    extra_rules: Iterable[ResourceRule] = (),
    other_namespace: str = PROBE_NAMESPACE,
) -> Expectations:
    """The promise of a profile, as requests that must be allowed and requests that must be refused.

    Extra rules the cluster's tenancy granted to this account move the checks they cover from refused to allowed.
    """
    own = namespace
    reads = (
        AccessCheck("list", "pods", namespace=own),
        AccessCheck("watch", "deployments", "apps", namespace=own),
        AccessCheck("get", "pods/log", namespace=own),
        AccessCheck("list", "events", namespace=own),
        AccessCheck("get", "namespaces", namespace=own, name=own),
    )
    writes = (
        AccessCheck("create", "deployments", "apps", namespace=own),
        AccessCheck("patch", "services", namespace=own),
        AccessCheck("delete", "replicasets", "apps", namespace=own),
        AccessCheck("update", "configmaps", namespace=own),
        AccessCheck("create", "secrets", namespace=own),
        AccessCheck("create", "jobs", "batch", namespace=own),
    )
    never = (
        # No RBAC changes, no privilege escalation, no new credentials, no exec, no guardrail edits.
        AccessCheck("create", "rolebindings", "rbac.authorization.k8s.io", namespace=own),
        AccessCheck("create", "roles", "rbac.authorization.k8s.io", namespace=own),
        AccessCheck("escalate", "roles", "rbac.authorization.k8s.io", namespace=own),
        AccessCheck("bind", "clusterroles", "rbac.authorization.k8s.io", namespace=own),
        AccessCheck("impersonate", "serviceaccounts", namespace=own),
        AccessCheck("create", "serviceaccounts/token", namespace=own),
        AccessCheck("create", "pods/exec", namespace=own),
        *guardrail_checks(own),
        # Nothing outside its namespace.
        AccessCheck("get", "secrets", namespace=other_namespace),
        AccessCheck("list", "pods", namespace=other_namespace),
        AccessCheck("create", "deployments", "apps", namespace=other_namespace),
        AccessCheck("list", "namespaces"),
        AccessCheck("create", "clusterrolebindings", "rbac.authorization.k8s.io"),
    )
    allowed: tuple[AccessCheck, ...]
    denied: tuple[AccessCheck, ...]
    if profile is Profile.DEPLOYER:
        allowed, denied = reads + writes, never
    else:
        allowed, denied = reads, (*writes, AccessCheck("get", "secrets", namespace=own), *never)
    extra = tuple(extra_rules)
    granted = tuple(c for c in denied if c.namespace == own and rules_allow(extra, c))
    return Expectations(
        allowed=allowed + granted,
        denied=tuple(c for c in denied if c not in granted),
    )


@dataclass(frozen=True)
class Verdict:
    missing: tuple[AccessCheck, ...]
    excess: tuple[AccessCheck, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.excess

    def message(self) -> str:
        parts = []
        if self.missing:
            parts.append("cannot " + "; ".join(c.describe() for c in self.missing))
        if self.excess:
            parts.append("can unexpectedly " + "; ".join(c.describe() for c in self.excess))
        return ". ".join(parts) if parts else "the credentials can do exactly what the profile promises"


def judge(expectations: Expectations, decide: dict[AccessCheck, bool]) -> Verdict:
    """Compare decisions (check → allowed?) with the expectations."""
    missing = tuple(c for c in expectations.allowed if not decide[c])
    excess = tuple(c for c in expectations.denied if decide[c])
    return Verdict(missing, excess)
