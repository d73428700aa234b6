"""The MGMT reads an admission decision needs, made when the request arrives (sync: run them in a thread).

Why not the operator's kopf indexes: they follow watch streams and lag behind writes, so a webhook answering from
them would admit a second account with a name created a moment earlier. These reads are a few requests per
create or spec change (rare: kopf's own annotation and finalizer updates are admitted without any read, see
`rules.needs_review`), and the apiserver serves them consistently from its watch cache. Two creates racing each
other can still both pass; the reconcile settles that deterministically (the older claim wins).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from pydantic import ValidationError

from spinop import GROUP, VERSION, tenancy
from spinop.admission.rules import CREATE, AccountWorld, ClusterWorld, SecretState, TenantAccount
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.controllers import accounts, clusters
from spinop.kube.clients import call, get_or_none
from spinop.tenancy import AccountClaim

READ_TIMEOUT = (2.0, 4.0)
"""(connect, read) seconds per request: the apiserver gives a webhook 5 s (static configuration) or 30 s."""


def winning_claims(
    operation: str,
    claims: Iterable[AccountClaim],
    body: Mapping[str, Any],
    stands: Callable[[AccountClaim], bool] | None = None,
) -> list[AccountClaim]:
    """The claims that win over the object under review.

    A new object is younger than everything that exists, so every existing claim counts. An update is judged like
    the reconcile judges it: only older claims count (an account admitted while the webhook was down must not make
    the older holder of its name uneditable). With `stands`, as in the reconcile, a competing claim counts only if
    it passes its own tenancy checks.
    """
    claims = list(claims)
    me = tenancy.claim_from_body(body)
    if me is None:
        return claims
    if operation == CREATE:
        return [c for c in claims if stands is None or not tenancy.competes(c, me) or stands(c)]
    return tenancy.older_claims(claims, me, stands)


PAGE = 500
"""Items per list request; lists follow `continue` tokens."""
BUDGET_SECONDS = 4.0
"""All reads of one review together (the apiserver gives a webhook 5 s in the shipped configuration)."""


class Budget:
    """One review's read deadline: every request gets what is left as its read timeout."""

    def __init__(self, seconds: float = BUDGET_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds

    def timeout(self) -> tuple[float, float]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the admission read budget is spent")
        return (min(READ_TIMEOUT[0], left), min(READ_TIMEOUT[1], left))


def _pages(list_fn: Callable[..., Any], budget: Budget, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a custom-object list, page by page."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(list_fn, *args, limit=PAGE, _continue=token, _request_timeout=budget.timeout(), **kwargs)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def _accounts_where(api: ApiClient, budget: Budget, field_selector: str) -> list[dict[str, Any]]:
    return _pages(
        k8s.CustomObjectsApi(api).list_cluster_custom_object,
        budget,
        GROUP,
        VERSION,
        accounts.PLURAL,
        field_selector=field_selector,
    )


def _esc(value: str) -> str:
    """A field selector value, escaped as apimachinery's fields.EscapeValue does (backslash, comma, equals)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _default_name_splits(account_name: str) -> list[tuple[str, str]]:
    """(cluster, namespace) pairs whose default Spinnaker name `<cluster>-<namespace>` is `account_name`."""
    parts = account_name.split("-")
    return [("-".join(parts[:i]), "-".join(parts[i:])) for i in range(1, len(parts))]


def claims_on_missing_clusters(
    operation: str, claims: Iterable[AccountClaim], body: Mapping[str, Any], known: Collection[str]
) -> tuple[AccountClaim, ...]:
    """The tenant's claims that win by age (all for a create) and name no existing SpinnakerCluster: the reconcile
    counts these against max_accounts_on_missing_clusters without asking whether they stand on their own (none can),
    so the webhook must too, or a tenant could pile accounts on one missing cluster past the limit."""
    tenant = (body.get("metadata") or {}).get("namespace") or ""
    return tuple(tenancy.on_missing_clusters(winning_claims(operation, claims, body), tenant, known))


def competing_accounts(api: ApiClient, body: Mapping[str, Any], budget: Budget | None = None) -> list[dict[str, Any]]:
    """The SpinnakerAccounts that can refuse `body` (`tenancy.competes`), read by field selector
    (the CRD's selectableFields) instead of listing every account: the tenant's own (its quota, cache threads and
    accounts on missing clusters), those with the same target (spec.cluster and spec.namespace), and those with
    the same Spinnaker name (spec.accountName, or a default `<cluster>-<namespace>` that spells it)."""
    budget = budget or Budget()
    me = tenancy.claim_from_body(body)
    tenant = (body.get("metadata") or {}).get("namespace") or ""
    found: dict[str, dict[str, Any]] = {}

    def keep(items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            meta = item.get("metadata") or {}
            found.setdefault(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}", item)

    keep(
        _pages(k8s.CustomObjectsApi(api).list_namespaced_custom_object, budget, GROUP, VERSION, tenant, accounts.PLURAL)
    )
    if me is None:
        return list(found.values())
    keep(_accounts_where(api, budget, f"spec.cluster={_esc(me.cluster)},spec.namespace={_esc(me.namespace)}"))
    keep(_accounts_where(api, budget, f"spec.accountName={_esc(me.account_name)}"))
    for cluster, namespace in _default_name_splits(me.account_name):
        for item in _accounts_where(api, budget, f"spec.cluster={_esc(cluster)},spec.namespace={_esc(namespace)}"):
            claim = tenancy.claim_from_body(item)
            if claim is not None and tenancy.competes(claim, me):
                keep([item])
    return list(found.values())


def _accounts_on_cluster(api: ApiClient, budget: Budget, cluster: str) -> list[dict[str, Any]]:
    return _accounts_where(api, budget, f"spec.cluster={_esc(cluster)}")


def _namespace_labels(api: ApiClient, name: str) -> dict[str, str]:
    # A list narrowed to one name: the operator's RBAC allows list/watch on namespaces (its index), not get.
    listed = call(
        k8s.CoreV1Api(api).list_namespace, field_selector=f"metadata.name={name}", _request_timeout=READ_TIMEOUT
    )
    items = listed.items or []
    return dict(items[0].metadata.labels or {}) if items else {}


def _all_namespace_labels(api: ApiClient, budget: Budget) -> dict[str, dict[str, str]]:
    """Every MGMT namespace's labels (the tenant boundaries need them all), page by page."""
    labels: dict[str, dict[str, str]] = {}
    token: str | None = None
    while True:
        page = call(k8s.CoreV1Api(api).list_namespace, limit=PAGE, _continue=token, _request_timeout=budget.timeout())
        labels.update({ns.metadata.name: dict(ns.metadata.labels or {}) for ns in page.items or []})
        token = page.metadata._continue if page.metadata else None
        if not token:
            return labels


def account_world(
    api: ApiClient, operation: str, body: Mapping[str, Any], reserved: Collection[str] = ()
) -> AccountWorld:
    tenant = (body.get("metadata") or {}).get("namespace") or ""
    budget = Budget()
    listed = _pages(k8s.CustomObjectsApi(api).list_cluster_custom_object, budget, GROUP, VERSION, clusters.PLURAL)
    by_name = {item["metadata"]["name"]: item for item in listed}
    competing = competing_accounts(api, body, budget)
    claims = [c for c in (tenancy.claim_from_body(item) for item in competing) if c is not None]
    labels = _all_namespace_labels(api, budget)
    judge = tenancy.TenancyJudge(namespace_labels=labels, cluster_bodies=by_name, reserved=reserved)
    return AccountWorld(
        tenant_labels=labels.get(tenant, {}),
        clusters=by_name,
        winners=tuple(winning_claims(operation, claims, body, judge.stands)),
        on_missing_clusters=claims_on_missing_clusters(operation, claims, body, by_name),
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
    # Warnings only: the accounts on this cluster, judged against each other (a name clash with an account on
    # another cluster is left to the reconcile, which reports it).
    listed = [(item, tenancy.claim_from_body(item)) for item in _accounts_on_cluster(api, Budget(), name)]
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
                winners=tuple(tenancy.older_claims(claims, claim)),
            )
        )
    return ClusterWorld(secret=secret, accounts=tuple(on_cluster))
