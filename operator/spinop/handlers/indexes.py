"""Indexes shared by every handler: kept in memory from one watch stream each, complete before any handler runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from spinop import GROUP, VERSION, tenancy
from spinop.controllers import accounts, clusters, pipelines
from spinop.pipelines.claims import PipelineClaim, claim_from_body

ACCOUNTS = (GROUP, VERSION, accounts.PLURAL)
CLUSTERS = (GROUP, VERSION, clusters.PLURAL)


@kopf.index(*ACCOUNTS)
def account_claims(body: kopf.Body, **_: Any) -> dict[None, tenancy.AccountClaim] | None:
    claim = tenancy.claim_from_body(body)
    return {None: claim} if claim else None


@kopf.index(*CLUSTERS)
def spinnaker_clusters(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: {"spec": dict(body.get("spec") or {}), "uid": body.metadata.uid}}


@kopf.index("", "v1", "namespaces")
def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


def one(index: kopf.Index[Any, Any], key: Any) -> Any:
    store = index.get(key)
    return next(iter(store), None) if store else None


def claims(index: kopf.Index[Any, Any]) -> list[tenancy.AccountClaim]:
    return list(index.get(None) or ())


# ---- SpinnakerPipeline inputs: a tenant's accounts, and who claims which application ------------------------------

PIPELINES = (GROUP, VERSION, pipelines.PLURAL)


@kopf.index(*ACCOUNTS)
def tenant_accounts(body: kopf.Body, **_: Any) -> dict[str, tenancy.AccountClaim] | None:
    """The account claims per MGMT namespace (what a tenant's pipelines may deploy with)."""
    claim = tenancy.claim_from_body(body)
    return {claim.tenant: claim} if claim else None


@kopf.index(*PIPELINES)
def pipeline_claims(body: kopf.Body, **_: Any) -> dict[tuple[str, str], PipelineClaim] | None:
    """Each SpinnakerPipeline under its namespace and under its application (lowercase, as Spinnaker compares)."""
    claim = claim_from_body(body)
    if claim is None:
        return None
    return {("namespace", claim.namespace): claim, ("application", claim.application.lower()): claim}


def cluster_specs(indexes: Mapping[str, Any], accounts: list[tenancy.AccountClaim]) -> dict[str, Mapping[str, Any]]:
    """The specs of the SpinnakerClusters these accounts target (their `tenancy.pipelines` grants)."""
    out: dict[str, Mapping[str, Any]] = {}
    for name in {a.cluster for a in accounts}:
        found = one(indexes["spinnaker_clusters"], name)
        if found is not None:
            out[name] = found.get("spec") or {}
    return out


def pipeline_inputs(
    indexes: Mapping[str, Any], namespace: str, application: str
) -> tuple[list[tenancy.AccountClaim], list[PipelineClaim]]:
    """A namespace's account claims, and every pipeline claim of its applications (and of `application`)."""
    account_claims = list(indexes["tenant_accounts"].get(namespace) or ())
    index = indexes["pipeline_claims"]
    own = list(index.get(("namespace", namespace)) or ())
    related = {c.uid: c for c in own}
    for app in {c.application.lower() for c in own} | {application.lower()}:
        related.update((c.uid, c) for c in index.get(("application", app)) or ())
    return account_claims, list(related.values())
