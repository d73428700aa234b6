"""The credentials Secret in MGMT: the account's kubeconfig plus what spinop needs to know about its token.

It lives in the operator's credentials namespace (`devops` in the seed), not in the tenant's namespace, so tenants
never read tokens. A cross-namespace owner reference is not allowed by Kubernetes, so the link to the
SpinnakerAccount is labels + annotations, and the account's finalizer deletes the Secret.
The token itself is only in `data.kubeconfig`; annotations carry its expiry and a fingerprint, never the token.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import (
    ACCOUNT,
    ACCOUNT_NAMESPACE,
    CLUSTER,
    ISSUED_AT,
    MANAGED_BY,
    OWNER,
    OWNER_UID,
    PREVIOUS_TOKEN_SECRET,
    RENDER_KEY,
    ROTATION_REQUEST,
    SERVICE_ACCOUNT_UID,
    TOKEN_EXPIRES_AT,
    TOKEN_FINGERPRINT,
    TOKEN_SECRET,
    TOKEN_SOURCE,
)
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import format_time
from spinop.credentials.tokens import IssuedToken
from spinop.errors import InvalidRequest
from spinop.kube.clients import call, get_or_none
from spinop.redact import Redacted
from spinop.remote.plan import Owner

KEY = "kubeconfig"  # the Secret's data key


def secret_name(account_name: str) -> str:
    return f"spinop-{account_name}"


def _time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: datetime.datetime | None) -> str:
    return format_time(value) if value else ""


@dataclass(frozen=True)
class StoredCredentials:
    name: str
    kubeconfig: Redacted[str]
    fingerprint: str
    source: str
    expires_at: datetime.datetime | None
    issued_at: datetime.datetime | None
    token_secret: str
    previous_token_secret: str
    rotation_request: str
    service_account_uid: str
    render_key: str
    owner_uid: str


class CredentialsSecretConflict(InvalidRequest):
    """A Secret of the credentials Secret's name exists and spinop did not make it: never read, never replaced."""

    reason = Reason.CredentialsSecretConflict


def _refuse_foreign(secret: k8s.V1Secret, namespace: str, name: str) -> None:
    # The name comes from spec.accountName, which a tenant picks: without this check an account name could point
    # spinop at, and overwrite or hand out, any Secret in the credentials namespace (a cluster's admin kubeconfig).
    if (secret.metadata.labels or {}).get(MANAGED_BY) != "spinop":
        raise CredentialsSecretConflict(
            f"Secret {namespace}/{name}, where this account's credentials would be stored, exists and was not made "
            "by spinop; spinop leaves it alone. Choose another spec.accountName, or ask a platform admin to rename "
            "that Secret"
        )


def read_credentials(mgmt: ApiClient, namespace: str, name: str) -> StoredCredentials | None:
    """The stored credentials, None when there are none; CredentialsSecretConflict when the name is not spinop's."""
    secret = get_or_none(k8s.CoreV1Api(mgmt).read_namespaced_secret, name, namespace)
    if secret is None:
        return None
    _refuse_foreign(secret, namespace, name)
    if not (secret.data or {}).get(KEY):
        return None
    notes = secret.metadata.annotations or {}
    return StoredCredentials(
        name=name,
        kubeconfig=Redacted(base64.b64decode(secret.data[KEY]).decode()),
        fingerprint=notes.get(TOKEN_FINGERPRINT, ""),
        source=notes.get(TOKEN_SOURCE, ""),
        expires_at=_time(notes.get(TOKEN_EXPIRES_AT)),
        issued_at=_time(notes.get(ISSUED_AT)),
        token_secret=notes.get(TOKEN_SECRET, ""),
        previous_token_secret=notes.get(PREVIOUS_TOKEN_SECRET, ""),
        rotation_request=notes.get(ROTATION_REQUEST, ""),
        service_account_uid=notes.get(SERVICE_ACCOUNT_UID, ""),
        render_key=notes.get(RENDER_KEY, ""),
        owner_uid=(secret.metadata.labels or {}).get(OWNER_UID, ""),
    )


def write_credentials(
    mgmt: ApiClient,
    namespace: str,
    name: str,
    *,
    owner: Owner,
    kubeconfig: Redacted[str],
    token: IssuedToken,
    rotation_request: str,
    service_account_uid: str,
    render_key: str,
    previous_token_secret: str,
    now: datetime.datetime,
) -> StoredCredentials:
    """Create or replace the Secret; the new kubeconfig is in place before anything else learns of it."""
    annotations = {
        OWNER: owner.ref,
        ACCOUNT: owner.account_name,
        CLUSTER: owner.cluster,
        TOKEN_SOURCE: token.source,
        TOKEN_EXPIRES_AT: _iso(token.expires_at),
        TOKEN_FINGERPRINT: token.token.fingerprint(),
        ISSUED_AT: _iso(now),
        TOKEN_SECRET: token.secret_name or "",
        PREVIOUS_TOKEN_SECRET: previous_token_secret,
        ROTATION_REQUEST: rotation_request,
        SERVICE_ACCOUNT_UID: service_account_uid,
        RENDER_KEY: render_key,
    }
    body = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={MANAGED_BY: "spinop", OWNER_UID: owner.uid, ACCOUNT_NAMESPACE: owner.mgmt_namespace},
            annotations=annotations,
        ),
        type="Opaque",
        data={KEY: base64.b64encode(kubeconfig.reveal().encode()).decode()},
    )
    core = k8s.CoreV1Api(mgmt)
    try:
        call(core.create_namespaced_secret, namespace, body)
    except ApiException as err:
        if err.status != 409:
            raise
        existing = call(core.read_namespaced_secret, name, namespace)
        _refuse_foreign(existing, namespace, name)
        # Replace exactly the version checked above: a Secret swapped in meanwhile makes this fail (409), not vanish.
        body.metadata.resource_version = existing.metadata.resource_version
        call(core.replace_namespaced_secret, name, namespace, body)
    return StoredCredentials(
        name=name,
        kubeconfig=kubeconfig,
        fingerprint=annotations[TOKEN_FINGERPRINT],
        source=token.source,
        expires_at=token.expires_at,
        issued_at=now,
        token_secret=annotations[TOKEN_SECRET],
        previous_token_secret=previous_token_secret,
        rotation_request=rotation_request,
        service_account_uid=service_account_uid,
        render_key=render_key,
        owner_uid=owner.uid,
    )


def clear_previous_token_secret(mgmt: ApiClient, namespace: str, name: str) -> None:
    call(
        k8s.CoreV1Api(mgmt).patch_namespaced_secret,
        name,
        namespace,
        {"metadata": {"annotations": {PREVIOUS_TOKEN_SECRET: ""}}},
    )


def delete_credentials(mgmt: ApiClient, namespace: str, name: str, owner_uid: str) -> bool:
    """Delete the Secret if it belongs to this account; True when it is gone."""
    secret = get_or_none(k8s.CoreV1Api(mgmt).read_namespaced_secret, name, namespace)
    if secret is None:
        return True
    if (secret.metadata.labels or {}).get(OWNER_UID) != owner_uid:
        return True  # someone else's Secret under that name: never ours to delete
    try:
        call(k8s.CoreV1Api(mgmt).delete_namespaced_secret, name, namespace)
    except ApiException as err:
        if err.status != 404:
            raise
    return True
