"""SpinnakerAccount controller helpers: index claims from bodies, who wins a name, and the spec's Fiat permissions."""

from __future__ import annotations

from typing import Any

import pytest

from spinop.api.v1alpha1 import Permissions, SpinnakerAccountSpec
from spinop.controllers.accounts import Claim, _permissions, claim_from_body, older_claims
from spinop.tenancy import AccountClaim


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


def claim(body_: dict[str, Any]) -> Claim:
    found = claim_from_body(body_)
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------- claim_from_body


def test_a_claim_carries_who_wants_which_name_where() -> None:
    c = claim(body(spec={"cluster": "dev", "namespace": "team-a-dev", "accountName": "web-dev"}))
    assert c == Claim(
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
    assert c.as_tenancy_claim() == AccountClaim("team-a", "web", "dev", "team-a-dev", "web-dev")


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
    assert older_claims(everyone, me) == [oldest.as_tenancy_claim()]
    assert older_claims(everyone, oldest) == []
    assert older_claims(everyone, youngest) == [me.as_tenancy_claim(), oldest.as_tenancy_claim()]


def test_claims_made_in_the_same_second_are_ordered_by_uid() -> None:
    first = claim(body("a", uid="uid-1", created="2026-01-01T10:00:00Z"))
    second = claim(body("b", uid="uid-2", created="2026-01-01T10:00:00Z"))
    assert older_claims([first, second], second) == [first.as_tenancy_claim()]
    assert older_claims([first, second], first) == []


def test_exactly_one_of_any_set_of_claims_has_no_winner_over_it() -> None:
    claims = [claim(body(f"acct-{i}", uid=f"uid-{i % 3}{i}", created=f"2026-01-01T10:00:0{i % 2}Z")) for i in range(6)]
    unbeaten = [c for c in claims if not older_claims(claims, c)]
    assert len(unbeaten) == 1


def test_my_own_claim_never_wins_over_me() -> None:
    me = claim(body())
    assert older_claims([me, me], me) == []


# -------------------------------------------------------------------------------------------------- _permissions


def spec(**fields: Any) -> SpinnakerAccountSpec:
    return SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "team-a-dev", **fields})


def perms(**fields: Any) -> Permissions:
    permissions = spec(**fields).permissions
    assert permissions is not None
    return permissions


def test_no_permissions_means_nothing_for_spinop_to_set() -> None:
    assert _permissions(Permissions()) == ()


def test_only_the_permissions_the_spec_sets_are_passed_on_in_read_write_execute_order() -> None:
    assert _permissions(perms(permissions={"EXECUTE": ["ops"], "READ": ["team-a", "auditors"]})) == (
        ("READ", ("auditors", "team-a")),
        ("EXECUTE", ("ops",)),
    )


def test_the_order_of_roles_is_no_reason_to_change_the_spinnaker_account() -> None:
    one = _permissions(perms(permissions={"READ": ["team-a", "auditors"], "WRITE": ["b", "a"]}))
    other = _permissions(perms(permissions={"READ": ["auditors", "team-a"], "WRITE": ["a", "b"]}))
    assert one == other
    assert _permissions(perms(permissions={"READ": ["a"], "WRITE": ["b"], "EXECUTE": ["c"]})) == (
        ("READ", ("a",)),
        ("WRITE", ("b",)),
        ("EXECUTE", ("c",)),
    )


def test_an_empty_role_list_is_kept_it_means_no_role_may() -> None:
    assert _permissions(perms(permissions={"WRITE": []})) == (("WRITE", ()),)


# ---------------------------------------------------------------------------------------------- finalize


async def test_deleting_an_account_whose_cluster_spinop_cannot_read_waits_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SpinnakerCluster stored under an older CRD (or while the webhook was down) used to crash the finalizer with a
    pydantic traceback on every retry; it now says what the admin must fix and retries quietly."""
    import kopf

    from spinop.controllers import accounts
    from spinop.controllers.context import KeyedLocks

    writes: list[Any] = []
    deleted: list[str] = []

    class Status:
        def update(self, ref: Any, *, conditions: Any = (), **_: Any) -> None:
            writes.extend(conditions)

    class Context:
        sync = None
        mgmt = None
        locks = KeyedLocks()
        account_status = Status()

        class config:  # the one setting finalize reads here
            credentials_namespace = "devops"

    monkeypatch.setattr(accounts.store, "delete_credentials", lambda mgmt, ns, name, uid: deleted.append(name))
    unreadable = {"metadata": {"name": "dev"}, "spec": {"kubeconfigSecretRef": {"name": 7}, "tenancy": "nope"}}
    with pytest.raises(kopf.TemporaryError) as retried:
        await accounts.finalize(Context(), body(), claims=[], cluster_body=unreadable)  # type: ignore[arg-type]
    assert retried.value.delay == 60
    assert deleted == ["spinop-dev-team-a-dev"]  # the credentials Secret goes at once, as for any deletion
    (condition,) = writes
    assert (condition.type, condition.status, condition.reason) == ("RemoteProvisioned", "False", "ClusterInvalid")
    assert "SpinnakerCluster 'dev' has a spec spinop cannot read" in condition.message
    assert "removed, and the deletion finishes, once it is fixed" in condition.message
