"""The guardrails one tenant namespace gets: the cluster's policy tightened by the account, as Kubernetes objects.

Pure. `effective_guardrails` merges SpinnakerCluster `spec.tenancy.guardrails` with SpinnakerAccount
`spec.guardrails`, always keeping the stricter value, so an account can never loosen what the cluster sets even when
admission was bypassed. The result is the namespace's Pod Security labels plus the specs of the ResourceQuota,
LimitRange and NetworkPolicy named `spinop-guardrails` (`remote.plan` renders and plans them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinop.api.labels import INGRESS_HOSTS_ANNOTATION
from spinop.api.v1alpha1 import (
    AccountGuardrails,
    CidrBlock,
    Guardrails,
    LabelSelector,
    LimitRangePolicy,
    NetworkPolicyGuardrail,
    PodSecurityLevel,
    parse_quantity,
)
from spinop.remote.plan import GuardrailObjects

POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"
SYSTEM_NAMESPACE_LABEL = {"kubernetes.io/metadata.name": "kube-system"}


def pod_security_labels(policy: Guardrails, override: AccountGuardrails | None = None) -> dict[str, str]:
    """`pod-security.kubernetes.io/<mode>` and `<mode>-version` for enforce, warn and audit."""
    levels = policy.pod_security.levels()
    if override is not None and override.pod_security is not None:
        for mode, level in override.pod_security.levels().items():
            if level.strictness > levels[mode].strictness:
                levels[mode] = level
    labels: dict[str, str] = {}
    for mode, level in levels.items():
        labels[f"{POD_SECURITY_PREFIX}{mode}"] = PodSecurityLevel(level).value
        labels[f"{POD_SECURITY_PREFIX}{mode}-version"] = policy.pod_security.version
    return labels


def quota_hard(policy: Guardrails, override: AccountGuardrails | None = None) -> dict[str, str] | None:
    """The cluster's hard limits, each lowered where the account asks for less; resources only the account limits
    are added."""
    hard = dict(policy.resource_quota.hard) if policy.resource_quota else {}
    if override is not None and override.resource_quota is not None:
        for key, value in override.resource_quota.hard.items():
            if key not in hard or parse_quantity(value) < parse_quantity(hard[key]):
                hard[key] = value
    return hard or None


def limit_range_spec(policy: LimitRangePolicy) -> dict[str, Any]:
    """One Container item, defaulted as the apiserver defaults it (max → default → defaultRequest, min →
    defaultRequest), so the stored object compares equal to what spinop renders."""
    default = dict(policy.default or {})
    default_request = dict(policy.default_request or {})
    for key, value in (policy.max or {}).items():
        default.setdefault(key, value)
    for key, value in default.items():
        default_request.setdefault(key, value)
    for key, value in (policy.min or {}).items():
        default_request.setdefault(key, value)
    item: dict[str, Any] = {"type": "Container"}
    for name, values in (
        ("default", default),
        ("defaultRequest", default_request),
        ("max", policy.max),
        ("min", policy.min),
    ):
        if values:
            item[name] = dict(values)
    return {"limits": [item]}


def _selector(selector: LabelSelector) -> dict[str, Any]:
    dumped: dict[str, Any] = selector.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _ip_block(block: CidrBlock) -> dict[str, Any]:
    out: dict[str, Any] = {"cidr": block.cidr}
    if block.except_:
        out["except"] = list(block.except_)
    return out


def network_policy_spec(policy: NetworkPolicyGuardrail) -> dict[str, Any]:
    """Deny all ingress and egress of every Pod in the namespace, then allow what the policy lists (all ports)."""
    same: list[dict[str, Any]] = [{"podSelector": {}}] if policy.allow_same_namespace else []
    sources = [
        *same,
        *({"namespaceSelector": _selector(s)} for s in policy.ingress_from_namespaces or ()),
        *({"ipBlock": _ip_block(b)} for b in policy.ingress_from_cidrs or ()),
    ]
    destinations = [
        *same,
        *({"namespaceSelector": _selector(s)} for s in policy.egress_to_namespaces or ()),
        *({"ipBlock": _ip_block(b)} for b in policy.egress_to_cidrs or ()),
    ]
    egress: list[dict[str, Any]] = [{"to": destinations}] if destinations else []
    if policy.allow_dns:
        egress.append(
            {
                "to": [{"namespaceSelector": {"matchLabels": dict(SYSTEM_NAMESPACE_LABEL)}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        )
    return {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": sources}] if sources else [],
        "egress": egress,
    }


def effective_guardrails(
    policy: Guardrails, override: AccountGuardrails | None = None
) -> tuple[dict[str, str], GuardrailObjects]:
    """The namespace labels and guardrail objects for one tenant namespace."""
    hard = quota_hard(policy, override)
    limits = policy.limit_range
    return pod_security_labels(policy, override), GuardrailObjects(
        resource_quota={"hard": hard} if hard else None,
        limit_range=limit_range_spec(limits) if limits is not None and not limits.is_empty() else None,
        network_policy=network_policy_spec(policy.network_policy) if policy.network_policy is not None else None,
    )


def namespace_annotations(policy: Guardrails, tenant: str) -> dict[str, str]:
    """Guardrail annotations of a tenant namespace: the Ingress host suffixes of its tenant, when the policy limits
    them."""
    if policy.ingress is None:
        return {}
    return {INGRESS_HOSTS_ANNOTATION: ",".join(policy.ingress.suffixes_for(tenant))}


def describe(labels: Mapping[str, str], objects: GuardrailObjects) -> str:
    """One line for a condition message: what the namespace holds."""
    levels = ", ".join(
        f"{mode} {labels[POD_SECURITY_PREFIX + mode]}"
        for mode in ("enforce", "warn", "audit")
        if POD_SECURITY_PREFIX + mode in labels
    )
    version = labels.get(f"{POD_SECURITY_PREFIX}enforce-version", "latest")
    parts = [f"Pod Security {levels} (version {version})"]
    kinds = [
        kind
        for kind, spec in (
            ("ResourceQuota", objects.resource_quota),
            ("LimitRange", objects.limit_range),
            ("NetworkPolicy", objects.network_policy),
        )
        if spec is not None
    ]
    if kinds:
        parts.append(f"{', '.join(kinds)} spinop-guardrails")
    return "; ".join(parts)
