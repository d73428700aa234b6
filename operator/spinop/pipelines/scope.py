"""What a MGMT namespace's SpinnakerPipelines may reach (pure, no I/O): its Ready accounts, the applications it
owns, the admin grants and its SpinnakerClusters' `tenancy.pipelines` grants, built from the operator's indexes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from spinop.api.v1alpha1.pipeline_tenancy import PipelineTenancy
from spinop.config import PipelineSettings

from .claims import PipelineClaim, application_holder, claim_from_body, grant_for, owns_application
from .guard import TenantScope


class AccountView(Protocol):
    """What the scope reads of a SpinnakerAccount (the accounts index's `Claim` has it)."""

    @property
    def tenant(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def cluster(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def account_name(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def deleting(self) -> bool: ...


AccountT = TypeVar("AccountT", bound=AccountView)


def cluster_pipeline_grants(spec: Mapping[str, Any] | None) -> PipelineTenancy:
    """A SpinnakerCluster's `tenancy.pipelines`; nothing granted when it is missing or does not validate."""
    raw = ((spec or {}).get("tenancy") or {}).get("pipelines") if isinstance(spec, Mapping) else None
    try:
        return PipelineTenancy.model_validate(raw or {})
    except ValueError:
        return PipelineTenancy()


def tenant_scope(
    namespace: str,
    accounts: Iterable[AccountView],
    claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    count_pending: bool = False,
) -> TenantScope:
    """What SpinnakerPipelines in `namespace` may reach.

    `accounts`: SpinnakerAccount claims (only this namespace's Ready ones count, or with `count_pending` every one
    not being deleted); `claims`: SpinnakerPipeline claims of this namespace and of every other namespace claiming
    one of its applications; `clusters`: the SpinnakerCluster specs by name, whose `tenancy.pipelines` grants count
    for the clusters of those accounts.
    """
    claims = list(claims)
    reachable: dict[str, set[str]] = {}
    granted: dict[str, set[str]] = {"expression": set(), "url": set(), "kind": set(), "stage": set()}
    for account in accounts:
        if account.tenant == namespace and (account.ready or count_pending) and not account.deleting:
            reachable.setdefault(account.account_name, set()).add(account.namespace)
            cluster = cluster_pipeline_grants((clusters or {}).get(account.cluster))
            granted["expression"].update(cluster.expression_fields or ())
            granted["url"].update(cluster.allowed_url_hosts or ())
            granted["kind"].update(cluster.allowed_manifest_kinds or ())
            granted["stage"].update(cluster.stage_types or ())
    grant = grant_for(settings, namespace)
    wanted = {c.application for c in claims if c.namespace == namespace}
    applications = {app for app in wanted if owns_application(namespace, app, claims, settings)[0]}
    applications.update(grant.applications)
    return TenantScope(
        namespace=namespace,
        accounts={name: frozenset(ns) for name, ns in reachable.items()},
        applications=frozenset(applications),
        artifact_accounts=frozenset(grant.artifact_accounts),
        registry_accounts=frozenset(grant.registry_accounts),
        build_services=frozenset(grant.build_services),
        kayenta_accounts=frozenset(grant.kayenta_accounts),
        service_accounts=frozenset(grant.service_accounts),
        roles=frozenset(grant.roles),
        pubsub_subscriptions=frozenset(grant.pubsub_subscriptions),
        expression_fields=frozenset(granted["expression"]),
        url_hosts=frozenset(granted["url"]),
        manifest_kinds=frozenset(granted["kind"]),
        stage_types=frozenset(granted["stage"]),
    )


def pending_accounts(namespace: str, account_claims: Iterable[AccountT]) -> list[AccountT]:
    """The namespace's SpinnakerAccounts that are not Ready (yet) and not being deleted."""
    return [c for c in account_claims if c.tenant == namespace and not c.ready and not c.deleting]


@dataclass(frozen=True)
class Tenancy:
    """What one pipeline is judged against, built from the indexes by `tenancy_for` (pure)."""

    scope: TenantScope
    claims: list[PipelineClaim]
    """This namespace's pipeline claims and every other claim on one of its applications (this one included)."""
    pending_scope: TenantScope | None = None
    """The scope once the namespace's SpinnakerAccounts still on their way are Ready (None: none is)."""
    pending_accounts: tuple[str, ...] = ()


def tenancy_for(
    body: Mapping[str, Any],
    account_claims: Iterable[AccountView],
    pipeline_claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> Tenancy:
    namespace = body["metadata"]["namespace"]
    claims = list(pipeline_claims)
    me = claim_from_body(body)
    if me is not None and all(c.uid != me.uid for c in claims):
        claims.append(me)  # the index may not have seen this object yet
    account_claims = list(account_claims)
    pending = pending_accounts(namespace, account_claims)
    return Tenancy(
        scope=tenant_scope(namespace, account_claims, claims, settings, clusters),
        claims=claims,
        pending_scope=(
            tenant_scope(namespace, account_claims, claims, settings, clusters, count_pending=True) if pending else None
        ),
        pending_accounts=tuple(f"{c.tenant}/{c.name}" for c in pending),
    )


def scope_inputs(
    namespace: str,
    application: str,
    account_claims: Iterable[AccountView],
    pipeline_claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[TenantScope, str | None]:
    """What a reconcile of one pipeline depends on besides its own spec: when it changes, reconcile again."""
    claims = list(pipeline_claims)
    holder = application_holder(claims, application, settings)
    scope = tenant_scope(namespace, account_claims, claims, settings, clusters)
    return scope, holder.namespace if holder else None
