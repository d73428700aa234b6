"""spec.pipeline is free-form, so its depth and size are bounded by the model (webhook and reconcile alike): a body
the apiserver accepts (up to 10,000 levels, 1.5 MB) must be refused with a field path, never raise."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
import yaml

from spinop.api.crdgen import repo_crd_dir
from spinop.api.v1alpha1 import validate_resource
from spinop.api.v1alpha1.pipeline import MAX_PIPELINE_BYTES, MAX_PIPELINE_DEPTH, MAX_PIPELINE_KEYS


def _body(pipeline: Any) -> dict[str, Any]:
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerPipeline",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {"application": "app", "name": "deploy", "pipeline": pipeline},
    }


def _nested(levels: int) -> dict[str, Any]:
    """{"stages": [{"a": {"a": ... 1}}]}: `levels` levels in all, counting spec.pipeline itself and the innermost
    value, built without recursion."""
    inner: Any = 1
    for _ in range(levels - 3):
        inner = {"a": inner}
    return {"stages": [inner]}


def _errors(pipeline: Any) -> list[str]:
    return [str(e) for e in validate_resource(_body(pipeline))[1]]


@pytest.mark.parametrize("levels", [MAX_PIPELINE_DEPTH + 1, 1_500, 9_990])
def test_a_body_deeper_than_the_bound_is_refused_at_spec_pipeline_without_recursion(levels: int) -> None:
    assert sys.getrecursionlimit() <= 1_000 * 10  # the check must not depend on the operator's raised limit
    (error,) = _errors(_nested(levels))
    assert error.startswith(f"spec.pipeline: is nested more than {MAX_PIPELINE_DEPTH} levels deep (at stages[0].a.")


def test_a_body_at_the_depth_bound_is_accepted() -> None:
    assert _errors(_nested(MAX_PIPELINE_DEPTH)) == []


def test_a_realistic_pipeline_is_accepted() -> None:
    stage = {
        "type": "deployManifest",
        "account": "team-a-dev",
        "manifests": [{"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "x:1"}]}}}}],
    }
    assert _errors({"stages": [stage] * 50, "triggers": [], "limitConcurrent": True}) == []


@pytest.mark.parametrize(
    "pipeline",
    [
        {"stages": [{f"k{i}": i for i in range(100_000)}]},  # 100k keys
        {"stages": [{"description": "x" * 1_500_000}]},  # a 1.5 MB string
        {"stages": [{"description": "é" * (MAX_PIPELINE_BYTES // 5)}]},  # counted as kopf stores it: é is \u00e9
    ],
    ids=["100k-keys", "1.5MB-string", "escaped-non-ascii"],
)
def test_a_body_larger_than_the_bound_is_refused_with_its_size(pipeline: dict[str, Any]) -> None:
    (error,) = _errors(pipeline)
    assert error.startswith("spec.pipeline: ") and f"at most {MAX_PIPELINE_BYTES} bytes are accepted" in error, error


def test_too_many_top_level_keys_are_refused_as_the_crd_does() -> None:
    (error,) = _errors({f"k{i}": i for i in range(MAX_PIPELINE_KEYS + 1)})
    assert error.startswith("spec.pipeline: ")
    schema = yaml.safe_load((repo_crd_dir() / "spinnakerpipelines.yaml").read_text())
    spec = schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["pipeline"]["maxProperties"] == MAX_PIPELINE_KEYS


def test_the_check_stops_walking_once_the_body_cannot_fit() -> None:
    """A value takes at least 2 bytes of JSON, so counting values bounds the walk (the check runs in the event loop)."""
    body = {"stages": [{f"k{i}": i for i in range(200_000)}]}
    started = time.perf_counter()
    (error,) = _errors(body)
    assert error.startswith(f"spec.pipeline: has more than {MAX_PIPELINE_BYTES // 2} values"), error
    assert time.perf_counter() - started < 1.0
    minimal = [0] * (MAX_PIPELINE_BYTES // 2 - 6)  # {"stages":[0,...,0]} of exactly MAX_PIPELINE_BYTES bytes
    assert len(json.dumps({"stages": minimal}, separators=(",", ":"))) == MAX_PIPELINE_BYTES
    assert _errors({"stages": minimal}) == []
