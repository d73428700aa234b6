"""The MGMT reads an admission decision needs, made when the request arrives (sync: run them in a thread).

Why not the operator's kopf indexes: they follow watch streams and lag behind writes, so a webhook answering from
them would admit a second account with a name created a moment earlier. These reads are a few requests per
create or spec change (rare: kopf's own annotation and finalizer updates are admitted without any read, see
`rules.needs_review`), and the apiserver serves them consistently from its watch cache. Two creates racing each
other can still both pass; the reconcile settles that deterministically (the older claim wins).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from pydantic import ValidationError

from spinop import GROUP, VERSION
from spinop.admission.rules import CREATE, AccountWorld, ClusterWorld, SecretState, TenantAccount
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.controllers import accounts, clusters
from spinop.kube.clients import call, get_or_none
from spinop.tenancy import AccountClaim

READ_TIMEOUT = (2.0, 4.0)
"""(connect, read) seconds per request: the apiserver gives a webhook 5 s (static configuration) or 30 s."""


def winning_claims(
    operation: str,
    claims: Iterable[accounts.Claim],
    body: Mapping[str, Any],
    stands: Callable[[accounts.Claim], bool] | None = None,
) -> list[AccountClaim]:
    """The claims that win over the object under review.

    A new object is younger than everything that exists, so every existing claim counts. An update is judged like
    the reconcile judges it: only older claims count (an account admitted while the webhook was down must not make
    the older holder of its name uneditable). With `stands`, as in the reconcile, a competing claim counts only if
    it passes its own tenancy checks.
    """
    claims = list(claims)
    me = accounts.claim_from_body(body)
    if me is None:
        return [c.as_tenancy_claim() for c in claims]
    if operation == CREATE:
        return [c.as_tenancy_claim() for c in claims if stands is None or not accounts.competes(c, me) or stands(c)]
    return accounts.older_claims(claims, me, stands)


def _list_accounts(api: ApiClient) -> list[dict[str, Any]]:
    listed = call(
        k8s.CustomObjectsApi(api).list_cluster_custom_object,
        GROUP,
        VERSION,
        accounts.PLURAL,
        _request_timeout=READ_TIMEOUT,
    )
    return list(listed.get("items") or [])


def _namespace_labels(api: ApiClient, name: str) -> dict[str, str]:
    # A list narrowed to one name: the operator's RBAC allows list/watch on namespaces (its index), not get.
    listed = call(
        k8s.CoreV1Api(api).list_namespace, field_selector=f"metadata.name={name}", _request_timeout=READ_TIMEOUT
    )
    items = listed.items or []
    return dict(items[0].metadata.labels or {}) if items else {}


def account_world(
    api: ApiClient, operation: str, body: Mapping[str, Any], reserved: Collection[str] = ()
) -> AccountWorld:
    tenant = (body.get("metadata") or {}).get("namespace") or ""
    listed = call(
        k8s.CustomObjectsApi(api).list_cluster_custom_object,
        GROUP,
        VERSION,
        clusters.PLURAL,
        _request_timeout=READ_TIMEOUT,
    )
    by_name = {item["metadata"]["name"]: item for item in listed.get("items") or []}
    claims = [c for c in (accounts.claim_from_body(item) for item in _list_accounts(api)) if c is not None]
    namespaces = call(k8s.CoreV1Api(api).list_namespace, _request_timeout=READ_TIMEOUT).items or []
    labels = {ns.metadata.name: dict(ns.metadata.labels or {}) for ns in namespaces}
    judge = accounts.TenancyJudge(namespace_labels=labels, cluster_bodies=by_name, reserved=reserved)
    return AccountWorld(
        tenant_labels=labels.get(tenant, {}),
        clusters=by_name,
        winners=tuple(winning_claims(operation, claims, body, judge.stands)),
        boundaries=judge.boundaries,
    )


def _secret_state(api: ApiClient, namespace: str, name: str) -> SecretState:
    secret = get_or_none(k8s.CoreV1Api(api).read_namespaced_secret, name, namespace, _request_timeout=READ_TIMEOUT)
    if secret is None:
        return SecretState(namespace, name, exists=False)
    # Only the key names leave this function; the values are dropped with `secret`.
    return SecretState(namespace, name, exists=True, keys=frozenset(secret.data or {}))


def cluster_world(
    api: ApiClient,
    name: str,
    body: Mapping[str, Any],
    *,
    credentials_namespace: str,
    rejudge_accounts: bool,
) -> ClusterWorld:
    try:
        spec = SpinnakerClusterSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return ClusterWorld()  # the schema check refuses it; nothing to look up
    secret = _secret_state(api, credentials_namespace, spec.kubeconfig_secret_ref.name)
    if not rejudge_accounts:
        return ClusterWorld(secret=secret)
    listed = [(item, accounts.claim_from_body(item)) for item in _list_accounts(api)]
    claims = [claim for _, claim in listed if claim is not None]
    labels: dict[str, dict[str, str]] = {}
    on_cluster = []
    for item, claim in listed:
        if claim is None or claim.cluster != name or claim.deleting:
            continue
        try:
            account_spec = SpinnakerAccountSpec.model_validate(item.get("spec") or {})
        except ValidationError:
            continue
        if claim.tenant not in labels:
            labels[claim.tenant] = _namespace_labels(api, claim.tenant)
        on_cluster.append(
            TenantAccount(
                spec=account_spec,
                tenant=claim.tenant,
                name=claim.name,
                tenant_labels=labels[claim.tenant],
                winners=tuple(accounts.older_claims(claims, claim)),
            )
        )
    return ClusterWorld(secret=secret, accounts=tuple(on_cluster))
