"""What an account's credentials must and must not be able to do, and how to judge RBAC rules against that.

Pure: the remote cluster answers with SelfSubjectRulesReview / SelfSubjectAccessReview (see `remote.verify`), and
this module decides whether the answers match the profile's promise. A mismatch either way is an error: missing
access breaks deploys, excess access breaks tenant isolation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spinop.api.reasons import Reason
from spinop.errors import InvalidRequest, SpinopError
from spinop.remote.profiles import Profile, rules_for

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


TENANT_LIMITS_POLICY = "spinop-tenant-limits"  # deploy/remote/tenant-policy.yaml


@dataclass(frozen=True)
class TokenExposure:
    """A way around rotation to a long-lived token of the account's own ServiceAccount, which RBAC cannot refuse a
    deployer (it may create Secrets and Pods) and the remote admission policy spinop-tenant-limits must."""

    kind: str  # "secret": a service-account-token Secret for it; "pod": a Pod running as it (its token mounted)
    service_account: str
    namespace: str

    @property
    def access(self) -> AccessCheck:
        """The RBAC request the exposure needs: without it, RBAC already refuses."""
        return AccessCheck("create", "secrets" if self.kind == "secret" else "pods", namespace=self.namespace)

    def describe(self) -> str:
        if self.kind == "secret":
            return f"create a service-account-token Secret for its ServiceAccount {self.service_account}"
        return f"create a Pod running as its ServiceAccount {self.service_account}"


def token_exposures(service_account: str, namespace: str) -> tuple[TokenExposure, ...]:
    return (TokenExposure("secret", service_account, namespace), TokenExposure("pod", service_account, namespace))


ADMISSION_GROUP = "admissionregistration.k8s.io"
#: Cluster-wide requests no tenant may make: each is a known way from one namespace to the whole cluster.
CLUSTER_CHECKS: tuple[AccessCheck, ...] = (
    AccessCheck("list", "namespaces"),
    AccessCheck("list", "secrets"),  # every namespace's Secrets
    AccessCheck("create", "clusterrolebindings", "rbac.authorization.k8s.io"),
    # The kubelet API through the apiserver: exec in any Pod on the node (nodes/proxy get is enough for that).
    AccessCheck("get", "nodes/proxy"),
    AccessCheck("create", "nodes/proxy"),
    # A client certificate for any identity: create a CSR and approve it.
    AccessCheck("create", "certificatesigningrequests", "certificates.k8s.io"),
    AccessCheck("update", "certificatesigningrequests/approval", "certificates.k8s.io"),
    AccessCheck("impersonate", "users"),
    AccessCheck("impersonate", "groups"),
    AccessCheck("impersonate", "serviceaccounts"),
    # Admission: see or change every object written, or switch the admission limits off.
    AccessCheck("create", "validatingwebhookconfigurations", ADMISSION_GROUP),
    AccessCheck("create", "mutatingwebhookconfigurations", ADMISSION_GROUP),
    AccessCheck("patch", "validatingadmissionpolicies", ADMISSION_GROUP),
    AccessCheck("delete", "validatingadmissionpolicybindings", ADMISSION_GROUP),
)

#: What Kubernetes grants every authenticated user (ClusterRole system:basic-user): not the Role's doing.
BASELINE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
    ResourceRule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
)


def rule_atoms(rule: ResourceRule, namespace: str) -> tuple[AccessCheck, ...]:
    """Each single request a rule grants (a `*` stays a literal `*`: only a `*` covers it)."""
    return tuple(
        AccessCheck(verb, resource, group, namespace=namespace, name=name)
        for verb in rule.verbs
        for group in rule.api_groups
        for resource in rule.resources
        for name in (rule.resource_names or (None,))
    )


def grants_beyond(
    granted: Iterable[ResourceRule], allowed: Iterable[ResourceRule], namespace: str
) -> tuple[AccessCheck, ...]:
    """What `granted` (a SelfSubjectRulesReview's rules) allows beyond `allowed` (the Role plus the baseline)."""
    allowed = (*allowed, *BASELINE_RULES)
    beyond: dict[AccessCheck, None] = {}
    for rule in granted:
        for atom in rule_atoms(rule, namespace):
            if not rules_allow(allowed, atom):
                beyond[atom] = None
    return tuple(beyond)


@dataclass(frozen=True)
class Expectations:
    allowed: tuple[AccessCheck, ...]
    denied: tuple[AccessCheck, ...]
    # Long-lived tokens of the account's ServiceAccount that must be out of reach (proved with dry-run creates).
    exposures: tuple[TokenExposure, ...] = ()
    # The namespace's rules must equal these (the Role spinop renders): compared in full, both ways.
    namespace: str | None = None
    role: tuple[ResourceRule, ...] = ()


def expected_access(
    profile: Profile,
    namespace: str,
    extra_rules: Iterable[ResourceRule] = (),
    other_namespace: str = PROBE_NAMESPACE,
    service_account: str | None = None,
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
        # The exec WebSocket is a GET: `get` alone is an exec grant before Kubernetes 1.35 (and with the
        # AuthorizePodWebsocketUpgradeCreatePermission gate off); tests/unit/upstream_wire/test_kube_exec.py.
        AccessCheck("get", "pods/exec", namespace=own),
        *guardrail_checks(own),
        # Nothing outside its namespace.
        AccessCheck("get", "secrets", namespace=other_namespace),
        AccessCheck("list", "pods", namespace=other_namespace),
        AccessCheck("create", "deployments", "apps", namespace=other_namespace),
        *CLUSTER_CHECKS,
    )
    allowed: tuple[AccessCheck, ...]
    denied: tuple[AccessCheck, ...]
    if profile is Profile.DEPLOYER:
        allowed, denied = reads + writes, never
    else:
        allowed, denied = reads, (*writes, AccessCheck("get", "secrets", namespace=own), *never)
    extra = tuple(extra_rules)
    granted = tuple(c for c in denied if c.namespace == own and rules_allow(extra, c))
    role = (
        tuple(ResourceRule(r.verbs, r.api_groups, r.resources, r.resource_names) for r in rules_for(profile, own))
        + extra
    )
    return Expectations(
        allowed=allowed + granted,
        denied=tuple(c for c in denied if c not in granted),
        exposures=token_exposures(service_account, own) if service_account else (),
        namespace=own,
        role=role,
    )


@dataclass(frozen=True)
class Verdict:
    missing: tuple[AccessCheck, ...]
    excess: tuple[AccessCheck, ...]
    exposed: tuple[TokenExposure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and not self.excess and not self.exposed

    def message(self) -> str:
        parts = []
        if self.missing:
            parts.append("cannot " + _listed(self.missing))
        if self.excess:
            parts.append("can unexpectedly " + _listed(self.excess))
        if self.exposed:
            parts.append(
                "can get a long-lived token outside rotation: "
                + "; ".join(e.describe() for e in self.exposed)
                + f" (the remote admission policy {TENANT_LIMITS_POLICY} from deploy/remote is missing or not enforced)"
            )
        return ". ".join(parts) if parts else "the credentials can do exactly what the profile promises"

    def refusal(self, profile: str) -> SpinopError | None:
        """Why the proven rights are not what `profile` promises (None: they are)."""
        if self.exposed and not self.missing and not self.excess:
            return InvalidRequest(
                f"the issued credentials {self.message()}. A cluster admin must apply deploy/remote "
                "(tenant-policy.yaml) on this cluster.",
                reason=Reason.TenantLimitsNotEnforced,
                retry_after=60,
            )
        if not self.ok:
            return InvalidRequest(
                f"the issued credentials do not match profile {profile}: {self.message()}. "
                "Something else on the cluster grants or removes rights (a ClusterRoleBinding, an edited Role?).",
                reason=Reason.PermissionsMismatch,
                retry_after=60,
            )
        return None


MAX_LISTED = 8  # a condition message names this many requests, then counts the rest


def _listed(checks: Sequence[AccessCheck]) -> str:
    shown = "; ".join(c.describe() for c in checks[:MAX_LISTED])
    return shown + (f"; and {len(checks) - MAX_LISTED} more" if len(checks) > MAX_LISTED else "")


def judge(
    expectations: Expectations,
    decide: dict[AccessCheck, bool],
    exposed: Iterable[TokenExposure] = (),
    granted: Sequence[ResourceRule] | None = None,
    complete: bool = False,
) -> Verdict:
    """Compare decisions (check → allowed?) with the expectations; `exposed`: the exposures the cluster let through;
    `granted`: the namespace's rules as the cluster reports them, compared in full with the Role (what the Role grants
    is only required of a `complete` report)."""
    missing = dict.fromkeys(c for c in expectations.allowed if not decide[c])
    excess = dict.fromkeys(c for c in expectations.denied if decide[c])
    if granted is not None and expectations.namespace is not None:
        excess.update(dict.fromkeys(grants_beyond(granted, expectations.role, expectations.namespace)))
        if complete:
            missing.update(dict.fromkeys(grants_beyond(expectations.role, granted, expectations.namespace)))
    return Verdict(tuple(missing), tuple(excess), tuple(exposed))
