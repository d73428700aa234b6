"""Pure admission decisions: given a request and what MGMT holds, admit or refuse, naming the field and the fix.

The tenancy part (`tenancy_violations`) is the same function the SpinnakerAccount reconcile calls
(`tenancy_refusal`), so a webhook that was down or bypassed cannot let through anything the reconcile would accept
differently. No I/O here: `spinop.admission.observe` gathers the inputs.

HTTP codes: 422 (Invalid) when the object itself is malformed (schema, immutable fields), 403 (Forbidden) when a
tenancy rule says this tenant may not have it, as Kubernetes answers for ResourceQuota and Pod Security refusals.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import (
    SpinnakerAccount,
    SpinnakerAccountSpec,
    SpinnakerCluster,
    SpinnakerClusterSpec,
    validate_resource,
    validate_update,
)
from spinop.tenancy import (
    NO_BOUNDARIES,
    AccountClaim,
    AccountUnderJudgement,
    Boundaries,
    Violation,
    check_guardrails,
    missing_cluster_refusal,
    read_cluster,
    selector_matches,
    tenancy_violations,
)
from spinop.tenancy.decisions import listed

INVALID = 422
FORBIDDEN = 403
UNAVAILABLE = 503

CREATE = "CREATE"
UPDATE = "UPDATE"

# --------------------------------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """An admission answer: refused when `errors` is not empty (with `code` and `reason`), warnings either way."""

    errors: tuple[FieldError, ...] = ()
    reason: str = ""  # the refusal's Reason; empty when admitted
    code: int = INVALID
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        """One line for the apiserver's answer: `Reason: path: what is wrong and what is accepted; ...`."""
        return f"{self.reason}: " + "; ".join(str(e) for e in self.errors)


ADMIT = Verdict()


def refuse(reason: Reason, errors: Iterable[FieldError], code: int, warnings: Iterable[str] = ()) -> Verdict:
    return Verdict(errors=tuple(errors), reason=reason, code=code, warnings=tuple(warnings))


def needs_review(operation: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> bool:
    """Whether a request can change what the rules judge.

    Updates that leave `spec` alone (labels, annotations, finalizers: kopf's own bookkeeping is most of the traffic)
    and every update of an object being deleted are admitted without looking: a rule that tightened since the
    object was admitted must never block the finalizer that cleans it up.
    """
    if operation == CREATE:
        return True
    if operation != UPDATE or new is None or old is None:
        return False
    if (new.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (new.get("spec") or {}) != (old.get("spec") or {})


def schema_errors(operation: str, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    """The CRD's own rules again, from the pydantic models: a safety net when the installed CRD is older."""
    if operation == UPDATE and old is not None:
        return validate_update(old, new)
    return validate_resource(new)[1]


# ------------------------------------------------------------------------------------------------ SpinnakerAccount


@dataclass(frozen=True)
class AccountWorld:
    """What MGMT holds that a SpinnakerAccount decision needs (read fresh by `observe.account_world`)."""

    tenant_labels: Mapping[str, str]
    clusters: Mapping[str, Mapping[str, Any]]
    """Every SpinnakerCluster by name (their bodies)."""
    winners: tuple[AccountClaim, ...]
    """The claims that win over the object under review."""
    boundaries: Boundaries = NO_BOUNDARIES
    on_missing_clusters: tuple[AccountClaim, ...] = ()
    """This tenant's claims that win by age and name SpinnakerClusters which do not exist, whether or not they stand
    on their own (none does: they count against max_accounts_on_missing_clusters as at reconcile)."""


def _clusters_open_to(tenant: str, labels: Mapping[str, str], clusters: Mapping[str, Mapping[str, Any]]) -> list[str]:
    names = []
    for name, body in sorted(clusters.items()):
        try:
            spec = SpinnakerClusterSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            continue
        if selector_matches(spec.tenancy.namespace_selector, labels):
            names.append(name)
    return names


def _unknown_cluster(tenant: str, cluster_name: str, world: AccountWorld) -> FieldError:
    open_to = _clusters_open_to(tenant, world.tenant_labels, world.clusters)
    accepted = (
        f"SpinnakerClusters open to namespace {tenant}: {listed(open_to)}"
        if open_to
        else f"no SpinnakerCluster accepts namespace {tenant} yet; ask a platform admin"
    )
    return FieldError("spec.cluster", f"SpinnakerCluster {cluster_name!r} does not exist; {accepted}")


def decide_account(
    operation: str,
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    world: AccountWorld,
    *,
    reserved: Collection[str],
    max_accounts_on_missing_clusters: int | None = None,
) -> Verdict:
    """Admit or refuse a SpinnakerAccount create/update (call only when `needs_review`)."""
    errors = schema_errors(operation, new, old)
    if errors:
        return refuse(Reason.Invalid, errors, INVALID)
    model, _ = validate_resource(new)
    assert isinstance(model, SpinnakerAccount)
    spec, meta = model.spec, model.metadata
    tenant, name = meta.namespace or "", meta.name or ""

    cluster_body = world.clusters.get(spec.cluster)
    if cluster_body is None:
        # Admitted with a warning: GitOps tools and `kubectl apply -k` send a tenant's accounts and the admin's
        # SpinnakerClusters in one sync, in no guaranteed order. The reconcile reports ClusterNotFound until the
        # cluster exists, then checks tenancy and provisions; refusing here would make such a sync fail forever.
        # Only so many, though: each one is an object and a periodic reconcile paid for by everyone.
        if max_accounts_on_missing_clusters is not None:
            too_many = missing_cluster_refusal(
                tenant, spec.cluster, world.on_missing_clusters, world.clusters, max_accounts_on_missing_clusters
            )
            if too_many is not None:
                return refuse(Reason.TooManyAccountsOnMissingClusters, [too_many], FORBIDDEN)
        return Verdict(warnings=(str(_unknown_cluster(tenant, spec.cluster, world)),))
    cluster = read_cluster(spec.cluster, cluster_body)
    if isinstance(cluster, FieldError):  # the reconcile refuses it the same way (controllers.provision)
        return refuse(Reason.ClusterInvalid, [cluster], INVALID)

    judged = AccountUnderJudgement(
        spec, tenant, name, world.tenant_labels, spec.cluster, cluster, reserved, world.boundaries
    )
    violations = tenancy_violations(judged, world.winners)
    # Not part of tenancy_violations: the reconcile does not refuse a looser override, it applies the cluster's
    # stricter value (a cluster that tightens later must not strand its accounts) and says so in GuardrailsApplied.
    looser = check_guardrails(spec.guardrails, cluster_name=spec.cluster, cluster=cluster)
    if looser:
        violations.append(Violation(Reason.GuardrailsLooserThanCluster, tuple(looser)))
    if violations:
        return refuse(violations[0].reason, [e for v in violations for e in v.errors], FORBIDDEN)
    return ADMIT


# ------------------------------------------------------------------------------------------------ SpinnakerCluster


@dataclass(frozen=True)
class SecretState:
    """What spinop knows about the Secret a SpinnakerCluster references, never its content."""

    namespace: str
    name: str
    exists: bool
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TenantAccount:
    """An existing SpinnakerAccount on the cluster under review, with what its tenancy check needs."""

    spec: SpinnakerAccountSpec
    tenant: str
    name: str
    tenant_labels: Mapping[str, str]
    winners: tuple[AccountClaim, ...]


@dataclass(frozen=True)
class ClusterWorld:
    secret: SecretState | None = None
    accounts: tuple[TenantAccount, ...] = ()
    """The accounts on this cluster, when its tenancy changed (else empty: nothing to re-judge)."""


def tenancy_changed(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Whether an update touches what decides which accounts a cluster accepts."""
    if old is None:
        return False
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    return new_spec.get("tenancy") != old_spec.get("tenancy") or new_spec.get("environment") != old_spec.get(
        "environment"
    )


def _secret_warnings(spec: SpinnakerClusterSpec, secret: SecretState | None) -> list[str]:
    if secret is None:
        return []
    ref = spec.kubeconfig_secret_ref
    where = f"Secret {secret.namespace}/{secret.name}"
    if not secret.exists:
        return [
            f"spec.kubeconfigSecretRef: {where} does not exist (yet); the cluster reports Reachable=False and accepts "
            f"no accounts until a platform admin creates it with an admin kubeconfig under key {ref.key!r}"
        ]
    if ref.key not in secret.keys:
        keys = ", ".join(sorted(secret.keys)) or "none"
        return [f"spec.kubeconfigSecretRef.key: {where} has no key {ref.key!r} (its keys: {keys})"]
    return []


def _stranded_warning(
    name: str, spec: SpinnakerClusterSpec, accounts: Sequence[TenantAccount], reserved: Collection[str]
) -> list[str]:
    stranded = []
    for account in accounts:
        judged = AccountUnderJudgement(
            account.spec, account.tenant, account.name, account.tenant_labels, name, spec, reserved
        )
        violations = tenancy_violations(judged, account.winners)
        if violations:
            first = violations[0].errors[0]
            stranded.append(f"{account.tenant}/{account.name} ({first.path}: {violations[0].reason})")
    warnings = []
    if stranded:
        warnings.append(
            f"spec.tenancy: {len(stranded)} existing SpinnakerAccount(s) no longer meet these rules: "
            f"{listed(stranded)}; they report the refusal in status.conditions and spinop stops maintaining them "
            "until they or the rules change"
        )
    looser = [
        f"{a.tenant}/{a.name}" for a in accounts if check_guardrails(a.spec.guardrails, cluster_name=name, cluster=spec)
    ]
    if looser:
        warnings.append(
            f"spec.tenancy.guardrails: {len(looser)} SpinnakerAccount(s) ask for looser guardrails than these: "
            f"{listed(looser)}; the cluster's stricter values apply to their namespaces"
        )
    return warnings


def decide_cluster(
    operation: str,
    name: str,
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    world: ClusterWorld,
    *,
    reserved: Collection[str],
) -> Verdict:
    """Admit a valid SpinnakerCluster, warning about what will not work yet.

    A missing kubeconfig Secret is a warning, not a refusal: GitOps tools apply objects in their own order and
    the Secret often comes from another tool (sealed-secrets, external-secrets). Tightening the tenancy rules is
    an admin's right; the accounts it strands are named in a warning.
    """
    errors = schema_errors(operation, new, old)
    if errors:
        return refuse(Reason.Invalid, errors, INVALID)
    model, _ = validate_resource(new)
    assert isinstance(model, SpinnakerCluster)
    warnings = _secret_warnings(model.spec, world.secret) + _stranded_warning(
        name, model.spec, world.accounts, reserved
    )
    return Verdict(warnings=tuple(warnings))


# ----------------------------------------------------------------------------------------------- SpinnakerPipeline


def decide_pipeline_schema(operation: str, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> Verdict:
    errors = schema_errors(operation, new, old)
    return refuse(Reason.Invalid, errors, INVALID) if errors else ADMIT


def unavailable(what: str, failure_policy: str, detail: str) -> Verdict:
    """The webhook could not read what it needs: the same answer as a webhook that is down, by failure policy."""
    if failure_policy == "Fail":
        return refuse(
            Reason.AdmissionUnavailable,
            [FieldError("", f"spinop cannot check {what} right now ({detail}); try again shortly")],
            UNAVAILABLE,
        )
    return Verdict(
        warnings=(f"spinop could not check {what} now ({detail}); the operator checks it when it reconciles",)
    )
