"""SpinnakerCluster spec.tenancy.pipelines: the grants admit only shapes the guard reads exactly (pydantic and the
generated CRD schema agree: the patterns are the CRD's)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spinop.api.v1alpha1.cluster import Tenancy
from spinop.api.v1alpha1.pipeline_tenancy import PipelineTenancy
from spinop.pipelines.expressions import field_matches, parse_field_pattern
from spinop.pipelines.guard import url_origin


def test_omitted_grants_nothing() -> None:
    grants = Tenancy().pipelines
    assert grants == PipelineTenancy()
    assert not (grants.expression_fields or grants.allowed_url_hosts or grants.allowed_manifest_kinds)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowedUrlHosts", "hooks.example.com"),
        ("allowedUrlHosts", "https://user@hooks.example.com"),
        ("allowedUrlHosts", "https://hooks.example.com/path"),
        ("allowedUrlHosts", "ftp://hooks.example.com"),
        ("allowedUrlHosts", "https://*.example.com"),
        ("expressionFields", "stages[].a b"),
        ("expressionFields", "stages[0].image"),
        ("expressionFields", ""),
        ("allowedManifestKinds", "Build/build.knative.dev"),
        ("stageTypes", "web hook"),
    ],
)
def test_malformed_grants_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        PipelineTenancy.model_validate({field: [value]})


def test_a_granted_host_is_what_the_guard_compares() -> None:
    grant = PipelineTenancy.model_validate({"allowedUrlHosts": ["https://hooks.example.com:8443"]})
    assert grant.allowed_url_hosts == ["https://hooks.example.com:8443"]
    assert url_origin("https://hooks.example.com:8443/deploy?x=1") == "https://hooks.example.com:8443"
    assert url_origin("https://hooks.example.com/deploy") != "https://hooks.example.com:8443"


def test_field_patterns() -> None:
    pattern = parse_field_pattern("stages[].manifests[].metadata.annotations.*")
    assert field_matches(("stages", 0, "manifests", 3, "metadata", "annotations", "a.b/c"), pattern)
    assert not field_matches(("stages", 0, "manifests", 3, "metadata", "annotations", 0), pattern)
    assert not field_matches(("stages", 0, "manifests", 3, "metadata", "labels", "a"), pattern)
