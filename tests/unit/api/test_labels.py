"""Label and annotation keys live in spinop.api.labels. Their values are a contract with objects already in clusters
(remote objects, credentials Secrets, annotations users set): renaming one orphans those objects, so they are pinned."""

from __future__ import annotations

from spinop.api import labels

PINNED = {
    "MANAGED_BY": "app.kubernetes.io/managed-by",
    "OWNER_UID": "spinop.io/account-uid",
    "OWNER": "spinop.io/owner",
    "CLUSTER": "spinop.io/cluster",
    "ACCOUNT": "spinop.io/account-name",
    "CREATED_NAMESPACE": "spinop.io/created-by-account-uid",
    "TENANT": "spinop.io/tenant",
    "GRANTED_TENANT": "spinop.io/granted-tenant",
    "INGRESS_HOSTS_ANNOTATION": "spinop.io/ingress-host-suffixes",
    "TOKEN_SECRET_LABEL": "spinop.io/token-for",
    "ACCOUNT_NAMESPACE": "spinop.io/account-namespace",
    "TOKEN_SOURCE": "spinop.io/token-source",
    "TOKEN_EXPIRES_AT": "spinop.io/token-expires-at",
    "TOKEN_FINGERPRINT": "spinop.io/token-fingerprint",
    "ISSUED_AT": "spinop.io/issued-at",
    "TOKEN_SECRET": "spinop.io/token-secret",
    "PREVIOUS_TOKEN_SECRET": "spinop.io/previous-token-secret",
    "ROTATION_REQUEST": "spinop.io/rotation-request",
    "SERVICE_ACCOUNT_UID": "spinop.io/service-account-uid",
    "RENDER_KEY": "spinop.io/render-key",
    "ROTATE_ANNOTATION": "spinop.io/rotate-credentials",
    "DIGEST_KEY": "spinop.io/essence-sha256",
    "IMPORTED_FROM": "spinop.io/imported-from",
}


def test_every_key_keeps_its_value() -> None:
    declared = {
        name: value
        for name, value in vars(labels).items()
        if name.isupper() and name != "GROUP" and isinstance(value, str)  # GROUP is imported, not a key
    }
    assert declared == PINNED
