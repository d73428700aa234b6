"""Issue Kubernetes credentials for an account's ServiceAccount on its remote cluster.

- TokenRequest: short-lived, nothing stored remotely; the expiry is what the server granted (it may shorten the
  request silently, `--service-account-max-token-expiration`), never what was asked.
- ServiceAccountTokenSecret: a long-lived `kubernetes.io/service-account-token` Secret filled by the token controller.
  It is never listed in the ServiceAccount's `secrets`, so the legacy-token cleaner never treats it as auto-generated
  (KEP-2799); deleting the Secret revokes the token, which is how rotation retires the old one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from typing import Literal

import kubernetes.client as k8s

from spinop.api.labels import OWNER_UID, TOKEN_SECRET_LABEL
from spinop.errors import Waiting
from spinop.kube.clients import call, get_or_none
from spinop.kube.errors import remote_errors
from spinop.redact import Redacted
from spinop.remote.cluster import RemoteCluster
from spinop.remote.plan import DesiredRemote

Source = Literal["TokenRequest", "ServiceAccountTokenSecret"]
MAX_LABEL_VALUE = 63


def token_for(service_account: str) -> str:
    """The token Secrets' label value: the ServiceAccount name while it fits a label value (every Secret labelled
    before this rule had such a name: a longer value was refused at create), else a stable hash of it. Account names
    may have 100 characters, so `spinop-<accountName>` may not fit."""
    if len(service_account) <= MAX_LABEL_VALUE:
        return service_account
    return "sha256-" + hashlib.sha256(service_account.encode()).hexdigest()[: MAX_LABEL_VALUE - len("sha256-")]


@dataclass(frozen=True)
class IssuedToken:
    token: Redacted[str]
    expires_at: datetime.datetime | None
    source: Source
    secret_name: str | None = None


def request_token(remote: RemoteCluster, desired: DesiredRemote, ttl_seconds: int, audiences: list[str]) -> IssuedToken:
    core = k8s.CoreV1Api(remote.api)
    body = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=audiences or [], expiration_seconds=ttl_seconds)
    )
    with remote_errors(remote.name):
        granted = call(core.create_namespaced_service_account_token, desired.object_name, desired.namespace, body)
    return IssuedToken(
        token=Redacted(str(granted.status.token)),
        expires_at=granted.status.expiration_timestamp,
        source="TokenRequest",
    )


def token_secret_name(desired: DesiredRemote, serial: int) -> str:
    return f"{desired.object_name}-token-{serial}"


def ensure_token_secret(remote: RemoteCluster, desired: DesiredRemote, name: str) -> IssuedToken:
    """Create the token Secret if needed and return its token; Waiting until the token controller fills it."""
    core = k8s.CoreV1Api(remote.api)
    with remote_errors(remote.name):
        secret = get_or_none(core.read_namespaced_secret, name, desired.namespace)
        if secret is None:
            labels = desired.owner.labels() | {TOKEN_SECRET_LABEL: token_for(desired.object_name)}
            call(
                core.create_namespaced_secret,
                desired.namespace,
                k8s.V1Secret(
                    metadata=k8s.V1ObjectMeta(
                        name=name,
                        labels=labels,
                        annotations={
                            **desired.owner.annotations(),
                            "kubernetes.io/service-account.name": desired.object_name,
                        },
                    ),
                    type="kubernetes.io/service-account-token",
                ),
            )
            raise Waiting(f"waiting for cluster {remote.name} to fill the token Secret {name}", retry_after=1)
    token = (secret.data or {}).get("token")
    if not token:
        raise Waiting(f"waiting for cluster {remote.name} to fill the token Secret {name}", retry_after=1)
    return IssuedToken(
        token=Redacted(base64.b64decode(token).decode()),
        expires_at=None,
        source="ServiceAccountTokenSecret",
        secret_name=name,
    )


def token_secret_exists(remote: RemoteCluster, namespace: str, name: str) -> bool:
    with remote_errors(remote.name):
        return get_or_none(k8s.CoreV1Api(remote.api).read_namespaced_secret, name, namespace) is not None


def delete_token_secrets(remote: RemoteCluster, desired: DesiredRemote, keep: str | None = None) -> list[str]:
    """Revoke this account's long-lived tokens (all, or all but `keep`); returns the names deleted.

    Selected by the account's uid and the presence of the token label, whatever its value: the ServiceAccount name
    or its hash (`token_for`), so Secrets labelled by any version of spinop are found. A value built from the
    account name must never be put in the selector: above 63 characters the apiserver answers 400 forever.
    """
    core = k8s.CoreV1Api(remote.api)
    deleted = []
    with remote_errors(remote.name):
        try:
            listed = call(
                core.list_namespaced_secret,
                desired.namespace,
                label_selector=f"{OWNER_UID}={desired.owner.uid},{TOKEN_SECRET_LABEL}",
            )
        except k8s.ApiException as err:
            if err.status != 403:
                raise
            # deploy/remote's token-request-only identity may neither read nor create Secrets: there is none of
            # spinop's to revoke (an admin who withdraws Secret access after using token Secrets revokes them).
            return []
        for secret in listed.items:
            if secret.metadata.name == keep:
                continue
            try:
                call(core.delete_namespaced_secret, secret.metadata.name, desired.namespace)
            except k8s.ApiException as err:
                if err.status != 404:
                    raise
            deleted.append(secret.metadata.name)
    return deleted
