"""Pure tenancy rules: may this tenant have this SpinnakerAccount on this SpinnakerCluster?

A *tenant* is the MGMT namespace a SpinnakerAccount lives in. The rules come from the cluster's `spec.tenancy`
and are checked both by the admission webhook (to refuse early, with a clear message) and by every reconcile (a
cluster's rules may tighten after an account was admitted). Each check returns `FieldError`s naming the
SpinnakerAccount field at fault and what would be accepted; an empty list means allowed.

No I/O here: callers pass the tenant namespace's labels and the other accounts (`AccountClaim`s).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from spinop.api.errors import FieldError
from spinop.api.v1alpha1 import (
    DEFAULT_ACCOUNT_PERMISSIONS,
    AccountGuardrails,
    AccountPermissionTemplates,
    LabelSelector,
    Permissions,
    PolicyRule,
    Profile,
    SelectorOperator,
    SpinnakerAccountSpec,
    SpinnakerClusterSpec,
    parse_quantity,
)
from spinop.tenancy.claims import AccountClaim

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
"""Never a target namespace, whatever the cluster's pattern says; nor is anything starting with `kube-`."""

_WILDCARD = "[a-z0-9]+"
"""`*` is one segment without hyphens, so `{tenant}-*` for tenant `customer` never reaches `customer-a-prod`."""
_PLACEHOLDER = re.compile(r"\{(tenant|environment|cluster)\}")


@dataclass(frozen=True)
class Boundaries:
    """What separates tenants beyond one cluster's rules: every MGMT namespace (a tenant, or one to come) and every
    SpinnakerCluster's spec (their patterns make default account names, their adoptableAccounts reserve names)."""

    tenants: frozenset[str] = frozenset()
    clusters: Mapping[str, SpinnakerClusterSpec] = field(default_factory=dict)

    def granted_names(self) -> dict[str, tuple[str, str]]:
        """Account names platform admins listed in adoptableAccounts: name -> (tenant, cluster)."""
        return {
            a.account_name: (a.tenant, cluster_name)
            for cluster_name, spec in sorted(self.clusters.items())
            for a in spec.tenancy.adoptable_accounts or ()
        }


NO_BOUNDARIES = Boundaries()
"""No other tenants or clusters known: the rules judge against this cluster's spec alone."""


# ---------------------------------------------------------------------------------------------------------------------
# Namespaces


def is_system_namespace(namespace: str, reserved: Collection[str] = ()) -> bool:
    """kube-system, kube-public, kube-node-lease, default, any kube-* and the `reserved` ones (the operator's own
    and credentials namespaces)."""
    return namespace in SYSTEM_NAMESPACES or namespace.startswith("kube-") or namespace in reserved


def _substitute(pattern: str, *, tenant: str, environment: str, cluster: str) -> list[str]:
    """Split a namespacePattern into literal pieces and `*`s, with placeholders filled in."""
    values = {"tenant": tenant, "environment": environment, "cluster": cluster}
    filled = _PLACEHOLDER.sub(lambda m: values[m.group(1)].replace("*", ""), pattern)
    return re.split(r"(\*)", filled)


@lru_cache(maxsize=512)
def _pattern_regex(pattern: str, tenant: str, environment: str, cluster: str) -> re.Pattern[str]:
    pieces = _substitute(pattern, tenant=tenant, environment=environment, cluster=cluster)
    return re.compile("".join(_WILDCARD if piece == "*" else re.escape(piece) for piece in pieces))


def expected_namespace(pattern: str, *, tenant: str, environment: str, cluster: str) -> str:
    """The pattern with placeholders filled in, `*` shown as `<suffix>`: what to tell a tenant to ask for."""
    pieces = _substitute(pattern, tenant=tenant, environment=environment, cluster=cluster)
    return "".join("<any of a-z0-9>" if piece == "*" else piece for piece in pieces)


def literal_prefix(pattern: str, *, tenant: str, environment: str, cluster: str) -> str:
    """The pattern filled in for `tenant` up to its first `*`: the longest one decides an ambiguous namespace."""
    return _substitute(pattern, tenant=tenant, environment=environment, cluster=cluster)[0]


def namespace_tenants(
    namespace: str, *, tenants: Iterable[str], cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[str]:
    """The tenants a namespace belongs to on this cluster: a tenancy.existingNamespaces grant, else the tenants
    whose namespacePattern matches it with the longest literal prefix (more than one: ambiguous, nobody's)."""
    granted = {g.namespace: g.tenant for g in cluster.tenancy.existing_namespaces or ()}
    if namespace in granted:
        return [granted[namespace]]
    pattern, environment = cluster.tenancy.namespace_pattern, cluster.environment
    matching = [
        t
        for t in set(tenants)
        if t in namespace and _pattern_regex(pattern, t, environment, cluster_name).fullmatch(namespace)
    ]
    if not matching:
        return []
    lengths = {
        t: len(literal_prefix(pattern, tenant=t, environment=environment, cluster=cluster_name)) for t in matching
    }
    longest = max(lengths.values())
    return sorted(t for t in matching if lengths[t] == longest)


def check_namespace_allowed(
    namespace: str,
    *,
    tenant: str,
    cluster_name: str,
    cluster: SpinnakerClusterSpec,
    reserved_namespaces: Collection[str] = (),
    tenants: Collection[str] = (),
) -> list[FieldError]:
    """The target namespace is not a system namespace, matches the cluster's namespacePattern for this tenant, and
    is this tenant's: not granted to another tenant in tenancy.existingNamespaces, and matched by the pattern of no
    other tenant of `tenants` (every MGMT namespace) with an equal or longer literal prefix."""
    pattern = cluster.tenancy.namespace_pattern
    mine = expected_namespace(pattern, tenant=tenant, environment=cluster.environment, cluster=cluster_name)
    if is_system_namespace(namespace, reserved_namespaces):
        return [
            FieldError(
                "spec.namespace",
                f"{namespace!r} is a system namespace (kube-*, default or the operator's own) and can never be a "
                f"target; use a namespace of your own, {mine!r}",
            )
        ]
    owners = namespace_tenants(namespace, tenants={*tenants, tenant}, cluster_name=cluster_name, cluster=cluster)
    if owners == [tenant] and _pattern_regex(pattern, tenant, cluster.environment, cluster_name).fullmatch(namespace):
        return []  # a grant in existingNamespaces does not lift the pattern: both must agree
    others = [t for t in owners if t != tenant]
    if others:
        granted = any(g.namespace == namespace for g in cluster.tenancy.existing_namespaces or ())
        why = (
            f"SpinnakerCluster {cluster_name}'s tenancy.existingNamespaces grants it to tenant {others[0]}"
            if granted
            else f"it also matches tenancy.namespacePattern {pattern!r} for tenant {', '.join(others)}, whose "
            "literal prefix is as long or longer, so it is " + ("ambiguous" if tenant in owners else "that tenant's")
        )
        return [
            FieldError(
                "spec.namespace",
                f"{namespace!r} is not tenant {tenant}'s on SpinnakerCluster {cluster_name}: {why}; tenant {tenant} "
                f"may use {mine!r}",
            )
        ]
    return [
        FieldError(
            "spec.namespace",
            f"{namespace!r} does not match SpinnakerCluster {cluster_name}'s tenancy.namespacePattern {pattern!r}: "
            f"tenant {tenant} may use {mine!r}",
        )
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Label selectors


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics: None selects nothing, `{}` selects everything, else all terms must hold."""
    if selector is None:
        return False
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.match_expressions or ():
        present = expr.key in labels
        values = expr.values or []
        if expr.operator == SelectorOperator.IN and not (present and labels[expr.key] in values):
            return False
        if expr.operator == SelectorOperator.NOT_IN and present and labels[expr.key] in values:
            return False
        if expr.operator == SelectorOperator.EXISTS and not present:
            return False
        if expr.operator == SelectorOperator.DOES_NOT_EXIST and present:
            return False
    return True


def _describe_selector(selector: LabelSelector) -> str:
    terms = [f"{k}={v}" for k, v in (selector.match_labels or {}).items()]
    for expr in selector.match_expressions or ():
        if expr.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN):
            op = "in" if expr.operator == SelectorOperator.IN else "notin"
            terms.append(f"{expr.key} {op} ({','.join(expr.values or [])})")
        else:
            terms.append(expr.key if expr.operator == SelectorOperator.EXISTS else f"!{expr.key}")
    return ", ".join(terms) or "everything"


def check_tenant_selected(
    tenant: str, tenant_labels: Mapping[str, str], *, cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[FieldError]:
    """The tenant's MGMT namespace is selected by the cluster's tenancy.namespaceSelector."""
    selector = cluster.tenancy.namespace_selector
    if selector is None:
        return [
            FieldError(
                "spec.cluster",
                f"SpinnakerCluster {cluster_name} accepts no SpinnakerAccounts: it has no "
                "spec.tenancy.namespaceSelector; a platform admin must set one that selects namespace "
                f"{tenant}",
            )
        ]
    if selector_matches(selector, tenant_labels):
        return []
    return [
        FieldError(
            "metadata.namespace",
            f"namespace {tenant} may not request accounts on SpinnakerCluster {cluster_name}: its labels do not "
            f"match the cluster's tenancy.namespaceSelector ({_describe_selector(selector)}); a platform admin "
            "must label the namespace accordingly",
        )
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Profile and extra rules


def check_profile(profile: Profile, *, cluster_name: str, cluster: SpinnakerClusterSpec) -> list[FieldError]:
    allowed = cluster.tenancy.allowed_profiles
    if profile in allowed:
        return []
    accepted = ", ".join(str(p) for p in allowed) or "none: the cluster accepts no profile"
    return [
        FieldError(
            "spec.profile",
            f"profile {profile} is not allowed on SpinnakerCluster {cluster_name}; allowed: {accepted}",
        )
    ]


def uncovered_triples(rule: PolicyRule, allowed: Sequence[PolicyRule]) -> list[tuple[str, str, str]]:
    """The (apiGroup, resource, verb) triples of `rule` that no allowed rule grants."""
    granted = {triple for allowed_rule in allowed for triple in allowed_rule.triples()}
    return [triple for triple in rule.triples() if triple not in granted]


def rule_is_within(rule: PolicyRule, allowed: Sequence[PolicyRule]) -> bool:
    """Subset semantics: every (apiGroup, resource, verb) that `rule` grants is granted by some allowed rule.

    Names are compared exactly (no wildcards exist on either side: the CRD refuses them), so `deployments` does
    not cover `deployments/scale`.
    """
    return not uncovered_triples(rule, allowed)


def _describe_rules(rules: Sequence[PolicyRule]) -> str:
    if not rules:
        return "none"
    return "; ".join(
        f"{','.join(g or 'core' for g in r.api_groups)}/{','.join(r.resources)}: {','.join(r.verbs)}" for r in rules
    )


def check_extra_rules(
    rules: Sequence[PolicyRule] | None, *, cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[FieldError]:
    """Each requested extra rule lies within the cluster's tenancy.allowedExtraRules."""
    allowed = cluster.tenancy.allowed_extra_rules or []
    errors = []
    for i, rule in enumerate(rules or ()):
        missing = uncovered_triples(rule, allowed)
        if not missing:
            continue
        shown = ", ".join(f"{v} {g or 'core'}/{r}" for g, r, v in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        errors.append(
            FieldError(
                f"spec.extraRules[{i}]",
                f"not within SpinnakerCluster {cluster_name}'s tenancy.allowedExtraRules: {shown}{more} is not "
                f"allowed; allowed: {_describe_rules(allowed)}",
            )
        )
    return errors


# ---------------------------------------------------------------------------------------------------------------------
# Spinnaker (Fiat) permissions: never open to every Spinnaker user


def effective_permissions(
    spec: SpinnakerAccountSpec, *, tenant: str, cluster_name: str, cluster: SpinnakerClusterSpec
) -> Permissions:
    """spec.permissions, or the cluster's tenancy.accountPermissions (default READ/WRITE: [{tenant}]) filled in."""
    if spec.permissions is not None:
        return spec.permissions
    templates = cluster.tenancy.account_permissions or AccountPermissionTemplates.model_validate(
        DEFAULT_ACCOUNT_PERMISSIONS
    )
    return templates.fill(tenant=tenant, environment=cluster.environment, cluster=cluster_name)


def check_permissions(
    spec: SpinnakerAccountSpec, *, tenant: str, cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[FieldError]:
    """The account's effective permissions grant at least one role: Fiat (Permissions.isRestricted) treats an
    account without any as unrestricted and gives every Spinnaker user every authorization on it."""
    if effective_permissions(spec, tenant=tenant, cluster_name=cluster_name, cluster=cluster).granted():
        return []
    return [
        FieldError(
            "spec.permissions",
            "grants no Spinnaker role, which would let every Spinnaker user see and deploy with this account; list "
            "your team's role under READ and WRITE, or omit spec.permissions for the cluster's default",
        )
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Guardrails: an account may tighten the cluster's, never loosen them


def check_guardrails(
    guardrails: AccountGuardrails | None, *, cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[FieldError]:
    """Each override in the account's spec.guardrails is at least as strict as the cluster's tenancy.guardrails.

    Admission refuses what this returns; the reconcile applies the stricter of both values anyway (so a cluster
    that tightens later wins) and reports these in the account's GuardrailsApplied condition.
    """
    if guardrails is None:
        return []
    policy = cluster.tenancy.guardrails
    errors = []
    if guardrails.pod_security is not None:
        cluster_levels = policy.pod_security.levels()
        for mode, level in guardrails.pod_security.levels().items():
            floor = cluster_levels[mode]
            if level.strictness < floor.strictness:
                stricter = [str(lvl) for lvl in type(level) if lvl.strictness >= floor.strictness]
                errors.append(
                    FieldError(
                        f"spec.guardrails.podSecurity.{mode}",
                        f"{level} is looser than SpinnakerCluster {cluster_name}'s {mode} level {floor}; an account "
                        f"may only tighten its guardrails: use {' or '.join(stricter)}, or omit it",
                    )
                )
    if guardrails.resource_quota is not None and policy.resource_quota is not None:
        for key, value in sorted(guardrails.resource_quota.hard.items()):
            limit = policy.resource_quota.hard.get(key)
            if limit is not None and parse_quantity(value) > parse_quantity(limit):
                errors.append(
                    FieldError(
                        f"spec.guardrails.resourceQuota.hard[{key}]",
                        f"{value} is more than SpinnakerCluster {cluster_name}'s quota of {limit}; an account may "
                        f"only tighten its guardrails: use at most {limit}, or omit it",
                    )
                )
    return errors


# ---------------------------------------------------------------------------------------------------------------------
# Claims by other accounts


def _others(claims: Iterable[AccountClaim], tenant: str, name: str) -> list[AccountClaim]:
    return [c for c in claims if (c.tenant, c.name) != (tenant, name)]


def check_tenant_quota(
    *, tenant: str, name: str, cluster_name: str, cluster: SpinnakerClusterSpec, claims: Iterable[AccountClaim]
) -> list[FieldError]:
    """The tenant stays within tenancy.maxAccountsPerTenant on this cluster, counting this account."""
    limit = cluster.tenancy.max_accounts_per_tenant
    if limit is None:
        return []
    existing = [c for c in _others(claims, tenant, name) if c.tenant == tenant and c.cluster == cluster_name]
    if len(existing) < limit:
        return []
    return [
        FieldError(
            "spec.cluster",
            f"namespace {tenant} already has {len(existing)} SpinnakerAccounts on SpinnakerCluster {cluster_name}, "
            f"the most its tenancy.maxAccountsPerTenant ({limit}) allows; delete one or ask a platform admin to "
            "raise the limit",
        )
    ]


def check_namespace_sharing(
    namespace: str,
    *,
    tenant: str,
    name: str,
    cluster_name: str,
    cluster: SpinnakerClusterSpec,
    claims: Iterable[AccountClaim],
) -> list[FieldError]:
    """No other tenant targets this namespace; the same tenant only if tenancy.allowNamespaceSharing is true."""
    holders = [c for c in _others(claims, tenant, name) if c.cluster == cluster_name and c.namespace == namespace]
    foreign = sorted({c.tenant for c in holders if c.tenant != tenant})
    if foreign:
        return [
            FieldError(
                "spec.namespace",
                f"namespace {namespace} on SpinnakerCluster {cluster_name} belongs to another tenant; choose "
                "another namespace",
            )
        ]
    if holders and not cluster.tenancy.allow_namespace_sharing:
        return [
            FieldError(
                "spec.namespace",
                f"namespace {namespace} on SpinnakerCluster {cluster_name} is already used by SpinnakerAccount "
                f"{holders[0].name} and the cluster does not allow namespace sharing "
                "(tenancy.allowNamespaceSharing); choose another namespace",
            )
        ]
    return []


def check_account_name_unique(
    account_name: str, *, tenant: str, name: str, claims: Iterable[AccountClaim]
) -> list[FieldError]:
    """No other SpinnakerAccount, in any namespace or cluster, holds this Spinnaker account name."""
    holder = next((c for c in _others(claims, tenant, name) if c.account_name == account_name), None)
    if holder is None:
        return []
    # Another tenant's objects are none of this tenant's business: say that it is taken, not by whom.
    by = f"SpinnakerAccount {holder.name} of this namespace" if holder.tenant == tenant else "another tenant"
    return [
        FieldError(
            "spec.accountName",
            f"Spinnaker account name {account_name!r} is already held by {by}; set spec.accountName to a name of "
            "your own",
        )
    ]


def check_adopt(
    adopt: bool, account_name: str, *, tenant: str, cluster_name: str, cluster: SpinnakerClusterSpec
) -> list[FieldError]:
    """spec.adopt takes over a Spinnaker account spinop did not create: only one the platform admin listed for
    this tenant in the cluster's tenancy.adoptableAccounts (otherwise any tenant could hijack any account by name)."""
    if not adopt:
        return []
    listed = {a.account_name: a.tenant for a in cluster.tenancy.adoptable_accounts or []}
    if listed.get(account_name) == tenant:
        return []
    if account_name in listed:
        why = f"it is listed for another tenant, not {tenant!r}"
    else:
        why = "it is not in the cluster's tenancy.adoptableAccounts"
    return [
        FieldError(
            "spec.adopt",
            f"this tenant may not adopt Spinnaker account {account_name!r} on SpinnakerCluster {cluster_name}: "
            f"{why}; ask a platform admin to list it for you there, or remove spec.adopt and choose an "
            "accountName of your own",
        )
    ]


def _default_name_owners(account_name: str, *, tenant: str, boundaries: Boundaries) -> list[tuple[str, str, list[str]]]:
    """For each SpinnakerCluster whose `<cluster>-` starts `account_name`: (cluster, namespace, its tenants)."""
    found = []
    for cluster_name, spec in sorted(boundaries.clusters.items()):
        if account_name.startswith(f"{cluster_name}-"):
            namespace = account_name[len(cluster_name) + 1 :]
            owners = namespace_tenants(
                namespace, tenants={*boundaries.tenants, tenant}, cluster_name=cluster_name, cluster=spec
            )
            found.append((cluster_name, namespace, owners))
    return found


def check_account_name_owned(
    account_name: str, *, tenant: str, default_name: str, boundaries: Boundaries
) -> list[FieldError]:
    """The Spinnaker account name carries the tenant, so no tenant can squat another's.

    Allowed: a name a platform admin granted this tenant in some cluster's adoptableAccounts; the default
    `<cluster>-<namespace>` of this account (its namespace passed the tenant's pattern); the default name of another
    namespace of this tenant; or `<tenant>-<anything>` unless that reaches a longer tenant's `<tenant>-` names or
    another tenant's default name. Names granted to another tenant are refused.
    """
    granted = boundaries.granted_names()
    if account_name in granted:
        holder, where = granted[account_name]
        if holder == tenant:
            return []
        return [
            FieldError(
                "spec.accountName",
                f"Spinnaker account name {account_name!r} is reserved for tenant {holder} by SpinnakerCluster "
                f"{where}'s tenancy.adoptableAccounts; choose a name starting with {tenant + '-'!r}, or omit "
                f"spec.accountName for {default_name!r}",
            )
        ]
    if account_name == default_name:
        return []
    defaults = _default_name_owners(account_name, tenant=tenant, boundaries=boundaries)
    foreign = [(c, ns, owners) for c, ns, owners in defaults if owners and owners != [tenant]]
    if foreign:
        cluster_name, namespace, _owners = foreign[0]
        return [
            FieldError(
                "spec.accountName",
                f"{account_name!r} is the default Spinnaker account name of namespace {namespace} on SpinnakerCluster "
                f"{cluster_name}, which belongs to another tenant; choose a name starting with "
                f"{tenant + '-'!r}, or omit spec.accountName for {default_name!r}",
            )
        ]
    if any(owners == [tenant] for _, _, owners in defaults):
        return []
    if not account_name.startswith(f"{tenant}-"):
        return [
            FieldError(
                "spec.accountName",
                f"{account_name!r} does not carry your tenant: a Spinnaker account name must start with "
                f"{tenant + '-'!r} (e.g. {tenant + '-' + 'deploy'!r}), or omit spec.accountName for {default_name!r}",
            )
        ]
    longer = sorted(t for t in boundaries.tenants if t.startswith(f"{tenant}-") and account_name.startswith(f"{t}-"))
    if longer:
        return [
            FieldError(
                "spec.accountName",
                f"{account_name!r} starts with {longer[-1] + '-'!r}, the names of tenant {longer[-1]}; choose a name "
                f"starting with {tenant + '-'!r} that does not, or omit spec.accountName for {default_name!r}",
            )
        ]
    return []


def check_cache_threads(
    cache_threads: int,
    *,
    tenant: str,
    name: str,
    cluster_name: str,
    cluster: SpinnakerClusterSpec,
    claims: Iterable[AccountClaim],
) -> list[FieldError]:
    """The tenant's accounts on this cluster ask for at most tenancy.maxCacheThreadsPerTenant clouddriver threads."""
    limit = cluster.tenancy.max_cache_threads_per_tenant
    if limit is None:
        return []
    used = sum(
        c.cache_threads for c in _others(claims, tenant, name) if c.tenant == tenant and c.cluster == cluster_name
    )
    if used + cache_threads <= limit:
        return []
    return [
        FieldError(
            "spec.cacheThreads",
            f"{cache_threads} more clouddriver caching threads would bring namespace {tenant} to "
            f"{used + cache_threads} on SpinnakerCluster {cluster_name}, more than its "
            f"tenancy.maxCacheThreadsPerTenant ({limit}); use at most {max(limit - used, 0)}, or ask a platform admin "
            "to raise the limit",
        )
    ]
