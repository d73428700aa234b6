"""The tenancy decision on one SpinnakerAccount, shared by the admission webhook and every reconcile.

`tenancy_violations` runs every rule of `spinop.tenancy.checks` in the order the reconcile reports them; the webhook
refuses with all of them, the reconcile with the first (`tenancy_refusal`). Keeping both on this one function is
what lets the webhook fail open (`failurePolicy: Ignore`): nothing it would refuse is accepted at reconcile.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from spinop.api.errors import FieldError, from_validation_error
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec, default_account_name
from spinop.errors import InvalidRequest
from spinop.tenancy.checks import (
    NO_BOUNDARIES,
    Boundaries,
    check_account_name_owned,
    check_account_name_unique,
    check_adopt,
    check_cache_threads,
    check_extra_rules,
    check_guardrails,
    check_namespace_allowed,
    check_namespace_sharing,
    check_permissions,
    check_profile,
    check_tenant_quota,
    check_tenant_selected,
)
from spinop.tenancy.claims import AccountClaim, on_missing_clusters

MAX_LISTED = 5  # names a message lists before "and N more"


def listed(names: Sequence[str]) -> str:
    """Names for a message, at most MAX_LISTED of them."""
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


@dataclass(frozen=True)
class Violation:
    """A tenancy rule that refuses an account: the condition reason the reconcile reports, and the field errors."""

    reason: Reason
    errors: tuple[FieldError, ...]


@dataclass(frozen=True)
class AccountUnderJudgement:
    """One SpinnakerAccount as tenancy judges it: its spec, who asks, and the cluster and tenants around it."""

    spec: SpinnakerAccountSpec
    tenant: str
    name: str
    tenant_labels: Mapping[str, str]
    cluster_name: str
    cluster: SpinnakerClusterSpec
    reserved: Collection[str]
    boundaries: Boundaries = NO_BOUNDARIES


def tenancy_violations(account: AccountUnderJudgement, winners: Iterable[AccountClaim] = ()) -> list[Violation]:
    """Every tenancy rule `account` breaks, in the order the reconcile reports them.

    `winners`: the claims that win over this account: at admission of a new object every existing claim (the new
    object is the youngest), at reconcile and on update the older ones (`tenancy.older_claims`); only claims that
    stand on their own (`stands_on_its_own`) may be passed.
    `account.boundaries`: every MGMT namespace and SpinnakerCluster, which tell this tenant's namespaces and names
    apart.
    """
    spec, tenant, name, tenant_labels = account.spec, account.tenant, account.name, account.tenant_labels
    cluster_name, cluster, reserved = account.cluster_name, account.cluster, account.reserved
    winners = list(winners)
    # This cluster as judged here (fresher than an index; the importer's is not stored yet) is one of them.
    boundaries = Boundaries(
        tenants=account.boundaries.tenants, clusters={**account.boundaries.clusters, cluster_name: cluster}
    )
    checks: list[tuple[Reason, list[FieldError]]] = [
        (
            Reason.TenantNotAllowed,
            check_tenant_selected(tenant, tenant_labels, cluster_name=cluster_name, cluster=cluster),
        ),
        (
            Reason.NamespaceNotAllowed,
            check_namespace_allowed(
                spec.namespace,
                tenant=tenant,
                cluster_name=cluster_name,
                cluster=cluster,
                reserved_namespaces=reserved,
                tenants=boundaries.tenants,
            ),
        ),
        (Reason.ProfileNotAllowed, check_profile(spec.profile, cluster_name=cluster_name, cluster=cluster)),
        (Reason.ExtraRulesNotAllowed, check_extra_rules(spec.extra_rules, cluster_name=cluster_name, cluster=cluster)),
        (
            Reason.PermissionsGrantNoRole,
            check_permissions(spec, tenant=tenant, cluster_name=cluster_name, cluster=cluster),
        ),
        (
            Reason.AccountNameNotAllowed,
            check_account_name_owned(
                spec.effective_account_name,
                tenant=tenant,
                default_name=default_account_name(cluster_name, spec.namespace),
                boundaries=boundaries,
            ),
        ),
        (
            Reason.TenantQuotaExceeded,
            check_tenant_quota(tenant=tenant, name=name, cluster_name=cluster_name, cluster=cluster, claims=winners),
        ),
        (
            Reason.TenantCacheThreadsExceeded,
            check_cache_threads(
                spec.cache_threads, tenant=tenant, name=name, cluster_name=cluster_name, cluster=cluster, claims=winners
            ),
        ),
        (
            Reason.NamespaceOwnedByAnotherAccount,
            check_namespace_sharing(
                spec.namespace, tenant=tenant, name=name, cluster_name=cluster_name, cluster=cluster, claims=winners
            ),
        ),
        (
            Reason.AccountNameTaken,
            check_account_name_unique(spec.effective_account_name, tenant=tenant, name=name, claims=winners),
        ),
        (
            Reason.AdoptNotAllowed,
            check_adopt(
                spec.adopt, spec.effective_account_name, tenant=tenant, cluster_name=cluster_name, cluster=cluster
            ),
        ),
    ]
    return [Violation(reason, tuple(errors)) for reason, errors in checks if errors]


def check_account(account: AccountUnderJudgement, claims: Iterable[AccountClaim] = ()) -> list[FieldError]:
    """Every tenancy error of `account` against `claims` (the other SpinnakerAccounts; itself is skipped if present):
    those of `tenancy_violations`, and a guardrails override looser than the cluster's, which admission refuses and
    the reconcile tightens (GuardrailsApplied)."""
    errors = [e for v in tenancy_violations(account, claims) for e in v.errors]
    return errors + check_guardrails(
        account.spec.guardrails, cluster_name=account.cluster_name, cluster=account.cluster
    )


def stands_on_its_own(account: AccountUnderJudgement) -> bool:
    """Whether an account passes its own tenancy checks (judged as if no other account existed).

    Only such a claim holds a namespace or a name against younger ones: an account refused with, say,
    NamespaceNotAllowed (admitted while the webhook was down) must not lock the legitimate owner out for ever.
    """
    return not tenancy_violations(account)


def missing_cluster_refusal(
    tenant: str, cluster_name: str, winners: Iterable[AccountClaim], known: Collection[str], limit: int
) -> FieldError | None:
    """A tenant may hold at most `limit` accounts that name SpinnakerClusters which do not exist (yet): each is
    admitted for GitOps ordering, but unbounded they are free work and objects for everyone."""
    pending = sorted({(c.name, c.cluster) for c in on_missing_clusters(winners, tenant, known)})
    if len(pending) < limit:
        return None
    return FieldError(
        "spec.cluster",
        f"SpinnakerCluster {cluster_name!r} does not exist, and namespace {tenant} already has {len(pending)} "
        f"SpinnakerAccounts naming clusters that do not exist ({listed([f'{n} -> {c}' for n, c in pending])}), the "
        f"most spinop accepts (operator setting max_accounts_on_missing_clusters: {limit}); fix or delete those",
    )


def read_cluster(cluster_name: str, body: Mapping[str, Any]) -> SpinnakerClusterSpec | FieldError:
    """The spec of the SpinnakerCluster an account names, or the error an account is refused with (reason
    ClusterInvalid) when spinop cannot read it: stored under an older CRD or while the webhook was down, it must
    refuse its accounts at reconcile as at admission."""
    try:
        return SpinnakerClusterSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        detail = "; ".join(str(e) for e in from_validation_error(exc, ("spec",)))
        return FieldError(
            "spec.cluster",
            f"SpinnakerCluster {cluster_name!r} has a spec spinop cannot read ({detail}); a platform admin must fix "
            "it before accounts can use it",
        )


def tenancy_refusal(
    spec: SpinnakerAccountSpec,
    *,
    tenant: str,
    name: str,
    tenant_labels: Mapping[str, str],
    cluster_name: str,
    cluster: SpinnakerClusterSpec,
    winners: list[AccountClaim],
    reserved: tuple[str, ...],
    boundaries: Boundaries = NO_BOUNDARIES,
) -> InvalidRequest | None:
    """The reconcile's view: the first violated rule as an InvalidRequest (its reason becomes the condition's)."""
    account = AccountUnderJudgement(spec, tenant, name, tenant_labels, cluster_name, cluster, reserved, boundaries)
    violations = tenancy_violations(account, winners)
    if not violations:
        return None
    first = violations[0]
    return InvalidRequest("; ".join(f"{e.path}: {e.message}" for e in first.errors), reason=first.reason)


class TenancyJudge:
    """Tenancy beyond one account: every MGMT namespace (its labels) and every SpinnakerCluster, for the
    boundaries between tenants and for judging whether another account's claim stands on its own."""

    def __init__(
        self,
        *,
        namespace_labels: Mapping[str, Mapping[str, str]],
        cluster_bodies: Mapping[str, Mapping[str, Any]],
        reserved: Collection[str],
    ) -> None:
        clusters = {}
        for cluster_name, body in cluster_bodies.items():
            try:
                clusters[cluster_name] = SpinnakerClusterSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                continue
        self.namespace_labels = namespace_labels
        self.reserved = tuple(reserved)
        self.boundaries = Boundaries(tenants=frozenset(namespace_labels), clusters=clusters)
        self._verdicts: dict[str, bool] = {}

    def stands(self, claim: AccountClaim) -> bool:
        if claim.uid not in self._verdicts:
            self._verdicts[claim.uid] = self._judge(claim)
        return self._verdicts[claim.uid]

    def _judge(self, claim: AccountClaim) -> bool:
        cluster = self.boundaries.clusters.get(claim.cluster)
        if cluster is None:
            return False
        try:
            spec = SpinnakerAccountSpec.model_validate(dict(claim.spec))
        except ValidationError:
            return False
        tenant_labels = self.namespace_labels.get(claim.tenant) or {}
        return stands_on_its_own(
            AccountUnderJudgement(
                spec, claim.tenant, claim.name, tenant_labels, claim.cluster, cluster, self.reserved, self.boundaries
            )
        )
