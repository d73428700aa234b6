"""When an idle account's rights are proven again, and when a pass may trust the watches instead of reading."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from spinop.remote.access import ResourceRule, expected_access
from spinop.remote.profiles import Profile
from spinop.remote.proof import (
    LastProof,
    ProofBasis,
    expectations_digest,
    trust_watches,
    versions_of,
    why_verify,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0
VERSIONS = {"serviceaccounts": "10", "roles": "11", "rolebindings": "12"}
BASIS = ProofBasis(
    versions=VERSIONS,
    service_account_uid="sa-uid",
    token_fingerprint="fp-1",
    expectations=expectations_digest(
        expected_access(Profile.DEPLOYER, "team-dev", [], service_account="spinop-team-dev")
    ),
)


PROVEN = LastProof(BASIS, T0)


def _due(basis: ProofBasis, *, after: float = 60.0, last: LastProof | None = PROVEN) -> str | None:
    return why_verify(last, basis, now=T0 + timedelta(seconds=after), interval_seconds=HOUR)


def test_an_idle_account_proven_recently_is_not_proven_again() -> None:
    assert _due(BASIS) is None
    assert _due(dataclasses.replace(BASIS, versions=dict(VERSIONS))) is None  # equal, not identical
    assert _due(BASIS, after=HOUR - 1) is None


def test_an_account_never_proven_or_whose_last_proof_failed_is_proven() -> None:
    assert _due(BASIS, last=None) is not None


def test_the_verify_interval_bounds_what_spinop_cannot_see() -> None:
    # A ClusterRoleBinding granting the account more changes nothing spinop watches: only the interval catches it.
    reason = _due(BASIS, after=HOUR)
    assert reason is not None and "verify interval" in reason


def test_an_edited_role_or_binding_a_new_service_account_or_new_credentials_are_proven_at_once() -> None:
    for kind in ("roles", "rolebindings", "serviceaccounts"):
        reason = _due(dataclasses.replace(BASIS, versions={**VERSIONS, kind: "99"}))
        assert reason is not None and kind in reason
    assert _due(dataclasses.replace(BASIS, versions={**VERSIONS, "roles": ""})) is not None  # deleted
    assert _due(dataclasses.replace(BASIS, service_account_uid="other")) is not None
    assert _due(dataclasses.replace(BASIS, token_fingerprint="fp-2")) is not None


def test_a_changed_profile_or_rules_are_proven_at_once() -> None:
    viewer = expected_access(Profile.READONLY, "team-dev", [], service_account="spinop-team-dev")
    assert _due(dataclasses.replace(BASIS, expectations=expectations_digest(viewer))) is not None
    extra = expected_access(
        Profile.DEPLOYER,
        "team-dev",
        [ResourceRule(("get",), ("",), ("configmaps",))],
        service_account="spinop-team-dev",
    )
    assert _due(dataclasses.replace(BASIS, expectations=expectations_digest(extra))) is not None


def test_equal_expectations_have_equal_digests() -> None:
    again = expected_access(Profile.DEPLOYER, "team-dev", [], service_account="spinop-team-dev")
    assert _due(dataclasses.replace(BASIS, expectations=expectations_digest(again))) is None


def test_versions_of_observed_objects() -> None:
    role = {"metadata": {"name": "spinop-a", "resourceVersion": "11"}}
    assert versions_of({"roles": role, "rolebindings": None}) == {
        "serviceaccounts": "",
        "roles": "11",
        "rolebindings": "",
    }


def _trust(observed: dict[str, str] | None, watched: dict[str, str] | None, *, age: float = 60.0) -> bool:
    return trust_watches(observed, watched, observed_at=T0, now=T0 + timedelta(seconds=age), interval_seconds=HOUR)


def test_a_pass_trusts_synced_watches_that_saw_no_change() -> None:
    assert _trust(VERSIONS, dict(VERSIONS))


def test_a_pass_reads_when_the_watches_are_not_synced_or_saw_a_change() -> None:
    assert not _trust(VERSIONS, None)  # watches off, listing, failing or reconnecting
    assert not _trust(None, VERSIONS)  # nothing observed yet
    assert not _trust(VERSIONS, {**VERSIONS, "roles": "13"})
    assert not _trust(VERSIONS, {**VERSIONS, "rolebindings": ""})  # deleted, event not handled yet


def test_a_pass_reads_everything_at_least_once_per_verify_interval() -> None:
    # The namespace and the guardrail objects have no watch: they are read again with the periodic proof.
    assert not _trust(VERSIONS, dict(VERSIONS), age=HOUR)
    assert not trust_watches(VERSIONS, VERSIONS, observed_at=None, now=T0, interval_seconds=HOUR)
