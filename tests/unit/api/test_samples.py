"""deploy/samples: they parse, pass tenancy, and the pipelines use only team-a's accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop import tenancy
from spinop.api.v1alpha1 import (
    SpinnakerAccount,
    SpinnakerCluster,
    SpinnakerPipeline,
    validate_resource,
)

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return data


def objects() -> list[dict[str, Any]]:
    return [load(name) for name in yaml.safe_load((SAMPLES / "kustomization.yaml").read_text())["resources"]]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in objects() if o["kind"] == kind]


def test_kustomization_lists_every_sample() -> None:
    listed = yaml.safe_load((SAMPLES / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert [o["kind"] for o in objects()].count("SpinnakerCluster") == 3


@pytest.mark.parametrize("obj", [o for o in objects() if o["kind"] != "Namespace"], ids=lambda o: o["metadata"]["name"])
def test_samples_parse(obj: dict[str, Any]) -> None:
    model, errors = validate_resource(obj)
    assert errors == []
    assert model is not None


def test_clusters_are_dev_staging_prod() -> None:
    clusters = [SpinnakerCluster.model_validate(o) for o in of_kind("SpinnakerCluster")]
    assert [c.metadata.name for c in clusters] == ["dev", "staging", "prod"]
    for c in clusters:
        assert c.spec.environment == c.metadata.name
        assert c.spec.kubeconfig_secret_ref.name == f"{c.metadata.name}-admin-kubeconfig"
        assert c.spec.tenancy.namespace_pattern == "{tenant}-{environment}"
        assert c.spec.tenancy.namespace_selector is not None
        assert c.spec.tenancy.namespace_selector.match_labels == {"spinop.io/tenant": "true"}


def test_team_a_accounts_pass_tenancy() -> None:
    (namespace,) = of_kind("Namespace")
    clusters = {o["metadata"]["name"]: SpinnakerCluster.model_validate(o) for o in of_kind("SpinnakerCluster")}
    accounts = [SpinnakerAccount.model_validate(o) for o in of_kind("SpinnakerAccount")]
    assert sorted(a.spec.cluster for a in accounts) == sorted(clusters)
    claims = [tenancy.AccountClaim.from_resource(a) for a in accounts]
    for a in accounts:
        assert a.metadata.namespace == namespace["metadata"]["name"] == "team-a"
        judged = tenancy.AccountUnderJudgement(
            a.spec,
            "team-a",
            a.metadata.name or "",
            namespace["metadata"]["labels"],
            a.spec.cluster,
            clusters[a.spec.cluster].spec,
            ("spinop-system", "devops"),
        )
        errors = tenancy.check_account(judged, claims)
        assert errors == []


def _values(node: Any, key: str) -> list[Any]:
    """Every value of `key` anywhere in a nested structure."""
    if isinstance(node, dict):
        own = [node[key]] if key in node else []
        return own + [v for child in node.values() for v in _values(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _values(child, key)]
    return []


def test_pipelines_use_only_team_a_accounts() -> None:
    account_names = {
        SpinnakerAccount.model_validate(o).spec.effective_account_name for o in of_kind("SpinnakerAccount")
    }
    pipelines = [SpinnakerPipeline.model_validate(o) for o in of_kind("SpinnakerPipeline")]
    assert [p.spec.name for p in pipelines] == ["build-to-dev", "promote-to-prod"]
    for p in pipelines:
        assert p.metadata.namespace == "team-a"
        stages = p.spec.pipeline["stages"]
        kubernetes_accounts = {s["account"] for s in stages if "account" in s}
        assert kubernetes_accounts <= account_names, kubernetes_accounts - account_names
        namespaces = set(_values(stages, "namespace")) | set(_values(stages, "location"))
        assert all(ns.startswith("team-a-") for ns in namespaces), namespaces
        others = set(_values(p.spec.pipeline, "account")) - account_names
        others |= set(_values(p.spec.pipeline, "metricsAccountName")) | set(
            _values(p.spec.pipeline, "storageAccountName")
        )
        assert all(name.startswith("team-a-") for name in others), others  # the team's registry and Kayenta accounts
        apps = {s["app"] for s in stages if "app" in s} | {s["moniker"]["app"] for s in stages if "moniker" in s}
        assert apps == {p.spec.application}


def test_pipeline_pair_has_the_seed_shape() -> None:
    build, promote = (SpinnakerPipeline.model_validate(o).spec.pipeline for o in of_kind("SpinnakerPipeline"))
    assert build["triggers"][0]["type"] == "docker" and build["triggers"][0]["tag"] == "^latest$"
    assert {s["account"] for s in build["stages"]} == {"dev-team-a-dev"}
    assert promote["triggers"][0]["type"] == "docker" and "[0-9]+" in promote["triggers"][0]["tag"]
    types = [s["type"] for s in promote["stages"]]
    assert {"manualJudgment", "kayentaCanary", "deployManifest"} <= set(types)
    bluegreen = [s for s in promote["stages"] if s.get("trafficManagement", {}).get("enabled")]
    assert bluegreen and bluegreen[0]["trafficManagement"]["options"]["strategy"] == "bluegreen"
    assert bluegreen[0]["account"] == "prod-team-a-prod"
    ref_ids = {s["refId"] for s in promote["stages"]}
    assert all(set(s["requisiteStageRefIds"]) <= ref_ids for s in promote["stages"])
