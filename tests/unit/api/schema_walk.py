"""Helpers to compare pydantic models with generated CRD schemas, and to default objects as the apiserver does."""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator, Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def strip(annotation: Any) -> Any:
    """Remove Optional[...] and Annotated[...] wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            assert len(args) == 1, f"unexpected union {annotation}"
            annotation = args[0]
        else:
            return annotation


def type_mismatches(annotation: Any, schema: Mapping[str, Any], path: str) -> Iterator[str]:
    """Where the schema's type, enum or shape differs from the Python annotation."""
    annotation = strip(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if schema.get("type") != "object":
            yield f"{path}: expected object"
        yield from model_mismatches(annotation, schema, path)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        if schema.get("type") != "string" or schema.get("enum") != [m.value for m in annotation]:
            yield f"{path}: expected string enum {[m.value for m in annotation]}, got {schema.get('enum')}"
    elif origin is Literal:
        if schema.get("enum") != list(get_args(annotation)):
            yield f"{path}: expected enum {get_args(annotation)}"
    elif origin is list:
        if schema.get("type") != "array":
            yield f"{path}: expected array"
        else:
            yield from type_mismatches(get_args(annotation)[0], schema["items"], f"{path}[]")
    elif origin is dict:
        value_type = strip(get_args(annotation)[1])
        if value_type is Any:
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield f"{path}: free-form object must preserve unknown fields"
        elif schema.get("type") != "object" or "additionalProperties" not in schema:
            yield f"{path}: expected a map"
        else:
            yield from type_mismatches(value_type, schema["additionalProperties"], f"{path}.*")
    else:
        expected = {bool: "boolean", int: "integer", str: "string", datetime: "string"}.get(annotation)
        if expected is None:
            yield f"{path}: unhandled annotation {annotation!r}"
        elif schema.get("type") != expected:
            yield f"{path}: expected {expected}, got {schema.get('type')}"
        elif annotation is datetime and schema.get("format") != "date-time":
            yield f"{path}: expected format date-time"


def expected_default(field: Any) -> tuple[bool, Any]:
    """(has a schema default, its value) as the CRD should carry it for this pydantic field."""
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            if any(f.is_required() for f in type(value).model_fields.values()):
                # Required fields have no nested default to fill: the schema default carries the whole value.
                return True, value.model_dump(mode="json", by_alias=True, exclude_none=True)
            return True, {}  # the apiserver fills nested defaults into {}
        if value in ([], {}):
            return False, None
        return True, [v.value if isinstance(v, Enum) else v for v in value]
    if field.default is PydanticUndefined or field.default is None:
        return False, None
    return True, field.default.value if isinstance(field.default, Enum) else field.default


def model_mismatches(model: type[BaseModel], schema: Mapping[str, Any], path: str) -> Iterator[str]:
    properties = schema.get("properties", {})
    aliases = {name: field.alias or name for name, field in model.model_fields.items()}
    if not properties and isinstance(schema.get("additionalProperties"), Mapping):
        # A map whose keys a CEL rule allowlists (Permissions: the apiserver would prune unknown properties).
        rules = " ".join(r["rule"] for r in schema.get("x-kubernetes-validations", []))
        if not all(f"'{key}'" in rules for key in aliases.values()):
            yield f"{path}: map keys are not allowlisted as the model's fields {sorted(aliases.values())}"
        return
    if set(properties) != set(aliases.values()):
        yield f"{path}: schema properties {sorted(properties)} != model fields {sorted(aliases.values())}"
        return
    required = set(schema.get("required", []))
    for name, field in model.model_fields.items():
        key = aliases[name]
        sub = properties[key]
        if (key in required) != field.is_required():
            yield f"{path}.{key}: required={key in required} but model says {field.is_required()}"
        if not sub.get("description"):
            yield f"{path}.{key}: no description"
        has_default, default = expected_default(field)
        if has_default != ("default" in sub) or (has_default and sub["default"] != default):
            yield f"{path}.{key}: schema default {sub.get('default')!r} != model default {default!r}"
        yield from type_mismatches(field.annotation, sub, f"{path}.{key}")


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting as the apiserver does it: fill missing properties' defaults, then recurse."""
    if isinstance(value, dict):
        out = copy.deepcopy(value)
        for key, sub in schema.get("properties", {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        if isinstance(schema.get("additionalProperties"), Mapping):
            for key in out:
                out[key] = apply_defaults(schema["additionalProperties"], out[key])
        return out
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def walk_schema(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node with its path (properties by name, items as [], map values as .*)."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk_schema(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from walk_schema(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from walk_schema(schema["additionalProperties"], f"{path}.*")
