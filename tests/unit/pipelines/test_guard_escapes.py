"""Issue 15 items 1, 3 and 5: expressions in keys and values, URLs Spinnaker would call, manifest stages.

Each case failed (was accepted) before the guard learned the rule; the paths are exact.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from spinop.pipelines import check_pipeline, pipeline_id, render_pipeline

from .seed_pipelines import TEAM_A, build_to_dev, goldengoose_deploy, promote_to_prod

PID = pipeline_id("team-a", "cr")


def paths(body: dict[str, Any], scope=TEAM_A, app: str = "petclinic") -> list[str]:
    rendered = render_pipeline(application=app, name="p", pipeline=body, pipeline_id=PID, owner="team-a/cr")
    return [v.path.removeprefix("spec.pipeline.") for v in check_pipeline(rendered, scope)]


def with_stage(extra: dict[str, Any], base=build_to_dev) -> dict[str, Any]:
    body = base()
    body["stages"].append({"refId": "x", "requisiteStageRefIds": [], **extra})
    return body


def webhook(**fields: Any) -> dict[str, Any]:
    return with_stage({"type": "webhook", "name": "call", "method": "POST", **fields})


# ---- item 1: expressions ------------------------------------------------------------------------------------------


def test_an_expression_key_naming_another_tenants_account_is_refused():
    body = build_to_dev()
    body["stages"][0]["${'account'}"] = "prod-team-b"
    body["stages"][0]["${'namespaceOverride'}"] = "team-b-prod"
    assert paths(body) == ["stages[0][\"${'account'}\"]", "stages[0][\"${'namespaceOverride'}\"]"]


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("stages[1]", "${'application'}"),
        ("stages[0].moniker", "${'app'}"),
        ("stages[0].manifests[0].metadata", "${'namespace'}"),
        ("triggers[0]", "${'account'}"),
    ],
)
def test_expression_keys_are_refused_everywhere(where, key):
    body = with_stage({"type": "pipeline", "application": "petclinic", "pipeline": "abc"})
    node: Any = body
    from spinop.pipelines import parse_path

    for part in parse_path(where):
        node = node[part]
    node[key] = "payments"
    assert paths(body) == [f'{where}["{key}"]']


def test_skip_expression_evaluation_does_not_make_an_expression_safe():
    # orca DeployManifestStage.processExpressions: the flag skips only `manifests`, the rest is still evaluated.
    body = build_to_dev()
    body["stages"][0]["skipExpressionEvaluation"] = True
    body["stages"][0]["${'account'}"] = "prod-team-b"
    body["stages"][0]["manifests"][0]["spec"]["replicas"] = "${parameters.n}"
    assert paths(body) == ["stages[0].manifests[0].spec.replicas", "stages[0][\"${'account'}\"]"]


def test_expressions_in_values_only_in_free_text_or_granted_fields():
    body = build_to_dev()
    body["stages"][0]["manifests"][0]["spec"]["template"]["spec"]["containers"][0]["image"] = "${trigger.image}"
    body["description"] = "built from ${trigger['tag']}"
    body["stages"][0]["name"] = "Deploy ${trigger.tag}"
    assert paths(body) == ["stages[0].manifests[0].spec.template.spec.containers[0].image"]
    granted = dataclasses.replace(
        TEAM_A, expression_fields={"stages[].manifests[].spec.template.spec.containers[].image"}
    )
    assert paths(body, granted) == []


@pytest.mark.parametrize(
    "text",
    [
        "${#fromUrl('http://halyard.spinnaker:8064/v1/config')}",
        "${#jsonFromUrl('http://169.254.169.254/latest/meta-data/')}",
        "${#readJson(trigger.payload)}",
        "${T(java.lang.Runtime).getRuntime()}",
        "${trigger.getClass()}",
        "${trigger.class.classLoader}",
        "${trigger.tag + 'x'}",
        "${trigger['${x}']}",
        "${ {'a': 1} }",
        "${trigger.tag",
    ],
)
def test_only_plain_references_even_in_free_text(text):
    body = build_to_dev()
    body["description"] = text
    assert paths(body) == ["description"]


def test_plain_references_pass_in_free_text():
    body = promote_to_prod()
    body["description"] = "${trigger.tag} ${parameters['replicas']} ${execution.id} ${#stage('Deploy')['outputs']['x']}"
    assert paths(body) == []


# ---- item 3: URLs ---------------------------------------------------------------------------------------------------

HOOKS = dataclasses.replace(TEAM_A, url_hosts={"https://hooks.example.com"})


@pytest.mark.parametrize(
    "url",
    [
        "http://spin-halyard.spinnaker:8064/v1/config/deployments/default",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://kubernetes.default.svc/api/v1/secrets",
        "http://spin-gate.spinnaker:8084/pipelines",
        "https://hooks.example.com@halyard:8064/",
        "https://hooks.example.com.evil.io/x",
        "http://hooks.example.com/x",
        "https://hooks.example.com:8443/x",
        "${trigger.url}",
        "file:///etc/passwd",
    ],
)
def test_a_webhook_may_call_only_granted_hosts(url):
    assert paths(webhook(url=url), HOOKS) == ["stages[1].url"]


def test_a_granted_webhook_is_accepted_but_not_its_status_from_the_answer():
    assert paths(webhook(url="https://HOOKS.example.com:443/deploy"), HOOKS) == []
    assert paths(webhook(url="https://hooks.example.com/deploy")) == ["stages[1].url"]
    body = webhook(url="https://hooks.example.com/d", waitForCompletion=True, statusUrlResolution="webhookResponse")
    assert paths(body, HOOKS) == ["stages[1].statusUrlResolution"]
    body = webhook(
        url="https://hooks.example.com/d",
        waitForCompletion=True,
        statusUrlResolution="getMethod",
        statusEndpoint="http://spin-halyard:8064/x",
        cancelEndpoint="https://hooks.example.com/cancel",
    )
    assert paths(body, HOOKS) == ["stages[1].statusEndpoint"]


def test_unknown_stage_types_such_as_preconfigured_webhooks_need_a_grant():
    body = with_stage({"type": "halyardAdmin", "parameters": {"path": "/v1/config"}})
    assert paths(body) == ["stages[1].type"]
    assert paths(body, dataclasses.replace(TEAM_A, stage_types={"halyardAdmin"})) == []


def test_webhook_notifications_and_url_artifacts_need_a_granted_host():
    body = build_to_dev()
    body["notifications"].append({"type": "googlechat", "address": "http://spin-halyard:8064/v1", "when": ["x"]})
    body["stages"][0]["notifications"] = [{"type": "microsoftteams", "address": "https://hooks.example.com/t"}]
    assert paths(body) == ["stages[0].notifications[0].address", "notifications[1].address"]
    assert paths(body, dataclasses.replace(HOOKS, url_hosts={"https://hooks.example.com"})) == [
        "notifications[1].address"
    ]
    body = build_to_dev()
    body["expectedArtifacts"].append(
        {
            "id": "cfg",
            "matchArtifact": {"type": "http/file", "name": "cfg"},
            "defaultArtifact": {"type": "http/file", "reference": "http://169.254.169.254/latest/user-data"},
        }
    )
    assert paths(body, HOOKS) == [
        "expectedArtifacts[1].matchArtifact.type",
        "expectedArtifacts[1].defaultArtifact.reference",
    ]


# ---- item 5: manifest stages ---------------------------------------------------------------------------------------


def test_only_allowlisted_namespaced_kinds():
    body = build_to_dev()
    body["stages"][0]["manifests"].append(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"}}
    )
    body["stages"][0]["manifests"].append({"apiVersion": "evil.io/v1", "kind": "Deployment", "metadata": {"name": "d"}})
    assert paths(body) == ["stages[0].manifests[2].kind", "stages[0].manifests[3].kind"]


def test_kinds_named_by_manifest_stages_are_checked():
    body = promote_to_prod()
    body["stages"][5]["kinds"] = ["clusterRoleBinding"]
    body["stages"].append(
        {
            "refId": "p",
            "requisiteStageRefIds": ["cleanup"],
            "type": "patchManifest",
            "account": "prod-team-a",
            "location": "team-a-prod",
            "manifestName": "mutatingWebhookConfiguration spinop",
            "patchBody": {"metadata": {"labels": {"a": "b"}}},
        }
    )
    assert paths(body) == ["stages[5].kinds[0]", "stages[6].manifestName"]


def test_the_moniker_annotation_must_name_the_pipelines_application():
    body = build_to_dev()
    body["stages"][0]["manifests"][0]["metadata"]["annotations"] = {"moniker.spinnaker.io/application": "payments"}
    assert paths(body) == ['stages[0].manifests[0].metadata.annotations["moniker.spinnaker.io/application"]']
    body["stages"][0]["manifests"][0]["metadata"]["annotations"] = {"moniker.spinnaker.io/application": "PetClinic"}
    assert paths(body) == []


def test_a_patch_may_not_move_an_object_into_another_application():
    body = goldengoose_deploy()
    promote = body["stages"][2]
    promote["patchBody"] = {"metadata": {"annotations": {"moniker.spinnaker.io/application": "payments"}}}
    assert paths(body, app="goldengoose") == [
        'stages[2].patchBody.metadata.annotations["moniker.spinnaker.io/application"]'
    ]
    promote["options"] = {"mergeStrategy": "json"}
    promote["patchBody"] = [
        {"op": "replace", "path": "/metadata/annotations/moniker.spinnaker.io~1application", "value": "payments"}
    ]
    assert paths(body, app="goldengoose") == ["stages[2].patchBody[0].value"]
    promote["patchBody"] = {"kind": "x"}
    promote.update(source="artifact", manifestArtifactId="built")
    assert paths(body, app="goldengoose") == ["stages[2].source"]


def test_many_refusals_cost_linear_time():
    # 40,000 refused keys and values: the report used to be deduplicated in quadratic time (minutes).
    body = build_to_dev()
    body["stages"][0]["args"] = ["${a}"] * 20_000
    body["stages"][0]["env"] = {f"${{k{i}}}": 1 for i in range(20_000)}
    started = time.monotonic()
    assert len(paths(body)) == 40_000
    assert time.monotonic() - started < 15


def test_bare_expressions_orca_wraps_itself_are_conditions_only():
    # orca OptionalStageSupport (stageEnabled) and ExpressionPreconditionTask evaluate "${" + expression + "}".
    body = build_to_dev()
    body["stages"][0]["stageEnabled"] = {"type": "expression", "expression": "trigger.tag != null && !parameters.x"}
    assert paths(body) == []
    body["stages"][0]["stageEnabled"]["expression"] = "#fromUrl('http://169.254.169.254/') != null"
    assert paths(body) == ["stages[0].stageEnabled.expression"]
    body = with_stage(
        {
            "type": "checkPreconditions",
            "preconditions": [{"type": "expression", "context": {"expression": "trigger.tag.length() > 0"}}],
        }
    )
    assert paths(body) == ["stages[1].preconditions[0].context.expression"]
    body = with_stage({"type": "evaluateVariables", "variables": [{"key": "a", "sourceExpression": "{1}"}]})
    assert paths(body) == ["stages[1].variables[0].sourceExpression"]
