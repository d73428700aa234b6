"""The Spinnaker account spinop wants: the fields it owns, its content key, and the merge over the live account."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from spinop.redact import Redacted
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount, merge_account

OWNER = AccountOwner("team-a", "web", "uid-web")


def account(**changes: Any) -> DesiredSpinnakerAccount:
    base = DesiredSpinnakerAccount(
        owner=OWNER,
        name="dev-web",
        environment="dev",
        namespace="team-a-dev",
        context="dev-web",
        kubeconfig=Redacted("kubeconfig with token-1"),
        kubeconfig_fingerprint="sha256:aaaa",
        kinds=("deployment", "service"),
        permissions=(("READ", ("team-a",)), ("WRITE", ("team-a-deployers",))),
    )
    return dataclasses.replace(base, **changes)


def test_managed_fields_are_the_accounts_spinnaker_shape_without_credentials() -> None:
    fields = account(
        custom_resources=(("Rollout.argoproj.io", "serverGroups", True),), cache_threads=2, only_spinnaker_managed=False
    ).managed_fields()
    assert fields == {
        "name": "dev-web",
        "environment": "dev",
        "providerVersion": "V2",
        "context": "dev-web",
        "namespaces": ["team-a-dev"],
        "omitNamespaces": [],
        "kinds": ["deployment", "service"],
        "omitKinds": [],
        "onlySpinnakerManaged": False,
        "cacheThreads": 2,
        "customResources": [
            {"kubernetesKind": "Rollout.argoproj.io", "spinnakerKind": "serverGroups", "versioned": True}
        ],
        "serviceAccount": False,
        "permissions": {"READ": ["team-a"], "WRITE": ["team-a-deployers"]},
    }
    assert "token" not in repr(fields) and "kubeconfig" not in str(fields)


def test_the_content_key_is_stable_for_the_same_account() -> None:
    assert account().content_key() == account().content_key()
    assert len(account().content_key()) == 32


def test_the_content_key_follows_the_credentials_fingerprint_not_the_redacted_value() -> None:
    assert account(kubeconfig_fingerprint="sha256:bbbb").content_key() != account().content_key()
    # The kubeconfig itself is compared through its fingerprint only.
    assert account(kubeconfig=Redacted("another text")).content_key() == account().content_key()


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "dev-web2"},
        {"environment": "prod"},
        {"namespace": "team-a-qa"},
        {"context": "other"},
        {"kinds": ("deployment",)},
        {"kinds": (), "omit_kinds": ("secret",)},
        {"permissions": (("READ", ("team-a",)),)},
        {"permissions": (("READ", ("team-a",)), ("WRITE", ("team-a-deployers",)), ("EXECUTE", ("ops",)))},
        {"only_spinnaker_managed": False},
        {"cache_threads": 4},
        {"custom_resources": (("Rollout.argoproj.io", "serverGroups", False),)},
    ],
    ids=lambda c: ",".join(c),
)
def test_the_content_key_changes_with_every_setting_spinnaker_sees(changes: dict[str, Any]) -> None:
    assert account(**changes).content_key() != account().content_key()


def test_adopt_and_the_owner_are_not_content() -> None:
    other_owner = AccountOwner("team-a", "web", "uid-new")
    assert account(adopt=True, owner=other_owner).content_key() == account().content_key()


def test_a_new_account_is_exactly_the_managed_fields() -> None:
    assert merge_account(None, account()) == account().managed_fields()
    assert merge_account({}, account()) == account().managed_fields()


def test_fields_spinop_does_not_manage_are_kept() -> None:
    live = {
        "name": "dev-web",
        "kinds": ["pod"],
        "cacheThreads": 8,
        "cachingPolicies": [{"kubernetesKind": "pod", "maxEntriesPerAgent": 100}],
        "liveManifestCalls": True,
        "requiredGroupMembership": [],
    }
    merged = merge_account(live, account())
    assert merged["cachingPolicies"] == [{"kubernetesKind": "pod", "maxEntriesPerAgent": 100}]
    assert merged["liveManifestCalls"] is True and merged["requiredGroupMembership"] == []
    assert merged["kinds"] == ["deployment", "service"] and merged["cacheThreads"] == 1  # ours win


def test_execute_and_create_stay_as_an_admin_set_them_unless_the_spec_sets_them() -> None:
    live = {"permissions": {"READ": ["everyone"], "WRITE": ["everyone"], "EXECUTE": ["ops"], "CREATE": ["admins"]}}
    merged = merge_account(live, account())
    assert merged["permissions"] == {
        "READ": ["team-a"],
        "WRITE": ["team-a-deployers"],
        "EXECUTE": ["ops"],
        "CREATE": ["admins"],
    }
    with_execute = account(permissions=(("EXECUTE", ("team-a-runners",)),))
    assert merge_account(live, with_execute)["permissions"] == {"EXECUTE": ["team-a-runners"], "CREATE": ["admins"]}


def test_read_and_write_always_follow_the_spec_even_when_it_drops_them() -> None:
    live = {"permissions": {"READ": ["everyone"], "WRITE": ["everyone"]}}
    assert merge_account(live, account(permissions=()))["permissions"] == {}
    assert merge_account(live, account(permissions=(("READ", ("team-a",)),)))["permissions"] == {"READ": ["team-a"]}


def test_merging_does_not_change_the_live_account() -> None:
    live = {"name": "dev-web", "permissions": {"READ": ["everyone"], "EXECUTE": ["ops"]}, "kinds": ["pod"]}
    before = copy.deepcopy(live)
    merge_account(live, account())
    assert live == before


def test_merging_twice_is_merging_once() -> None:
    live = {"permissions": {"EXECUTE": ["ops"]}, "cachingPolicies": []}
    once = merge_account(live, account())
    assert merge_account(once, account()) == once
