"""SpinnakerCluster: connect with the admin kubeconfig, report reachability, version and how many accounts use it,
and roll a change of its tenancy.guardrails out to every tenant namespace (`controllers.guardrails`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import kopf
import urllib3
from kubernetes.client.rest import ApiException

from spinop import metrics
from spinop.api.conditions import raw_condition
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerClusterSpec, format_time
from spinop.controllers.context import OperatorContext
from spinop.controllers.guardrails import roll_out, rollouts_of
from spinop.errors import SpinopError
from spinop.kube.errors import from_probe_failure
from spinop.kube.events import write_status_then_events
from spinop.kube.status import ConditionUpdate, Event, ObjectRef, StatusReport, Transition, utcnow
from spinop.remote.cluster import ClusterConnection
from spinop.remote.identity import beyond_remote_identity
from spinop.remote.policies import policy_problems
from spinop.tenancy import AccountClaim

PLURAL = "spinnakerclusters"
KIND = "SpinnakerCluster"


def _probe(ctx: OperatorContext, name: str, spec: SpinnakerClusterSpec) -> tuple[ConditionUpdate, str | None]:
    try:
        remote = ctx.clusters.get(ClusterConnection.of(name, spec))
        version = ctx.clusters.version(remote)
    except SpinopError as err:
        if err.reason == Reason.ClusterCredentialsRejected:
            ctx.clusters.invalidate(name)
        return ConditionUpdate("Reachable", "False", err.reason, err.message), None
    except (ApiException, OSError, urllib3.exceptions.HTTPError) as err:
        if isinstance(err, ApiException):
            ctx.clusters.invalidate(name)
        failure = from_probe_failure(err, cluster=name)
        return ConditionUpdate("Reachable", "False", failure.reason, failure.message), None
    return ConditionUpdate(
        "Reachable", "True", Reason.Reachable, f"{remote.server} answers as Kubernetes {version}"
    ), version


POLICIES_CONDITION = "AdmissionPoliciesInstalled"


def _policies(ctx: OperatorContext, name: str, spec: SpinnakerClusterSpec) -> ConditionUpdate:
    """deploy/remote's admission policies in force? A warning, not part of Ready: accounts on the cluster still work,
    and their PermissionsVerified says what a missing tenant policy exposes."""
    try:
        problems = policy_problems(ctx.clusters.get(ClusterConnection.of(name, spec)).api)
    except (SpinopError, ApiException, OSError, urllib3.exceptions.HTTPError) as err:
        return ConditionUpdate(
            POLICIES_CONDITION, "Unknown", Reason.CheckFailed, f"cannot read them: {type(err).__name__}"
        )
    if problems:
        return ConditionUpdate(
            POLICIES_CONDITION,
            "False",
            Reason.PolicyMissing,
            "; ".join(problems) + ": apply deploy/remote on the cluster (docs/install.md)",
        )
    return ConditionUpdate(
        POLICIES_CONDITION,
        "True",
        Reason.Installed,
        "spinop-remote-limits and spinop-tenant-limits are enforced (Deny)",
    )


POWER_CONDITION = "CredentialsTooPowerful"
SHOWN = 6  # requests named in the message


def _credentials_power(ctx: OperatorContext, name: str, spec: SpinnakerClusterSpec) -> ConditionUpdate:
    """A warning, not part of Ready: spinop works with an admin kubeconfig too, but should not hold one."""
    try:
        beyond = beyond_remote_identity(ctx.clusters.get(ClusterConnection.of(name, spec)).api)
    except (SpinopError, ApiException, OSError, urllib3.exceptions.HTTPError) as err:
        return ConditionUpdate(
            POWER_CONDITION, "Unknown", Reason.CheckFailed, f"cannot review them: {type(err).__name__}"
        )
    if not beyond:
        return ConditionUpdate(
            POWER_CONDITION, "False", Reason.AsDeployRemote, "the admin kubeconfig grants no more than deploy/remote"
        )
    shown = "; ".join(c.describe() for c in beyond[:SHOWN]) + (
        f"; and {len(beyond) - SHOWN} more" if len(beyond) > SHOWN else ""
    )
    return ConditionUpdate(
        POWER_CONDITION,
        "True",
        Reason.BeyondDeployRemote,
        f"the admin kubeconfig can do more than spinop needs ({shown}): give spinop deploy/remote's identity "
        "(deploy/remote/admin-kubeconfig.sh, docs/install.md)",
    )


def only_guardrails_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether two specs differ in tenancy.guardrails only: the guardrail rollout handles that, paced, so the
    cluster's accounts need not all reconcile at once."""

    def rest(spec: Mapping[str, Any] | None) -> dict[str, Any]:
        spec = dict(spec or {})
        spec["tenancy"] = {k: v for k, v in (spec.get("tenancy") or {}).items() if k != "guardrails"}
        return spec

    return old is not None and new is not None and rest(old) == rest(new)


def ensure_guardrail_rollout(
    ctx: OperatorContext,
    ref: ObjectRef,
    spec: SpinnakerClusterSpec,
    generation: int,
    status: Mapping[str, Any],
    claims: Iterable[AccountClaim],
) -> None:
    """Start rolling this generation's guardrails out to the cluster's tenant namespaces, unless done or under way."""
    rollouts = rollouts_of(ctx)
    if rollouts.needed(ref.name, generation, status):
        tenants = sorted({c.tenant for c in claims if c.cluster == ref.name})
        rollout = roll_out(ctx, ref, ClusterConnection.of(ref.name, spec), generation, spec, tenants)
        rollouts.start(ref.name, generation, rollout)


def _announce(t: Transition) -> Event | None:
    if t.type not in ("Reachable", POLICIES_CONDITION, POWER_CONDITION):
        return None
    # CredentialsTooPowerful is the one condition whose True is the bad news.
    return ("Normal" if (t.status == "True") != (t.type == POWER_CONDITION) else "Warning", t.reason, t.message)


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    *,
    claims: Iterable[AccountClaim],
    spec_changed: bool = False,
    wake_accounts: bool = True,
) -> float:
    """Probe the cluster and write its status; on a spec change, wake its accounts (unless only the guardrails
    changed: `wake_accounts=False`) and roll the guardrails out."""
    meta = body["metadata"]
    name = meta["name"]
    ref = ObjectRef(PLURAL, KIND, name, None, meta.get("uid"))
    spec = SpinnakerClusterSpec.model_validate(body.get("spec") or {})
    if spec_changed:
        ctx.clusters.invalidate(name)
    claims = list(claims)
    condition, version = await asyncio.to_thread(_probe, ctx, name, spec)
    conditions = [condition]
    if condition.status == "True":
        conditions.append(await asyncio.to_thread(_policies, ctx, name, spec))
        conditions.append(await asyncio.to_thread(_credentials_power, ctx, name, spec))
    metrics.CLUSTER_REACHABLE.labels(name).set(1 if condition.status == "True" else 0)
    fields: dict[str, Any] = {"accountCount": sum(1 for c in claims if c.cluster == name and not c.deleting)}
    if version:
        fields["serverVersion"] = version
    was = raw_condition(body.get("status"), "Reachable")
    if (
        was is None
        or was.get("status") != condition.status
        or fields != {k: (body.get("status") or {}).get(k) for k in fields}
    ):
        # lastProbeTime moves only with a change, so a healthy, unchanged cluster costs no status writes.
        fields["lastProbeTime"] = format_time(utcnow())
    await asyncio.to_thread(
        write_status_then_events,
        ctx.mgmt,
        ctx.cluster_status,
        ref,
        StatusReport(conditions, fields),
        generation=meta.get("generation"),
        announce=_announce,
    )
    if spec_changed and wake_accounts:
        for claim in claims:
            if claim.cluster == name:
                ctx.wake(claim.uid)
    if condition.status == "True" and meta.get("generation") is not None:
        ensure_guardrail_rollout(ctx, ref, spec, int(meta["generation"]), body.get("status") or {}, claims)
    if condition.status != "True":
        raise kopf.TemporaryError(condition.message, delay=15)
    return ctx.config.cluster_probe_seconds
