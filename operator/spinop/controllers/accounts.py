"""SpinnakerAccount: one idempotent reconcile for every trigger, and the finalizer.

reconcile: tenancy → remote objects (observe → plan → apply) → credentials → proof of least privilege → submit to
the Spinnaker sync → status. Each step's outcome is a condition; the first step that cannot proceed stops the
reconcile, leaving later conditions as they were (a cluster outage does not make Spinnaker forget the account).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from spinop import metrics
from spinop.api.errors import FieldError
from spinop.api.labels import ROTATE_ANNOTATION
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import (
    CredentialsType,
    DeletionPolicy,
    Permissions,
    SpinnakerAccount,
    SpinnakerAccountSpec,
    SpinnakerClusterSpec,
    validate_resource,
)
from spinop.controllers.context import OperatorContext
from spinop.controllers.guardrails import account_guardrails, guardrails_condition
from spinop.credentials import store
from spinop.credentials.kubeconfig import render_kubeconfig, token_of
from spinop.credentials.policy import (
    CredentialsPolicy,
    renewal_due_at,
    rotation_deferred_until,
    why_new_credentials,
)
from spinop.credentials.tokens import (
    IssuedToken,
    delete_token_secrets,
    ensure_token_secret,
    request_token,
    token_secret_exists,
    token_secret_name,
)
from spinop.errors import InvalidRequest, SpinopError, TokenRejected, Waiting
from spinop.kube.events import post_event
from spinop.kube.status import ConditionUpdate, ObjectRef, StatusResult, utcnow
from spinop.redact import Redacted
from spinop.remote import apply as remote_apply
from spinop.remote.access import ResourceRule, Verdict, expected_access
from spinop.remote.cluster import ClusterConnection, RemoteCluster
from spinop.remote.guardrails import namespace_annotations
from spinop.remote.plan import DesiredRemote, Owner, plan_remote, plan_teardown
from spinop.remote.profiles import Rule, kinds_for
from spinop.remote.verify import verify_access
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount
from spinop.spinnaker.sync import SyncState
from spinop.tenancy import (
    NO_BOUNDARIES,
    AccountClaim,
    Boundaries,
    effective_permissions,
    missing_cluster_refusal,
    read_cluster,
    stands_on_its_own,
    tenancy_refusal,
)

log = logging.getLogger(__name__)

PLURAL = "spinnakeraccounts"
KIND = "SpinnakerAccount"

# Reasons that mean "on the way", not "wrong": no Event for them (kubectl describe shows the condition anyway).
EXPECTED_PROGRESS = frozenset({Reason.Pending, Reason.Reconciling, Reason.Waiting, Reason.MigratingFromHalyard})


# --------------------------------------------------------------------------------------------------- index records


@dataclass(frozen=True)
class Claim:
    """What the accounts index keeps per SpinnakerAccount: enough to decide conflicts without API calls."""

    tenant: str
    name: str
    uid: str
    cluster: str
    namespace: str
    account_name: str
    created: str
    deleting: bool
    ready: bool
    cache_threads: int = 1
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The raw spec, to judge whether this claim stands on its own (`TenancyJudge`)."""

    def sort_key(self) -> tuple[str, str]:
        return (self.created, self.uid)

    def as_tenancy_claim(self) -> AccountClaim:
        return AccountClaim(self.tenant, self.name, self.cluster, self.namespace, self.account_name, self.cache_threads)


def claim_from_body(body: Mapping[str, Any]) -> Claim | None:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    if not spec.get("cluster") or not spec.get("namespace"):
        return None
    conditions = (body.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return Claim(
        tenant=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        cluster=spec["cluster"],
        namespace=spec["namespace"],
        account_name=spec.get("accountName") or f"{spec['cluster']}-{spec['namespace']}",
        created=meta.get("creationTimestamp", ""),
        deleting=bool(meta.get("deletionTimestamp")),
        ready=ready,
        cache_threads=threads if isinstance(threads := spec.get("cacheThreads", 1), int) else 1,
        spec=dict(spec),
    )


def older_claims(
    claims: Iterable[Claim], me: Claim, stands: Callable[[Claim], bool] | None = None
) -> list[AccountClaim]:
    """Claims that win over `me`: the oldest claim to a name or namespace keeps it (deterministic, no writes).

    With `stands` (`TenancyJudge.stands`), an older claim that competes with `me` counts only if it passes its own
    tenancy checks: an account refused for, say, a namespace that is not its tenant's holds nothing.
    """
    older = [c for c in claims if c.uid != me.uid and c.sort_key() < me.sort_key()]
    if stands is not None:
        older = [c for c in older if not competes(c, me) or stands(c)]
    return [c.as_tenancy_claim() for c in older]


def competes(claim: Claim, me: Claim) -> bool:
    """Whether a claim can refuse `me`: same account name, same target namespace, or the same tenant's quota."""
    return claim.account_name == me.account_name or (
        claim.cluster == me.cluster and (claim.namespace == me.namespace or claim.tenant == me.tenant)
    )


class TenancyJudge:
    """Tenancy beyond one account: every MGMT namespace (its labels) and every SpinnakerCluster, for the
    boundaries between tenants and for judging whether another account's claim stands on its own."""

    def __init__(
        self,
        *,
        namespace_labels: Mapping[str, Mapping[str, str]],
        cluster_bodies: Mapping[str, Mapping[str, Any]],
        reserved: Collection[str],
    ) -> None:
        clusters = {}
        for cluster_name, body in cluster_bodies.items():
            try:
                clusters[cluster_name] = SpinnakerClusterSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                continue
        self.namespace_labels = namespace_labels
        self.reserved = tuple(reserved)
        self.boundaries = Boundaries(tenants=frozenset(namespace_labels), clusters=clusters)
        self._verdicts: dict[str, bool] = {}

    def stands(self, claim: Claim) -> bool:
        if claim.uid not in self._verdicts:
            self._verdicts[claim.uid] = self._judge(claim)
        return self._verdicts[claim.uid]

    def _judge(self, claim: Claim) -> bool:
        cluster = self.boundaries.clusters.get(claim.cluster)
        if cluster is None:
            return False
        try:
            spec = SpinnakerAccountSpec.model_validate(dict(claim.spec))
        except ValidationError:
            return False
        return stands_on_its_own(
            spec,
            tenant=claim.tenant,
            name=claim.name,
            tenant_labels=self.namespace_labels.get(claim.tenant) or {},
            cluster_name=claim.cluster,
            cluster=cluster,
            reserved=self.reserved,
            boundaries=self.boundaries,
        )


# ------------------------------------------------------------------------------------------------------- outcome


@dataclass
class Outcome:
    conditions: list[ConditionUpdate] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    desired: DesiredSpinnakerAccount | None = None
    error: SpinopError | None = None
    next_due: float | None = None  # seconds until the credentials need attention
    previous_token_secret: str = ""
    current_token_secret: str = ""
    remote: RemoteCluster | None = None
    desired_remote: DesiredRemote | None = None
    rotation_deferred_until: datetime.datetime | None = None

    def ok(self, type_: str, reason: Reason, message: str) -> None:
        self.conditions.append(ConditionUpdate(type_, "True", reason, message))

    def fail(self, type_: str, error: SpinopError) -> Outcome:
        self.conditions.append(ConditionUpdate(type_, "False", error.reason, error.message))
        self.error = error
        return self


# ------------------------------------------------------------------------------------------------ the reconcile


def _policy(cluster: SpinnakerClusterSpec) -> CredentialsPolicy:
    creds = cluster.credentials
    return CredentialsPolicy(
        type=creds.type.value,
        ttl_seconds=int(creds.ttl_delta.total_seconds()),
        renew_before_seconds=int(creds.renew_before_delta.total_seconds()),
        rotation_interval_seconds=int(creds.rotation_interval_delta.total_seconds()),
        audiences=tuple(creds.audiences or ()),
    )


def _extra_rules(spec: SpinnakerAccountSpec) -> tuple[Rule, ...]:
    return tuple(Rule(tuple(r.api_groups), tuple(r.resources), tuple(r.verbs)) for r in spec.extra_rules or ())


def build_desired_remote(owner: Owner, spec: SpinnakerAccountSpec, cluster: SpinnakerClusterSpec) -> DesiredRemote:
    """The remote objects a SpinnakerAccount asks for (shared by the reconcile and `spinop plan`)."""
    labels, guardrails = account_guardrails(cluster, spec)
    return DesiredRemote(
        owner=owner,
        namespace=spec.namespace,
        profile=spec.profile,
        extra_rules=_extra_rules(spec),
        namespace_labels=labels,
        namespace_annotations=namespace_annotations(cluster.tenancy.guardrails, owner.mgmt_namespace),
        guardrails=guardrails,
        namespace_granted=any(
            g.namespace == spec.namespace and g.tenant == owner.mgmt_namespace
            for g in cluster.tenancy.existing_namespaces or ()
        ),
    )


def _render_key(remote: RemoteCluster, spec: SpinnakerAccountSpec) -> str:
    raw = f"{remote.tenant_server}|{remote.ca_data}|{remote.insecure}|{spec.namespace}|{spec.effective_account_name}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _issue(remote: RemoteCluster, desired: DesiredRemote, policy: CredentialsPolicy, stored: Any) -> IssuedToken:
    if policy.type == CredentialsType.SERVICE_ACCOUNT_TOKEN_SECRET.value:
        serial = 1
        if stored is not None and stored.token_secret.rsplit("-", 1)[-1].isdigit():
            serial = int(stored.token_secret.rsplit("-", 1)[-1]) + 1
        return ensure_token_secret(remote, desired, token_secret_name(desired, serial))
    return request_token(remote, desired, policy.ttl_seconds, list(policy.audiences))


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
) -> Outcome:
    """Everything that talks to clusters, in one thread: returns what the status should say.

    `missing_cluster_claims`: this tenant's older accounts that name SpinnakerClusters which do not exist.
    """
    out = Outcome()
    spec, meta = account.spec, account.metadata
    tenant, name, uid = meta.namespace or "", meta.name or "", meta.uid or ""
    account_name = spec.effective_account_name
    out.fields["spinnakerAccountName"] = account_name

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
    if ctx.watches is not None:
        # Before observing: whatever this pass creates is then either in the watch's first list or an event after it.
        ctx.watches.ensure(connection)
    try:
        remote = ctx.clusters.get(connection)
        out.remote = remote
        observed = remote_apply.observe(remote, desired_remote)
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
            observed = remote_apply.observe(remote, desired_remote)
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
    try:
        stored, verdict = _credentials_and_verdict(
            ctx, out, remote, desired_remote, spec, policy, rotation_request, sa_uid, render_key, now
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

    out.desired = desired_spinnaker_account(
        AccountOwner(tenant, name, uid),
        spec,
        cluster.environment,
        stored.kubeconfig,
        stored.fingerprint,
        permissions=effective_permissions(spec, tenant=tenant, cluster_name=spec.cluster, cluster=cluster),
    )
    return out


def desired_spinnaker_account(
    owner: AccountOwner,
    spec: SpinnakerAccountSpec,
    environment: str,
    kubeconfig: Redacted[str],
    fingerprint: str,
    *,
    permissions: Permissions,
) -> DesiredSpinnakerAccount:
    """The Spinnaker account a SpinnakerAccount asks for (shared by the reconcile and `spinop plan`).

    `permissions`: the effective ones (`tenancy.effective_permissions`: spec.permissions or the cluster's default).
    """
    account_name = spec.effective_account_name
    return DesiredSpinnakerAccount(
        owner=owner,
        name=account_name,
        environment=environment,
        namespace=spec.namespace,
        context=account_name,
        kubeconfig=kubeconfig,
        kubeconfig_fingerprint=fingerprint,
        # The profile's kinds unless the tenant chose: clouddriver then never probes kinds it cannot read.
        kinds=tuple(spec.kinds) if spec.kinds else (() if spec.omit_kinds else tuple(kinds_for(spec.profile))),
        omit_kinds=tuple(spec.omit_kinds or ()),
        permissions=_permissions(permissions),
        only_spinnaker_managed=spec.only_spinnaker_managed,
        cache_threads=spec.cache_threads,
        custom_resources=tuple(
            (c.kubernetes_kind, c.spinnaker_kind.value, c.versioned) for c in spec.custom_resources or ()
        ),
        adopt=spec.adopt,
    )


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
) -> tuple[store.StoredCredentials, Verdict]:
    """Make sure valid credentials are stored (issuing new ones when due), then prove what they can do."""
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
        try:
            return stored, verify_access(remote, token, expectations)
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
    issued = _issue(remote, desired, policy, stored)
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
        ctx.mgmt,
        ctx.config.credentials_namespace,
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
    reason = "CredentialsIssued" if stored is None else "CredentialsRotated"
    log.info("%s: new %s credentials for %s (%s)", reason, issued.source, desired.owner.ref, why)
    out.events.append(("Normal", reason, f"new {issued.source} credentials ({new.fingerprint}): {why}"))
    return new


def _permissions(permissions: Permissions) -> tuple[tuple[str, tuple[str, ...]], ...]:
    pairs = []
    for key, roles in (
        ("READ", permissions.read),
        ("WRITE", permissions.write),
        ("EXECUTE", permissions.execute),
        ("CREATE", permissions.create),
    ):
        if roles is not None:
            pairs.append((key, tuple(sorted(roles))))  # order carries no meaning: never a reason to write
    return tuple(pairs)


def _iso(value: datetime.datetime | None) -> str:
    assert value is not None
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(PLURAL, KIND, meta["name"], meta.get("namespace"), meta.get("uid"))


async def _write_status(
    ctx: OperatorContext, ref: ObjectRef, out: Outcome, generation: int | None
) -> StatusResult | None:
    result = await asyncio.to_thread(
        ctx.account_status.update, ref, conditions=out.conditions, fields=out.fields, generation=generation
    )
    if result is not None:
        _record_metrics(ref, result.status)
    events = list(out.events)
    if result is not None:
        for t in result.transitions:
            if t.type == "Ready" and t.status == "True":
                events.append(("Normal", "Ready", f"Ready: {t.message}"))
            elif t.type != "Ready" and t.status == "False" and t.reason not in EXPECTED_PROGRESS:
                # One Warning per real problem (the condition that failed), not a second one for Ready.
                events.append(("Warning", t.reason, f"{t.type}: {t.message}"))
    for type_, reason, message in events:
        await asyncio.to_thread(post_event, ctx.mgmt, ref, type_=type_, reason=reason, message=message)
    return result


def _record_metrics(ref: ObjectRef, status: Mapping[str, Any]) -> None:
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    metrics.CONDITION.labels(KIND, ref.namespace or "", ref.name).set(1 if ready else 0)
    account = status.get("spinnakerAccountName")
    expires = status.get("tokenExpiresAt")
    if account and expires:
        moment = datetime.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        metrics.CREDENTIALS_EXPIRY.labels(ref.namespace or "", ref.name, account).set(moment.timestamp())


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    claims: Iterable[Claim],
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
    previously_provisioned = any(
        c.get("type") == "RemoteProvisioned" and c.get("status") == "True"
        for c in (body.get("status") or {}).get("conditions") or []
    )
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
                missing_cluster_claims=[
                    c
                    for c in older_claims(claims, me)
                    if c.tenant == me.tenant and judge is not None and c.cluster not in judge.boundaries.clusters
                ],
            )
            await _sync_spinnaker(ctx, body, out)
            await _write_status(ctx, ref, out, generation)
        outcome["result"] = "ready" if out.error is None else ("not_ready" if out.error.needs_user else "error")
    if out.error is not None and not out.error.needs_user:
        raise kopf.TemporaryError(out.error.message, delay=out.error.retry_after)
    delay = ctx.config.drift_interval_seconds
    if out.error is not None:
        delay = min(delay, out.error.retry_after)
    if out.next_due is not None:
        delay = min(delay, out.next_due)
    return delay


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
    current = next(
        (c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "SpinnakerSynced"), None
    )
    if state is SyncState.SYNCED:
        # Also re-affirmed for a new generation Spinnaker has nothing to do for (a guardrail edit, a refused
        # change taken back): a condition left at an older generation would keep Ready at Reconciling.
        stale = current is not None and current.get("observedGeneration") != body["metadata"].get("generation")
        if current is None or current.get("status") != "True" or stale:
            # Same words and fields as the batch's own report, which may still be on its way.
            entry = ctx.sync.entries[out.desired.name]
            out.ok(
                "SpinnakerSynced",
                Reason.Synced,
                f"applied by {ctx.sync.backend.name} change {entry.deploy_id or '-'} finished at {entry.applied_at}",
            )
            out.fields["lastAppliedToSpinnaker"] = entry.applied_at
            if entry.deploy_id:
                out.fields["lastDeploy"] = {
                    "id": entry.deploy_id,
                    "backend": ctx.sync.backend.name,
                    "finishedAt": entry.applied_at,
                    "outcome": "Succeeded",
                }
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
    claims: Iterable[Claim],
    cluster_body: Mapping[str, Any] | None,
) -> None:
    """Remove the Spinnaker account, the credentials Secret, the remote RBAC and SA (and namespace if asked)."""
    ref = _ref(body)
    spec = body.get("spec") or {}
    me = claim_from_body(body)
    if me is None:
        return
    owner = Owner(me.cluster, me.tenant, me.name, me.uid, me.account_name)
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
            await asyncio.to_thread(
                post_event,
                ctx.mgmt,
                ref,
                type_="Warning",
                reason="RemoteCleanupSkipped",
                message=f"SpinnakerCluster {me.cluster} no longer exists, so spinop cannot reach the cluster to remove "
                f"ServiceAccount/Role/RoleBinding spinop-{me.account_name} in {me.namespace}",
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
        desired_remote = DesiredRemote(owner=owner, namespace=me.namespace, profile=spec.get("profile", "deployer"))
        others = any(
            c.uid != me.uid and c.cluster == me.cluster and c.namespace == me.namespace and not c.deleting
            for c in claims
        )
        delete_ns = spec.get("deletionPolicy", DeletionPolicy.RETAIN.value) == DeletionPolicy.DELETE.value
        try:
            # The registry reads the admin kubeconfig Secret with the sync client: never on the event loop.
            remote = await asyncio.to_thread(
                ctx.clusters.get,
                ClusterConnection(
                    name=me.cluster,
                    secret_name=cluster.kubeconfig_secret_ref.name,
                    secret_key=cluster.kubeconfig_secret_ref.key,
                    server_override=cluster.server,
                    ca_data_override=cluster.certificate_authority_data,
                ),
            )
            observed = await asyncio.to_thread(remote_apply.observe, remote, desired_remote)
            plan = plan_teardown(desired_remote, observed, delete_namespace=delete_ns, namespace_used_by_others=others)
            if observed.namespace is not None:
                await asyncio.to_thread(delete_token_secrets, remote, desired_remote)
            await asyncio.to_thread(remote_apply.apply, remote, plan.actions)
        except SpinopError as err:
            await _deleting(
                ctx,
                ref,
                "RemoteProvisioned",
                err.reason,
                f"cannot remove this account's objects from cluster {me.cluster} yet: {err.message}",
            )
            raise kopf.TemporaryError(err.message, delay=err.retry_after) from None
        metrics.forget(KIND, me.tenant, me.name, me.account_name)
        if delete_ns and others:
            await asyncio.to_thread(
                post_event,
                ctx.mgmt,
                ref,
                type_="Normal",
                reason="NamespaceKept",
                message=f"namespace {me.namespace} is kept: another SpinnakerAccount uses it",
            )


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
