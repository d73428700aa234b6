"""What a SpinnakerAccount asks of Spinnaker: the spec's Fiat permissions as the Spinnaker account carries them."""

from __future__ import annotations

from typing import Any

from spinop.accounts import spinnaker_permissions
from spinop.api.v1alpha1 import Permissions, SpinnakerAccountSpec

# ------------------------------------------------------------------------------------------ spinnaker_permissions


def spec(**fields: Any) -> SpinnakerAccountSpec:
    return SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "team-a-dev", **fields})


def perms(**fields: Any) -> Permissions:
    permissions = spec(**fields).permissions
    assert permissions is not None
    return permissions


def test_no_permissions_means_nothing_for_spinop_to_set() -> None:
    assert spinnaker_permissions(Permissions()) == ()


def test_only_the_permissions_the_spec_sets_are_passed_on_in_read_write_execute_order() -> None:
    assert spinnaker_permissions(perms(permissions={"EXECUTE": ["ops"], "READ": ["team-a", "auditors"]})) == (
        ("READ", ("auditors", "team-a")),
        ("EXECUTE", ("ops",)),
    )


def test_the_order_of_roles_is_no_reason_to_change_the_spinnaker_account() -> None:
    one = spinnaker_permissions(perms(permissions={"READ": ["team-a", "auditors"], "WRITE": ["b", "a"]}))
    other = spinnaker_permissions(perms(permissions={"READ": ["auditors", "team-a"], "WRITE": ["a", "b"]}))
    assert one == other
    assert spinnaker_permissions(perms(permissions={"READ": ["a"], "WRITE": ["b"], "EXECUTE": ["c"]})) == (
        ("READ", ("a",)),
        ("WRITE", ("b",)),
        ("EXECUTE", ("c",)),
    )


def test_an_empty_role_list_is_kept_it_means_no_role_may() -> None:
    assert spinnaker_permissions(perms(permissions={"WRITE": []})) == (("WRITE", ()),)
