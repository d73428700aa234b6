"""An account's namespace guardrails: the cluster's policy tightened by the account, and its GuardrailsApplied
condition."""

from __future__ import annotations

from typing import Any

import pytest

from spinop.accounts import account_guardrails, guardrails_condition
from spinop.api.labels import CREATED_NAMESPACE, OWNER
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.remote.plan import DesiredRemote, ObservedRemote, Owner

CLUSTER = "dev"


def cluster_spec(**guardrails: Any) -> SpinnakerClusterSpec:
    return SpinnakerClusterSpec.model_validate(
        {"kubeconfigSecretRef": {"name": "k"}, "environment": "dev", "tenancy": {"guardrails": guardrails}}
    )


def desired_for(spec: SpinnakerAccountSpec, cluster: SpinnakerClusterSpec) -> DesiredRemote:
    labels, objects = account_guardrails(cluster, spec)
    owner = Owner(CLUSTER, "team-a", "web", "uid-web", "dev-web")
    return DesiredRemote(owner, spec.namespace, spec.profile, namespace_labels=labels, guardrails=objects)


def namespace(annotations: dict[str, str]) -> ObservedRemote:
    return ObservedRemote(namespace={"metadata": {"name": "team-a-dev", "annotations": annotations}})


@pytest.mark.parametrize(
    ("annotations", "override", "status", "reason", "words"),
    [
        ({CREATED_NAMESPACE: "uid-web"}, None, "True", "Applied", "holds Pod Security enforce restricted"),
        ({}, None, "False", "NamespaceNotCreatedBySpinop", "existed before spinop"),
        (
            {CREATED_NAMESPACE: "uid-api", OWNER: "team-a/api"},
            {"resourceQuota": {"hard": {"pods": "1"}}},
            "True",
            "MaintainedByNamespaceCreator",
            "team-a/api, which keeps its guardrails; this account's spec.guardrails do not apply",
        ),
        (
            {CREATED_NAMESPACE: "uid-web"},
            {"resourceQuota": {"hard": {"pods": "11"}}},
            "False",
            "LooserThanCluster",
            "spec.guardrails.resourceQuota.hard[pods]: 11 is more than",
        ),
    ],
    ids=["applied", "foreign-namespace", "shared-namespace", "looser-override"],
)
def test_the_account_condition_says_whether_its_namespace_holds_the_guardrails(
    annotations: dict[str, str], override: dict[str, Any] | None, status: str, reason: str, words: str
) -> None:
    cluster = cluster_spec(resourceQuota={"hard": {"pods": "10"}})
    spec = SpinnakerAccountSpec.model_validate({"cluster": CLUSTER, "namespace": "team-a-dev", "guardrails": override})
    condition = guardrails_condition(desired_for(spec, cluster), namespace(annotations), spec, cluster)
    assert (condition.type, condition.status, condition.reason) == ("GuardrailsApplied", status, reason)
    assert words in condition.message
    if reason == "LooserThanCluster":
        assert "The cluster's stricter values apply instead" in condition.message
