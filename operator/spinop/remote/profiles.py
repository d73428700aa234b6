"""RBAC profiles a tenant account can pick, and the Spinnaker kinds each one lets clouddriver use.

`deployer` is what clouddriver needs to cache and deploy in one namespace (contracts/accounts-and-rbac.md §3): full
verbs on the workload kinds it deploys, read on what it only caches, `get` on its own Namespace object (a Role in
that namespace can grant it), and nothing cluster-scoped: no ClusterRole, no RBAC objects, no tokens, no exec, and no
write to the namespace's guardrails (NetworkPolicies, quotas, limits) so a tenant cannot loosen its own isolation.
`readonly` can read what clouddriver caches, without Secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinop.api.v1alpha1 import Profile

__all__ = ["Profile", "Rule", "kinds_for", "rules_for"]


@dataclass(frozen=True)
class Rule:
    """A namespaced RBAC PolicyRule."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def to_k8s(self) -> dict[str, list[str]]:
        rule = {"apiGroups": list(self.api_groups), "resources": list(self.resources), "verbs": list(self.verbs)}
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule


READ = ("get", "list", "watch")
WRITE = ("create", "delete", "get", "list", "patch", "update", "watch")

# Workload kinds a tenant deploys through Spinnaker.
_DEPLOYABLE: tuple[Rule, ...] = (
    Rule(("",), ("configmaps", "persistentvolumeclaims", "pods", "secrets", "services"), WRITE),
    Rule(("apps",), ("daemonsets", "deployments", "replicasets", "statefulsets"), WRITE),
    Rule(("autoscaling",), ("horizontalpodautoscalers",), WRITE),
    Rule(("batch",), ("cronjobs", "jobs"), WRITE),
    Rule(("networking.k8s.io",), ("ingresses",), WRITE),
    Rule(("policy",), ("poddisruptionbudgets",), WRITE),
)
# What clouddriver reads to show and wait on those workloads.
_OBSERVED: tuple[Rule, ...] = (
    Rule(("",), ("events", "serviceaccounts"), READ),
    Rule(("",), ("pods/log",), ("get", "list")),
    Rule(("apps",), ("controllerrevisions",), READ),
    Rule(("apps",), ("deployments/scale", "replicasets/scale", "statefulsets/scale"), ("get", "patch", "update")),
)
_READONLY: tuple[Rule, ...] = (
    Rule(("",), ("configmaps", "events", "persistentvolumeclaims", "pods", "serviceaccounts", "services"), READ),
    Rule(("",), ("pods/log",), ("get", "list")),
    Rule(("apps",), ("controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"), READ),
    Rule(("autoscaling",), ("horizontalpodautoscalers",), READ),
    Rule(("batch",), ("cronjobs", "jobs"), READ),
    Rule(("networking.k8s.io",), ("ingresses",), READ),
    Rule(("policy",), ("poddisruptionbudgets",), READ),
)

# Spinnaker (clouddriver) kind names each profile can use; written as the account's `kinds` so clouddriver never
# probes kinds its credentials cannot read (it would drop them until restart, spinnaker#4562).
DEPLOYER_KINDS = (
    "configMap",
    "controllerRevision",
    "cronJob",
    "daemonSet",
    "deployment",
    "event",
    "horizontalpodautoscaler",
    "ingress",
    "job",
    "persistentVolumeClaim",
    "pod",
    "podDisruptionBudget",
    "replicaSet",
    "secret",
    "service",
    "serviceAccount",
    "statefulSet",
)
READONLY_KINDS = tuple(kind for kind in DEPLOYER_KINDS if kind != "secret")


def namespace_rule(namespace: str) -> Rule:
    # A Role in namespace N may grant `get` on the Namespace object N itself (the request's namespace is its name).
    return Rule(("",), ("namespaces",), ("get",), (namespace,))


def rules_for(profile: Profile, namespace: str, extra: tuple[Rule, ...] = ()) -> list[Rule]:
    base = _DEPLOYABLE + _OBSERVED if profile is Profile.DEPLOYER else _READONLY
    return [*base, namespace_rule(namespace), *extra]


def kinds_for(profile: Profile) -> list[str]:
    return list(DEPLOYER_KINDS if profile is Profile.DEPLOYER else READONLY_KINDS)
