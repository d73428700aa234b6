"""Indexes shared by every handler: kept in memory from one watch stream each, complete before any handler runs."""

from __future__ import annotations

from typing import Any

import kopf

from spinop import GROUP, VERSION
from spinop.controllers import accounts, clusters

ACCOUNTS = (GROUP, VERSION, accounts.PLURAL)
CLUSTERS = (GROUP, VERSION, clusters.PLURAL)


@kopf.index(*ACCOUNTS)
def account_claims(body: kopf.Body, **_: Any) -> dict[None, accounts.Claim] | None:
    claim = accounts.claim_from_body(body)
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


def claims(index: kopf.Index[Any, Any]) -> list[accounts.Claim]:
    return list(index.get(None) or ())
