"""Parse and validate spinop.io/v1alpha1 objects as the apiserver would (schema, defaults, CEL), in pure Python."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from spinop import API_VERSION
from spinop.api.errors import FieldError, from_validation_error
from spinop.api.v1alpha1.account import SpinnakerAccount
from spinop.api.v1alpha1.cluster import SpinnakerCluster
from spinop.api.v1alpha1.common import CustomResource
from spinop.api.v1alpha1.pipeline import SpinnakerPipeline

KINDS: tuple[type[CustomResource], ...] = (SpinnakerCluster, SpinnakerAccount, SpinnakerPipeline)
"""The three kinds, in the order `crdgen` writes them."""

_BY_KIND: dict[str, type[CustomResource]] = {cls.KIND: cls for cls in KINDS}


def resource_class(obj: Mapping[str, Any]) -> type[CustomResource]:
    """The model class for an object's apiVersion and kind; ValueError if it is not one of ours."""
    kind = obj.get("kind")
    if obj.get("apiVersion") != API_VERSION or kind not in _BY_KIND:
        raise ValueError(f"not a {API_VERSION} object: apiVersion={obj.get('apiVersion')!r} kind={kind!r}")
    return _BY_KIND[str(kind)]


def parse_resource(obj: Mapping[str, Any]) -> CustomResource:
    """Parse an API body into its model; raises pydantic.ValidationError or ValueError.

    Only the JSON (camelCase) names are accepted, as by the apiserver: `cache_threads` in a body is an unknown
    field. (Python code may still build models with Python names: `SpinnakerAccountSpec(cache_threads=2)`.)
    """
    return resource_class(obj).model_validate(obj, by_alias=True, by_name=False)


def validate_resource(obj: Mapping[str, Any]) -> tuple[CustomResource | None, list[FieldError]]:
    """Parse a body, returning the model or the FieldErrors that the CRD would also report."""
    try:
        cls = resource_class(obj)
    except ValueError as exc:
        return None, [FieldError("kind", str(exc))]
    try:
        return cls.model_validate(obj, by_alias=True, by_name=False), []
    except ValidationError as exc:
        return None, from_validation_error(exc)


def validate_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """Errors for an update from `old` to `new`: `new`'s own errors, then the CRD's transition (immutability) rules."""
    new_model, errors = validate_resource(new)
    old_model, old_errors = validate_resource(old)
    if errors or new_model is None:
        return errors
    if old_errors or old_model is None or type(old_model) is not type(new_model):
        return [FieldError("", "the old object is not a valid object of the same kind")]
    spec, old_spec = getattr(new_model, "spec"), getattr(old_model, "spec")  # noqa: B009
    update_errors = getattr(spec, "update_errors", None)
    return list(update_errors(old_spec)) if update_errors else []
