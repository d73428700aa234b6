"""Guardrail fields of SpinnakerCluster and SpinnakerAccount: defaults, quantities, the CRD's rules, never-loosen."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from spinop import tenancy
from spinop.api import crdgen
from spinop.api.v1alpha1 import (
    AccountGuardrails,
    CidrBlock,
    LimitRangePolicy,
    PodSecurityLevel,
    SpinnakerAccountSpec,
    SpinnakerClusterSpec,
    parse_quantity,
)
from spinop.api.v1alpha1.guardrails import DEFAULT_QUOTA


def cluster_spec(**guardrails: Any) -> SpinnakerClusterSpec:
    return SpinnakerClusterSpec.model_validate(
        {"kubeconfigSecretRef": {"name": "k"}, "environment": "dev", "tenancy": {"guardrails": guardrails}}
    )


def test_every_cluster_gets_restricted_pod_security_and_a_quota_and_nothing_else_by_default() -> None:
    spec = SpinnakerClusterSpec.model_validate({"kubeconfigSecretRef": {"name": "k"}, "environment": "dev"})
    guardrails = spec.tenancy.guardrails
    assert guardrails.pod_security.levels() == {
        "enforce": PodSecurityLevel.RESTRICTED,
        "warn": PodSecurityLevel.RESTRICTED,
        "audit": PodSecurityLevel.RESTRICTED,
    }
    assert guardrails.pod_security.version == "latest"
    assert guardrails.resource_quota is not None and guardrails.resource_quota.hard == DEFAULT_QUOTA
    assert (guardrails.limit_range, guardrails.network_policy, guardrails.ingress) == (None, None, None)
    assert SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "a-dev"}).guardrails is None
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)["tenancy"]["guardrails"]
    assert dumped == {
        "podSecurity": {"enforce": "restricted", "version": "latest"},
        "resourceQuota": {"hard": DEFAULT_QUOTA},
    }


def test_warn_and_audit_follow_enforce_unless_set() -> None:
    levels = cluster_spec(podSecurity={"enforce": "baseline", "warn": "restricted"}).tenancy.guardrails.pod_security
    assert {k: str(v) for k, v in levels.levels().items()} == {
        "enforce": "baseline",
        "warn": "restricted",
        "audit": "baseline",
    }


def test_an_empty_network_policy_means_default_deny_with_same_namespace_and_dns() -> None:
    policy = cluster_spec(networkPolicy={}).tenancy.guardrails.network_policy
    assert policy is not None and policy.allow_same_namespace and policy.allow_dns
    assert policy.model_dump(by_alias=True, exclude_none=True) == {"allowSameNamespace": True, "allowDNS": True}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("100n", Decimal("1e-7")),
        ("1k", Decimal(1000)),
        ("1Ki", Decimal(1024)),
        ("512Mi", Decimal(512 * 1024**2)),
        ("10Gi", Decimal(10 * 1024**3)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        (".5", Decimal("0.5")),
    ],
)
def test_quantities_compare_by_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "-1", "ten", "1 Gi", "1GB", "1ki", "0x10", "1e"])
def test_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


def test_limit_range_values_must_be_ordered_per_resource_only() -> None:
    ok = LimitRangePolicy.model_validate(
        {"min": {"cpu": "10m"}, "defaultRequest": {"cpu": "0.1"}, "default": {"cpu": "200m"}, "max": {"cpu": "1"}}
    )
    assert ok.max == {"cpu": "1"}
    # Different resources are never compared; equal values are fine.
    LimitRangePolicy.model_validate({"default": {"memory": "1Gi"}, "max": {"cpu": "1", "memory": "1024Mi"}})
    with pytest.raises(ValidationError, match="ordered min <= defaultRequest <= default <= max"):
        LimitRangePolicy.model_validate({"min": {"memory": "1Gi"}, "max": {"memory": "512Mi"}})


@pytest.mark.parametrize(
    ("block", "valid"),
    [
        ({"cidr": "10.0.0.0/8"}, True),
        ({"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8"]}, True),
        ({"cidr": "fd00::/8", "except": ["fd00:1::/32"]}, True),
        ({"cidr": "10.1.2.3/8"}, True),  # host bits set: Kubernetes accepts it, so does spinop
        ({"cidr": "10.0.0.1"}, False),
        ({"cidr": "10.0.0.0/33"}, False),
        ({"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}, False),
        ({"cidr": "10.0.0.0/8", "except": ["fd00::/8"]}, False),
    ],
)
def test_cidr_blocks(block: dict[str, Any], valid: bool) -> None:
    if valid:
        CidrBlock.model_validate(block)
    else:
        with pytest.raises(ValidationError, match="cidr must be an IP range"):
            CidrBlock.model_validate(block)


def test_the_crd_carries_the_guardrails_with_their_defaults_and_rules() -> None:
    crd = next(c for c in crdgen.build_crds() if c["spec"]["names"]["kind"] == "SpinnakerCluster")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    guardrails = schema["spec"]["properties"]["tenancy"]["properties"]["guardrails"]
    assert guardrails["default"] == {}
    assert guardrails["properties"]["podSecurity"]["default"] == {}
    assert guardrails["properties"]["podSecurity"]["properties"]["enforce"]["default"] == "restricted"
    hard = guardrails["properties"]["resourceQuota"]["properties"]["hard"]
    assert (hard["minProperties"], hard["maxProperties"]) == (1, 32)
    assert "quantity(" in guardrails["properties"]["limitRange"]["x-kubernetes-validations"][0]["rule"]
    peer = guardrails["properties"]["networkPolicy"]["properties"]["egressToCIDRs"]["items"]
    assert "containsCIDR" in peer["x-kubernetes-validations"][0]["rule"]
    progress = schema["status"]["properties"]["guardrails"]["properties"]
    assert {"generation", "total", "updated", "unmanaged", "failed", "startedAt", "finishedAt"} == set(progress)


# --- never loosen ------------------------------------------------------------------------------------------------


def check(cluster: SpinnakerClusterSpec, **override: Any) -> list[tenancy.FieldError]:
    return tenancy.check_guardrails(AccountGuardrails.model_validate(override), cluster_name="dev", cluster=cluster)


def test_stricter_or_equal_overrides_pass() -> None:
    cluster = cluster_spec(podSecurity={"enforce": "baseline"}, resourceQuota={"hard": {"pods": "10", "cpu": "4"}})
    assert check(cluster, podSecurity={"enforce": "restricted", "audit": "baseline"}) == []
    assert check(cluster, resourceQuota={"hard": {"pods": "10", "cpu": "3500m", "services": "100"}}) == []
    assert tenancy.check_guardrails(None, cluster_name="dev", cluster=cluster) == []


def test_looser_pod_security_is_named_with_what_would_do() -> None:
    cluster = cluster_spec(podSecurity={"enforce": "baseline", "warn": "restricted"})
    errors = check(cluster, podSecurity={"enforce": "privileged", "warn": "baseline", "audit": "privileged"})
    assert [e.path for e in errors] == [
        "spec.guardrails.podSecurity.enforce",
        "spec.guardrails.podSecurity.warn",
        "spec.guardrails.podSecurity.audit",  # audit follows enforce (baseline) on the cluster
    ]
    assert "privileged is looser than SpinnakerCluster dev's enforce level baseline" in errors[0].message
    assert "use baseline or restricted" in errors[0].message


def test_a_higher_quota_is_refused_by_value_not_by_spelling() -> None:
    cluster = cluster_spec(resourceQuota={"hard": {"requests.memory": "1Gi", "pods": "10"}})
    errors = check(cluster, resourceQuota={"hard": {"requests.memory": "1025Mi", "pods": "1e1"}})
    assert [e.path for e in errors] == ["spec.guardrails.resourceQuota.hard[requests.memory]"]
    assert "1025Mi is more than SpinnakerCluster dev's quota of 1Gi" in errors[0].message
    # Without a quota of its own the cluster has the default one: resources it does not limit may be added.
    assert check(cluster_spec(), resourceQuota={"hard": {"pods": "50", "requests.cpu": "64"}}) == []
    assert [e.path for e in check(cluster_spec(), resourceQuota={"hard": {"pods": "1000"}})] == [
        "spec.guardrails.resourceQuota.hard[pods]"
    ]


def test_check_account_includes_the_guardrails() -> None:
    cluster = cluster_spec(resourceQuota={"hard": {"pods": "2"}})
    cluster.tenancy.namespace_selector = None
    spec = SpinnakerAccountSpec.model_validate(
        {"cluster": "dev", "namespace": "a-dev", "guardrails": {"resourceQuota": {"hard": {"pods": "3"}}}}
    )
    errors = tenancy.check_account(tenancy.AccountUnderJudgement(spec, "a", "x", {}, "dev", cluster, ()))
    assert "spec.guardrails.resourceQuota.hard[pods]" in [e.path for e in errors]


# --- admission ---------------------------------------------------------------------------------------------------


def test_admission_refuses_a_looser_override_and_warns_when_the_cluster_tightens_below_one() -> None:
    from spinop.admission import rules
    from tests.unit.api.invalid_corpus import OPERATOR_NAMESPACES, account, cluster

    labels = {"spinop.io/tenant": "true"}
    old = cluster("corpus", tenancy={"guardrails": {"resourceQuota": {"hard": {"pods": "10"}}}})
    new = cluster("corpus", tenancy={"guardrails": {"resourceQuota": {"hard": {"pods": "3"}}}})
    body = account(guardrails={"resourceQuota": {"hard": {"pods": "5"}}})
    world = rules.AccountWorld(tenant_labels=labels, clusters={"corpus": new}, winners=())
    verdict = rules.decide_account(rules.CREATE, body, None, world, reserved=OPERATOR_NAMESPACES)
    assert (verdict.allowed, verdict.code, verdict.reason) == (False, rules.FORBIDDEN, "GuardrailsLooserThanCluster")
    assert "spec.guardrails.resourceQuota.hard[pods]: 5 is more than SpinnakerCluster corpus's quota of 3" in (
        verdict.message
    )
    admitted = rules.decide_account(
        rules.CREATE, body, None, rules.AccountWorld(labels, {"corpus": old}, ()), reserved=OPERATOR_NAMESPACES
    )
    assert admitted.allowed

    existing = rules.TenantAccount(
        spec=SpinnakerAccountSpec.model_validate(body["spec"]),
        tenant="corpus-a",
        name="corpus-account",
        tenant_labels=labels,
        winners=(),
    )
    tightened = rules.decide_cluster(
        rules.UPDATE, "corpus", new, old, rules.ClusterWorld(accounts=(existing,)), reserved=OPERATOR_NAMESPACES
    )
    assert tightened.allowed  # an admin may always tighten; the account keeps working under the stricter value
    assert tightened.warnings == (
        "spec.tenancy.guardrails: 1 SpinnakerAccount(s) ask for looser guardrails than these: corpus-a/corpus-account; "
        "the cluster's stricter values apply to their namespaces",
    )
