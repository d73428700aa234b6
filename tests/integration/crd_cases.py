"""Data for test_crds.py: the CRD schemas, the samples and corpus cases rewritten so runs never collide, and
parsers for what kubectl prints (explain, tables)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from spinop.api.crdgen import load_crds, repo_crd_dir
from tests.unit.api.invalid_corpus import BASE_SETUP, InvalidCase

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
MAX_CLUSTER_NAME = 36


def crds_by_kind() -> dict[str, dict[str, Any]]:
    """The CRDs as committed in crds/ (what the `crds` fixture applies), by kind."""
    return {crd["spec"]["names"]["kind"]: crd for crd in load_crds(sorted(repo_crd_dir().glob("*.yaml")))}


def root_schema(crd: Mapping[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def spec_schema(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = root_schema(crds_by_kind()[kind])["properties"]["spec"]
    return spec


def plural(kind: str) -> str:
    return kind.lower() + "s"


# --- samples ------------------------------------------------------------------------------------------------


def sample_objects() -> list[dict[str, Any]]:
    """deploy/samples in kustomization order."""
    listed = yaml.safe_load((SAMPLES / "kustomization.yaml").read_text())["resources"]
    return [yaml.safe_load((SAMPLES / name).read_text()) for name in listed]


def rewrite_sample(
    obj: Mapping[str, Any], tenant: str, sample_tenant: str, clusters: Mapping[str, str]
) -> dict[str, Any]:
    """A sample moved into `tenant` (for `sample_tenant`) and onto the renamed SpinnakerClusters `clusters`."""
    out = copy.deepcopy(dict(obj))
    meta, spec = out["metadata"], out.get("spec", {})
    if out["kind"] == "SpinnakerCluster":
        meta["name"] = clusters[meta["name"]]
    elif "namespace" in meta:
        meta["namespace"] = tenant
    if out["kind"] == "SpinnakerAccount":
        spec["cluster"] = clusters[spec["cluster"]]
        assert spec["namespace"].startswith(f"{sample_tenant}-"), spec["namespace"]
        spec["namespace"] = tenant + spec["namespace"][len(sample_tenant) :]
    return out


def strip_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` without the properties that equal their schema default (so the apiserver has to fill them in)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        properties = schema.get("properties", {})
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None:
                out[key] = copy.deepcopy(item)
                continue
            stripped = strip_defaults(sub, item)
            if "default" in sub and stripped == sub["default"]:
                continue
            out[key] = stripped
        return out
    if isinstance(value, list) and "items" in schema:
        return [strip_defaults(schema["items"], item) for item in value]
    return copy.deepcopy(value)


# --- the invalid corpus -------------------------------------------------------------------------------------


def corpus_namespace_labels() -> dict[str, dict[str, str]]:
    """The corpus's tenant namespaces (from BASE_SETUP) and their labels."""
    return {
        obj["metadata"]["name"]: dict(obj["metadata"].get("labels") or {})
        for obj in BASE_SETUP
        if obj["kind"] == "Namespace"
    }


def corpus_objects(case: InvalidCase) -> Iterator[Mapping[str, Any]]:
    yield from case.setup
    if case.old is not None:
        yield case.old
    yield case.obj


def unique_cluster_name(name: str, suffix: str) -> str:
    """`name` made unique with `suffix`, on the same side of the 36-character limit as `name`."""
    if len(name) > MAX_CLUSTER_NAME:
        return f"{name}-{suffix}"
    return f"{name[: MAX_CLUSTER_NAME - len(suffix) - 1].rstrip('-')}-{suffix}"


def replay_body(obj: Mapping[str, Any], tenants: Mapping[str, str], suffix: str) -> dict[str, Any]:
    """A corpus object as sent to a shared apiserver: tenant namespaces mapped to this run's, cluster names unique.

    Only names change: spec values (spec.cluster, spec.namespace, ...) are sent as the corpus has them, because the
    schema layer checks their shape, never whether what they name exists.
    """
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    if out["kind"] == "SpinnakerCluster":
        meta["name"] = unique_cluster_name(meta["name"], suffix)
    elif "namespace" in meta:
        meta["namespace"] = tenants[meta["namespace"]]
    return out


def lookup(obj: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path such as spec.permissions.read (no list indexes)."""
    node: Any = obj
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


# --- kubectl output -----------------------------------------------------------------------------------------

_EXPLAIN_FIELD = re.compile(r"^  (?P<name>\S+)\t<(?P<type>[^>]*)>(?: -required-)?$")


def explained_paths(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every object node with properties, by the path kubectl explain uses (array items are transparent)."""
    if schema.get("properties"):
        yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from explained_paths(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from explained_paths(schema["items"], path)


def explain_fields(text: str) -> dict[str, str]:
    """The FIELDS section of `kubectl explain` output: field name -> its description on one line."""
    lines = text.splitlines()
    if "FIELDS:" not in lines:
        return {}
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[lines.index("FIELDS:") + 1 :]:
        match = _EXPLAIN_FIELD.match(line)
        if match:
            current = fields.setdefault(match["name"], [])
        elif line.startswith("    ") and current is not None:
            current.append(line.strip())
    return {name: " ".join(words) for name, words in fields.items()}


def explain_description(text: str) -> str:
    """The DESCRIPTION section of `kubectl explain` output, on one line."""
    lines = text.splitlines()
    if "DESCRIPTION:" not in lines:
        return ""
    words = []
    for line in lines[lines.index("DESCRIPTION:") + 1 :]:
        if line and not line.startswith(" "):
            break
        words.append(line.strip())
    return " ".join(w for w in words if w)


def table_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A `kubectl get` table: its headers and each row as header -> cell (columns are left-aligned)."""
    header, *rows = [line for line in text.splitlines() if line.strip()]
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [name for _, name in spans]
    ends = [start for start, _ in spans[1:]] + [None]
    parsed = [{name: row[start:end].strip() for (start, name), end in zip(spans, ends, strict=True)} for row in rows]
    return names, parsed
