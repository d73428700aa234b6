"""A SpinnakerAccount is never open to every Spinnaker user: without spec.permissions it gets the cluster's
tenancy.accountPermissions (default READ and WRITE: [{tenant}]); permissions that grant no role are refused with a
field-named condition; unknown keys are refused by the schema (Fiat's Authorization enum: READ, WRITE, EXECUTE,
CREATE; see tests/unit/upstream_wire/test_fiat.py)."""

from __future__ import annotations

from typing import Any

import pytest

from spinop.accounts import desired_spinnaker_account
from spinop.api.v1alpha1 import SpinnakerAccountSpec, SpinnakerClusterSpec, validate_resource
from spinop.halyard.errors import HalyardNotSupported
from spinop.halyard.hal_argv import add_flags
from spinop.redact import Redacted
from spinop.spinnaker.desired import AccountOwner, merge_account
from spinop.tenancy import (
    AccountUnderJudgement,
    check_permissions,
    effective_permissions,
    tenancy_refusal,
    tenancy_violations,
)

TENANT = "team-a"


def cluster(**tenancy: Any) -> SpinnakerClusterSpec:
    return SpinnakerClusterSpec.model_validate(
        {
            "kubeconfigSecretRef": {"name": "dev-admin"},
            "environment": "dev",
            "tenancy": {"namespaceSelector": {}, **tenancy},
        }
    )


def account(**fields: Any) -> SpinnakerAccountSpec:
    return SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "team-a-dev", **fields})


def effective(spec: SpinnakerAccountSpec, on: SpinnakerClusterSpec) -> dict[str, tuple[str, ...]]:
    return effective_permissions(spec, tenant=TENANT, cluster_name="dev", cluster=on).granted()


def test_an_account_without_permissions_gets_only_its_tenants_role_by_default() -> None:
    assert effective(account(), cluster()) == {"READ": ("team-a",), "WRITE": ("team-a",)}


def test_the_clusters_templates_are_filled_in_per_tenant() -> None:
    on = cluster(accountPermissions={"READ": ["{tenant}", "auditors"], "WRITE": ["{tenant}-{environment}-deployers"]})
    assert effective(account(), on) == {"READ": ("auditors", "team-a"), "WRITE": ("team-a-dev-deployers",)}
    other = effective_permissions(account(), tenant="team-b", cluster_name="dev", cluster=on).granted()
    assert other == {"READ": ("auditors", "team-b"), "WRITE": ("team-b-dev-deployers",)}


def test_the_tenants_own_permissions_win_over_the_clusters_default() -> None:
    spec = account(permissions={"READ": ["team-a", "sre"], "WRITE": ["team-a-release"]})
    assert effective(spec, cluster()) == {"READ": ("sre", "team-a"), "WRITE": ("team-a-release",)}
    assert check_permissions(spec, tenant=TENANT, cluster_name="dev", cluster=cluster()) == []


@pytest.mark.parametrize(
    "permissions",
    [{}, {"READ": []}, {"READ": [], "WRITE": [], "EXECUTE": [], "CREATE": []}, {"READ": [" "], "WRITE": ["\t"]}],
    ids=["empty", "empty-read", "all-empty", "blank-roles"],
)
def test_permissions_that_grant_no_role_are_refused_naming_the_field(permissions: dict[str, list[str]]) -> None:
    spec = account(permissions=permissions)
    violations = tenancy_violations(AccountUnderJudgement(spec, TENANT, "web", {}, "dev", cluster(), ()))
    assert [(v.reason, [e.path for e in v.errors]) for v in violations] == [
        ("PermissionsGrantNoRole", ["spec.permissions"])
    ]
    refusal = tenancy_refusal(
        spec,
        tenant=TENANT,
        name="web",
        tenant_labels={},
        cluster_name="dev",
        cluster=cluster(),
        winners=[],
        reserved=(),
    )
    assert refusal is not None and refusal.reason == "PermissionsGrantNoRole"
    assert str(refusal).startswith("spec.permissions: grants no Spinnaker role")


@pytest.mark.parametrize(
    ("permissions", "bad"),
    [({"ADMIN": ["team-a"]}, "ADMIN"), ({"read": ["team-a"]}, "read"), ({"Read": ["x"], "WRITE": ["x"]}, "Read")],
)
def test_unknown_permission_keys_are_refused_at_spec_permissions(permissions: dict[str, Any], bad: str) -> None:
    body = {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "web", "namespace": TENANT},
        "spec": {"cluster": "dev", "namespace": "team-a-dev", "permissions": permissions},
    }
    _, errors = validate_resource(body)
    assert [e.path for e in errors] == ["spec.permissions"]
    assert "READ, WRITE, EXECUTE and CREATE" in errors[0].message and bad in errors[0].message


@pytest.mark.parametrize(
    ("templates", "why"),
    [
        ({}, "at least one role"),
        ({"READ": [" "], "WRITE": []}, "at least one role"),
        ({"READ": ["{namespace}"]}, "placeholders"),
        ({"READ": ["{tenant"]}, "placeholders"),
        ({"ADMIN": ["{tenant}"]}, "READ, WRITE, EXECUTE and CREATE"),
    ],
)
def test_a_cluster_policy_that_would_open_accounts_is_refused(templates: dict[str, Any], why: str) -> None:
    body = {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerCluster",
        "metadata": {"name": "dev"},
        "spec": {
            "kubeconfigSecretRef": {"name": "dev-admin"},
            "environment": "dev",
            "tenancy": {"accountPermissions": templates},
        },
    }
    _, errors = validate_resource(body)
    assert [e.path for e in errors] == ["spec.tenancy.accountPermissions"]
    assert why in errors[0].message


def desired(spec: SpinnakerAccountSpec, on: SpinnakerClusterSpec) -> dict[str, Any]:
    permissions = effective_permissions(spec, tenant=TENANT, cluster_name="dev", cluster=on)
    wanted = desired_spinnaker_account(
        AccountOwner(TENANT, "web", "uid"), spec, "dev", Redacted(""), "", permissions=permissions
    )
    return merge_account({"permissions": {"EXECUTE": ["ops"]}}, wanted)


def test_the_default_reaches_spinnaker_and_keeps_an_admins_execute_roles() -> None:
    assert desired(account(), cluster())["permissions"] == {
        "EXECUTE": ["ops"],
        "READ": ["team-a"],
        "WRITE": ["team-a"],
    }


def test_hal_can_express_the_default_but_not_execute_or_create() -> None:
    """Decision: the default has no EXECUTE, so the Halyard exec transport (`hal`, no EXECUTE/CREATE flags) works
    for every account that does not ask for EXECUTE/CREATE itself; those report HalTransportCannotExpress."""
    default = desired(account(), cluster())
    default["permissions"].pop("EXECUTE")
    flags = add_flags({**default, "name": "dev-team-a-dev"})
    assert "--read-permissions" in flags and "--write-permissions" in flags
    templated = desired(account(), cluster(accountPermissions={"READ": ["{tenant}"], "CREATE": ["{tenant}"]}))
    with pytest.raises(HalyardNotSupported, match=r"permissions\.EXECUTE, permissions\.CREATE"):
        add_flags({**templated, "name": "dev-team-a-dev"})
