"""When an account needs new credentials (pure)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from spinop.credentials.store import StoredCredentials


@dataclass(frozen=True)
class CredentialsPolicy:
    """The SpinnakerCluster's `spec.credentials`, in seconds."""

    type: str = "TokenRequest"
    ttl_seconds: int = 24 * 3600
    renew_before_seconds: int = 8 * 3600
    rotation_interval_seconds: int = 30 * 24 * 3600
    audiences: tuple[str, ...] = ()


def renewal_due_at(stored: StoredCredentials, policy: CredentialsPolicy) -> datetime.datetime | None:
    """When the stored credentials must be replaced on schedule (None: never on schedule)."""
    if stored.source == "TokenRequest" and stored.expires_at is not None:
        return stored.expires_at - datetime.timedelta(seconds=policy.renew_before_seconds)
    if stored.source == "ServiceAccountTokenSecret" and stored.issued_at is not None:
        return stored.issued_at + datetime.timedelta(seconds=policy.rotation_interval_seconds)
    return None


def rotation_deferred_until(
    stored: StoredCredentials | None, rotation_request: str, *, now: datetime.datetime, min_interval_seconds: float
) -> datetime.datetime | None:
    """When a requested rotation has to wait, or None when it may happen now.

    Every rotation makes Spinnaker reload (with Halyard: redeploy clouddriver for every tenant), so a new
    spinop.io/rotate-credentials value within `min_interval_seconds` of the previous requested rotation waits for
    it; the request is kept in the annotation, never dropped. The first request is honoured at once.
    """
    if stored is None or not rotation_request or rotation_request == stored.rotation_request:
        return None
    if not stored.rotation_request or stored.issued_at is None:
        return None
    due = stored.issued_at + datetime.timedelta(seconds=min_interval_seconds)
    return due if now < due else None


def why_new_credentials(
    stored: StoredCredentials | None,
    policy: CredentialsPolicy,
    *,
    now: datetime.datetime,
    rotation_request: str,
    service_account_uid: str,
    render_key: str,
    token_secret_present: bool = True,
) -> str | None:
    """The reason to issue new credentials now, or None when the stored ones are good."""
    if stored is None:
        return "no credentials issued yet"
    if stored.source != policy.type:
        return f"credentials type changed to {policy.type}"
    if rotation_request and rotation_request != stored.rotation_request:
        return "rotation requested"
    if stored.service_account_uid and stored.service_account_uid != service_account_uid:
        return "the ServiceAccount was re-created, so its old tokens are invalid"
    if stored.render_key != render_key:
        return "the cluster address or certificate authority changed"
    if policy.type == "ServiceAccountTokenSecret" and not token_secret_present:
        return "the token Secret was deleted on the remote cluster"
    due = renewal_due_at(stored, policy)
    if due is not None and now >= due:
        return "scheduled renewal before expiry" if stored.source == "TokenRequest" else "rotation interval elapsed"
    return None
