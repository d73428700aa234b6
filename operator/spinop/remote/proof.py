"""When an account's least privilege must be proven again, and when an idle pass may trust the watches (pure).

A proof (`remote.verify`: access reviews made with the account's own token) depends on the account's Role and
RoleBinding, its ServiceAccount, the token and what the profile expects. While none of those changed, a verdict
stays true unless something spinop cannot see changed (a ClusterRoleBinding, an admission policy): that is what the
verify interval bounds. Likewise an idle pass may take the account's remote objects from the last full observation
when the cluster's watches are synced and saw no change to them; the parts no watch covers (the namespace, the
guardrail objects) are read again at least once per verify interval, with the proof.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinop.remote.access import Expectations

#: The kinds an account's proof and the remote watches share, as `remote.watch.WATCHED` names them.
WATCHED_KINDS = ("serviceaccounts", "roles", "rolebindings")

#: resourceVersion of each watched object of one account by kind ("" when it does not exist).
Versions = Mapping[str, str]


@dataclass(frozen=True)
class ProofBasis:
    """What a verdict on an account's rights depends on, as far as spinop sees without asking the authorizer."""

    versions: Versions
    service_account_uid: str
    token_fingerprint: str
    expectations: str  # expectations_digest(): each account keeps its last proof, ~50 checks would cost it ~5 KiB


def expectations_digest(expectations: Expectations) -> str:
    """Equal for equal expectations (frozen dataclasses of tuples and strings have a stable repr), and small."""
    return hashlib.sha256(repr(expectations).encode()).hexdigest()


@dataclass(frozen=True)
class LastProof:
    """The last successful proof of one account."""

    basis: ProofBasis
    at: datetime.datetime


def why_verify(
    last: LastProof | None, basis: ProofBasis, *, now: datetime.datetime, interval_seconds: float
) -> str | None:
    """Why the account's rights must be proven now, or None when the last successful proof still stands."""
    if last is None:
        return "not proven since the operator started, or the last proof failed"
    if (now - last.at).total_seconds() >= interval_seconds:
        return f"the verify interval ({interval_seconds:.0f}s) has passed"
    before, after = last.basis, basis
    changed = [kind for kind in WATCHED_KINDS if before.versions.get(kind, "") != after.versions.get(kind, "")]
    if changed:
        return f"its {', '.join(changed)} changed"
    if before.service_account_uid != after.service_account_uid:
        return "its ServiceAccount was re-created"
    if before.token_fingerprint != after.token_fingerprint:
        return "it has new credentials"
    if before.expectations != after.expectations:
        return "what its profile and rules allow changed"
    return None


def versions_of(objects: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """The resourceVersions of observed objects by kind ("" for one that does not exist)."""
    return {
        kind: str(((objects.get(kind) or {}).get("metadata") or {}).get("resourceVersion") or "")
        for kind in WATCHED_KINDS
    }


def trust_watches(
    observed_versions: Versions | None,
    watched_versions: Versions | None,
    *,
    observed_at: datetime.datetime | None,
    now: datetime.datetime,
    interval_seconds: float,
) -> bool:
    """Whether a pass may reuse the last full observation instead of reading the remote objects again.

    Only when the cluster's watches are synced (`watched_versions` is None otherwise), they hold every watched object
    at the version last observed, and the last full observation is younger than the verify interval.
    """
    if observed_versions is None or watched_versions is None or observed_at is None:
        return False
    if (now - observed_at).total_seconds() >= interval_seconds:
        return False
    return all(observed_versions.get(k, "") == watched_versions.get(k, "") for k in WATCHED_KINDS)
