"""New credentials for an account: a token (TokenRequest or a token Secret, as the policy says), rendered into a
kubeconfig and stored in the credentials Secret in MGMT."""

from __future__ import annotations

import datetime
import logging

from kubernetes.client import ApiClient

from spinop.api.reasons import EventReason
from spinop.api.v1alpha1 import CredentialsType
from spinop.credentials import store
from spinop.credentials.kubeconfig import render_kubeconfig
from spinop.credentials.policy import CredentialsPolicy
from spinop.credentials.tokens import IssuedToken, ensure_token_secret, request_token, token_secret_name
from spinop.kube.status import Event
from spinop.remote.cluster import RemoteCluster
from spinop.remote.plan import DesiredRemote

log = logging.getLogger(__name__)


def issue_token(
    remote: RemoteCluster, desired: DesiredRemote, policy: CredentialsPolicy, stored: store.StoredCredentials | None
) -> IssuedToken:
    """A token as the policy says: a TokenRequest, or the next serially named long-lived token Secret."""
    if policy.type == CredentialsType.SERVICE_ACCOUNT_TOKEN_SECRET.value:
        serial = 1
        if stored is not None and stored.token_secret.rsplit("-", 1)[-1].isdigit():
            serial = int(stored.token_secret.rsplit("-", 1)[-1]) + 1
        return ensure_token_secret(remote, desired, token_secret_name(desired, serial))
    return request_token(remote, desired, policy.ttl_seconds, list(policy.audiences))


def store_new_credentials(
    mgmt: ApiClient,
    credentials_namespace: str,
    remote: RemoteCluster,
    desired: DesiredRemote,
    policy: CredentialsPolicy,
    stored: store.StoredCredentials | None,
    *,
    why: str,
    rotation_request: str,
    sa_uid: str,
    render_key: str,
    now: datetime.datetime,
) -> tuple[store.StoredCredentials, Event]:
    """Issue a token, render and store its kubeconfig; returns what is stored and the Event that tells the tenant."""
    issued = issue_token(remote, desired, policy, stored)
    kubeconfig = render_kubeconfig(
        account_name=desired.owner.account_name,
        cluster_name=desired.owner.cluster,
        server=remote.tenant_server,
        ca_data=remote.ca_data,
        token=issued.token,
        namespace=desired.namespace,
        insecure=remote.insecure,
    )
    # A long-lived token being replaced stays valid until Spinnaker has the new one (then it is revoked).
    previous = ""
    if stored is not None and stored.token_secret and stored.token_secret != issued.secret_name:
        previous = stored.token_secret
    elif stored is not None:
        previous = stored.previous_token_secret
    new = store.write_credentials(
        mgmt,
        credentials_namespace,
        store.secret_name(desired.owner.account_name),
        owner=desired.owner,
        kubeconfig=kubeconfig,
        token=issued,
        rotation_request=rotation_request,
        service_account_uid=sa_uid,
        render_key=render_key,
        previous_token_secret=previous,
        now=now,
    )
    reason = EventReason.CredentialsIssued if stored is None else EventReason.CredentialsRotated
    log.info("%s: new %s credentials for %s (%s)", reason, issued.source, desired.owner.ref, why)
    return new, ("Normal", reason, f"new {issued.source} credentials ({new.fingerprint}): {why}")
