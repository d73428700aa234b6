"""Wire facts of Orca's expression evaluation, webhook stages and Kubernetes manifest handling that the pipeline
tenant guard (spinop.pipelines.guard, spinop.pipelines.expressions) relies on.

Read upstream (bare clones via the fetch tool):
- github:spinnaker/kork kork-expressions/src/main/java/com/netflix/spinnaker/kork/expressions/ExpressionTransform.java:
  `transformMap` puts `transform(key, ...)` as the result's key for every entry, so map keys are evaluated like
  values; `isExpression` is `obj instanceof String && obj.toString().contains(parserContext.getExpressionPrefix())`.
- github:spinnaker/orca orca-core/src/main/java/com/netflix/spinnaker/orca/pipeline/expressions/
  PipelineExpressionEvaluator.java:
  `new TemplateParserContext("${", "}")` is the only parser context (no other expression syntax); `evaluate`
  runs `ExpressionTransform.transformMap` over the whole stage/pipeline map.
- github:spinnaker/orca orca-core/src/main/java/com/netflix/spinnaker/orca/pipeline/util/ContextParameterProcessor.java:
  `processPipeline`/`process` hand the whole map to that evaluator (with spelEvaluator v4, stages at stage start).
- github:spinnaker/orca orca-core/.../pipeline/expressions/functions/UrlExpressionFunctionProvider.java: the helpers
  fromUrl, jsonFromUrl, yamlFromUrl, propertiesFromUrl, readJson, readYaml (the first four make Orca fetch a URL).
- github:spinnaker/orca orca-clouddriver/.../pipeline/manifest/DeployManifestStage.java `processExpressions`:
  `skipExpressionEvaluation` only leaves `manifests` unevaluated (processDefaultEntries), the rest still is.
- github:spinnaker/orca orca-webhook/.../pipeline/WebhookStage.java StageData (`url`, `statusEndpoint`,
  `cancelEndpoint`, `statusUrlResolution`) and .../config/WebhookProperties.java `enum StatusUrlResolution
  {getMethod, locationHeader, webhookResponse}`; .../pipeline/PreconfiguredWebhookStage.java: any other stage type
  whose name matches an admin-configured webhook is a webhook too.
- github:spinnaker/orca orca-clouddriver/.../pipeline/manifest/*Stage.java PIPELINE_CONFIG_TYPE: deployManifest,
  deleteManifest, patchManifest, scaleManifest, undoRolloutManifest, disableManifest, enableManifest,
  rollingRestartManifest, pauseRolloutManifest, resumeRolloutManifest (and runJobManifest, RunJobManifestContext).
- github:spinnaker/orca orca-core/.../pipeline/model/OptionalStageSupport.java (`format("${%s}", expression)` for
  `stageEnabled: {type: expression}`), orca-core/.../pipeline/tasks/ExpressionPreconditionTask.java
  (`"${" + stageData.expression + '}'`) and orca-core/.../pipeline/EvaluateVariablesStage.java
  (`prepareStageForRestart`: `sourceExpression.replace("{", "${")`): three strings Orca evaluates without `${`.
- github:spinnaker/clouddriver clouddriver-kubernetes/.../description/manifest/KubernetesManifestAnnotater.java:
  the application annotation is "moniker." + "spinnaker.io" + "/application".
- github:spinnaker/clouddriver clouddriver-artifacts/.../*ArtifactCredentials.java `types`: http/file, github/file,
  gitlab/file, bitbucket/file, git/repo fetch their `reference`; embedded/base64 carries the content itself.
"""

from __future__ import annotations

import pytest

from spinop.pipelines import guard
from spinop.pipelines.expressions import EXPRESSION_PREFIX, has_expression, is_plain_reference


def test_orca_evaluates_only_dollar_brace_and_anywhere_in_a_string() -> None:
    # PipelineExpressionEvaluator: TemplateParserContext("${", "}"); ExpressionTransform.isExpression: contains().
    assert EXPRESSION_PREFIX == "${"
    assert has_expression("prefix ${trigger.tag} suffix") and has_expression("${")
    assert not has_expression("#{not orca}") and not has_expression("$ {x}")


@pytest.mark.parametrize(
    "helper", ["fromUrl", "jsonFromUrl", "yamlFromUrl", "propertiesFromUrl", "readJson", "readYaml"]
)
def test_every_url_expression_helper_is_refused(helper: str) -> None:
    # UrlExpressionFunctionProvider's function names.
    assert not is_plain_reference("${#" + helper + "('http://spin-halyard:8064/v1/config')}")


def test_the_webhook_status_url_resolutions() -> None:
    # WebhookProperties.StatusUrlResolution: only getMethod keeps the status URL in the stage (statusEndpoint).
    scope = guard.TenantScope(namespace="t", accounts={}, applications={"a"}, url_hosts={"https://h.example"})
    for resolution, refused in (("getMethod", False), ("locationHeader", True), ("webhookResponse", True)):
        body = {
            "application": "a",
            "stages": [
                {
                    "refId": "1",
                    "type": "webhook",
                    "url": "https://h.example/x",
                    "waitForCompletion": True,
                    "statusUrlResolution": resolution,
                    "statusEndpoint": "https://h.example/status",
                }
            ],
        }
        paths = [v.path for v in guard.check_pipeline(body, scope)]
        assert paths == (["spec.pipeline.stages[0].statusUrlResolution"] if refused else []), resolution


def test_orcas_manifest_stage_types_are_all_manifest_stages() -> None:
    upstream = {
        "deployManifest",
        "deleteManifest",
        "patchManifest",
        "scaleManifest",
        "undoRolloutManifest",
        "disableManifest",
        "enableManifest",
        "rollingRestartManifest",
        "pauseRolloutManifest",
        "resumeRolloutManifest",
        "runJobManifest",
    }
    assert upstream <= guard.MANIFEST_STAGES


def test_clouddrivers_moniker_application_annotation() -> None:
    assert guard.MONIKER_APPLICATION == "moniker." + "spinnaker.io" + "/application"


def test_clouddrivers_url_fetching_artifact_types() -> None:
    assert {"http/file", "github/file", "gitlab/file", "bitbucket/file", "git/repo"} == guard.URL_ARTIFACT_TYPES


def test_strings_orca_wraps_in_dollar_brace_itself_are_checked() -> None:
    scope = guard.TenantScope(namespace="t", accounts={}, applications={"a"})
    stage = {"refId": "1", "type": "wait", "stageEnabled": {"type": "expression", "expression": "#fromUrl('x')"}}
    precondition = {"type": "expression", "context": {"expression": "#readJson('{}')"}}
    body = {
        "application": "a",
        "stages": [
            stage,
            {"refId": "2", "type": "checkPreconditions", "preconditions": [precondition]},
            {"refId": "3", "type": "evaluateVariables", "variables": [{"key": "k", "sourceExpression": "{1}"}]},
        ],
    }
    assert [v.path for v in guard.check_pipeline(body, scope)] == [
        "spec.pipeline.stages[0].stageEnabled.expression",
        "spec.pipeline.stages[1].preconditions[0].context.expression",
        "spec.pipeline.stages[2].variables[0].sourceExpression",
    ]
