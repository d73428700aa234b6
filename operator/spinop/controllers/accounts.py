"""SpinnakerAccount: one idempotent reconcile for every trigger, and the finalizer.

reconcile: the cluster work in a worker thread (`controllers.provision`: tenancy → remote objects → credentials →
proof of least privilege) → submit to the Spinnaker sync → status. Each step's outcome is a condition; the first step
that cannot proceed stops the reconcile, leaving later conditions as they were (a cluster outage does not make
Spinnaker forget the account).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from spinop import metrics
from spinop.accounts import Outcome
from spinop.api.conditions import raw_condition, raw_is_true
from spinop.api.errors import FieldError
from spinop.api.labels import ROTATE_ANNOTATION
from spinop.api.reasons import EventReason, Reason
from spinop.api.v1alpha1 import DeletionPolicy, SpinnakerAccount, validate_resource
from spinop.controllers.context import OperatorContext
from spinop.controllers.provision import provision
from spinop.controllers.retry import next_pass, temporary
from spinop.credentials import store
from spinop.credentials.tokens import delete_token_secrets
from spinop.errors import InvalidRequest, SpinopError
from spinop.kube.events import post_event, write_status_then_events
from spinop.kube.status import ConditionUpdate, Event, ObjectRef, StatusResult, Transition, utcnow
from spinop.remote import apply as remote_apply
from spinop.remote.cluster import ClusterConnection
from spinop.remote.plan import DesiredRemote, Owner, plan_teardown
from spinop.spinnaker.desired import AccountOwner
from spinop.spinnaker.sync import SyncState, synced_report
from spinop.tenancy import (
    NO_BOUNDARIES,
    AccountClaim,
    TenancyJudge,
    claim_from_body,
    older_claims,
    on_missing_clusters,
    read_cluster,
)

PLURAL = "spinnakeraccounts"
KIND = "SpinnakerAccount"

# Reasons that mean "on the way", not "wrong": no Event for them (kubectl describe shows the condition anyway).
EXPECTED_PROGRESS = frozenset({Reason.Pending, Reason.Reconciling, Reason.Waiting, Reason.MigratingFromHalyard})


# ------------------------------------------------------------------------------------------------ the reconcile


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(PLURAL, KIND, meta["name"], meta.get("namespace"), meta.get("uid"))


def _announce(t: Transition) -> Event | None:
    if t.type == "Ready" and t.status == "True":
        return ("Normal", Reason.Ready, f"Ready: {t.message}")
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
                EventReason.OldCredentialsRevoked,
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
                post_event, ctx.mgmt, ref, type_="Warning", reason=EventReason.RemoteCleanupSkipped, message=message
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
            await asyncio.to_thread(
                post_event, ctx.mgmt, ref, type_="Normal", reason=EventReason.NamespaceKept, message=message
            )


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
