"""SpinnakerPipeline: one idempotent reconcile for every trigger (create, update, resume, the drift pass), and the
finalizer.

reconcile: validate → tenant scope (Ready accounts of the namespace, the applications it owns, admin grants) →
render with the deterministic id → tenant guard (a refusal sends nothing to Gate) → the application (created with
spec.applicationSettings when missing; an existing one is used only if spinop created it for this namespace or an
admin granted it) → name conflicts (another id holding the name is refused unless spec.adopt) → decide (pure):
confirm, save, restore drift or report it → save through Gate (staleCheck, read back) → status and Events.

Application ownership: an application belongs to the MGMT namespace whose oldest SpinnakerPipeline claims it;
claims that spinop already saved into the application rank before claims that never did, so deleting a namespace's
oldest pipeline never hands its application to a namespace that was refused. The Gate side agrees: applications
spinop creates carry the creating namespace in `spinopNamespace`, and spinop never writes into one that names
another namespace (or that spinop did not create, unless granted).
"""

from __future__ import annotations

import asyncio
import copy
import enum
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import kopf

from spinop.api.v1alpha1 import (
    ApplicationSettings,
    DriftPolicy,
    SpinnakerPipeline,
    SpinnakerPipelineSpec,
    validate_resource,
)
from spinop.api.v1alpha1.pipeline_tenancy import PipelineTenancy
from spinop.config import PipelineGrant, PipelineSettings
from spinop.controllers.accounts import Claim
from spinop.controllers.context import OperatorContext
from spinop.errors import InvalidRequest, SpinopError, Waiting
from spinop.gate import (
    GateClient,
    GateDuplicateName,
    GateError,
    GateRejected,
    GateSaveStillRunning,
    GateStale,
    GateTaskFailed,
    GateUnauthorized,
)
from spinop.gate.errors import GateUnroutablePath
from spinop.kube.events import post_event
from spinop.kube.status import ConditionUpdate, ObjectRef, utcnow
from spinop.pipelines import (
    RenderRefused,
    TenantScope,
    Violation,
    check_pipeline,
    compare,
    pipeline_id,
    preserve_cron_trigger_ids,
    render_pipeline,
)
from spinop.pipelines.claims import application_claim_refusal, claimable
from spinop.pipelines.render import LOCK_PREFIX

log = logging.getLogger(__name__)

PLURAL = "spinnakerpipelines"
KIND = "SpinnakerPipeline"
#: Attribute of applications spinop creates: the MGMT namespace they were created for.
OWNER_ATTRIBUTE = "spinopNamespace"
#: Synced reasons that mean Gate showed the application is not this namespace's (such claims rank last).
GATE_REFUSED_REASONS = frozenset({"ApplicationOwnedByAnotherNamespace", "ApplicationNotManaged"})
SAVE_ATTEMPTS = 3
MAX_MESSAGE = 3000


# --------------------------------------------------------------------------------------------------- index records


@dataclass(frozen=True)
class PipelineClaim:
    """What the pipeline index keeps per SpinnakerPipeline: enough to decide application ownership."""

    namespace: str
    name: str
    uid: str
    application: str
    created: str
    deleting: bool
    pipeline_id: str | None  # status.pipelineId: set only once spinop saved the pipeline in Spinnaker
    gate_refused: bool  # Gate showed the application belongs to another namespace (or to nobody in spinop)
    application_settings: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rank(self) -> tuple[int, str, str]:
        """Lower wins: claims spinop already saved into the application first, then the oldest."""
        return (0 if self.pipeline_id else 1, self.created, self.uid)


def claim_from_body(body: Mapping[str, Any]) -> PipelineClaim | None:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    application = spec.get("application")
    if not isinstance(application, str) or not application:
        return None
    synced = _condition(status, "Synced") or {}
    return PipelineClaim(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        application=application,
        created=meta.get("creationTimestamp", ""),
        deleting=bool(meta.get("deletionTimestamp")),
        pipeline_id=status.get("pipelineId") or None,
        gate_refused=synced.get("status") == "False" and synced.get("reason") in GATE_REFUSED_REASONS,
        application_settings=copy.deepcopy(spec.get("applicationSettings")) or None,
    )


# ------------------------------------------------------------------------------------------- scope (pure, no I/O)


def grant_for(settings: PipelineSettings, namespace: str) -> PipelineGrant:
    """The admin grants for one namespace: its own entry plus `"*"`, with `{namespace}` filled in."""
    merged: dict[str, set[str]] = {name: set() for name in PipelineGrant.model_fields}
    for key in ("*", namespace):
        grant = settings.grants.get(key)
        if grant is None:
            continue
        for name in PipelineGrant.model_fields:
            merged[name].update(v.replace("{namespace}", namespace) for v in getattr(grant, name))
    return PipelineGrant(**{name: sorted(values) for name, values in merged.items()})


def application_holder(
    claims: Iterable[PipelineClaim], application: str, settings: PipelineSettings | None = None
) -> PipelineClaim | None:
    """The claim that decides who owns `application`: established before pending, then oldest; None if free.

    With `settings`, only claims of namespaces the tenancy policy lets claim it count (a squatter's claim, e.g.
    one made before the policy existed, never holds an application against its rightful namespace)."""
    candidates = [
        c
        for c in claims
        if c.application.lower() == application.lower()
        and not c.gate_refused
        and (settings is None or claimable(settings, c.namespace, c.application))
    ]
    return min(candidates, key=PipelineClaim.rank) if candidates else None


def owns_application(
    namespace: str, application: str, claims: Iterable[PipelineClaim], settings: PipelineSettings
) -> tuple[bool, str]:
    """(may this namespace write into `application`?, why not): the tenancy policy first (the same decision the
    webhook makes, `pipelines.claims`), then, among namespaces the policy allows, the first claim."""
    refusal = application_claim_refusal(settings, namespace, application)
    if refusal is not None:
        return False, refusal.message
    if any(a.lower() == application.lower() for a in grant_for(settings, namespace).applications):
        return True, ""
    holder = application_holder(claims, application, settings)
    if holder is None or holder.namespace == namespace:
        return True, ""
    # Never name the other namespace or its object: that is another tenant's business.
    return False, (
        f"application {application!r} is already used by a SpinnakerPipeline of another namespace that claimed it "
        "first; choose another application"
    )


def cluster_pipeline_grants(spec: Mapping[str, Any] | None) -> PipelineTenancy:
    """A SpinnakerCluster's `tenancy.pipelines`; nothing granted when it is missing or does not validate."""
    raw = ((spec or {}).get("tenancy") or {}).get("pipelines") if isinstance(spec, Mapping) else None
    try:
        return PipelineTenancy.model_validate(raw or {})
    except ValueError:
        return PipelineTenancy()


def tenant_scope(
    namespace: str,
    accounts: Iterable[Claim],
    claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> TenantScope:
    """What SpinnakerPipelines in `namespace` may reach.

    `accounts`: SpinnakerAccount claims (only this namespace's Ready ones count); `claims`: SpinnakerPipeline
    claims of this namespace and of every other namespace claiming one of its applications; `clusters`: the
    SpinnakerCluster specs by name, whose `tenancy.pipelines` grants count for the clusters of those Ready accounts.
    """
    claims = list(claims)
    reachable: dict[str, set[str]] = {}
    granted: dict[str, set[str]] = {"expression": set(), "url": set(), "kind": set(), "stage": set()}
    for account in accounts:
        if account.tenant == namespace and account.ready and not account.deleting:
            reachable.setdefault(account.account_name, set()).add(account.namespace)
            cluster = cluster_pipeline_grants((clusters or {}).get(account.cluster))
            granted["expression"].update(cluster.expression_fields or ())
            granted["url"].update(cluster.allowed_url_hosts or ())
            granted["kind"].update(cluster.allowed_manifest_kinds or ())
            granted["stage"].update(cluster.stage_types or ())
    grant = grant_for(settings, namespace)
    wanted = {c.application for c in claims if c.namespace == namespace}
    applications = {app for app in wanted if owns_application(namespace, app, claims, settings)[0]}
    applications.update(grant.applications)
    return TenantScope(
        namespace=namespace,
        accounts={name: frozenset(ns) for name, ns in reachable.items()},
        applications=frozenset(applications),
        artifact_accounts=frozenset(grant.artifact_accounts),
        registry_accounts=frozenset(grant.registry_accounts),
        build_services=frozenset(grant.build_services),
        kayenta_accounts=frozenset(grant.kayenta_accounts),
        service_accounts=frozenset(grant.service_accounts),
        roles=frozenset(grant.roles),
        pubsub_subscriptions=frozenset(grant.pubsub_subscriptions),
        expression_fields=frozenset(granted["expression"]),
        url_hosts=frozenset(granted["url"]),
        manifest_kinds=frozenset(granted["kind"]),
        stage_types=frozenset(granted["stage"]),
    )


# ------------------------------------------------------------------------------------------ decide (pure, no I/O)


class Action(enum.Enum):
    CONFIRM = "confirm"  # Spinnaker already has the desired pipeline
    CREATE = "create"  # save a pipeline Spinnaker does not have
    UPDATE = "update"  # save a new generation of the spec
    RESTORE = "restore"  # Enforce: save over a change made in Spinnaker (or re-create a deleted pipeline)
    REPORT = "report"  # Report: leave Spinnaker's version, set InSync=False


@dataclass(frozen=True)
class Decision:
    action: Action
    paths: tuple[str, ...] = ()  # what differs, as paths into the resource
    missing: bool = False  # the pipeline spinop saved is gone from Spinnaker


def decide(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    policy: DriftPolicy,
    saved_generation: int | None,
    generation: int | None,
    saved_before: bool,
) -> Decision:
    """What to do with one pipeline. `saved_generation`: the generation spinop last saved (Synced=True), if any;
    `saved_before`: spinop saved this pipeline id at some point (status.pipelineId)."""
    spec_unchanged = saved_generation is not None and saved_generation == generation
    if live is None:
        if saved_before and spec_unchanged:
            if policy == DriftPolicy.REPORT:
                return Decision(Action.REPORT, ("spec.pipeline",), missing=True)
            return Decision(Action.RESTORE, ("spec.pipeline",), missing=True)
        return Decision(Action.CREATE)
    paths = tuple(resource_path(p) for p in compare(desired, live))
    if not paths:
        return Decision(Action.CONFIRM)
    if not spec_unchanged:
        return Decision(Action.UPDATE, paths)
    if policy == DriftPolicy.ENFORCE:
        return Decision(Action.RESTORE, paths)
    return Decision(Action.REPORT, paths)


def resource_path(path: str) -> str:
    """A path into the saved pipeline body (`stages[0].account`) as a path into the resource."""
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if path in ("", "$"):
        return "spec.pipeline"
    if head in ("name", "application"):
        return f"spec.{path}"
    if head in ("id", "locked"):
        return path  # spinop's own fields
    return f"spec.pipeline{path}" if path.startswith("[") else f"spec.pipeline.{path}"


def same_name(a: Any, b: str) -> bool:
    """Front50 compares pipeline names trimmed and ignoring case."""
    return isinstance(a, str) and a.strip().lower() == b.strip().lower()


def managed_by(config: Mapping[str, Any]) -> str | None:
    """`<namespace>/<name>` of the SpinnakerPipeline that saved a pipeline (from its `locked` description)."""
    locked = config.get("locked")
    description = locked.get("description") if isinstance(locked, Mapping) else None
    if isinstance(description, str) and description.startswith(LOCK_PREFIX):
        return description[len(LOCK_PREFIX) :]
    return None


def describe_violations(violations: Iterable[Violation]) -> str:
    text = "; ".join(str(v) for v in violations)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# ------------------------------------------------------------------------------------------------------- outcome


@dataclass
class Outcome:
    conditions: list[ConditionUpdate] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    error: SpinopError | None = None

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        self.conditions.append(ConditionUpdate(type_, status, reason, message))

    def fail(self, error: SpinopError, *, saved: bool = False) -> Outcome:
        """Report a failure. When the current generation was already saved and time can fix the failure (Gate is
        down during a drift pass), Synced stays True: only the comparison is unknown."""
        if saved and not error.needs_user:
            self.set("InSync", "Unknown", error.reason, f"cannot compare with Spinnaker: {error.message}")
        else:
            self.set("Synced", "False", error.reason, error.message)
        self.error = error
        return self


@dataclass(frozen=True)
class Observed:
    """What the resource's own status says about earlier reconciles."""

    pipeline_id: str | None
    saved_generation: int | None
    drifted: bool
    last_synced_at: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Observed:
        status = body.get("status") or {}
        synced = _condition(status, "Synced") or {}
        in_sync = _condition(status, "InSync") or {}
        generation = synced.get("observedGeneration")
        return cls(
            pipeline_id=status.get("pipelineId") or None,
            saved_generation=generation if synced.get("status") == "True" and isinstance(generation, int) else None,
            drifted=in_sync.get("status") == "False",
            last_synced_at=status.get("lastSyncedAt"),
        )


def _condition(status: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return dict(cond)
    return None


def _now() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def gate_failure(err: GateError) -> SpinopError:
    """A Gate failure as the condition a tenant reads."""
    if isinstance(err, GateUnauthorized):
        return SpinopError(
            f"Gate refused spinop's identity ({err.message}); a platform admin must fix spinop's Gate credentials "
            "(gate.auth_secret)",
            reason="GateUnauthorized",
            retry_after=60,
        )
    if isinstance(err, GateDuplicateName):
        return InvalidRequest(err.message, reason="PipelineNameTaken", retry_after=120)
    if isinstance(err, GateTaskFailed):
        return InvalidRequest(f"Spinnaker refused: {err.message}", reason="GateTaskFailed", retry_after=120)
    if isinstance(err, GateRejected):
        return InvalidRequest(f"Gate refused: {err.message}", reason="GateRejected", retry_after=120)
    return SpinopError(f"Gate is not available: {err.message}", reason="GateUnavailable", retry_after=10)


# ------------------------------------------------------------------------------------------------ the reconcile


@dataclass
class _Work:
    """One reconcile's inputs, after validation."""

    ctx: OperatorContext
    gate: GateClient
    namespace: str
    name: str
    spec: SpinnakerPipelineSpec
    tenancy: Tenancy
    observed: Observed
    generation: int | None
    pipeline_id: str
    out: Outcome

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def scope(self) -> TenantScope:
        return self.tenancy.scope

    @property
    def claims(self) -> list[PipelineClaim]:
        return self.tenancy.claims

    def render(self, live: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return render_desired(self.spec, pipeline_id=self.pipeline_id, owner=self.owner, live=live)


@dataclass(frozen=True)
class Tenancy:
    """What one pipeline is judged against, built from the indexes by `tenancy_for` (pure)."""

    scope: TenantScope
    claims: list[PipelineClaim]
    """This namespace's pipeline claims and every other claim on one of its applications (this one included)."""
    pending_scope: TenantScope | None = None
    """The scope once the namespace's SpinnakerAccounts still on their way are Ready (None: none is)."""
    pending_accounts: tuple[str, ...] = ()


def tenancy_for(
    body: Mapping[str, Any],
    account_claims: Iterable[Claim],
    pipeline_claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> Tenancy:
    namespace = body["metadata"]["namespace"]
    claims = list(pipeline_claims)
    me = claim_from_body(body)
    if me is not None and all(c.uid != me.uid for c in claims):
        claims.append(me)  # the index may not have seen this object yet
    account_claims = list(account_claims)
    pending = pending_accounts(namespace, account_claims)
    return Tenancy(
        scope=tenant_scope(namespace, account_claims, claims, settings, clusters),
        claims=claims,
        pending_scope=(
            tenant_scope(namespace, [replace(c, ready=True) for c in account_claims], claims, settings, clusters)
            if pending
            else None
        ),
        pending_accounts=tuple(f"{c.tenant}/{c.name}" for c in pending),
    )


def render_desired(
    spec: SpinnakerPipelineSpec, *, pipeline_id: str, owner: str, live: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    stamp = live.get("lastModified") if live else None
    body = render_pipeline(
        application=spec.application,
        name=spec.name,
        pipeline=spec.pipeline,
        pipeline_id=pipeline_id,
        owner=owner,
        last_modified=stamp if isinstance(stamp, int) else None,
    )
    return preserve_cron_trigger_ids(body, live)


def guard_refusal(
    spec: SpinnakerPipelineSpec,
    *,
    namespace: str,
    owner: str,
    pipeline_id: str,
    tenancy: Tenancy,
    settings: PipelineSettings,
) -> SpinopError | None:
    """The reconcile's verdict before anything reaches Gate (pure): the body rendered and guarded, the application
    claim, and whether accounts still on their way would change the answer. Refusals name the exact paths."""
    try:
        body = render_desired(spec, pipeline_id=pipeline_id, owner=owner)
    except RenderRefused as err:
        return InvalidRequest(describe_violations(err.violations), reason="InvalidSpec")
    violations = check_pipeline(body, tenancy.scope)
    allowed, why = owns_application(namespace, spec.application, tenancy.claims, settings)
    if not allowed:
        # The guard says only "not owned"; say who owns it instead.
        rest = [v for v in violations if v.path != "spec.application"]
        return InvalidRequest(
            describe_violations([Violation("spec.application", why), *rest]), reason="ApplicationNotOwned"
        )
    if violations and tenancy.pending_scope is not None and not check_pipeline(body, tenancy.pending_scope):
        # Refused only because accounts of the namespace are still on their way: wait for them, nothing is saved.
        return Waiting(
            f"waiting for SpinnakerAccount {', '.join(tenancy.pending_accounts)} to become Ready; "
            f"until then: {describe_violations(violations)}",
            reason="WaitingForAccount",
            retry_after=10,
        )
    if violations:
        reason = "ApplicationNotOwned" if any(v.path == "spec.application" for v in violations) else "PipelineRefused"
        return InvalidRequest(describe_violations(violations), reason=reason)
    return None


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    account_claims: Iterable[Claim],
    pipeline_claims: Iterable[PipelineClaim],
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> float:
    """Bring one SpinnakerPipeline to its declared state; returns seconds until the next drift check.

    Raises kopf.TemporaryError for failures time can fix; refusals only a user can fix are reported in status
    and rechecked by the drift pass (at once when the namespace's accounts or applications change).
    """
    ref = _ref(body)
    meta = body["metadata"]
    generation = meta.get("generation")
    interval = drift_interval(ctx)
    resource, errors = validate_resource(dict(body))
    if resource is None or not isinstance(resource, SpinnakerPipeline):
        message = "; ".join(f"{e.path}: {e.message}" for e in errors) or "the object could not be read"
        await _write_status(ctx, ref, Outcome().fail(InvalidRequest(message, reason="InvalidSpec")), generation)
        return interval
    namespace, name = meta["namespace"], meta["name"]
    tenancy = tenancy_for(body, account_claims, pipeline_claims, ctx.config.pipelines, clusters)
    observed = Observed.of(body)
    async with ctx.locks.hold(ref.uid or ref.name), ctx.slots:
        out = Outcome()
        if ctx.gate is None:
            out.fail(
                InvalidRequest(
                    "this spinop installation has no Gate configured (gate.url), so it cannot save pipelines",
                    reason="GateNotConfigured",
                )
            )
        else:
            work = _Work(
                ctx=ctx,
                gate=ctx.gate,
                namespace=namespace,
                name=name,
                spec=resource.spec,
                tenancy=tenancy,
                observed=observed,
                generation=generation,
                pipeline_id=observed.pipeline_id or pipeline_id(namespace, name),
                out=out,
            )
            try:
                await _sync(work)
            except SpinopError as err:
                out.fail(err, saved=observed.saved_generation == generation)
            except GateError as err:
                out.fail(gate_failure(err), saved=observed.saved_generation == generation)
        await _write_status(ctx, ref, out, generation)
    if out.error is not None and not out.error.needs_user:
        raise kopf.TemporaryError(out.error.message, delay=out.error.retry_after)
    if out.error is not None:
        return min(interval, out.error.retry_after)
    return interval


def drift_interval(ctx: OperatorContext) -> float:
    return ctx.config.pipelines.drift_interval_seconds or ctx.config.drift_interval_seconds


def pending_accounts(namespace: str, account_claims: Iterable[Claim]) -> list[Claim]:
    """The namespace's SpinnakerAccounts that are not Ready (yet) and not being deleted."""
    return [c for c in account_claims if c.tenant == namespace and not c.ready and not c.deleting]


async def _sync(work: _Work) -> None:
    refused = guard_refusal(
        work.spec,
        namespace=work.namespace,
        owner=work.owner,
        pipeline_id=work.pipeline_id,
        tenancy=work.tenancy,
        settings=work.ctx.config.pipelines,
    )
    if refused is not None:
        raise refused

    await _ensure_application(work)
    configs = await work.gate.list_pipeline_configs(work.spec.application)
    live = next((c for c in configs if c.get("id") == work.pipeline_id), None)
    live = await _resolve_name_conflicts(work, configs, live)

    decision = decide(
        work.render(live),
        live,
        policy=work.spec.drift_policy,
        saved_generation=work.observed.saved_generation,
        generation=work.generation,
        saved_before=work.observed.pipeline_id == work.pipeline_id,
    )
    if decision.action is Action.REPORT:
        _report_drift(work, decision, live)
        return
    stored = live if decision.action is Action.CONFIRM else await _save(work, live)
    assert stored is not None
    _record_saved(work, decision, live, stored)


def _drift_message(work: _Work, decision: Decision, live: Mapping[str, Any] | None) -> str:
    if decision.missing:
        return f"pipeline {work.spec.name!r} was deleted in Spinnaker"
    editor = (live or {}).get("lastModifiedBy") or "someone"
    return f"pipeline {work.spec.name!r} was changed in Spinnaker by {editor}: {', '.join(decision.paths)}"


def _report_drift(work: _Work, decision: Decision, live: Mapping[str, Any] | None) -> None:
    """driftPolicy Report: leave Spinnaker's version, say what differs and who changed it."""
    out = work.out
    message = f"{_drift_message(work, decision, live)}; driftPolicy is Report, so spinop leaves it"
    out.set("InSync", "False", "Drifted", message[:MAX_MESSAGE])
    if not work.observed.drifted:
        out.fields["driftDetectedAt"] = _now()
        out.events.append(("Warning", "DriftDetected", message))
    if live is not None:
        out.fields["lastModifiedBy"] = live.get("lastModifiedBy")


def _record_saved(work: _Work, decision: Decision, live: Mapping[str, Any] | None, stored: Mapping[str, Any]) -> None:
    """Status and Events after Spinnaker was found or made equal to the resource."""
    out, spec = work.out, work.spec
    if decision.action is not Action.CONFIRM or not work.observed.last_synced_at:
        out.fields["lastSyncedAt"] = _now()
    if decision.action is Action.RESTORE:
        out.fields["driftDetectedAt"] = _now()
        restored = "re-created it" if decision.missing else "restored it"
        out.events.append(
            ("Warning", "DriftRestored", f"{_drift_message(work, decision, live)}; {restored} (driftPolicy Enforce)")
        )
    elif decision.action is Action.CREATE:
        out.events.append(
            ("Normal", "PipelineCreated", f"saved pipeline {spec.name!r} as {work.pipeline_id} in {spec.application}")
        )
    elif decision.action is Action.UPDATE:
        changed = ", ".join(decision.paths)
        out.events.append(("Normal", "PipelineUpdated", f"saved generation {work.generation}: {changed}"))
    out.fields["pipelineId"] = work.pipeline_id
    out.fields["lastModifiedBy"] = stored.get("lastModifiedBy")
    out.set(
        "Synced",
        "True",
        "Saved",
        f"Spinnaker has pipeline {spec.name!r} (id {work.pipeline_id}) in application {spec.application}",
    )
    left = compare(work.render(stored), stored)
    if left:
        # Spinnaker stored something differently from what was sent, in a way spinop does not know to ignore.
        paths = ", ".join(resource_path(p) for p in left)
        log.warning("pipeline %s: Spinnaker stored %s differently from what spinop saved", work.owner, paths)
        out.set("InSync", "False", "Drifted", f"Spinnaker stores these fields differently: {paths}"[:MAX_MESSAGE])
    else:
        out.set("InSync", "True", "InSync", "the pipeline in Spinnaker equals this resource")


def creation_settings(
    namespace: str, application: str, own: ApplicationSettings | None, claims: Iterable[PipelineClaim]
) -> ApplicationSettings | None:
    """The applicationSettings an application is created with: those of the namespace's oldest SpinnakerPipeline
    for it that has any, whichever of them happens to reconcile first."""
    siblings = sorted(
        (
            c
            for c in claims
            if c.namespace == namespace and c.application.lower() == application.lower() and c.application_settings
        ),
        key=lambda c: (c.created, c.uid),
    )
    for claim in siblings:
        try:
            return ApplicationSettings.model_validate(claim.application_settings)
        except ValueError:
            continue
    return own


async def _ensure_application(work: _Work) -> None:
    """Create the application when missing; refuse one spinop did not create for this namespace."""
    spec, gate = work.spec, work.gate
    app = await gate.get_application(spec.application)
    if app is None:
        settings = creation_settings(work.namespace, spec.application, spec.application_settings, work.claims)
        attributes: dict[str, Any] = {
            "name": spec.application,
            "email": (settings.email if settings else None) or work.ctx.config.pipelines.default_application_email,
            "cloudProviders": "kubernetes",
            "description": f"Created by spinop for the SpinnakerPipelines of namespace {work.namespace}",
            OWNER_ATTRIBUTE: work.namespace,
        }
        if settings is not None and settings.permissions is not None:
            attributes["permissions"] = settings.permissions.model_dump(by_alias=True, exclude_none=True)
        await gate.run_task(
            {
                "application": spec.application,
                "description": f"Create application {spec.application} (spinop, for {work.owner})",
                "job": [{"type": "createApplication", "application": attributes}],
            }
        )
        work.out.events.append(
            ("Normal", "ApplicationCreated", f"created Spinnaker application {spec.application} for {work.namespace}")
        )
        return
    creator = app.attributes.get(OWNER_ATTRIBUTE)
    granted = grant_for(work.ctx.config.pipelines, work.namespace).applications
    if creator == work.namespace or any(a.lower() == spec.application.lower() for a in granted):
        return
    if creator:
        raise InvalidRequest(
            f"spec.application: application {spec.application!r} was created by spinop for another namespace; "
            "spinop never writes into another namespace's application",
            reason="ApplicationOwnedByAnotherNamespace",
        )
    raise InvalidRequest(
        f"spec.application: application {spec.application!r} already exists in Spinnaker and spinop did not "
        "create it, so it may belong to another team; choose another application, or ask a platform admin to "
        f"grant it to namespace {work.namespace} (pipelines.grants in spinop's configuration)",
        reason="ApplicationNotManaged",
    )


async def _resolve_name_conflicts(
    work: _Work, configs: list[dict[str, Any]], live: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Refuse a name held by another pipeline id, or adopt that pipeline when spec.adopt says so."""
    spec = work.spec
    holders = [c for c in configs if c.get("id") != work.pipeline_id and same_name(c.get("name"), spec.name)]
    if not holders:
        return live
    ids = ", ".join(str(c.get("id")) for c in holders)
    if len(holders) > 1:
        raise InvalidRequest(
            f"spec.name: {len(holders)} pipelines in application {spec.application} are named {spec.name!r} "
            f"ignoring case (ids {ids}); acting on one would be a guess: remove the duplicates in Spinnaker first",
            reason="PipelineNameAmbiguous",
        )
    holder = holders[0]
    manager = managed_by(holder)
    if manager and manager != work.owner and any(c.owner == manager for c in work.claims):
        mine = manager.partition("/")[0] == work.namespace
        raise InvalidRequest(
            f"spec.name: pipeline {spec.name!r} in application {spec.application} belongs to "
            f"{f'SpinnakerPipeline {manager}' if mine else 'a SpinnakerPipeline of another namespace'}; choose "
            "another spec.name",
            reason="PipelineNameTaken",
        )
    who = holder.get("lastModifiedBy") or "someone"
    if not spec.adopt:
        raise InvalidRequest(
            f"spec.name: application {spec.application} already has a pipeline named {spec.name!r} (id {ids}, "
            f"last changed by {who}) that spinop did not create; set spec.adopt: true to take it over, or choose "
            "another spec.name",
            reason="PipelineNameTaken",
        )
    if live is not None:
        raise InvalidRequest(
            f"spec.name: spinop's pipeline {work.pipeline_id} exists and pipeline {ids} is named {spec.name!r}; "
            "rename or delete one of them in Spinnaker",
            reason="PipelineNameTaken",
        )
    work.pipeline_id = str(holder["id"])
    violations = check_pipeline(work.render(holder), work.scope)  # the id decides which runAsUser is its own
    if violations:
        raise InvalidRequest(describe_violations(violations), reason="PipelineRefused")
    work.out.events.append(
        ("Normal", "PipelineAdopted", f"took over pipeline {spec.name!r} (id {holder['id']}, last changed by {who})")
    )
    return holder


async def _save(work: _Work, live: dict[str, Any] | None) -> dict[str, Any]:
    """Save (staleCheck when updating) and read back; re-read and retry when someone saved in between."""
    gate, application = work.gate, work.spec.application
    for _attempt in range(SAVE_ATTEMPTS):
        stamp = live.get("lastModified") if live else None
        try:
            await gate.save_pipeline(work.render(live), stale_check=live is not None)
        except GateStale:
            live = await gate.find_pipeline(application, work.pipeline_id)
            continue
        except GateSaveStillRunning:
            # The save may still complete: read back instead of saving again.
            stored = await gate.wait_for_pipeline(
                application,
                work.pipeline_id,
                newer_than=stamp if isinstance(stamp, int) else None,
                within=gate.settings.save_timeout,
            )
            if stored is None:
                raise Waiting(
                    "Gate has not finished saving the pipeline yet; spinop reads it back before saving again",
                    reason="SaveStillRunning",
                    retry_after=10,
                ) from None
            return stored
        stored = await gate.find_pipeline(application, work.pipeline_id)
        if stored is None:
            raise Waiting(
                f"Gate accepted the save but does not list pipeline {work.pipeline_id} yet",
                reason="SaveNotVisible",
                retry_after=5,
            )
        return stored
    raise Waiting(
        "the pipeline kept changing in Spinnaker while spinop saved it (staleCheck); trying again",
        reason="PipelineStale",
        retry_after=5,
    )


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(PLURAL, KIND, meta["name"], meta.get("namespace"), meta.get("uid"))


async def _write_status(ctx: OperatorContext, ref: ObjectRef, out: Outcome, generation: int | None) -> None:
    result = await asyncio.to_thread(
        ctx.pipeline_status.update, ref, conditions=out.conditions, fields=out.fields, generation=generation
    )
    events = list(out.events)
    if result is not None:
        for t in result.transitions:
            if t.type == "Ready" or (t.status == "False" and t.type == "Synced"):
                kind = "Normal" if t.status == "True" else "Warning"
                reason = t.reason if t.type == "Ready" else f"{t.type}{t.status}"
                events.append((kind, reason, f"{t.type}: {t.message}"))
    for type_, reason, message in events:
        await asyncio.to_thread(post_event, ctx.mgmt, ref, type_=type_, reason=reason, message=message)


# ------------------------------------------------------------------------------------------------------ finalizer


async def finalize(ctx: OperatorContext, body: Mapping[str, Any]) -> None:
    """Delete the pipeline spinop saved (by its id, confirmed through the list); never an application."""
    ref = _ref(body)
    spec, status = body.get("spec") or {}, body.get("status") or {}
    saved_id, application = status.get("pipelineId"), spec.get("application")
    if not saved_id or not isinstance(application, str):
        return  # spinop never saved anything for this resource
    if ctx.gate is None:
        await asyncio.to_thread(
            post_event,
            ctx.mgmt,
            ref,
            type_="Warning",
            reason="PipelineKept",
            message=f"no Gate is configured, so pipeline {saved_id} stays in application {application}",
        )
        return
    gate = ctx.gate
    async with ctx.locks.hold(ref.uid or ref.name):
        try:
            deleted = await _delete_by_id(gate, application, str(spec.get("name", "")), saved_id)
        except GateError as err:
            failure = gate_failure(err)
            await asyncio.to_thread(
                ctx.pipeline_status.update,
                ref,
                conditions=[ConditionUpdate("Synced", "False", failure.reason, f"deleting: {failure.message}")],
            )
            raise kopf.TemporaryError(failure.message, delay=failure.retry_after) from None
    message = (
        f"deleted pipeline {saved_id} from application {application} (the application stays)"
        if deleted
        else f"pipeline {saved_id} was already gone from application {application}"
    )
    await asyncio.to_thread(post_event, ctx.mgmt, ref, type_="Normal", reason="PipelineDeleted", message=message)


async def _delete_by_id(gate: GateClient, application: str, name: str, saved_id: str) -> bool:
    """Delete our pipeline. Gate deletes by name: a shared name, or one Gate cannot take in a URL (a rename in the
    UI to e.g. 'a;b'), is renamed to a unique routable one first."""
    try:
        return await gate.delete_pipeline(application, name, pipeline_id=saved_id)
    except (GateDuplicateName, GateUnroutablePath):
        return await _delete_under_unique_name(gate, application, saved_id)


async def _delete_under_unique_name(gate: GateClient, application: str, saved_id: str) -> bool:
    """Gate deletes by name; when another pipeline shares ours (ignoring case), rename ours first."""
    live = await gate.find_pipeline(application, saved_id)
    if live is None:
        return False
    unique = f"spinop-deleting-{saved_id}"
    renamed = {k: v for k, v in live.items() if k != "index"}
    renamed["name"] = unique
    await gate.save_pipeline(renamed, stale_check=True)
    return await gate.delete_pipeline(application, unique, pipeline_id=saved_id)


# ------------------------------------------------------------------------------------------------ handler helpers


def scope_inputs(
    namespace: str,
    application: str,
    account_claims: Iterable[Claim],
    pipeline_claims: Iterable[PipelineClaim],
    settings: PipelineSettings,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[TenantScope, str | None]:
    """What a reconcile of one pipeline depends on besides its own spec: when it changes, reconcile again."""
    claims = list(pipeline_claims)
    holder = application_holder(claims, application, settings)
    scope = tenant_scope(namespace, account_claims, claims, settings, clusters)
    return scope, holder.namespace if holder else None
