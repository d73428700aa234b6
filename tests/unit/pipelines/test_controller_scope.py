"""The SpinnakerPipeline reconcile's pure parts (spinop.pipelines): tenant scope, application ownership, grants,
what to do."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop.api.v1alpha1 import DriftPolicy
from spinop.config import OperatorConfig, PipelineSettings
from spinop.pipelines import check_pipeline, lock_for, pipeline_id, render_pipeline
from spinop.pipelines.claims import (
    PipelineClaim,
    application_holder,
    claim_from_body,
    creation_settings,
    grant_for,
    owns_application,
)
from spinop.pipelines.decision import Action, Observed, decide, managed_by, resource_path, same_name
from spinop.pipelines.scope import tenant_scope
from spinop.tenancy import AccountClaim


def account(tenant: str, name: str, target: str, *, ready: bool = True, deleting: bool = False) -> AccountClaim:
    return AccountClaim(
        tenant=tenant,
        name=name,
        uid=f"uid-{tenant}-{name}",
        cluster="dev",
        namespace=target,
        account_name=f"dev-{target}",
        created="2026-01-01T00:00:00Z",
        deleting=deleting,
        ready=ready,
    )


def claim(
    namespace: str,
    name: str,
    application: str,
    created: str,
    *,
    saved: bool = False,
    gate_refused: bool = False,
    settings: dict[str, Any] | None = None,
) -> PipelineClaim:
    return PipelineClaim(
        namespace=namespace,
        name=name,
        uid=f"uid-{namespace}-{name}",
        application=application,
        created=created,
        deleting=False,
        pipeline_id=pipeline_id(namespace, name) if saved else None,
        gate_refused=gate_refused,
        application_settings=settings,
    )


SETTINGS = PipelineSettings.model_validate(
    {
        "grants": {
            "*": {"registry_accounts": ["{namespace}-registry"], "kayenta_accounts": ["{namespace}-prometheus"]},
            "team-a": {"artifact_accounts": ["github-team-a"], "applications": ["legacy-web"]},
            "team-b": {"applications": ["{namespace}-old"]},
        }
    }
)


# ----------------------------------------------------------------------------------------------------------- grants


def test_grants_merge_the_namespace_entry_with_the_wildcard_and_fill_in_the_namespace():
    grant = grant_for(SETTINGS, "team-a")
    assert grant.registry_accounts == ["team-a-registry"]
    assert grant.kayenta_accounts == ["team-a-prometheus"]
    assert grant.artifact_accounts == ["github-team-a"]
    assert grant.applications == ["legacy-web"]
    assert grant_for(SETTINGS, "team-c").artifact_accounts == []
    assert grant_for(SETTINGS, "team-c").registry_accounts == ["team-c-registry"]


def test_the_pipelines_section_loads_from_the_operator_config():
    config = OperatorConfig.load(
        {"SPINOP_PIPELINES__DRIFT_INTERVAL_SECONDS": "7", "SPINOP_PIPELINES__GRANTS": '{"*": {"roles": ["r"]}}'}
    )
    assert config.pipelines.drift_interval_seconds == 7
    assert grant_for(config.pipelines, "x").roles == ["r"]
    assert OperatorConfig.load({}).pipelines.grants == {}


# ------------------------------------------------------------------------------------------------------------ scope


def test_scope_holds_only_the_namespaces_ready_accounts():
    accounts = [
        account("team-a", "dev", "team-a-dev"),
        account("team-a", "prod", "team-a-prod", ready=False),
        account("team-a", "old", "team-a-old", deleting=True),
        account("team-b", "dev", "team-b-dev"),
    ]
    scope = tenant_scope("team-a", accounts, [], SETTINGS)
    assert dict(scope.accounts) == {"dev-team-a-dev": frozenset({"team-a-dev"})}
    assert scope.registry_accounts == frozenset({"team-a-registry"})
    assert scope.artifact_accounts == frozenset({"github-team-a"})


def test_scope_holds_the_applications_the_namespace_owns_and_those_granted():
    claims = [
        claim("team-a", "web", "team-a-web", "2026-01-01T00:00:00Z"),
        claim("team-a", "api", "team-b-api", "2026-01-01T00:00:00Z"),  # older, but team-b's by the policy
        claim("team-b", "api", "team-b-api", "2026-01-02T00:00:00Z"),
        claim("team-a", "old", "team-b-old", "2026-01-01T00:00:00Z"),  # granted to team-b by the admin
    ]
    scope = tenant_scope("team-a", [], claims, SETTINGS)
    assert scope.applications == frozenset({"team-a-web", "legacy-web"})
    assert tenant_scope("team-b", [], claims, SETTINGS).applications == frozenset({"team-b-api", "team-b-old"})


# -------------------------------------------------------------------------------------------- application ownership


def test_the_oldest_claim_owns_an_application_ignoring_case():
    claims = [
        claim("team-b", "x", "Web", "2026-01-02T00:00:00Z"),
        claim("team-a", "y", "web", "2026-01-01T00:00:00Z"),
    ]
    assert application_holder(claims, "WEB").namespace == "team-a"  # type: ignore[union-attr]
    assert application_holder(claims, "other") is None


def test_a_claim_spinop_saved_into_the_application_outranks_an_older_one_that_never_saved():
    # team-b's pipeline was refused while team-a owned the app; team-a's oldest pipeline is deleted later. The
    # application must stay with team-a (its younger pipeline was saved there), not pass to team-b.
    claims = [
        claim("team-b", "early", "web", "2026-01-02T00:00:00Z"),
        claim("team-a", "younger", "web", "2026-01-03T00:00:00Z", saved=True),
    ]
    assert application_holder(claims, "web").namespace == "team-a"  # type: ignore[union-attr]


def test_claims_gate_showed_to_be_elsewhere_do_not_block_the_application():
    claims = [
        claim("team-b", "early", "web", "2026-01-01T00:00:00Z", gate_refused=True),
        claim("team-a", "late", "web", "2026-01-02T00:00:00Z"),
    ]
    assert application_holder(claims, "web").namespace == "team-a"  # type: ignore[union-attr]


def test_owns_application_never_names_the_other_namespace():
    # Overlapping patterns: application "team-a" is claimable by namespace team (team-*) and by team-a itself;
    # among namespaces the policy allows, the first claim decides.
    overlapping = SETTINGS.model_copy(update={"application_patterns": ["{namespace}-*", "{namespace}"]})
    claims = [claim("team-a", "p", "team-a", "2026-01-01T00:00:00Z"), claim("team", "q", "team-a", "2026-01-02")]
    allowed, why = owns_application("team", "team-a", claims, overlapping)
    assert not allowed and "claimed it first" in why and "namespace team-a" not in why and "/p" not in why
    assert owns_application("team-a", "team-a", claims, overlapping) == (True, "")
    assert owns_application("team-c", "team-c-fresh", [], SETTINGS) == (True, "")  # its pattern, nobody claims it
    assert owns_application("team-a", "legacy-web", claims, SETTINGS) == (True, "")
    allowed, why = owns_application("team-a", "team-b-old", [], SETTINGS)
    assert not allowed and why.startswith("namespace team-a may not claim application 'team-b-old'")
    assert "team-b" not in why.replace("'team-b-old'", "")


def test_application_settings_come_from_the_namespaces_oldest_pipeline_that_has_them():
    claims = [
        claim("team-a", "late", "web", "2026-01-03T00:00:00Z", settings={"email": "late@example.com"}),
        claim("team-a", "early", "web", "2026-01-01T00:00:00Z"),
        claim("team-a", "middle", "web", "2026-01-02T00:00:00Z", settings={"email": "middle@example.com"}),
        claim("team-b", "other", "web", "2026-01-01T00:00:00Z", settings={"email": "b@example.com"}),
    ]
    chosen = creation_settings("team-a", "web", None, claims)
    assert chosen is not None and chosen.email == "middle@example.com"
    assert creation_settings("team-a", "api", None, claims) is None


# ------------------------------------------------------------------------------------------------ claims and status


def test_claims_read_the_status_spinop_wrote():
    body = {
        "metadata": {"namespace": "team-a", "name": "web", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"application": "web", "applicationSettings": {"email": "a@b.c"}},
        "status": {
            "pipelineId": "abc",
            "conditions": [{"type": "Synced", "status": "False", "reason": "ApplicationOwnedByAnotherNamespace"}],
        },
    }
    got = claim_from_body(body)
    assert got is not None and got.pipeline_id == "abc" and got.gate_refused and got.application_settings
    assert claim_from_body({"metadata": {}, "spec": {}}) is None


def test_observed_reads_the_generation_spinop_last_saved():
    body = {
        "status": {
            "pipelineId": "abc",
            "conditions": [
                {"type": "Synced", "status": "True", "reason": "Saved", "observedGeneration": 3},
                {"type": "InSync", "status": "False", "reason": "Drifted"},
            ],
        }
    }
    assert Observed.of(body) == Observed("abc", 3, True, None)
    assert Observed.of({}).saved_generation is None


# ------------------------------------------------------------------------------------------------------ the decision


def _desired() -> dict[str, Any]:
    return render_pipeline(
        application="web",
        name="deploy",
        pipeline={"stages": [{"refId": "1", "type": "wait", "name": "Wait", "waitTime": 5}]},
        pipeline_id="pid",
        owner="team-a/deploy",
    )


def _live(**changes: Any) -> dict[str, Any]:
    live = {**_desired(), "index": 0, "lastModified": 1, "updateTs": "1", "lastModifiedBy": "spinop"}
    live.update(changes)
    return live


@pytest.mark.parametrize(
    ("live", "policy", "saved", "generation", "before", "action", "paths"),
    [
        (None, DriftPolicy.ENFORCE, None, 1, False, Action.CREATE, ()),
        (_live(), DriftPolicy.ENFORCE, None, 1, False, Action.CONFIRM, ()),
        (_live(name="renamed"), DriftPolicy.ENFORCE, 1, 2, True, Action.UPDATE, ("spec.name",)),
        (_live(name="renamed"), DriftPolicy.REPORT, 1, 2, True, Action.UPDATE, ("spec.name",)),
        (
            _live(stages=[{"refId": "1", "type": "wait", "name": "UI", "waitTime": 5}], lastModifiedBy="alice"),
            DriftPolicy.ENFORCE,
            1,
            1,
            True,
            Action.RESTORE,
            ("spec.pipeline.stages[0].name",),
        ),
        (
            _live(stages=[{"refId": "1", "type": "wait", "name": "UI", "waitTime": 5}]),
            DriftPolicy.REPORT,
            1,
            1,
            True,
            Action.REPORT,
            ("spec.pipeline.stages[0].name",),
        ),
        (
            _live(locked={"ui": False}),
            DriftPolicy.ENFORCE,
            1,
            1,
            True,
            Action.RESTORE,
            ("locked.allowUnlockUi", "locked.description", "locked.ui"),
        ),
        (None, DriftPolicy.ENFORCE, 1, 1, True, Action.RESTORE, ("spec.pipeline",)),
        (None, DriftPolicy.REPORT, 1, 1, True, Action.REPORT, ("spec.pipeline",)),
        (None, DriftPolicy.REPORT, 1, 2, True, Action.CREATE, ()),
    ],
)
def test_decide(live, policy, saved, generation, before, action, paths):
    got = decide(_desired(), live, policy=policy, saved_generation=saved, generation=generation, saved_before=before)
    assert got.action is action
    assert got.paths == paths
    assert got.missing == (live is None and action in (Action.RESTORE, Action.REPORT))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("stages[0].account", "spec.pipeline.stages[0].account"),
        ("name", "spec.name"),
        ("locked.ui", "locked.ui"),
        ('["odd key"]', 'spec.pipeline["odd key"]'),
        ("$", "spec.pipeline"),
    ],
)
def test_resource_paths(path, expected):
    assert resource_path(path) == expected


def test_pipelines_spinop_saved_name_their_resource():
    assert managed_by({"locked": lock_for("team-a/web")}) == "team-a/web"
    assert managed_by({"locked": {"ui": True, "description": "hands off"}}) is None
    assert managed_by({}) is None
    assert same_name(" Deploy ", "deploy") and not same_name(None, "deploy")


# ------------------------------------------------------------------------------------------------------- the samples

REPO = Path(__file__).resolve().parents[3]


def documented_grants() -> PipelineSettings:
    """The `pipelines:` block that docs/pipelines.md tells admins to configure for the samples."""
    text = (REPO / "docs" / "pipelines.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.lstrip("# \n").count("pipelines:"))
    return PipelineSettings.model_validate(yaml.safe_load(block)["pipelines"])


def test_the_samples_pass_the_guard_once_their_accounts_are_ready_with_the_documented_grants():
    samples = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "deploy" / "samples").glob("*.yaml"))]
    accounts = [
        AccountClaim(
            tenant=s["metadata"]["namespace"],
            name=s["metadata"]["name"],
            uid=f"uid-{s['metadata']['name']}",
            cluster=s["spec"]["cluster"],
            namespace=s["spec"]["namespace"],
            account_name=s["spec"].get("accountName") or f"{s['spec']['cluster']}-{s['spec']['namespace']}",
            created="2026-01-01T00:00:00Z",
            deleting=False,
            ready=True,
        )
        for s in samples
        if s.get("kind") == "SpinnakerAccount"
    ]
    pipelines = [s for s in samples if s.get("kind") == "SpinnakerPipeline"]
    assert len(pipelines) == 2
    bodies = [
        {**s, "metadata": {**s["metadata"], "uid": s["metadata"]["name"], "creationTimestamp": "t"}} for s in pipelines
    ]
    claims = [c for c in (claim_from_body(b) for b in bodies) if c is not None]
    settings = documented_grants()
    clusters = {s["metadata"]["name"]: s["spec"] for s in samples if s.get("kind") == "SpinnakerCluster"}
    for sample in pipelines:
        namespace, name, spec = sample["metadata"]["namespace"], sample["metadata"]["name"], sample["spec"]
        scope = tenant_scope(namespace, accounts, claims, settings, clusters)
        body = render_pipeline(
            application=spec["application"],
            name=spec["name"],
            pipeline=spec["pipeline"],
            pipeline_id=pipeline_id(namespace, name),
            owner=f"{namespace}/{name}",
        )
        assert check_pipeline(body, scope) == [], name
        # ... and not without the grants, nor before the accounts are Ready.
        assert check_pipeline(body, tenant_scope(namespace, accounts, claims, PipelineSettings(), clusters))
        # ... nor without the clusters' expression grants (tenancy.pipelines.expressionFields).
        assert check_pipeline(body, tenant_scope(namespace, accounts, claims, settings))
        unready = [dataclasses.replace(a, ready=False) for a in accounts]
        assert check_pipeline(body, tenant_scope(namespace, unready, claims, settings))
