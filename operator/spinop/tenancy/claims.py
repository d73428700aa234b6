"""What a SpinnakerAccount holds against other accounts (`AccountClaim`), and which claims win over one (pure).

One claim type serves the accounts index, the tenancy checks, the webhook and `spinop plan`/`spinop import`: the
index fills every field from the stored object, the commands only what the checks read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spinop.api.conditions import raw_is_true
from spinop.api.v1alpha1 import SpinnakerAccount


@dataclass(frozen=True)
class AccountClaim:
    """What a SpinnakerAccount holds: a target namespace on a cluster and a Spinnaker account name; and, from the
    accounts index, enough to decide conflicts without API calls."""

    tenant: str
    """The MGMT namespace of that SpinnakerAccount."""
    name: str
    """Its metadata.name."""
    cluster: str
    namespace: str
    account_name: str
    cache_threads: int = 1
    uid: str = ""
    created: str = ""
    """metadata.creationTimestamp: the oldest claim to a name or namespace keeps it."""
    deleting: bool = False
    ready: bool = False
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The raw spec, to judge whether this claim stands on its own (`TenancyJudge`)."""

    def sort_key(self) -> tuple[str, str]:
        return (self.created, self.uid)

    @classmethod
    def from_resource(cls, account: SpinnakerAccount) -> AccountClaim:
        return cls(
            tenant=account.metadata.namespace or "",
            name=account.metadata.name or "",
            cluster=account.spec.cluster,
            namespace=account.spec.namespace,
            account_name=account.spec.effective_account_name,
            cache_threads=account.spec.cache_threads,
        )


def claim_from_body(body: Mapping[str, Any]) -> AccountClaim | None:
    """The claim of a stored SpinnakerAccount, whatever its shape; None when it names no cluster or namespace."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    if not spec.get("cluster") or not spec.get("namespace"):
        return None
    return AccountClaim(
        tenant=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        cluster=spec["cluster"],
        namespace=spec["namespace"],
        account_name=spec.get("accountName") or f"{spec['cluster']}-{spec['namespace']}",
        created=meta.get("creationTimestamp", ""),
        deleting=bool(meta.get("deletionTimestamp")),
        ready=raw_is_true(body.get("status"), "Ready"),
        cache_threads=threads if isinstance(threads := spec.get("cacheThreads", 1), int) else 1,
        spec=dict(spec),
    )


def older_claims(
    claims: Iterable[AccountClaim], me: AccountClaim, stands: Callable[[AccountClaim], bool] | None = None
) -> list[AccountClaim]:
    """Claims that win over `me`: the oldest claim to a name or namespace keeps it (deterministic, no writes).

    With `stands` (`TenancyJudge.stands`), an older claim that competes with `me` counts only if it passes its own
    tenancy checks: an account refused for, say, a namespace that is not its tenant's holds nothing.
    """
    older = [c for c in claims if c.uid != me.uid and c.sort_key() < me.sort_key()]
    if stands is not None:
        older = [c for c in older if not competes(c, me) or stands(c)]
    return older


def on_missing_clusters(claims: Iterable[AccountClaim], tenant: str, known: Collection[str]) -> list[AccountClaim]:
    """`tenant`'s claims that name a SpinnakerCluster not in `known` (what max_accounts_on_missing_clusters counts)."""
    return [c for c in claims if c.tenant == tenant and c.cluster not in known]


def competes(claim: AccountClaim, me: AccountClaim) -> bool:
    """Whether a claim can refuse `me`: same account name, same target namespace, or the same tenant's quota."""
    return claim.account_name == me.account_name or (
        claim.cluster == me.cluster and (claim.namespace == me.namespace or claim.tenant == me.tenant)
    )
