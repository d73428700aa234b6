"""SpinnakerPipeline bodies for the integration tests: a legit tenant pipeline to start from."""

from __future__ import annotations

import copy
from typing import Any

from spinop import API_VERSION


def spinnaker_pipeline(
    namespace: str, name: str, application: str, pipeline_name: str, body: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerPipeline",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"application": application, "name": pipeline_name, "pipeline": copy.deepcopy(body), **spec},
    }


def deployment(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"registry.example.com/{name}:1.0"}]},
            },
        },
    }


def deploy_pipeline(*, application: str, account: str, namespace: str, tenant: str) -> dict[str, Any]:
    """A tenant's ordinary deploy pipeline: a docker trigger on its registry, one manifest in its namespace."""
    return {
        "description": "deploy web",
        "limitConcurrent": True,
        "expectedArtifacts": [
            {
                "id": "image",
                "displayName": "web image",
                "matchArtifact": {
                    "type": "docker/image",
                    "name": "registry.example.com/web",
                    "artifactAccount": f"{tenant}-github",
                },
                "useDefaultArtifact": False,
                "usePriorArtifact": False,
            }
        ],
        "triggers": [
            {
                "type": "docker",
                "enabled": True,
                "account": f"{tenant}-registry",
                "registry": "registry.example.com",
                "repository": "web",
                "expectedArtifactIds": ["image"],
            }
        ],
        "stages": [
            {
                "refId": "1",
                "requisiteStageRefIds": [],
                "type": "deployManifest",
                "name": "Deploy web",
                "cloudProvider": "kubernetes",
                "account": account,
                "moniker": {"app": application},
                "source": "text",
                "requiredArtifactIds": ["image"],
                "manifests": [deployment("web", namespace)],
            }
        ],
    }
