"""One SpinnakerAccount's cluster work, in a worker thread: what its status should say.

The steps, each ending in its condition: the SpinnakerCluster and the tenancy rules (RemoteProvisioned when refused),
the remote objects (observe → plan → apply: RemoteProvisioned, plus the guardrails), the credentials
(CredentialsIssued) and the proof of least privilege (PermissionsVerified). The first step that cannot proceed ends the
pass; `controllers.accounts.reconcile` then hands the result to the Spinnaker sync and writes the status.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spinop.accounts import (
    Outcome,
    build_desired_remote,
    desired_spinnaker_account,
    guardrails_condition,
)
from spinop.accounts import credentials_policy as _policy
from spinop.accounts import extra_rules as _extra_rules
from spinop.accounts import render_key as _render_key
from spinop.api.errors import FieldError
from spinop.api.labels import ROTATE_ANNOTATION
from spinop.api.reasons import EventReason, Reason
from spinop.api.v1alpha1 import CredentialsType, SpinnakerAccount, SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.api.v1alpha1 import format_time as _iso
from spinop.controllers.context import AccountMemory, OperatorContext
from spinop.credentials import store
from spinop.credentials.issue import store_new_credentials
from spinop.credentials.kubeconfig import token_of
from spinop.credentials.policy import (
    CredentialsPolicy,
    renewal_due_at,
    rotation_deferred_until,
    why_new_credentials,
)
from spinop.credentials.tokens import token_secret_exists
from spinop.errors import InvalidRequest, SpinopError, TokenRejected, Waiting
from spinop.remote import apply as remote_apply
from spinop.remote.access import ResourceRule, Verdict, expected_access
from spinop.remote.cluster import ClusterConnection, RemoteCluster
from spinop.remote.plan import DesiredRemote, ObservedRemote, Owner, plan_remote
from spinop.remote.proof import (
    LastProof,
    ProofBasis,
    Versions,
    expectations_digest,
    trust_watches,
    versions_of,
    why_verify,
)
from spinop.remote.verify import verify_access
from spinop.spinnaker.desired import AccountOwner
from spinop.tenancy import (
    NO_BOUNDARIES,
    AccountClaim,
    Boundaries,
    effective_permissions,
    missing_cluster_refusal,
    read_cluster,
    tenancy_refusal,
)

log = logging.getLogger(__name__)


def provision(
    ctx: OperatorContext,
    account: SpinnakerAccount,
    *,
    cluster_body: Mapping[str, Any] | None,
    tenant_labels: Mapping[str, str],
    winners: list[AccountClaim],
    rotation_request: str,
    previously_provisioned: bool,
    now: datetime.datetime,
    boundaries: Boundaries = NO_BOUNDARIES,
    missing_cluster_claims: Iterable[AccountClaim] = (),
    status_fingerprint: str = "",
) -> Outcome:
    """Everything that talks to clusters, in one thread: returns what the status should say.

    `missing_cluster_claims`: this tenant's older accounts that name SpinnakerClusters which do not exist.
    `status_fingerprint`: status.tokenFingerprint as stored; a pass trusts the credentials it remembers only if they
    are still these (another replica, before a failover, may have rotated them).
    """
    out = Outcome()
    spec, meta = account.spec, account.metadata
    tenant, name, uid = meta.namespace or "", meta.name or "", meta.uid or ""
    account_name = spec.effective_account_name
    out.fields["spinnakerAccountName"] = account_name
    # Put back only by a pass that ends with its permissions proven: any failure makes the next pass read everything.
    memory = ctx.account_memory.pop(uid, None)

    cluster = _cluster(ctx, spec, tenant, cluster_body, missing_cluster_claims)
    if isinstance(cluster, SpinopError):
        return out.fail("RemoteProvisioned", cluster)
    refused = tenancy_refusal(
        spec,
        tenant=tenant,
        name=name,
        tenant_labels=tenant_labels,
        cluster_name=spec.cluster,
        cluster=cluster,
        winners=winners,
        reserved=ctx.config.reserved_namespaces,
        boundaries=boundaries,
    )
    if refused:
        return out.fail("RemoteProvisioned", refused)

    owner = Owner(cluster=spec.cluster, mgmt_namespace=tenant, name=name, uid=uid, account_name=account_name)
    desired_remote = build_desired_remote(owner, spec, cluster)
    out.desired_remote = desired_remote
    try:
        seen = _remote_objects(
            ctx, spec, cluster, desired_remote, memory, out, now=now, status_fingerprint=status_fingerprint
        )
        if previously_provisioned and seen.repaired:
            out.events.append(("Warning", EventReason.DriftRepaired, seen.repaired))
    except SpinopError as err:
        if err.reason == Reason.ClusterCredentialsRejected:
            ctx.clusters.invalidate(spec.cluster)
        return out.fail("RemoteProvisioned", err)
    out.ok(
        "RemoteProvisioned",
        Reason.Provisioned,
        f"namespace {spec.namespace}, ServiceAccount, Role ({spec.profile.value}) and RoleBinding "
        f"{desired_remote.object_name} are in place on cluster {spec.cluster}",
    )
    out.conditions.append(guardrails_condition(desired_remote, seen.observed, spec, cluster))

    policy = _policy(cluster)
    try:
        stored, verdict, proof = _credentials_and_proof(
            ctx,
            out,
            seen,
            spec,
            policy,
            rotation_request,
            now,
            cached=memory.stored if seen.idle and memory is not None else None,
            last_proof=memory.proof if memory is not None else None,
        )
    except SpinopError as err:
        return out.fail("CredentialsIssued", err)
    _report_credentials(ctx, out, spec, stored, policy, rotation_request, now)

    refusal = verdict.refusal(spec.profile.value)
    if refusal is not None:
        return out.fail("PermissionsVerified", refusal)
    out.ok(
        "PermissionsVerified",
        Reason.Verified,
        f"the credentials can do what profile {spec.profile.value} promises in "
        f"{spec.namespace} and nothing outside it (checked with the cluster's own authorizer)",
    )
    ctx.account_memory[uid] = AccountMemory(
        desired_remote, seen.observed, seen.versions, seen.observed_at, stored, proof
    )

    out.desired = desired_spinnaker_account(
        AccountOwner(tenant, name, uid),
        spec,
        cluster.environment,
        stored.kubeconfig,
        stored.fingerprint,
        permissions=effective_permissions(spec, tenant=tenant, cluster_name=spec.cluster, cluster=cluster),
    )
    return out


def _cluster(
    ctx: OperatorContext,
    spec: SpinnakerAccountSpec,
    tenant: str,
    cluster_body: Mapping[str, Any] | None,
    missing_cluster_claims: Iterable[AccountClaim],
) -> SpinnakerClusterSpec | SpinopError:
    """The SpinnakerCluster the account names, or why the account cannot use it."""
    if cluster_body is None:
        too_many = missing_cluster_refusal(
            tenant, spec.cluster, missing_cluster_claims, (), ctx.config.max_accounts_on_missing_clusters
        )
        if too_many is not None:
            return InvalidRequest(
                f"{too_many.path}: {too_many.message}",
                reason=Reason.TooManyAccountsOnMissingClusters,
                retry_after=int(ctx.config.drift_interval_seconds),
            )
        return InvalidRequest(
            f"SpinnakerCluster {spec.cluster} does not exist; ask a platform admin for the list "
            "(kubectl get spinnakerclusters) or fix spec.cluster",
            reason=Reason.ClusterNotFound,
            retry_after=30,
        )
    cluster = read_cluster(spec.cluster, cluster_body)
    if isinstance(cluster, FieldError):
        # Stored under an older CRD or while the webhook was down: refused here as at admission, until fixed.
        return InvalidRequest(
            f"{cluster.path}: {cluster.message}",
            reason=Reason.ClusterInvalid,
            retry_after=int(ctx.config.drift_interval_seconds),
        )
    return cluster


@dataclass(frozen=True)
class _RemoteSeen:
    """The account's remote objects as this pass leaves them."""

    remote: RemoteCluster
    desired: DesiredRemote
    observed: ObservedRemote
    observed_at: datetime.datetime
    versions: Versions
    idle: bool  # taken from the last pass's observation: the watches saw no change since
    repaired: str  # what this pass changed on the cluster ("" when nothing)

    @property
    def service_account_uid(self) -> str:
        return str(((self.observed.service_account or {}).get("metadata") or {}).get("uid", ""))


def _remote_objects(
    ctx: OperatorContext,
    spec: SpinnakerAccountSpec,
    cluster: SpinnakerClusterSpec,
    desired: DesiredRemote,
    memory: AccountMemory | None,
    out: Outcome,
    *,
    now: datetime.datetime,
    status_fingerprint: str,
) -> _RemoteSeen:
    """Observe the account's remote objects (or trust the watches when idle), plan and apply; raises SpinopError."""
    connection = ClusterConnection.of(spec.cluster, cluster)
    watched: Versions | None = None
    if ctx.watches is not None:
        # Before observing: whatever this pass creates is then either in the watch's first list or an event after it.
        ctx.watches.ensure(connection)
        watched = ctx.watches.versions(spec.cluster, spec.namespace, desired.object_name)
    # Idle: the watches saw no change to the account's objects since the last full observation (and it is recent).
    idle = memory is not None and (
        memory.desired == desired
        and memory.stored.fingerprint == status_fingerprint
        and trust_watches(
            memory.observed_versions,
            watched,
            observed_at=memory.observed_at,
            now=now,
            interval_seconds=ctx.config.verify_interval_seconds,
        )
    )
    remote = ctx.clusters.get(connection)
    out.remote = remote
    if idle:
        assert memory is not None
        observed, observed_at = memory.observed, memory.observed_at
    else:
        observed, observed_at = remote_apply.observe(remote, desired), now
    plan = plan_remote(desired, observed, allow_sharing=cluster.tenancy.allow_namespace_sharing)
    if plan.waiting:
        raise Waiting(plan.waiting, reason=Reason.NamespaceTerminating, retry_after=5)
    if plan.conflicts:
        raise InvalidRequest("; ".join(c.message for c in plan.conflicts), reason=plan.conflicts[0].reason)
    repaired = ""
    if plan.actions:
        remote_apply.apply(remote, plan.actions)
        repaired = "; ".join(a.describe() for a in plan.actions)
        observed, observed_at = remote_apply.observe(remote, desired), now
    versions = versions_of(
        {"serviceaccounts": observed.service_account, "roles": observed.role, "rolebindings": observed.role_binding}
    )
    return _RemoteSeen(remote, desired, observed, observed_at, versions, idle, repaired)


def _credentials_and_proof(
    ctx: OperatorContext,
    out: Outcome,
    seen: _RemoteSeen,
    spec: SpinnakerAccountSpec,
    policy: CredentialsPolicy,
    rotation_request: str,
    now: datetime.datetime,
    *,
    cached: store.StoredCredentials | None = None,
    last_proof: LastProof | None = None,
) -> tuple[store.StoredCredentials, Verdict, LastProof | None]:
    """Make sure valid credentials are stored (issuing new ones when due), then prove what they can do, unless the
    last proof still stands (`remote.proof.why_verify`). Returns the proof to remember (None: the verdict failed).

    `cached`: the credentials an idle pass remembers, instead of reading the Secret again.
    """
    remote, desired, sa_uid = seen.remote, seen.desired, seen.service_account_uid
    render_key = _render_key(remote, spec)
    stored = (
        cached
        if cached is not None
        else store.read_credentials(
            ctx.mgmt, ctx.config.credentials_namespace, store.secret_name(spec.effective_account_name)
        )
    )
    token_present = True
    if stored is not None and policy.type == CredentialsType.SERVICE_ACCOUNT_TOKEN_SECRET.value and stored.token_secret:
        token_present = token_secret_exists(remote, spec.namespace, stored.token_secret)
    deferred = rotation_deferred_until(
        stored, rotation_request, now=now, min_interval_seconds=ctx.config.min_rotation_interval_seconds
    )
    why = why_new_credentials(
        stored,
        policy,
        now=now,
        rotation_request=stored.rotation_request if deferred is not None and stored is not None else rotation_request,
        service_account_uid=sa_uid,
        render_key=render_key,
        token_secret_present=token_present,
    )
    expectations = expected_access(
        spec.profile,
        spec.namespace,
        [ResourceRule(r.verbs, r.api_groups, r.resources, r.resource_names) for r in _extra_rules(spec)],
        service_account=desired.object_name,
    )
    if why is None and deferred is not None:
        out.rotation_deferred_until = deferred
    for _attempt in range(2):
        if why is not None or stored is None:
            stored, event = store_new_credentials(
                ctx.mgmt,
                ctx.config.credentials_namespace,
                remote,
                desired,
                policy,
                stored,
                why=why or "no credentials",
                rotation_request=rotation_request,
                sa_uid=sa_uid,
                render_key=render_key,
                now=now,
            )
            out.events.append(event)
        token = token_of(stored.kubeconfig)
        if token is None:
            why = "the stored kubeconfig has no token"
            continue
        basis = ProofBasis(seen.versions, sa_uid, stored.fingerprint, expectations_digest(expectations))
        reason = why_verify(last_proof, basis, now=now, interval_seconds=ctx.config.verify_interval_seconds)
        if reason is None and last_proof is not None:
            return stored, Verdict(missing=(), excess=()), last_proof
        log.debug("proving the rights of %s: %s", desired.owner.ref, reason)
        try:
            verdict = verify_access(remote, token, expectations)
            return stored, verdict, LastProof(basis, now) if verdict.ok else None
        except TokenRejected:
            why = "the cluster no longer accepts the stored token"
    raise TokenRejected(f"cluster {remote.name} rejects even freshly issued credentials for {desired.object_name}")


def _report_credentials(
    ctx: OperatorContext,
    out: Outcome,
    spec: SpinnakerAccountSpec,
    stored: store.StoredCredentials,
    policy: CredentialsPolicy,
    rotation_request: str,
    now: datetime.datetime,
) -> None:
    """The CredentialsIssued condition, the credentials' status fields and when they need attention next."""
    cred_ns, secret = ctx.config.credentials_namespace, store.secret_name(spec.effective_account_name)
    message = (
        f"{stored.source} credentials stored in Secret {cred_ns}/{secret}"
        + (f", valid until {_iso(stored.expires_at)}" if stored.expires_at else "")
        + f" (fingerprint {stored.fingerprint})"
    )
    if out.rotation_deferred_until is None:
        out.ok("CredentialsIssued", Reason.Issued, message)
    else:
        waits = out.rotation_deferred_until
        out.ok(
            "CredentialsIssued",
            Reason.RotationWaiting,
            f"{message}; the rotation requested with {ROTATE_ANNOTATION}={rotation_request!r} "
            f"waits until {_iso(waits)}: at most one requested rotation per "
            f"{ctx.config.min_rotation_interval_seconds:.0f}s (operator setting min_rotation_interval_seconds), "
            "as each one makes Spinnaker reload for every tenant",
        )
        out.next_due = max(1.0, (waits - now).total_seconds())
    out.fields.update(
        credentialsSecretRef={"namespace": cred_ns, "name": secret},
        tokenExpiresAt=_iso(stored.expires_at) if stored.expires_at else None,
        tokenFingerprint=stored.fingerprint,
        credentialsRotatedAt=_iso(stored.issued_at) if stored.issued_at else None,
    )
    out.previous_token_secret = stored.previous_token_secret
    out.current_token_secret = stored.token_secret
    due = renewal_due_at(stored, policy)
    if due is not None:
        out.next_due = min(out.next_due or float("inf"), max(1.0, (due - now).total_seconds()))
