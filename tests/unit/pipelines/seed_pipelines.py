"""Legit tenant pipelines shaped after the seeds, and the scope of the tenant that owns them.

- 001 (Concourse + Harbor + Spinnaker): every new image goes to dev; an image tagged with a semantic version goes to
  prod with three replicas and a MySQL database. Both used red/black, which spinop asks to write as bluegreen.
- 003/004 (goldengoose): a Build pipeline triggered by a GitHub webhook applies a Knative Build; its success triggers
  Deploy, which deploys canary + baseline, runs Kayenta's automated canary analysis, promotes, and cleans up.
  The promotion to prod also waits for a manual judgment.

Each function returns a fresh `spec.pipeline` body (no id/application/name: those come from the resource).
"""

from __future__ import annotations

from typing import Any

from spinop.pipelines import TenantScope

TEAM_A = TenantScope(
    namespace="team-a",
    accounts={
        "dev-team-a": frozenset({"team-a-dev"}),
        "prod-team-a": frozenset({"team-a-prod"}),
    },
    applications=frozenset({"petclinic", "goldengoose"}),
    artifact_accounts=frozenset({"docker-registry", "github-team-a"}),
    registry_accounts=frozenset({"harbor-team-a"}),
    kayenta_accounts=frozenset({"prometheus-team-a", "gcs-team-a"}),
    pubsub_subscriptions=frozenset({"google/team-a-builds"}),
    # goldengoose builds its image with a Knative Build: a namespaced kind the cluster grants.
    manifest_kinds=frozenset({"Build.build.knative.dev"}),
)
IMAGE = "harbor.example.com/team-a/petclinic"


def image_artifact(artifact_id: str) -> dict[str, Any]:
    return {
        "id": artifact_id,
        "displayName": "petclinic image",
        "matchArtifact": {"type": "docker/image", "name": IMAGE, "artifactAccount": "docker-registry"},
        "defaultArtifact": {
            "type": "docker/image",
            "name": IMAGE,
            "reference": f"{IMAGE}:latest",
            "artifactAccount": "docker-registry",
        },
        "useDefaultArtifact": False,
        "usePriorArtifact": True,
    }


def replica_set(name: str, namespace: str, replicas: int, *, track: str = "stable") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "petclinic", "track": track}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "petclinic", "track": track}},
            "template": {
                "metadata": {"labels": {"app": "petclinic", "track": track}},
                "spec": {"containers": [{"name": "petclinic", "image": IMAGE, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def service(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "petclinic", "namespace": namespace},
        "spec": {"selector": {"app": "petclinic"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def build_to_dev() -> dict[str, Any]:
    """Seed 001: every image pushed to Harbor is deployed to dev (one replica, ephemeral storage), blue/green."""
    return {
        "description": "Every new petclinic image goes to dev",
        "keepWaitingPipelines": False,
        "limitConcurrent": True,
        "expectedArtifacts": [image_artifact("petclinic-image")],
        "triggers": [
            {
                "type": "docker",
                "enabled": True,
                "account": "harbor-team-a",
                "registry": "harbor.example.com",
                "organization": "team-a",
                "repository": "team-a/petclinic",
                "expectedArtifactIds": ["petclinic-image"],
            }
        ],
        "stages": [
            {
                "refId": "1",
                "requisiteStageRefIds": [],
                "type": "deployManifest",
                "name": "Deploy to dev",
                "cloudProvider": "kubernetes",
                "account": "dev-team-a",
                "source": "text",
                "manifests": [replica_set("petclinic", "team-a-dev", 1), service("team-a-dev")],
                "requiredArtifactIds": ["petclinic-image"],
                "moniker": {"app": "petclinic"},
                "skipExpressionEvaluation": False,
                "trafficManagement": {
                    "enabled": True,
                    "options": {"enableTraffic": True, "services": ["service petclinic"], "strategy": "bluegreen"},
                },
            }
        ],
        "notifications": [
            {"type": "slack", "address": "team-a-deploys", "when": ["pipeline.failed"], "level": "pipeline"}
        ],
    }


def promote_to_prod() -> dict[str, Any]:
    """Seed 001 + 003/004: a semver tag goes to prod after a manual judgment and a Kayenta canary."""
    return {
        "description": "Semantic-version tags go to prod: judgment, canary analysis, then blue/green",
        "limitConcurrent": True,
        "parameterConfig": [
            {"name": "replicas", "label": "Prod replicas", "default": "3", "required": True, "hasOptions": False}
        ],
        "expectedArtifacts": [image_artifact("release-image")],
        "triggers": [
            {
                "type": "docker",
                "enabled": True,
                "account": "harbor-team-a",
                "registry": "harbor.example.com",
                "organization": "team-a",
                "repository": "team-a/petclinic",
                "tag": r"^\d+\.\d+\.\d+$",
                "expectedArtifactIds": ["release-image"],
            },
            {
                "type": "pipeline",
                "enabled": False,
                "application": "petclinic",
                "pipeline": "dev-pipeline-id",
                "status": ["successful"],
            },
        ],
        "stages": [
            {
                "refId": "judge",
                "requisiteStageRefIds": [],
                "type": "manualJudgment",
                "name": "Promote to prod?",
                "instructions": "Check the dev deployment, then promote ${trigger['tag']}",
                "judgmentInputs": [{"value": "promote"}, {"value": "stop"}],
                "failPipeline": True,
                "stageTimeoutMs": 86_400_000,
                "notifications": [{"type": "slack", "address": "team-a-approvers", "when": ["manualJudgment"]}],
                "sendNotifications": True,
            },
            {
                "refId": "canary",
                "requisiteStageRefIds": ["judge"],
                "type": "deployManifest",
                "name": "Deploy canary",
                "account": "prod-team-a",
                "cloudProvider": "kubernetes",
                "source": "text",
                "manifests": [replica_set("petclinic-canary", "team-a-prod", 1, track="canary")],
                "requiredArtifactIds": ["release-image"],
                "moniker": {"app": "petclinic", "detail": "canary"},
            },
            {
                "refId": "baseline",
                "requisiteStageRefIds": ["judge"],
                "type": "deployManifest",
                "name": "Deploy baseline (current prod image)",
                "account": "prod-team-a",
                "cloudProvider": "kubernetes",
                "source": "text",
                "manifests": [replica_set("petclinic-baseline", "team-a-prod", 1, track="baseline")],
                "moniker": {"app": "petclinic", "detail": "baseline"},
            },
            {
                "refId": "aca",
                "requisiteStageRefIds": ["canary", "baseline"],
                "type": "kayentaCanary",
                "name": "Automated canary analysis",
                "analysisType": "realTime",
                "canaryConfig": {
                    "canaryConfigId": "petclinic-latency",
                    "metricsAccountName": "prometheus-team-a",
                    "storageAccountName": "gcs-team-a",
                    "lifetimeDuration": "PT30M",
                    "beginCanaryAnalysisAfterMins": "5",
                    "canaryAnalysisIntervalMins": "10",
                    "scoreThresholds": {"pass": "75", "marginal": "50"},
                    "scopes": [
                        {
                            "scopeName": "default",
                            "controlScope": "petclinic-baseline",
                            "controlLocation": "team-a-prod",
                            "experimentScope": "petclinic-canary",
                            "experimentLocation": "team-a-prod",
                            "step": 60,
                        }
                    ],
                },
            },
            {
                "refId": "prod",
                "requisiteStageRefIds": ["aca"],
                "type": "deployManifest",
                "name": "Deploy to prod (blue/green, MySQL)",
                "account": "prod-team-a",
                "cloudProvider": "kubernetes",
                "source": "text",
                "manifests": [
                    replica_set("petclinic", "team-a-prod", 3),
                    service("team-a-prod"),
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "petclinic-mysql", "namespace": "team-a-prod"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
                    },
                ],
                "requiredArtifactIds": ["release-image"],
                "moniker": {"app": "petclinic"},
                "trafficManagement": {
                    "enabled": True,
                    "options": {"enableTraffic": True, "services": ["service petclinic"], "strategy": "bluegreen"},
                },
            },
            {
                "refId": "cleanup",
                "requisiteStageRefIds": ["prod"],
                "type": "deleteManifest",
                "name": "Remove canary and baseline",
                "account": "prod-team-a",
                "cloudProvider": "kubernetes",
                "location": "team-a-prod",
                "mode": "label",
                "kinds": ["replicaSet"],
                "labelSelectors": {"selectors": [{"key": "track", "kind": "ANY", "values": ["canary", "baseline"]}]},
                "options": {"cascading": True},
            },
        ],
    }


def goldengoose_build() -> dict[str, Any]:
    """Seeds 003/004: a GitHub webhook applies a Knative Build in the tenant's dev namespace."""
    return {
        "triggers": [{"type": "webhook", "enabled": True, "source": "goldengoose-build"}],
        "stages": [
            {
                "refId": "1",
                "type": "deployManifest",
                "name": "Build image on cluster",
                "account": "dev-team-a",
                "cloudProvider": "kubernetes",
                "source": "text",
                "manifests": [
                    {
                        "apiVersion": "build.knative.dev/v1alpha1",
                        "kind": "Build",
                        "metadata": {"generateName": "goldengoose-", "namespace": "team-a-dev"},
                        "spec": {
                            "source": {"git": {"url": "https://github.com/team-a/goldengoose", "revision": "master"}},
                            "steps": [{"name": "build", "image": "gcr.io/kaniko-project/executor"}],
                        },
                    }
                ],
                "moniker": {"app": "goldengoose"},
            },
            {
                "refId": "2",
                "requisiteStageRefIds": ["1"],
                "type": "runJobManifest",
                "name": "Smoke test",
                "account": "dev-team-a",
                "cloudProvider": "kubernetes",
                "manifest": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": "goldengoose-smoke", "namespace": "team-a-dev"},
                    "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}},
                },
            },
        ],
    }


def goldengoose_deploy() -> dict[str, Any]:
    """Seeds 003/004: runs after Build, canary vs baseline analysed by Kayenta, then a rolling update."""
    return {
        "triggers": [
            {
                "type": "pipeline",
                "enabled": True,
                "application": "goldengoose",
                "pipeline": "build-id",
                "status": ["successful"],
            },
            {"type": "pubsub", "enabled": False, "pubsubSystem": "google", "subscriptionName": "team-a-builds"},
        ],
        "stages": [
            {
                "refId": "canary",
                "type": "deployManifest",
                "name": "Canary",
                "account": "prod-team-a",
                "namespaceOverride": "team-a-prod",
                "source": "text",
                "manifests": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "goldengoose-canary"}}
                ],
            },
            {
                "refId": "aca",
                "requisiteStageRefIds": ["canary"],
                "type": "kayentaCanary",
                "name": "ACA",
                "canaryConfig": {
                    "canaryConfigName": "goldengoose",
                    "metricsAccountName": "prometheus-team-a",
                    "storageAccountName": "gcs-team-a",
                    "lifetimeHours": "1",
                    "scopes": [
                        {
                            "scopeName": "default",
                            "controlScope": "goldengoose-baseline",
                            "controlLocation": "team-a-prod",
                            "experimentScope": "goldengoose-canary",
                            "experimentLocation": "team-a-prod",
                        }
                    ],
                },
                "deployments": {
                    "baseline": {"cloudProvider": "kubernetes", "account": "prod-team-a", "cluster": "goldengoose"},
                    "serverGroupPairs": [
                        {
                            "control": {"account": "prod-team-a", "moniker": {"app": "goldengoose"}},
                            "experiment": {"account": "prod-team-a", "moniker": {"app": "goldengoose"}},
                        }
                    ],
                },
            },
            {
                "refId": "promote",
                "requisiteStageRefIds": ["aca"],
                "type": "patchManifest",
                "name": "Promote (rolling update)",
                "account": "prod-team-a",
                "location": "team-a-prod",
                "manifestName": "deployment goldengoose",
                "patchBody": [{"spec": {"template": {"spec": {"containers": [{"name": "goldengoose"}]}}}}],
                "options": {"mergeStrategy": "strategic", "record": True},
            },
            {
                "refId": "findart",
                "requisiteStageRefIds": ["promote"],
                "type": "findArtifactFromExecution",
                "name": "Remember the build",
                "application": "goldengoose",
                "pipeline": "build-id",
                "executionOptions": {"successful": True},
                "expectedArtifacts": [
                    {"id": "built", "matchArtifact": {"type": "docker/image", "artifactAccount": "docker-registry"}}
                ],
            },
        ],
    }


LEGIT: dict[str, tuple[str, Any]] = {
    "build-to-dev": ("petclinic", build_to_dev),
    "promote-to-prod": ("petclinic", promote_to_prod),
    "goldengoose-build": ("goldengoose", goldengoose_build),
    "goldengoose-deploy": ("goldengoose", goldengoose_deploy),
}
