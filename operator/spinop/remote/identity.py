"""Is the admin kubeconfig a SpinnakerCluster gives spinop more powerful than spinop's remote identity needs?

deploy/remote grants exactly what spinop does on a remote cluster (`REMOTE_IDENTITY_RULES`, the ClusterRole
spinop-remote; tests/unit/deploy/test_deploy_manifests.py keeps the two equal). A kubeconfig of a cluster admin
works too, but then a compromise of spinop (or of the Secret) is a compromise of the cluster; the cluster probe says
so with the condition CredentialsTooPowerful. One SelfSubjectRulesReview per probe, in a namespace spinop never
provisions into.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient

from spinop.kube.clients import call
from spinop.remote.access import PROBE_NAMESPACE, AccessCheck, ResourceRule, grants_beyond

_CORE, _RBAC, _NET, _ADM = "", "rbac.authorization.k8s.io", "networking.k8s.io", "admissionregistration.k8s.io"
GUARDRAILS = ("spinop-guardrails",)

#: deploy/remote/clusterrole.yaml, rule by rule.
REMOTE_IDENTITY_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(("get", "create", "patch", "delete"), (_CORE,), ("namespaces",)),
    ResourceRule(("get", "list", "watch", "create", "patch", "delete"), (_CORE,), ("serviceaccounts",)),
    ResourceRule(("create",), (_CORE,), ("serviceaccounts/token",)),
    ResourceRule(("get", "list", "create", "delete"), (_CORE,), ("secrets",)),
    ResourceRule(("get", "list", "watch", "create", "patch", "delete", "escalate", "bind"), (_RBAC,), ("roles",)),
    ResourceRule(("get", "list", "watch", "create", "patch", "delete"), (_RBAC,), ("rolebindings",)),
    ResourceRule(("create",), (_CORE,), ("resourcequotas", "limitranges")),
    ResourceRule(("get", "patch", "delete"), (_CORE,), ("resourcequotas", "limitranges"), GUARDRAILS),
    ResourceRule(("create",), (_NET,), ("networkpolicies",)),
    ResourceRule(("get", "patch", "delete"), (_NET,), ("networkpolicies",), GUARDRAILS),
    ResourceRule(
        ("get",),
        (_ADM,),
        ("validatingadmissionpolicies", "validatingadmissionpolicybindings"),
        ("spinop-remote-limits", "spinop-tenant-limits"),
    ),
)


def beyond_remote_identity(api: ApiClient, namespace: str = PROBE_NAMESPACE) -> tuple[AccessCheck, ...]:
    """What the client's identity may do in `namespace` (including everything cluster-wide) that deploy/remote
    does not grant spinop."""
    granted, _incomplete = rules_review(k8s.AuthorizationV1Api(api), namespace)
    return grants_beyond(granted, REMOTE_IDENTITY_RULES, namespace)


def rules_review(api: k8s.AuthorizationV1Api, namespace: str) -> tuple[list[ResourceRule], bool]:
    """What the client's identity may do in `namespace` (with everything cluster-wide), as the cluster's
    SelfSubjectRulesReview lists it, and whether that list is incomplete (an authorizer that cannot list rules)."""
    review = call(
        api.create_self_subject_rules_review,
        k8s.V1SelfSubjectRulesReview(spec=k8s.V1SelfSubjectRulesReviewSpec(namespace=namespace)),
    )
    rules = [
        ResourceRule(
            verbs=tuple(r.verbs or ()),
            api_groups=tuple(r.api_groups or ()),
            resources=tuple(r.resources or ()),
            resource_names=tuple(r.resource_names or ()),
        )
        for r in review.status.resource_rules or []
    ]
    return rules, bool(review.status.incomplete)


ROLE_LIMITS_POLICY = "spinop-remote-roles"  # deploy/remote/role-policy.yaml


def extra_rules_expression(rules: Iterable[Mapping[str, Any]]) -> str:
    """The CEL map for spinop-remote-roles' variable `extra` that lets spinop write `rules` (a SpinnakerCluster's
    spec.tenancy.allowedExtraRules) into tenant Roles: resource (core group) or resource.group -> verbs."""
    verbs: dict[str, set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                verbs.setdefault(resource if group == "" else f"{resource}.{group}", set()).update(
                    rule.get("verbs") or ()
                )
    entries = ", ".join(f"'{key}': '{' '.join(sorted(values))}'" for key, values in sorted(verbs.items()))
    return "{" + entries + "}"


def allow_extra_rules(objects: Iterable[dict[str, Any]], rules: Iterable[Mapping[str, Any]]) -> None:
    """Set the extra rules in a rendering of deploy/remote, as a platform admin's kustomize patch would."""
    for obj in objects:
        if obj.get("kind") == "ValidatingAdmissionPolicy" and obj["metadata"]["name"] == ROLE_LIMITS_POLICY:
            for variable in obj["spec"]["variables"]:
                if variable["name"] == "extra":
                    variable["expression"] = extra_rules_expression(rules)
