"""Guardrails in the remote planner: the effective policy, the objects it renders, and desired + observed → actions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from spinop.api.labels import CREATED_NAMESPACE, INGRESS_HOSTS_ANNOTATION, MANAGED_BY, OWNER_UID, TENANT
from spinop.api.v1alpha1 import AccountGuardrails, Guardrails
from spinop.api.v1alpha1.guardrails import DEFAULT_QUOTA
from spinop.remote.guardrails import (
    describe,
    effective_guardrails,
    limit_range_spec,
    namespace_annotations,
    network_policy_spec,
    pod_security_labels,
    quota_hard,
)
from spinop.remote.plan import (
    GUARDRAILS,
    Action,
    DesiredRemote,
    GuardrailObjects,
    ObservedRemote,
    Owner,
    RemotePlan,
    plan_namespace_guardrails,
    plan_remote,
    plan_teardown,
    render_guardrail,
    render_namespace,
    render_role,
    render_role_binding,
    render_service_account,
)
from spinop.remote.profiles import Profile

ME = Owner(cluster="dev", mgmt_namespace="team-a", name="web", uid="uid-web", account_name="dev-web")
OTHER = Owner(cluster="dev", mgmt_namespace="team-a", name="api", uid="uid-api", account_name="dev-api")
NS = "team-a-dev"
GUARDRAIL_KINDS = ("ResourceQuota", "LimitRange", "NetworkPolicy")
POLICY: dict[str, Any] = {
    "podSecurity": {"enforce": "baseline", "warn": "restricted", "version": "v1.36"},
    "resourceQuota": {"hard": {"pods": "20", "requests.cpu": "4", "limits.memory": "8Gi"}},
    "limitRange": {"defaultRequest": {"cpu": "100m"}, "max": {"cpu": "2", "memory": "1Gi"}},
    "networkPolicy": {
        "ingressFromNamespaces": [{"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}],
        "egressToCIDRs": [{"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}],
    },
}


def policy(**changes: Any) -> Guardrails:
    return Guardrails.model_validate({**POLICY, **changes})


def desired(owner: Owner = ME, guardrails: Guardrails | None = None, **override: Any) -> DesiredRemote:
    labels, objects = effective_guardrails(guardrails or policy(), AccountGuardrails.model_validate(override))
    return DesiredRemote(
        owner=owner, namespace=NS, profile=Profile.DEPLOYER, namespace_labels=labels, guardrails=objects
    )


def live(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].update({"uid": "server-uid", "resourceVersion": "7"})
    out.update(fields)
    return out


def converged(d: DesiredRemote) -> ObservedRemote:
    return ObservedRemote(
        namespace=live(render_namespace(d), status={"phase": "Active"}),
        service_account=live(render_service_account(d)),
        role=live(render_role(d)),
        role_binding=live(render_role_binding(d)),
        **{field: live(obj) for field, obj in guardrail_objects(d).items() if obj is not None},
    )


def guardrail_objects(d: DesiredRemote) -> dict[str, dict[str, Any] | None]:
    return {
        "resource_quota": render_guardrail(d, "ResourceQuota"),
        "limit_range": render_guardrail(d, "LimitRange"),
        "network_policy": render_guardrail(d, "NetworkPolicy"),
    }


def guardrail_actions(plan: RemotePlan) -> list[Action]:
    return [a for a in plan.actions if a.kind in GUARDRAIL_KINDS]


# ------------------------------------------------------------------------------------------- the effective policy


def test_pod_security_labels_cover_every_mode_and_the_version() -> None:
    assert pod_security_labels(policy()) == {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "v1.36",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "v1.36",
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/audit-version": "v1.36",
    }


def test_an_account_can_only_make_pod_security_stricter() -> None:
    tighter = AccountGuardrails.model_validate({"podSecurity": {"enforce": "restricted", "warn": "baseline"}})
    labels = pod_security_labels(policy(), tighter)
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"  # baseline would loosen: ignored
    looser = AccountGuardrails.model_validate({"podSecurity": {"enforce": "privileged"}})
    assert pod_security_labels(policy(), looser) == pod_security_labels(policy())


def test_quota_takes_the_lower_value_per_resource_and_adds_what_only_the_account_limits() -> None:
    account = AccountGuardrails.model_validate(
        {"resourceQuota": {"hard": {"pods": "5", "requests.cpu": "8", "limits.memory": "8192Mi", "services": "2"}}}
    )
    assert quota_hard(policy(), account) == {
        "pods": "5",
        "requests.cpu": "4",  # 8 would loosen
        "limits.memory": "8Gi",  # equal by value: the cluster's spelling stays
        "services": "2",
    }
    # Without a quota of its own the cluster's policy is the default one, tightened the same way.
    assert quota_hard(Guardrails()) == DEFAULT_QUOTA
    assert quota_hard(Guardrails(), account) == {**DEFAULT_QUOTA, **account.resource_quota.hard}  # type: ignore[union-attr]


def test_limit_range_is_rendered_defaulted_as_the_apiserver_stores_it() -> None:
    spec = limit_range_spec(policy().limit_range)  # type: ignore[arg-type]
    assert spec == {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "2", "memory": "1Gi"},  # from max
                "defaultRequest": {"cpu": "100m", "memory": "1Gi"},  # memory from default
                "max": {"cpu": "2", "memory": "1Gi"},
            }
        ]
    }
    with_min = Guardrails.model_validate({"limitRange": {"min": {"cpu": "10m"}}}).limit_range
    assert limit_range_spec(with_min)["limits"][0]["defaultRequest"] == {"cpu": "10m"}  # type: ignore[arg-type]


def test_network_policy_denies_everything_but_what_is_listed() -> None:
    spec = network_policy_spec(policy().network_policy)  # type: ignore[arg-type]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from": [
                {"podSelector": {}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
            ]
        }
    ]
    assert spec["egress"] == [
        {"to": [{"podSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]},
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ]
    closed = Guardrails.model_validate({"networkPolicy": {"allowSameNamespace": False, "allowDNS": False}})
    assert network_policy_spec(closed.network_policy) == {  # type: ignore[arg-type]
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }


def test_pod_security_and_a_quota_by_default() -> None:
    labels, objects = effective_guardrails(Guardrails())
    assert objects == GuardrailObjects(resource_quota={"hard": DEFAULT_QUOTA})
    assert DEFAULT_QUOTA["services.nodeports"] == "0"
    assert set(labels.values()) == {"restricted", "latest"}
    assert (
        describe(labels, objects)
        == "Pod Security enforce restricted, warn restricted, audit restricted (version latest); "
        "ResourceQuota spinop-guardrails"
    )


# ------------------------------------------------------------------------------------------------------- planning


def test_a_new_namespace_is_created_with_its_labels_and_then_gets_every_guardrail() -> None:
    d = desired()
    plan = plan_remote(d, ObservedRemote())
    assert plan.actions[0].kind == "Namespace" and plan.actions[0].body is not None
    assert plan.actions[0].body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    actions = guardrail_actions(plan)
    assert [(a.verb, a.kind, a.name, a.namespace) for a in actions] == [
        ("create", kind, GUARDRAILS, NS) for kind in GUARDRAIL_KINDS
    ]
    quota = actions[0].body
    assert (
        quota is not None and quota["apiVersion"] == "v1" and quota["spec"] == {"hard": POLICY["resourceQuota"]["hard"]}
    )
    assert quota["metadata"]["labels"] == {MANAGED_BY: "spinop", OWNER_UID: "uid-web", TENANT: "team-a"}
    assert actions[2].body is not None and actions[2].body["apiVersion"] == "networking.k8s.io/v1"


def test_nothing_to_do_when_the_namespace_holds_its_guardrails_as_the_apiserver_stores_them() -> None:
    d = desired()
    observed = converged(d)
    assert observed.resource_quota and observed.limit_range and observed.network_policy
    # The apiserver canonicalizes quantities, omits empty lists and sets defaults; none of that is drift.
    observed.resource_quota["spec"]["hard"] = {"pods": "20", "requests.cpu": "4000m", "limits.memory": "8192Mi"}
    observed.resource_quota["status"] = {"hard": {"pods": "20"}, "used": {"pods": "3"}}
    observed.limit_range["spec"]["limits"][0]["max"] = {"cpu": "2000m", "memory": "1024Mi"}
    observed.network_policy["spec"]["egress"][1]["ports"] = [{"protocol": "UDP", "port": 53}, {"port": 53}]
    assert plan_remote(d, observed).actions == ()
    closed = desired(guardrails=policy(networkPolicy={"allowSameNamespace": False, "allowDNS": False}))
    observed = converged(closed)
    assert observed.network_policy is not None
    del observed.network_policy["spec"]["ingress"], observed.network_policy["spec"]["egress"]
    assert plan_remote(closed, observed).actions == ()


@pytest.mark.parametrize("field", ["resource_quota", "limit_range", "network_policy"])
def test_a_deleted_guardrail_is_created_again(field: str) -> None:
    d = desired()
    observed = converged(d)
    setattr(observed, field, None)
    (action,) = guardrail_actions(plan_remote(d, observed))
    assert action.verb == "create" and action.body == render_guardrail(d, action.kind)


def test_an_edited_quota_is_patched_back_exactly() -> None:
    d = desired()
    observed = converged(d)
    assert observed.resource_quota is not None
    observed.resource_quota["spec"]["hard"] = {"pods": "1000", "requests.cpu": "4", "secrets": "1"}
    observed.resource_quota["spec"]["scopes"] = ["BestEffort"]
    (action,) = guardrail_actions(plan_remote(d, observed))
    assert (action.verb, action.kind, action.name) == ("patch", "ResourceQuota", GUARDRAILS)
    # A merge patch: our values set, keys someone added removed (null), nothing else touched.
    assert action.body == {
        "spec": {
            "scopes": None,
            "hard": {"secrets": None, "pods": "20", "requests.cpu": "4", "limits.memory": "8Gi"},
        }
    }
    assert "differ" in action.why


def test_a_loosened_network_policy_is_patched_whole() -> None:
    d = desired()
    observed = converged(d)
    assert observed.network_policy is not None
    observed.network_policy["spec"]["podSelector"] = {"matchLabels": {"app": "nothing"}}
    observed.network_policy["spec"]["ingress"] = [{}]
    (action,) = guardrail_actions(plan_remote(d, observed))
    assert action.body is not None
    spec = action.body["spec"]
    assert spec["podSelector"] == {"matchLabels": None}
    assert spec["ingress"] == render_guardrail(d, "NetworkPolicy")["spec"]["ingress"]  # type: ignore[index]


def test_removed_labels_on_a_guardrail_are_restored_without_touching_its_spec() -> None:
    d = desired()
    observed = converged(d)
    assert observed.limit_range is not None
    observed.limit_range["metadata"]["labels"] = {}
    (action,) = guardrail_actions(plan_remote(d, observed))
    assert action.body == {"metadata": {"labels": {MANAGED_BY: "spinop", OWNER_UID: "uid-web", TENANT: "team-a"}}}
    assert "labels" in action.why


def test_relabelled_pod_security_is_restored_on_the_namespace() -> None:
    d = desired()
    observed = converged(d)
    assert observed.namespace is not None
    observed.namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    (action,) = [a for a in plan_remote(d, observed).actions if a.kind == "Namespace"]
    assert action.body == {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}


def test_guardrails_dropped_from_the_policy_are_deleted_if_spinop_made_them() -> None:
    d = desired(guardrails=policy(networkPolicy=None, limitRange=None))
    observed = converged(desired())
    assert observed.limit_range is not None
    observed.limit_range["metadata"]["labels"] = {}  # someone else's object of that name: left alone
    actions = guardrail_actions(plan_remote(d, observed))
    assert [(a.verb, a.kind) for a in actions] == [("delete", "NetworkPolicy")]


def test_no_guardrails_in_a_namespace_spinop_did_not_create_or_another_account_created() -> None:
    d = desired()
    existing = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"team": "a"}}}
    plan = plan_remote(d, ObservedRemote(namespace=existing))
    assert guardrail_actions(plan) == [] and [a for a in plan.actions if a.kind == "Namespace"] == []
    theirs = ObservedRemote(namespace=live(render_namespace(desired(OTHER)), status={"phase": "Active"}))
    assert guardrail_actions(plan_remote(d, theirs, allow_sharing=True)) == []


def test_without_desired_guardrails_nothing_about_them_is_planned() -> None:
    d = desired()
    bare = DesiredRemote(owner=ME, namespace=NS, profile=Profile.DEPLOYER)
    observed = converged(d)
    assert guardrail_actions(plan_remote(bare, observed)) == []
    # Deleting an account (even with its namespace) never removes guardrails one by one.
    teardown = plan_teardown(bare, observed, delete_namespace=False, namespace_used_by_others=False)
    assert guardrail_actions(teardown) == []


# ------------------------------------------------------------------------------------------ the rollout's planner


def test_the_rollout_plans_only_labels_and_guardrail_objects() -> None:
    d = desired()
    observed = converged(desired(guardrails=Guardrails()))  # the namespace as an older policy left it
    plan = plan_namespace_guardrails(d, observed)
    assert [(a.verb, a.kind) for a in plan.actions] == [
        ("patch", "Namespace"),
        ("patch", "ResourceQuota"),  # the default quota becomes the policy's
        ("create", "LimitRange"),
        ("create", "NetworkPolicy"),
    ]
    assert plan.actions[0].body is not None
    assert plan.actions[0].body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert plan_namespace_guardrails(d, converged(d)).actions == ()


@pytest.mark.parametrize(
    "namespace",
    [
        None,
        {"metadata": {"name": NS, "annotations": {CREATED_NAMESPACE: "uid-web"}}, "status": {"phase": "Terminating"}},
        {"metadata": {"name": NS}},
        {"metadata": {"name": NS, "annotations": {CREATED_NAMESPACE: "uid-api"}}},
    ],
    ids=["missing", "terminating", "not-created-by-spinop", "created-by-another-account"],
)
def test_the_rollout_leaves_namespaces_it_may_not_touch(namespace: dict[str, Any] | None) -> None:
    assert plan_namespace_guardrails(desired(), ObservedRemote(namespace=namespace)).actions == ()


# ------------------------------------------------------------------------------------------------- Ingress hosts


def test_ingress_host_suffixes_are_written_per_tenant_on_the_namespace() -> None:
    policy = Guardrails.model_validate(
        {"ingress": {"allowedHostSuffixes": ["{tenant}.apps.example.com", "shared.example.com"]}}
    )
    assert namespace_annotations(policy, "team-a") == {
        INGRESS_HOSTS_ANNOTATION: "team-a.apps.example.com,shared.example.com"
    }
    assert namespace_annotations(Guardrails(), "team-a") == {}
    d = DesiredRemote(
        owner=ME, namespace=NS, profile=Profile.DEPLOYER, namespace_annotations=namespace_annotations(policy, "team-a")
    )
    assert render_namespace(d)["metadata"]["annotations"][INGRESS_HOSTS_ANNOTATION].startswith("team-a.")


@pytest.mark.parametrize(
    "suffix", ["*.example.com", "example", "{tenant}", "a.{tenant}.com", "EXAMPLE.com", "ex ample.com", ".example.com"]
)
def test_a_host_suffix_must_be_a_dns_name_with_tenant_only_as_its_first_label(suffix: str) -> None:
    with pytest.raises(ValueError, match="allowedHostSuffixes"):
        Guardrails.model_validate({"ingress": {"allowedHostSuffixes": [suffix]}})
