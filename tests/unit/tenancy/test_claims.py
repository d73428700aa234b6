"""Account claims: the accounts index's record of a stored SpinnakerAccount, and who wins a name or namespace."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from spinop.tenancy import AccountClaim, claim_from_body, older_claims


def body(
    name: str = "web",
    *,
    tenant: str = "team-a",
    uid: str = "uid-web",
    created: str = "2026-01-01T10:00:00Z",
    spec: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": name, "namespace": tenant, "uid": uid, "creationTimestamp": created},
        "spec": {"cluster": "dev", "namespace": "team-a-dev"} if spec is None else spec,
        **extra,
    }


def claim(body_: dict[str, Any]) -> AccountClaim:
    found = claim_from_body(body_)
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------- claim_from_body


def test_a_claim_carries_who_wants_which_name_where() -> None:
    c = claim(body(spec={"cluster": "dev", "namespace": "team-a-dev", "accountName": "web-dev"}))
    assert c == AccountClaim(
        tenant="team-a",
        name="web",
        uid="uid-web",
        cluster="dev",
        namespace="team-a-dev",
        account_name="web-dev",
        created="2026-01-01T10:00:00Z",
        deleting=False,
        ready=False,
    )
    assert c.spec["accountName"] == "web-dev" and c == dataclasses.replace(c, spec={})  # kept to judge it, not compared


def test_without_an_account_name_the_claim_is_on_the_default_name() -> None:
    assert claim(body()).account_name == "dev-team-a-dev"
    assert claim(body(spec={"cluster": "dev", "namespace": "team-a-dev", "accountName": ""})).account_name == (
        "dev-team-a-dev"
    )


@pytest.mark.parametrize(
    "spec",
    [{}, {"cluster": "dev"}, {"namespace": "team-a-dev"}, {"cluster": "", "namespace": "team-a-dev"}],
    ids=["empty", "no-namespace", "no-cluster", "empty-cluster"],
)
def test_a_spec_that_names_no_cluster_and_namespace_claims_nothing(spec: dict[str, Any]) -> None:
    assert claim_from_body(body(spec=spec)) is None


def test_a_body_without_spec_claims_nothing() -> None:
    b = body()
    del b["spec"]
    assert claim_from_body(b) is None


def test_ready_only_when_the_ready_condition_is_true() -> None:
    def with_conditions(*conditions: dict[str, str]) -> dict[str, Any]:
        return body(status={"conditions": list(conditions)})

    assert claim(with_conditions({"type": "Ready", "status": "True"})).ready
    assert not claim(with_conditions({"type": "Ready", "status": "False"})).ready
    assert not claim(with_conditions({"type": "SpinnakerSynced", "status": "True"})).ready
    assert not claim(body(status={})).ready


def test_deleting_once_a_deletion_timestamp_is_set() -> None:
    b = body()
    b["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    assert claim(b).deleting
    assert not claim(body()).deleting


# ------------------------------------------------------------------------------------------------- older_claims


def test_the_oldest_claim_wins() -> None:
    oldest = claim(body("a", uid="uid-z", created="2026-01-01T09:00:00Z"))
    me = claim(body("b", uid="uid-m", created="2026-01-01T10:00:00Z"))
    youngest = claim(body("c", uid="uid-a", created="2026-01-01T11:00:00Z"))
    everyone = [youngest, me, oldest]
    assert older_claims(everyone, me) == [oldest]
    assert older_claims(everyone, oldest) == []
    assert older_claims(everyone, youngest) == [me, oldest]


def test_claims_made_in_the_same_second_are_ordered_by_uid() -> None:
    first = claim(body("a", uid="uid-1", created="2026-01-01T10:00:00Z"))
    second = claim(body("b", uid="uid-2", created="2026-01-01T10:00:00Z"))
    assert older_claims([first, second], second) == [first]
    assert older_claims([first, second], first) == []


def test_exactly_one_of_any_set_of_claims_has_no_winner_over_it() -> None:
    claims = [claim(body(f"acct-{i}", uid=f"uid-{i % 3}{i}", created=f"2026-01-01T10:00:0{i % 2}Z")) for i in range(6)]
    unbeaten = [c for c in claims if not older_claims(claims, c)]
    assert len(unbeaten) == 1


def test_my_own_claim_never_wins_over_me() -> None:
    me = claim(body())
    assert older_claims([me, me], me) == []
