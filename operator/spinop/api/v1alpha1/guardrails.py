"""Tenant namespace guardrails: Pod Security, a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.

A SpinnakerCluster's `spec.tenancy.guardrails` is the policy for every tenant namespace spinop creates on that
cluster; a SpinnakerAccount's `spec.guardrails` may only tighten it (`spinop.tenancy.check_guardrails`). What the
objects look like on the remote cluster is `spinop.remote.guardrails`; docs/guardrails.md explains the whole.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from spinop.api.v1alpha1.common import CelRule, SpecModel, cel, field_error
from spinop.api.v1alpha1.selectors import LabelSelector

# ---------------------------------------------------------------------------------------------------------------------
# Quantities and resource lists

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
RESOURCE_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
MAX_RESOURCES = 32

Quantity = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=QUANTITY_PATTERN)]
"""A Kubernetes quantity without sign, e.g. 500m, 2, 1.5, 512Mi, 10Gi, 1e3."""

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{f"{p}i": Decimal(1024) ** (i + 1) for i, p in enumerate("KMGTPE")},
}


def parse_quantity(value: str) -> Decimal:
    """The value of a quantity (`500m` → 0.5, `1Gi` → 1073741824), to compare quantities as Kubernetes does."""
    match = re.fullmatch(QUANTITY_PATTERN, value)
    if not match:
        raise ValueError(f"{value!r} is not a quantity like 500m, 2, 512Mi or 10Gi")
    number, suffix = Decimal(match.group(1)), match.group(3) or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIXES[suffix]


_RESOURCE_NAMES_CEL = CelRule(
    rule=f"self.all(k, k.matches('{RESOURCE_NAME_PATTERN}'))",
    message="keys must be Kubernetes resource names such as cpu, memory, pods, requests.cpu, limits.memory or "
    "count/configmaps",
)


def _resource_list(values: dict[str, str]) -> dict[str, str]:
    if len(values) > MAX_RESOURCES:
        raise ValueError(f"at most {MAX_RESOURCES} resources may be listed")
    bad = [key for key in values if not re.fullmatch(RESOURCE_NAME_PATTERN, key)]
    if bad:
        raise ValueError(f"{_RESOURCE_NAMES_CEL.message} (got {', '.join(repr(k) for k in bad)})")
    return values


def _non_empty(values: dict[str, str]) -> dict[str, str]:
    if not values:
        raise ValueError("list at least one resource")
    return values


ResourceList = Annotated[dict[str, Quantity], AfterValidator(_resource_list)]
NonEmptyResourceList = Annotated[dict[str, Quantity], AfterValidator(_resource_list), AfterValidator(_non_empty)]


def resource_list_field(description: str, *, required: bool = False) -> Any:
    """A map of resource name to quantity: keys checked by CEL (a structural schema cannot constrain map keys)."""
    extra: dict[str, Any] = {**cel(_RESOURCE_NAMES_CEL), "maxProperties": MAX_RESOURCES}
    if required:
        return Field(description=description, json_schema_extra={**extra, "minProperties": 1})
    return Field(default=None, description=description, json_schema_extra=extra)


# ---------------------------------------------------------------------------------------------------------------------
# Pod Security


class PodSecurityLevel(StrEnum):
    """Pod Security Standards levels, from least to most strict."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def strictness(self) -> int:
        return list(PodSecurityLevel).index(self)


POD_SECURITY_MODES = ("enforce", "warn", "audit")
POD_SECURITY_VERSION_PATTERN = r"^(latest|v1\.[0-9]{1,3})$"


class PodSecurity(SpecModel):
    """Pod Security Admission labels (pod-security.kubernetes.io/*) on every tenant namespace spinop creates."""

    enforce: PodSecurityLevel = Field(
        default=PodSecurityLevel.RESTRICTED,
        description="Pods that break this Pod Security Standard are refused by the remote kube-apiserver: "
        "restricted (default: non-root, no privilege escalation, dropped capabilities, a seccomp profile), "
        "baseline (no privileged containers, host namespaces or host paths) or privileged (no restriction).",
    )
    warn: PodSecurityLevel | None = Field(
        default=None,
        description="Level whose violations are returned as warnings to the client (kubectl, Spinnaker) without "
        "refusing. Omitted: the same as enforce. A common setting is enforce: baseline, warn: restricted.",
    )
    audit: PodSecurityLevel | None = Field(
        default=None,
        description="Level whose violations are recorded in the remote cluster's audit log. Omitted: the same as "
        "enforce.",
    )
    version: str = Field(
        default="latest",
        min_length=1,
        max_length=8,
        pattern=POD_SECURITY_VERSION_PATTERN,
        description="Pin the Pod Security Standards to those of a Kubernetes minor version, e.g. v1.36, so that a "
        "cluster upgrade does not tighten them unannounced. Default: latest.",
    )

    def levels(self) -> dict[str, PodSecurityLevel]:
        """Level per mode, with warn and audit falling back to enforce."""
        return {"enforce": self.enforce, "warn": self.warn or self.enforce, "audit": self.audit or self.enforce}


class PodSecurityOverride(SpecModel):
    """Stricter Pod Security levels for one account's namespace. Each must be at least as strict as the cluster's."""

    enforce: PodSecurityLevel | None = Field(
        default=None,
        description="Enforce this level instead of the cluster's, if stricter. Omitted: the cluster's.",
    )
    warn: PodSecurityLevel | None = Field(
        default=None, description="Warn at this level instead of the cluster's, if stricter. Omitted: the cluster's."
    )
    audit: PodSecurityLevel | None = Field(
        default=None, description="Audit at this level instead of the cluster's, if stricter. Omitted: the cluster's."
    )

    def levels(self) -> dict[str, PodSecurityLevel]:
        return {
            mode: level
            for mode, level in (("enforce", self.enforce), ("warn", self.warn), ("audit", self.audit))
            if level is not None
        }


# ---------------------------------------------------------------------------------------------------------------------
# ResourceQuota and LimitRange


class ResourceQuotaPolicy(SpecModel):
    """A ResourceQuota named spinop-guardrails in the tenant namespace."""

    hard: NonEmptyResourceList = resource_list_field(
        "Hard limits by resource name, as in a ResourceQuota: e.g. requests.cpu: '4', limits.memory: 8Gi, pods: "
        "'20', count/configmaps: '50', requests.storage: 100Gi. Objects that would exceed one are refused by the "
        "remote kube-apiserver. Note that a quota on requests.* or limits.* makes every Pod declare them (or "
        "get them from limitRange).",
        required=True,
    )


_LIMIT_ORDER = ("min", "defaultRequest", "default", "max")


def _limit_order_rule() -> CelRule:
    pairs = [(a, b) for i, a in enumerate(_LIMIT_ORDER) for b in _LIMIT_ORDER[i + 1 :]]
    checks = " && ".join(
        f"(!has(self.{a}) || !has(self.{b}) || self.{a}.all(k, !(k in self.{b}) || "
        f"quantity(self.{a}[k]).compareTo(quantity(self.{b}[k])) <= 0))"
        for a, b in pairs
    )
    return CelRule(
        rule=checks,
        message="for each resource, limitRange values must be ordered min <= defaultRequest <= default <= max",
    )


_LIMIT_ORDER_CEL = _limit_order_rule()


class LimitRangePolicy(SpecModel):
    """A LimitRange named spinop-guardrails (type Container): defaults and bounds for every container."""

    model_config = ConfigDict(json_schema_extra=cel(_LIMIT_ORDER_CEL))

    default_request: ResourceList | None = resource_list_field(
        "Requests given to containers that declare none, e.g. {cpu: 100m, memory: 128Mi}."
    )
    default: ResourceList | None = resource_list_field(
        "Limits given to containers that declare none, e.g. {cpu: 500m, memory: 512Mi}."
    )
    min: ResourceList | None = resource_list_field("The least a container may request, e.g. {cpu: 10m}.")
    max: ResourceList | None = resource_list_field("The most a container may ask for as a limit, e.g. {memory: 2Gi}.")

    @model_validator(mode="after")
    def _ordered(self) -> LimitRangePolicy:
        values = {
            "min": self.min,
            "defaultRequest": self.default_request,
            "default": self.default,
            "max": self.max,
        }
        for i, low in enumerate(_LIMIT_ORDER):
            for high in _LIMIT_ORDER[i + 1 :]:
                lows, highs = values[low] or {}, values[high] or {}
                for key in lows.keys() & highs.keys():
                    if parse_quantity(lows[key]) > parse_quantity(highs[key]):
                        # Reported at limitRange itself, as the CEL rule is (it spans several fields).
                        raise ValueError(f"{_LIMIT_ORDER_CEL.message} ({key}: {low} {lows[key]} > {high} {highs[key]})")
        return self

    def is_empty(self) -> bool:
        return not (self.default_request or self.default or self.min or self.max)


# ---------------------------------------------------------------------------------------------------------------------
# NetworkPolicy

_CIDR_CEL = CelRule(
    rule="isCIDR(self.cidr) && (!has(self.except) || self.except.all(e, isCIDR(e) && cidr(self.cidr).containsCIDR(e)))",
    message="cidr must be an IP range such as 10.0.0.0/8 or fd00::/8, and every except entry a range inside it",
    field_path=".cidr",
)

CidrString = Annotated[str, StringConstraints(min_length=3, max_length=49)]


def _is_cidr(value: str) -> bool:
    import ipaddress

    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


class CidrBlock(SpecModel):
    """An IP range (NetworkPolicy ipBlock)."""

    model_config = ConfigDict(json_schema_extra=cel(_CIDR_CEL))

    cidr: CidrString = Field(description="The range, e.g. 10.20.0.0/16 or 0.0.0.0/0.")
    except_: list[CidrString] | None = Field(
        default=None,
        alias="except",
        max_length=16,
        description="Ranges inside cidr to leave out, e.g. [169.254.169.254/32] (cloud metadata endpoints).",
    )

    @model_validator(mode="after")
    def _valid_ranges(self) -> CidrBlock:
        import ipaddress

        if not _is_cidr(self.cidr) or not all(_is_cidr(e) for e in self.except_ or ()):
            raise field_error("cidr", _CIDR_CEL.message)
        outer = ipaddress.ip_network(self.cidr, strict=False)
        for entry in self.except_ or ():
            inner = ipaddress.ip_network(entry, strict=False)
            if inner.version != outer.version or not inner.subnet_of(outer):  # type: ignore[arg-type]
                raise field_error("cidr", f"{_CIDR_CEL.message} ({entry} is not inside {self.cidr})")
        return self


def _peers_field(description: str) -> Any:
    return Field(default=None, max_length=16, description=description)


class NetworkPolicyGuardrail(SpecModel):
    """A NetworkPolicy named spinop-guardrails: deny all ingress and egress of the namespace's Pods except what is
    listed here. Enforced only where the cluster's network plugin implements NetworkPolicy."""

    allow_same_namespace: bool = Field(
        default=True,
        description="Allow traffic between Pods of the tenant namespace, both ways. Default: true.",
    )
    allow_dns: bool = Field(
        default=True,
        alias="allowDNS",
        description="Allow DNS lookups: egress on port 53 (UDP and TCP) to Pods in kube-system. Default: true. "
        "Node-local DNS caches listen on a node address instead: add it to egressToCIDRs.",
    )
    ingress_from_namespaces: list[LabelSelector] | None = _peers_field(
        "Allow ingress from Pods of the namespaces these label selectors pick, e.g. "
        "[{matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}]. `{}` picks every namespace."
    )
    ingress_from_cidrs: list[CidrBlock] | None = Field(
        default=None,
        alias="ingressFromCIDRs",
        max_length=16,
        description="Allow ingress from these IP ranges, e.g. a load balancer's source range.",
    )
    egress_to_namespaces: list[LabelSelector] | None = _peers_field(
        "Allow egress to Pods of the namespaces these label selectors pick, e.g. a shared monitoring namespace."
    )
    egress_to_cidrs: list[CidrBlock] | None = Field(
        default=None,
        alias="egressToCIDRs",
        max_length=16,
        description="Allow egress to these IP ranges, e.g. [{cidr: 0.0.0.0/0, except: [169.254.169.254/32]}] for "
        "the internet without the cloud metadata endpoint.",
    )


# ---------------------------------------------------------------------------------------------------------------------
# Defaults and Ingress hosts

#: The ResourceQuota every tenant namespace gets unless the cluster sets its own: object counts only (a limit on
#: requests.*/limits.* would make every Pod declare them), no NodePorts (they open a port on every node), few
#: LoadBalancers (each costs money and an address).
DEFAULT_QUOTA: dict[str, str] = {
    "pods": "100",
    "services": "50",
    "services.nodeports": "0",
    "services.loadbalancers": "2",
    "persistentvolumeclaims": "20",
    "requests.storage": "200Gi",
    "configmaps": "200",
    "secrets": "200",
}

TENANT_PLACEHOLDER = "{tenant}"
HOST_SUFFIX_PATTERN = r"^(\{tenant\}\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
HostSuffix = Annotated[str, StringConstraints(min_length=3, max_length=200, pattern=HOST_SUFFIX_PATTERN)]


class IngressGuardrail(SpecModel):
    """Which host names a tenant's Ingresses may claim, so one tenant cannot take another's (or the platform's)
    traffic. Enforced by the remote kube-apiserver (admission policy spinop-tenant-limits from deploy/remote)."""

    allowed_host_suffixes: list[HostSuffix] = Field(
        min_length=1,
        max_length=16,
        description="Each Ingress host (spec.rules[].host, spec.tls[].hosts[]) must be one of these or end in "
        "'.' + one of these; {tenant} stands for the tenant (the SpinnakerAccount's namespace), e.g. "
        "'{tenant}.apps.example.com' lets tenant team-a use team-a.apps.example.com, www.team-a.apps.example.com and "
        "*.team-a.apps.example.com. Ingresses without a host and spec.defaultBackend are refused.",
    )

    def suffixes_for(self, tenant: str) -> list[str]:
        return [suffix.replace(TENANT_PLACEHOLDER, tenant) for suffix in self.allowed_host_suffixes]


# ---------------------------------------------------------------------------------------------------------------------
# The policy (SpinnakerCluster) and the tightening (SpinnakerAccount)


class Guardrails(SpecModel):
    """What every tenant namespace spinop creates on this cluster gets, and keeps: spinop restores these when they
    are edited or deleted, and a tenant's credentials can change none of them."""

    pod_security: PodSecurity = Field(
        default_factory=PodSecurity,
        description="Pod Security Admission levels. Omitted: enforce, warn and audit restricted, version latest.",
        json_schema_extra={"default": {}},
    )
    resource_quota: ResourceQuotaPolicy | None = Field(
        default_factory=lambda: ResourceQuotaPolicy(hard=dict(DEFAULT_QUOTA)),
        description="A ResourceQuota for each tenant namespace. Omitted: pods 100, services 50, services.nodeports "
        "0, services.loadbalancers 2, persistentvolumeclaims 20, requests.storage 200Gi, configmaps 200, secrets "
        "200. To allow more, set your own hard limits (a quota is always applied).",
        json_schema_extra={"default": {"hard": dict[str, Any](DEFAULT_QUOTA)}},
    )
    limit_range: LimitRangePolicy | None = Field(
        default=None,
        description="A LimitRange for each tenant namespace (container defaults and bounds). Omitted: none.",
    )
    network_policy: NetworkPolicyGuardrail | None = Field(
        default=None,
        description="A default-deny NetworkPolicy with the allowances listed. Omitted: none (all traffic allowed, "
        "unless other policies say otherwise). `{}`: deny all but same-namespace traffic and DNS.",
    )
    ingress: IngressGuardrail | None = Field(
        default=None,
        description="The Ingress host names each tenant may use, e.g. {allowedHostSuffixes: "
        "['{tenant}.apps.example.com']}. Omitted: not constrained.",
    )


class AccountGuardrails(SpecModel):
    """Tighter guardrails for this account's namespace. Never looser than the cluster's tenancy.guardrails: a
    looser value is refused at admission, and ignored (the cluster's applies) if the cluster tightens later."""

    pod_security: PodSecurityOverride | None = Field(
        default=None,
        description="Stricter Pod Security levels, e.g. {enforce: restricted} on a cluster that enforces baseline.",
    )
    resource_quota: ResourceQuotaPolicy | None = Field(
        default=None,
        description="Lower hard limits than the cluster's, e.g. {hard: {pods: '10'}}; resources the cluster does "
        "not limit may be added. Each value must be at most the cluster's.",
    )
