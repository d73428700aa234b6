"""SpinnakerAccount: one idempotent reconcile for every trigger, and the finalizer.

reconcile: tenancy → remote objects (observe → plan → apply) → credentials → proof of least privilege → submit to
the Spinnaker sync → status. Each step's outcome is a condition; the first step that cannot proceed stops the
reconcile, leaving later conditions as they were (a cluster outage does not make Spinnaker forget the account).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from spinop import metrics
from spinop.accounts import (
    Outcome,
    build_desired_remote,
    desired_spinnaker_account,
    guardrails_condition,
)
from spinop.accounts import credentials_policy as _policy
from spinop.accounts import extra_rules as _extra_rules
from spinop.accounts import render_key as _render_key
from spinop.api.conditions import raw_condition, raw_is_true
from spinop.api.errors import FieldError
from spinop.api.labels import ROTATE_ANNOTATION
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import (
    CredentialsType,
    DeletionPolicy,
    SpinnakerAccount,
    SpinnakerAccountSpec,
    validate_resource,
)
from spinop.api.v1alpha1 import format_time as _iso
from spinop.controllers.context import AccountMemory, OperatorContext
from spinop.controllers.retry import next_pass, temporary
from spinop.credentials import store
from spinop.credentials.issue import store_new_credentials
from spinop.credentials.kubeconfig import token_of
from spinop.credentials.policy import (
    CredentialsPolicy,
    renewal_due_at,
    rotation_deferred_until,
    why_new_credentials,
)
from spinop.credentials.tokens import delete_token_secrets, token_secret_exists
from spinop.errors import InvalidRequest, SpinopError, TokenRejected, Waiting
from spinop.kube.events import post_event, write_status_then_events
from spinop.kube.status import ConditionUpdate, Event, ObjectRef, StatusResult, Transition, utcnow
from spinop.remote import apply as remote_apply
from spinop.remote.access import ResourceRule, Verdict, expected_access
from spinop.remote.cluster import ClusterConnection, RemoteCluster
from spinop.remote.plan import DesiredRemote, ObservedRemote, Owner, plan_remote, plan_teardown
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
from spinop.spinnaker.sync import SyncState, synced_report
from spinop.tenancy import (
    NO_BOUNDARIES,
    AccountClaim,
    Boundaries,
    TenancyJudge,
    claim_from_body,
    effective_permissions,
    missing_cluster_refusal,
    older_claims,
    on_missing_clusters,
    read_cluster,
    tenancy_refusal,
)

log = logging.getLogger(__name__)

PLURAL = "spinnakeraccounts"
KIND = "SpinnakerAccount"

# Reasons that mean "on the way", not "wrong": no Event for them (kubectl describe shows the condition anyway).
EXPECTED_PROGRESS = frozenset({Reason.Pending, Reason.Reconciling, Reason.Waiting, Reason.MigratingFromHalyard})


# ------------------------------------------------------------------------------------------------ the reconcile


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

    if cluster_body is None:
        too_many = missing_cluster_refusal(
            tenant, spec.cluster, missing_cluster_claims, (), ctx.config.max_accounts_on_missing_clusters
        )
        if too_many is not None:
            return out.fail(
                "RemoteProvisioned",
                InvalidRequest(
                    f"{too_many.path}: {too_many.message}",
                    reason=Reason.TooManyAccountsOnMissingClusters,
                    retry_after=int(ctx.config.drift_interval_seconds),
                ),
            )
        return out.fail(
            "RemoteProvisioned",
            InvalidRequest(
                f"SpinnakerCluster {spec.cluster} does not exist; ask a platform admin for the list "
                "(kubectl get spinnakerclusters) or fix spec.cluster",
                reason=Reason.ClusterNotFound,
                retry_after=30,
            ),
        )
    cluster = read_cluster(spec.cluster, cluster_body)
    if isinstance(cluster, FieldError):
        # Stored under an older CRD or while the webhook was down: refused here as at admission, until fixed.
        return out.fail(
            "RemoteProvisioned",
            InvalidRequest(
                f"{cluster.path}: {cluster.message}",
                reason=Reason.ClusterInvalid,
                retry_after=int(ctx.config.drift_interval_seconds),
            ),
        )
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
    connection = ClusterConnection(
        name=spec.cluster,
        secret_name=cluster.kubeconfig_secret_ref.name,
        secret_key=cluster.kubeconfig_secret_ref.key,
        server_override=cluster.server,
        ca_data_override=cluster.certificate_authority_data,
    )
    watched: Versions | None = None
    if ctx.watches is not None:
        # Before observing: whatever this pass creates is then either in the watch's first list or an event after it.
        ctx.watches.ensure(connection)
        watched = ctx.watches.versions(spec.cluster, spec.namespace, desired_remote.object_name)
    # Idle: the watches saw no change to the account's objects since the last full observation (and it is recent).
    idle = memory is not None and (
        memory.desired == desired_remote
        and memory.stored.fingerprint == status_fingerprint
        and trust_watches(
            memory.observed_versions,
            watched,
            observed_at=memory.observed_at,
            now=now,
            interval_seconds=ctx.config.verify_interval_seconds,
        )
    )
    try:
        remote = ctx.clusters.get(connection)
        out.remote = remote
        if idle:
            assert memory is not None
            observed, observed_at = memory.observed, memory.observed_at
        else:
            observed, observed_at = remote_apply.observe(remote, desired_remote), now
        plan = plan_remote(desired_remote, observed, allow_sharing=cluster.tenancy.allow_namespace_sharing)
        if plan.waiting:
            return out.fail(
                "RemoteProvisioned", Waiting(plan.waiting, reason=Reason.NamespaceTerminating, retry_after=5)
            )
        if plan.conflicts:
            first = plan.conflicts[0]
            return out.fail(
                "RemoteProvisioned",
                InvalidRequest("; ".join(c.message for c in plan.conflicts), reason=first.reason),
            )
        if plan.actions:
            remote_apply.apply(remote, plan.actions)
            if previously_provisioned:
                out.events.append(("Warning", "DriftRepaired", "; ".join(a.describe() for a in plan.actions)))
            observed, observed_at = remote_apply.observe(remote, desired_remote), now
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
    out.conditions.append(guardrails_condition(desired_remote, observed, spec, cluster))
    sa_uid = str(((observed.service_account or {}).get("metadata") or {}).get("uid", ""))

    # Credentials.
    policy = _policy(cluster)
    secret = store.secret_name(account_name)
    cred_ns = ctx.config.credentials_namespace
    render_key = _render_key(remote, spec)
    versions = _versions(observed)
    try:
        stored, verdict, proof = _credentials_and_verdict(
            ctx,
            out,
            remote,
            desired_remote,
            spec,
            policy,
            rotation_request,
            sa_uid,
            render_key,
            now,
            versions=versions,
            cached=memory.stored if idle and memory is not None else None,
            last_proof=memory.proof if memory is not None else None,
        )
    except SpinopError as err:
        return out.fail("CredentialsIssued", err)

    out.ok(
        "CredentialsIssued",
        Reason.Issued,
        f"{stored.source} credentials stored in Secret {cred_ns}/{secret}"
        + (f", valid until {_iso(stored.expires_at)}" if stored.expires_at else "")
        + f" (fingerprint {stored.fingerprint})",
    )
    if out.rotation_deferred_until is not None:
        waits = out.rotation_deferred_until
        out.conditions[-1] = ConditionUpdate(
            "CredentialsIssued",
            "True",
            Reason.RotationWaiting,
            f"{out.conditions[-1].message}; the rotation requested with {ROTATE_ANNOTATION}={rotation_request!r} "
            f"waits until {_iso(waits)}: at most one requested rotation per "
            f"{ctx.config.min_rotation_interval_seconds:.0f}s (operator setting min_rotation_interval_seconds), as "
            "each one makes Spinnaker reload for every tenant",
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

    if verdict.exposed and not verdict.missing and not verdict.excess:
        return out.fail(
            "PermissionsVerified",
            InvalidRequest(
                f"the issued credentials {verdict.message()}. A cluster admin must apply deploy/remote "
                "(tenant-policy.yaml) on this cluster.",
                reason=Reason.TenantLimitsNotEnforced,
                retry_after=60,
            ),
        )
    if not verdict.ok:
        return out.fail(
            "PermissionsVerified",
            InvalidRequest(
                f"the issued credentials do not match profile {spec.profile.value}: {verdict.message()}. "
                "Something else on the cluster grants or removes rights (a ClusterRoleBinding, an edited Role?).",
                reason=Reason.PermissionsMismatch,
                retry_after=60,
            ),
        )
    out.ok(
        "PermissionsVerified",
        Reason.Verified,
        f"the credentials can do what profile {spec.profile.value} promises in "
        f"{spec.namespace} and nothing outside it (checked with the cluster's own authorizer)",
    )
    ctx.account_memory[uid] = AccountMemory(desired_remote, observed, versions, observed_at, stored, proof)

    out.desired = desired_spinnaker_account(
        AccountOwner(tenant, name, uid),
        spec,
        cluster.environment,
        stored.kubeconfig,
        stored.fingerprint,
        permissions=effective_permissions(spec, tenant=tenant, cluster_name=spec.cluster, cluster=cluster),
    )
    return out


def _credentials_and_verdict(
    ctx: OperatorContext,
    out: Outcome,
    remote: RemoteCluster,
    desired: DesiredRemote,
    spec: SpinnakerAccountSpec,
    policy: CredentialsPolicy,
    rotation_request: str,
    sa_uid: str,
    render_key: str,
    now: datetime.datetime,
    *,
    versions: Versions,
    cached: store.StoredCredentials | None = None,
    last_proof: LastProof | None = None,
) -> tuple[store.StoredCredentials, Verdict, LastProof | None]:
    """Make sure valid credentials are stored (issuing new ones when due), then prove what they can do, unless the
    last proof still stands (`remote.proof.why_verify`). Returns the proof to remember (None: the verdict failed).

    `cached`: the credentials an idle pass remembers, instead of reading the Secret again.
    """
    if cached is not None:
        stored: store.StoredCredentials | None = cached
    else:
        stored = store.read_credentials(
            ctx.mgmt, ctx.config.credentials_namespace, store.secret_name(spec.effective_account_name)
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
            stored = _store_new_credentials(
                ctx,
                out,
                remote,
                desired,
                policy,
                stored,
                why or "no credentials",
                rotation_request,
                sa_uid,
                render_key,
                now,
            )
        token = token_of(stored.kubeconfig)
        if token is None:
            why = "the stored kubeconfig has no token"
            continue
        basis = ProofBasis(versions, sa_uid, stored.fingerprint, expectations_digest(expectations))
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


def _store_new_credentials(
    ctx: OperatorContext,
    out: Outcome,
    remote: RemoteCluster,
    desired: DesiredRemote,
    policy: CredentialsPolicy,
    stored: store.StoredCredentials | None,
    why: str,
    rotation_request: str,
    sa_uid: str,
    render_key: str,
    now: datetime.datetime,
) -> store.StoredCredentials:
    new, event = store_new_credentials(
        ctx.mgmt,
        ctx.config.credentials_namespace,
        remote,
        desired,
        policy,
        stored,
        why=why,
        rotation_request=rotation_request,
        sa_uid=sa_uid,
        render_key=render_key,
        now=now,
    )
    out.events.append(event)
    return new


def _versions(observed: ObservedRemote) -> dict[str, str]:
    return versions_of(
        {"serviceaccounts": observed.service_account, "roles": observed.role, "rolebindings": observed.role_binding}
    )


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(PLURAL, KIND, meta["name"], meta.get("namespace"), meta.get("uid"))


def _announce(t: Transition) -> Event | None:
    if t.type == "Ready" and t.status == "True":
        return ("Normal", "Ready", f"Ready: {t.message}")
    if t.type != "Ready" and t.status == "False" and t.reason not in EXPECTED_PROGRESS:
        # One Warning per real problem (the condition that failed), not a second one for Ready.
        return ("Warning", t.reason, f"{t.type}: {t.message}")
    return None


async def _write_status(
    ctx: OperatorContext,
    ref: ObjectRef,
    out: Outcome,
    generation: int | None,
    known: Mapping[str, Any] | None = None,
) -> StatusResult | None:
    """`known`: the object as kopf has it; when the outcome changes nothing there, the status is not even read."""
    result = await asyncio.to_thread(
        write_status_then_events,
        ctx.mgmt,
        ctx.account_status,
        ref,
        out,
        generation=generation,
        announce=_announce,
        known=known,
    )
    if result is not None:
        metrics.record_account_status(ref.namespace or "", ref.name, result.status)
    return result


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    claims: Iterable[AccountClaim],
    cluster_body: Mapping[str, Any] | None,
    tenant_labels: Mapping[str, str],
    judge: TenancyJudge | None = None,
) -> float:
    """Bring one SpinnakerAccount to its declared state; returns seconds until it needs attention again.

    `judge`: every namespace and cluster, for the tenant boundaries and to count only claims that stand on their own.

    Raises kopf.TemporaryError for failures time can fix; failures only a user can fix are reported in status and
    rechecked by the periodic pass.
    """
    ref = _ref(body)
    generation = body["metadata"].get("generation")
    account, errors = validate_resource(dict(body))
    if account is None or not isinstance(account, SpinnakerAccount):
        message = "; ".join(f"{e.path}: {e.message}" for e in errors) or "the object could not be read"
        await _write_status(
            ctx,
            ref,
            Outcome().fail("RemoteProvisioned", InvalidRequest(message, reason=Reason.InvalidSpec)),
            generation,
        )
        return ctx.config.drift_interval_seconds
    me = claim_from_body(body)
    assert me is not None
    rotation_request = (account.metadata.annotations or {}).get(ROTATE_ANNOTATION, "")
    previously_provisioned = raw_is_true(body.get("status"), "RemoteProvisioned")
    with metrics.timed_reconcile(KIND) as outcome:
        async with ctx.locks.hold(ref.uid or ref.name), ctx.slots:
            out = await asyncio.to_thread(
                provision,
                ctx,
                account,
                cluster_body=cluster_body,
                tenant_labels=tenant_labels,
                winners=older_claims(claims, me, judge.stands if judge else None),
                rotation_request=rotation_request,
                previously_provisioned=previously_provisioned,
                now=utcnow(),
                boundaries=judge.boundaries if judge else NO_BOUNDARIES,
                missing_cluster_claims=(
                    on_missing_clusters(older_claims(claims, me), me.tenant, judge.boundaries.clusters) if judge else ()
                ),
                status_fingerprint=str((body.get("status") or {}).get("tokenFingerprint") or ""),
            )
            await _sync_spinnaker(ctx, body, out)
            await _write_status(ctx, ref, out, generation, known=body)
        outcome["result"] = "ready" if out.error is None else ("not_ready" if out.error.needs_user else "error")
    delay = next_pass(out.error, ctx.config.drift_interval_seconds)
    return delay if out.next_due is None else min(delay, out.next_due)


async def _sync_spinnaker(ctx: OperatorContext, body: Mapping[str, Any], out: Outcome) -> None:
    if out.desired is None:
        return
    if ctx.sync is None:
        out.ok(
            "SpinnakerSynced",
            Reason.SpinnakerSyncDisabled,
            "this spinop installation does not register accounts in Spinnaker (spinnakerBackend: none)",
        )
        await _retire_previous_token(ctx, out)
        return
    state = ctx.sync.submit(out.desired)
    current = raw_condition(body.get("status"), "SpinnakerSynced")
    if state is SyncState.SYNCED:
        # Also re-affirmed for a new generation Spinnaker has nothing to do for (a guardrail edit, a refused
        # change taken back): a condition left at an older generation would keep Ready at Reconciling.
        stale = current is not None and current.get("observedGeneration") != body["metadata"].get("generation")
        if current is None or current.get("status") != "True" or stale:
            # Same words and fields as the batch's own report, which may still be on its way.
            entry = ctx.sync.entries[out.desired.name]
            message, fields = synced_report(
                backend=ctx.sync.backend.name,
                change_id=entry.deploy_id or None,
                finished_at=entry.applied_at,
                applied_at=entry.applied_at,
            )
            out.ok("SpinnakerSynced", Reason.Synced, message)
            out.fields.update(fields)
        await _retire_previous_token(ctx, out)
    elif current is None or current.get("status") == "True":
        out.conditions.append(
            ConditionUpdate(
                "SpinnakerSynced",
                "False",
                Reason.Pending,
                f"waiting for the next Spinnaker change (changes are batched: {ctx.sync.quiet:.0f}s quiet window)",
            )
        )


async def _retire_previous_token(ctx: OperatorContext, out: Outcome) -> None:
    """After Spinnaker has the new credentials, revoke the long-lived token they replaced."""
    if not out.previous_token_secret or out.remote is None or out.desired_remote is None or out.desired is None:
        return
    applied = ctx.sync.applied_fingerprint(out.desired.name) if ctx.sync else out.desired.kubeconfig_fingerprint
    if applied != out.desired.kubeconfig_fingerprint:
        return
    deleted = await asyncio.to_thread(delete_token_secrets, out.remote, out.desired_remote, out.current_token_secret)
    await asyncio.to_thread(
        store.clear_previous_token_secret,
        ctx.mgmt,
        ctx.config.credentials_namespace,
        store.secret_name(out.desired.name),
    )
    memory = ctx.account_memory.get(out.desired.owner.uid)
    if memory is not None:
        ctx.account_memory[out.desired.owner.uid] = dataclasses.replace(
            memory, stored=dataclasses.replace(memory.stored, previous_token_secret="")
        )
    if deleted:
        out.events.append(
            (
                "Normal",
                "OldCredentialsRevoked",
                f"revoked token Secret(s) {', '.join(deleted)} now that Spinnaker uses the new credentials",
            )
        )


# ------------------------------------------------------------------------------------------------------ finalizer


async def finalize(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    claims: Iterable[AccountClaim],
    cluster_body: Mapping[str, Any] | None,
) -> None:
    """Remove the Spinnaker account, the credentials Secret, the remote RBAC and SA (and namespace if asked)."""
    ref = _ref(body)
    spec = body.get("spec") or {}
    me = claim_from_body(body)
    if me is None:
        return
    async with ctx.locks.hold(me.uid):
        if ctx.sync is not None:
            try:
                await asyncio.wait_for(
                    ctx.sync.remove(AccountOwner(me.tenant, me.name, me.uid), me.account_name),
                    timeout=ctx.config.halyard.max_wait_seconds + 30,
                )
            except TimeoutError:
                await _deleting(
                    ctx,
                    ref,
                    "SpinnakerSynced",
                    Reason.Deleting,
                    f"waiting for Spinnaker to drop account {me.account_name}",
                )
                raise kopf.TemporaryError("waiting for Spinnaker to drop the account", delay=5) from None

        await asyncio.to_thread(
            store.delete_credentials,
            ctx.mgmt,
            ctx.config.credentials_namespace,
            store.secret_name(me.account_name),
            me.uid,
        )

        if cluster_body is None:
            message = (
                f"SpinnakerCluster {me.cluster} no longer exists, so spinop cannot reach the cluster to remove "
                f"ServiceAccount/Role/RoleBinding spinop-{me.account_name} in {me.namespace}"
            )
            await asyncio.to_thread(
                post_event, ctx.mgmt, ref, type_="Warning", reason="RemoteCleanupSkipped", message=message
            )
            return
        cluster = read_cluster(me.cluster, cluster_body)
        if isinstance(cluster, FieldError):
            # Not a crash loop: wait for the admin's fix, saying so; the remote objects are removed once it is readable.
            await _deleting(
                ctx,
                ref,
                "RemoteProvisioned",
                Reason.ClusterInvalid,
                f"{cluster.message}; the remote ServiceAccount, Role and RoleBinding spinop-{me.account_name} are "
                "removed, and the deletion finishes, once it is fixed",
            )
            raise kopf.TemporaryError(f"SpinnakerCluster {me.cluster} cannot be read", delay=60)
        others = any(
            c.uid != me.uid and c.cluster == me.cluster and c.namespace == me.namespace and not c.deleting
            for c in claims
        )
        delete_ns = spec.get("deletionPolicy", DeletionPolicy.RETAIN.value) == DeletionPolicy.DELETE.value
        desired_remote = DesiredRemote(
            owner=Owner(me.cluster, me.tenant, me.name, me.uid, me.account_name),
            namespace=me.namespace,
            profile=spec.get("profile", "deployer"),
        )
        try:
            await asyncio.to_thread(
                _tear_down_remote, ctx, ClusterConnection.of(me.cluster, cluster), desired_remote, delete_ns, others
            )
        except SpinopError as err:
            await _deleting(
                ctx,
                ref,
                "RemoteProvisioned",
                err.reason,
                f"cannot remove this account's objects from cluster {me.cluster} yet: {err.message}",
            )
            raise temporary(err) from None
        metrics.forget(KIND, me.tenant, me.name, me.account_name)
        if delete_ns and others:
            message = f"namespace {me.namespace} is kept: another SpinnakerAccount uses it"
            await asyncio.to_thread(post_event, ctx.mgmt, ref, type_="Normal", reason="NamespaceKept", message=message)


def _tear_down_remote(
    ctx: OperatorContext, connection: ClusterConnection, desired: DesiredRemote, delete_ns: bool, others: bool
) -> None:
    """The account's remote objects (its token Secrets first) and, if asked and unused, its namespace: in a thread
    (the registry reads the admin kubeconfig Secret with the sync client)."""
    remote = ctx.clusters.get(connection)
    observed = remote_apply.observe(remote, desired)
    plan = plan_teardown(desired, observed, delete_namespace=delete_ns, namespace_used_by_others=others)
    if observed.namespace is not None:
        delete_token_secrets(remote, desired)
    remote_apply.apply(remote, plan.actions)


async def _deleting(ctx: OperatorContext, ref: ObjectRef, type_: str, reason: Reason, message: str) -> None:
    await asyncio.to_thread(
        ctx.account_status.update, ref, conditions=[ConditionUpdate(type_, "False", reason, message)]
    )


async def report_spinnaker_outcome(
    ctx: OperatorContext, owner: AccountOwner, status: str, reason: Reason, message: str, fields: dict[str, Any]
) -> None:
    """The Spinnaker sync's verdict for one account, written to its SpinnakerSynced condition (and Ready)."""
    ref = ObjectRef(PLURAL, KIND, owner.name, owner.namespace, owner.uid)
    out = Outcome(conditions=[ConditionUpdate("SpinnakerSynced", status, reason, message)], fields=fields)
    await _write_status(ctx, ref, out, None)
