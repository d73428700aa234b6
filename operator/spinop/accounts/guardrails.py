"""The guardrails of an account's namespace: the cluster's policy tightened by the account, and the account's
GuardrailsApplied condition (`controllers.guardrails` rolls a cluster's change out to every tenant namespace)."""

from __future__ import annotations

from spinop.api.labels import CREATED_NAMESPACE, OWNER
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.kube.status import ConditionUpdate
from spinop.remote.guardrails import describe, effective_guardrails
from spinop.remote.plan import DesiredRemote, GuardrailObjects, ObservedRemote
from spinop.tenancy import check_guardrails

CONDITION = "GuardrailsApplied"
"""The condition type, on SpinnakerAccounts (this namespace) and SpinnakerClusters (the rollout to all of them)."""


def account_guardrails(
    cluster: SpinnakerClusterSpec, spec: SpinnakerAccountSpec
) -> tuple[dict[str, str], GuardrailObjects]:
    """Namespace labels and guardrail objects for an account's namespace: the cluster's policy, tightened where the
    account asks (a looser override is ignored: the stricter value always applies)."""
    return effective_guardrails(cluster.tenancy.guardrails, spec.guardrails)


def guardrails_condition(
    desired: DesiredRemote, observed: ObservedRemote, spec: SpinnakerAccountSpec, cluster: SpinnakerClusterSpec
) -> ConditionUpdate:
    """The account's GuardrailsApplied condition, from its namespace as observed after provisioning."""
    looser = check_guardrails(spec.guardrails, cluster_name=desired.owner.cluster, cluster=cluster)
    overrides = spec.guardrails is not None
    ns, cluster_name = desired.namespace, desired.owner.cluster
    annotations = ((observed.namespace or {}).get("metadata") or {}).get("annotations") or {}
    created_by = annotations.get(CREATED_NAMESPACE)
    if created_by is None:
        return ConditionUpdate(
            CONDITION,
            "False",
            Reason.NamespaceNotCreatedBySpinop,
            f"namespace {ns} on cluster {cluster_name} existed before spinop, so spinop leaves its labels, quotas, "
            f"limits and network policies to its owner: SpinnakerCluster {cluster_name}'s guardrails are not "
            "enforced there. To have them, use a namespace that spinop creates.",
        )
    if created_by != desired.owner.uid:
        creator = annotations.get(OWNER, "another SpinnakerAccount")
        return ConditionUpdate(
            CONDITION,
            "True",
            Reason.MaintainedByNamespaceCreator,
            f"namespace {ns} was created for SpinnakerAccount {creator}, which keeps its guardrails"
            + ("; this account's spec.guardrails do not apply there" if overrides else ""),
        )
    held = describe(desired.namespace_labels, desired.guardrails or GuardrailObjects())
    if looser:
        return ConditionUpdate(
            CONDITION,
            "False",
            Reason.LooserThanCluster,
            "; ".join(str(e) for e in looser) + f". The cluster's stricter values apply instead: {held}.",
        )
    return ConditionUpdate(CONDITION, "True", Reason.Applied, f"namespace {ns} holds {held}")
