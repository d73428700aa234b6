"""The generated CRDs: up to date, structural, and in agreement with the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from spinop import GROUP, VERSION
from spinop.api import crdgen
from spinop.api.v1alpha1 import KINDS, CustomResource, SpinnakerAccount, SpinnakerCluster, SpinnakerPipeline
from tests.unit.api.schema_walk import apply_defaults, model_mismatches, walk_schema

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"


@pytest.fixture(scope="module")
def crds() -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: crd for crd in crdgen.build_crds()}


def root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def part(resource: type[CustomResource], name: str) -> type[BaseModel]:
    annotation = resource.model_fields[name].annotation
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation


def test_crds_directory_is_up_to_date() -> None:
    stale = crdgen.stale_crds(crdgen.repo_crd_dir())
    assert not stale, f"regenerate with `spinop crds` (crdgen.write_crds): {stale}"
    assert sorted(p.name for p in crdgen.repo_crd_dir().glob("*.yaml")) == sorted(crdgen.rendered_crds())


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = crdgen.rendered_crds()
    assert crdgen.rendered_crds() == first
    written = crdgen.write_crds(tmp_path / "crds")
    assert [p.name for p in written] == ["spinnakerclusters.yaml", "spinnakeraccounts.yaml", "spinnakerpipelines.yaml"]
    assert crdgen.stale_crds(tmp_path / "crds") == []
    (tmp_path / "crds" / "spinnakeraccounts.yaml").write_text("stale\n")
    assert crdgen.stale_crds(tmp_path / "crds") == [tmp_path / "crds" / "spinnakeraccounts.yaml"]


def test_names_scope_and_subresources(crds: dict[str, dict[str, Any]]) -> None:
    expected = {
        "SpinnakerCluster": ("spinnakerclusters", "Cluster"),
        "SpinnakerAccount": ("spinnakeraccounts", "Namespaced"),
        "SpinnakerPipeline": ("spinnakerpipelines", "Namespaced"),
    }
    short_names: list[str] = []
    for kind, (plural, scope) in expected.items():
        crd = crds[kind]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
        assert crd["spec"]["group"] == GROUP
        assert crd["spec"]["scope"] == scope
        names = crd["spec"]["names"]
        assert (names["plural"], names["listKind"], names["categories"]) == (plural, f"{kind}List", ["spinnaker"])
        short_names += names["shortNames"]
        (version,) = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
        assert version["subresources"] == {"status": {}}
    assert len(short_names) == len(set(short_names))
    assert "pipeline" not in crds["SpinnakerPipeline"]["spec"]["names"]["shortNames"]  # never collide with Tekton


@pytest.mark.parametrize("resource", KINDS, ids=lambda r: r.KIND)
def test_every_model_field_is_in_the_schema(resource: type[CustomResource], crds: dict[str, dict[str, Any]]) -> None:
    properties = root_schema(crds[resource.KIND])["properties"]
    assert set(properties) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert root_schema(crds[resource.KIND])["required"] == ["spec"]
    problems = [
        *model_mismatches(part(resource, "spec"), properties["spec"], "spec"),
        *model_mismatches(part(resource, "status"), properties["status"], "status"),
    ]
    assert problems == []


@pytest.mark.parametrize("resource", KINDS, ids=lambda r: r.KIND)
def test_schema_is_structural_and_bounded(resource: type[CustomResource], crds: dict[str, dict[str, Any]]) -> None:
    """Every field typed, no keys the apiserver rejects, and sizes bounded so that CEL cost estimates pass."""
    problems = []
    for path, node in walk_schema(root_schema(crds[resource.KIND])):
        forbidden = {"$ref", "anyOf", "oneOf", "allOf", "nullable", "title", "const", "uniqueItems"} & set(node)
        if forbidden:
            problems.append(f"{path}: {forbidden}")
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{path}: untyped")
        if path.startswith(("metadata", "apiVersion", "kind")):
            continue
        if node.get("type") == "array" and "maxItems" not in node:
            problems.append(f"{path}: array without maxItems")
        if (
            node.get("type") == "string"
            and not ({"maxLength", "enum"} & set(node))
            and node.get("format") != "date-time"
        ):
            problems.append(f"{path}: string without maxLength")
        if isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node:
            problems.append(f"{path}: map without maxProperties")
    assert problems == []


def test_conditions_are_a_map_list_keyed_by_type(crds: dict[str, dict[str, Any]]) -> None:
    for crd in crds.values():
        conditions = root_schema(crd)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert {"type", "status"} <= set(conditions["items"]["required"])
        assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def _rules(crd: dict[str, Any]) -> list[tuple[str, Mapping[str, Any], dict[str, str]]]:
    return [
        (path, node, rule)
        for path, node in walk_schema(root_schema(crd))
        for rule in node.get("x-kubernetes-validations", ())
    ]


def all_cel_rules() -> list[tuple[str, str, Mapping[str, str]]]:
    return [(crd["spec"]["names"]["kind"], path, rule) for crd in crdgen.build_crds() for path, _, rule in _rules(crd)]


def test_cel_rules_are_well_formed(crds: dict[str, dict[str, Any]]) -> None:
    for crd in crds.values():
        for path, node, rule in _rules(crd):
            assert set(rule) <= {"rule", "message", "fieldPath", "reason"}, path
            assert rule["message"], path
            field_path = rule.get("fieldPath")
            if field_path:
                assert field_path.lstrip(".") in node.get("properties", {}), f"{path}: fieldPath {field_path}"
            assert rule.get("reason", "FieldValueInvalid") in (
                "FieldValueInvalid",
                "FieldValueForbidden",
                "FieldValueRequired",
                "FieldValueDuplicate",
            )
            # CEL names `namespace` (a reserved word) __namespace__; a bare self.namespace would not compile.
            assert not re.search(r"\bself\.namespace\b", rule["rule"]), path
            if "oldSelf" in rule["rule"] and not path.endswith("spec"):
                assert rule["rule"] == "self == oldSelf", f"{path}: transition rules on optional fields need has()"


def _rules_by_path(crd: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, _, rule in _rules(crd):
        out.setdefault(path, []).append(rule["rule"])
    return out


def test_expected_cel_rules_are_present(crds: dict[str, dict[str, Any]]) -> None:
    by_kind = {kind: _rules_by_path(crd) for kind, crd in crds.items()}
    account_rules = by_kind["SpinnakerAccount"]
    assert account_rules["spec.cluster"] == ["self == oldSelf"]
    assert account_rules["spec.namespace"] == ["self == oldSelf"]
    assert any("oldSelf.accountName" in r for r in account_rules["spec"])
    assert any("omitKinds" in r for r in account_rules["spec"])
    assert len(account_rules["spec.extraRules[]"]) == 3
    assert by_kind["SpinnakerPipeline"]["spec.application"] == ["self == oldSelf"]
    assert by_kind["SpinnakerPipeline"]["spec.pipeline"] == [
        "!has(self.id)",
        "!has(self.application)",
        "!has(self.name)",
    ]
    assert "self.metadata.name" in by_kind["SpinnakerCluster"][""][0]
    assert len(by_kind["SpinnakerCluster"]["spec.credentials"]) == 4
    assert len(by_kind["SpinnakerCluster"]["spec.tenancy.allowedExtraRules[]"]) == 3


def test_pipeline_body_is_free_form_but_cel_visible(crds: dict[str, dict[str, Any]]) -> None:
    body = root_schema(crds["SpinnakerPipeline"])["properties"]["spec"]["properties"]["pipeline"]
    assert body["type"] == "object"
    assert body["x-kubernetes-preserve-unknown-fields"] is True
    assert set(body["properties"]) == {"id", "application", "name"}


@pytest.mark.parametrize("resource", KINDS, ids=lambda r: r.KIND)
def test_printer_columns_point_at_schema_fields(
    resource: type[CustomResource], crds: dict[str, dict[str, Any]]
) -> None:
    version = crds[resource.KIND]["spec"]["versions"][0]
    columns = version["additionalPrinterColumns"]
    assert columns[-1] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": "Time since creation.",
    }
    paths = {path for path, _ in walk_schema(version["schema"]["openAPIV3Schema"])}
    for column in columns[:-1]:
        field = re.sub(r"\[\?\(@\.type==\"\w+\"\)\]", "[]", column["jsonPath"]).lstrip(".")
        assert field in paths, column
    names = [c["name"] for c in columns]
    assert "Ready" in names


def test_printer_column_names() -> None:
    assert [c.name for c in SpinnakerAccount.PRINTER_COLUMNS] == [
        "Ready",
        "Reason",
        "Cluster",
        "Remote Namespace",
        "Spinnaker Account",
        "Age",
    ]
    assert [c.name for c in SpinnakerPipeline.PRINTER_COLUMNS] == [
        "Application",
        "Pipeline",
        "Ready",
        "Last Synced",
        "Age",
    ]
    assert [c.name for c in SpinnakerCluster.PRINTER_COLUMNS] == [
        "Environment",
        "Reachable",
        "Version",
        "Accounts",
        "Ready",
        "Age",
    ]
    ready = SpinnakerAccount.PRINTER_COLUMNS[0]
    assert ready.json_path == '.status.conditions[?(@.type=="Ready")].status'


MINIMAL = [
    {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerCluster",
        "metadata": {"name": "dev"},
        "spec": {"kubeconfigSecretRef": {"name": "dev-admin-kubeconfig"}, "environment": "dev"},
    },
    {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerCluster",
        "metadata": {"name": "dev"},
        "spec": {
            "kubeconfigSecretRef": {"name": "k"},
            "environment": "dev",
            "tenancy": {
                "namespaceSelector": {},
                "allowedExtraRules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            },
            "credentials": {"type": "ServiceAccountTokenSecret"},
        },
    },
    {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "dev", "namespace": "team-a"},
        "spec": {
            "cluster": "dev",
            "namespace": "team-a-dev",
            "customResources": [{"kubernetesKind": "Rollout.argoproj.io"}],
        },
    },
    {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerPipeline",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {"application": "app", "name": "deploy", "pipeline": {"stages": [], "extra": {"nested": None}}},
    },
]


def _all_inputs() -> list[dict[str, Any]]:
    samples = [yaml.safe_load(p.read_text()) for p in sorted(SAMPLES.glob("spinnaker*.yaml"))]
    return MINIMAL + samples


@pytest.mark.parametrize("obj", _all_inputs(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_pydantic_defaults_equal_apiserver_defaults(obj: dict[str, Any], crds: dict[str, dict[str, Any]]) -> None:
    """Defaulting with the CRD schema gives the same spec as parsing with the model and dumping it."""
    resource = next(r for r in KINDS if obj["kind"] == r.KIND)
    spec_schema = root_schema(crds[resource.KIND])["properties"]["spec"]
    from_schema = apply_defaults(spec_schema, obj["spec"])
    from_model = resource.model_validate(obj).to_dict()["spec"]
    assert from_model == from_schema
