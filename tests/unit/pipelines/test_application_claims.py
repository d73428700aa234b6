"""Application squatting: which applications a namespace may claim comes from tenancy policy (spinop's
pipelines.application_patterns, default {namespace}-*, and admin grants by name), not from who names it first.
The webhook and the reconcile make the same decision (pipelines.claims.application_claim_refusal)."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from pydantic import ValidationError

from spinop.config import OperatorConfig, PipelineSettings
from spinop.pipelines.claims import (
    PipelineClaim,
    application_claim_refusal,
    application_holder,
    claimable,
    owns_application,
)

DEFAULT = PipelineSettings()


def settings(**fields: Any) -> PipelineSettings:
    return PipelineSettings.model_validate(fields)


def claim(namespace: str, application: str, created: str) -> PipelineClaim:
    return PipelineClaim(
        namespace=namespace,
        name="p",
        uid=f"uid-{namespace}",
        application=application,
        created=created,
        deleting=False,
        pipeline_id=None,
        gate_refused=False,
    )


@pytest.mark.parametrize(
    ("namespace", "application", "allowed"),
    [
        ("team", "team-web", True),
        ("team", "TEAM-Web", True),  # Spinnaker compares application names ignoring case
        ("team", "team", False),
        ("team", "web", False),  # the old first-come rule let any namespace take this
        ("team", "team-a-web", False),  # one segment only: team-a's, never team's
        ("team-a", "team-a-web", True),
        ("team-a", "team-web", False),
        ("team", "other-web", False),
        ("te", "team-web", False),
    ],
)
def test_the_default_pattern_gives_each_namespace_its_own_applications(
    namespace: str, application: str, allowed: bool
) -> None:
    assert claimable(DEFAULT, namespace, application) is allowed
    refusal = application_claim_refusal(DEFAULT, namespace, application)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.path == "spec.application"
        assert f"namespace {namespace} may not claim application {application!r}" in refusal.message
        assert f"{namespace}-<a-z0-9>" in refusal.message


def test_admin_grants_hand_over_applications_by_name_to_one_namespace_only() -> None:
    policy = settings(grants={"payments": {"applications": ["checkout"]}, "*": {"applications": ["{namespace}"]}})
    assert claimable(policy, "payments", "checkout")
    assert not claimable(policy, "search", "checkout")
    assert claimable(policy, "search", "search")  # "*" with {namespace}: each its own bare name
    assert not claimable(policy, "search", "payments")
    refusal = application_claim_refusal(policy, "search", "checkout")
    assert refusal is not None and "payments" not in refusal.message  # never names the other tenant


def test_a_grant_to_a_namespace_wins_over_another_namespaces_pattern() -> None:
    policy = settings(grants={"ops": {"applications": ["team-web"]}})
    assert claimable(policy, "ops", "team-web")
    assert not claimable(policy, "team", "team-web")


@pytest.mark.parametrize("pattern", ["*", "web-*", "{tenant}-*", "{namespace}_*", "{namespace}-.*"])
def test_patterns_must_name_the_namespace(pattern: str) -> None:
    with pytest.raises(ValidationError, match="must contain \\{namespace\\}"):
        settings(application_patterns=[pattern])


def test_patterns_load_from_the_operator_config() -> None:
    config = OperatorConfig.load({"SPINOP_PIPELINES__APPLICATION_PATTERNS": '["{namespace}-*", "{namespace}"]'})
    assert claimable(config.pipelines, "team", "team")


def test_the_first_claim_no_longer_decides_for_namespaces_the_policy_refuses() -> None:
    squatter = claim("intruder", "owner-web", "2026-01-01T00:00:00Z")
    owner = claim("owner", "owner-web", "2026-01-02T00:00:00Z")
    # The squatter's claim is older, yet it holds nothing: the policy gives owner-web to namespace owner.
    assert application_holder([squatter, owner], "owner-web", DEFAULT) is owner
    assert owns_application("owner", "owner-web", [squatter, owner], DEFAULT) == (True, "")
    allowed, why = owns_application("intruder", "owner-web", [squatter, owner], DEFAULT)
    assert not allowed and why.startswith("namespace intruder may not claim application 'owner-web'")


async def test_the_webhook_refuses_what_the_reconcile_refuses() -> None:
    from spinop.handlers import admission as handlers
    from tests.unit.admission.test_admission import fake_memo
    from tests.unit.api.invalid_corpus import pipeline

    squat = pipeline(application="corpus-b-web")  # in namespace corpus-a
    with pytest.raises(kopf.AdmissionError) as refused:
        await handlers.validate_pipeline(memo=fake_memo(), warnings=[], dryrun=True, operation="CREATE", new=squat)
    assert refused.value.code == 403
    assert str(refused.value).startswith(
        "ApplicationNotOwned: spec.application: namespace corpus-a may not claim application 'corpus-b-web'"
    )
    settings = fake_memo()["ctx"].config.pipelines
    assert not owns_application("corpus-a", "corpus-b-web", [], settings)[0]
    warnings: list[str] = []
    await handlers.validate_pipeline(  # its own application passes
        memo=fake_memo(), warnings=warnings, dryrun=True, operation="CREATE", new=pipeline(application="corpus-a-web")
    )
    assert warnings == []  # nothing else judged it (no validator left registered by another test read MGMT)
