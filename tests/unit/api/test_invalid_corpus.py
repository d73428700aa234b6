"""Every case of the bad-input corpus is refused by the layer it names, with an error that names the field."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from spinop import tenancy
from spinop.api.errors import FieldError
from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerCluster, validate_resource, validate_update
from tests.unit.api.invalid_corpus import BASE_SETUP, CASES, OPERATOR_NAMESPACES, InvalidCase, TenancyWorld, cases
from tests.unit.api.test_crdgen import all_cel_rules


def schema_errors(case: InvalidCase) -> list[FieldError]:
    if case.old is not None:
        _, old_errors = validate_resource(case.old)
        assert old_errors == [], f"{case.id}: the old object must be valid"
        return validate_update(case.old, case.obj)
    return validate_resource(case.obj)[1]


def admission_errors(case: InvalidCase) -> list[FieldError]:
    world = TenancyWorld.for_case(case)
    model, errors = validate_resource(case.obj)
    assert errors == [] and isinstance(model, SpinnakerAccount), f"{case.id}: must pass the schema: {errors}"
    cluster = SpinnakerCluster.model_validate(world.clusters[model.spec.cluster])
    claims = [tenancy.AccountClaim.from_resource(SpinnakerAccount.model_validate(a)) for a in world.accounts]
    tenant = model.metadata.namespace or ""
    judged = tenancy.AccountUnderJudgement(
        model.spec,
        tenant,
        model.metadata.name or "",
        world.namespace_labels[tenant],
        model.spec.cluster,
        cluster.spec,
        OPERATOR_NAMESPACES,
        world.judge().boundaries,
    )
    return tenancy.check_account(judged, claims)


def judged_by_tenancy(case: InvalidCase) -> bool:
    """Whether the account's SpinnakerCluster exists and can be read: only then do the tenancy rules judge it (a
    missing or unreadable cluster is refused before them, by `admission.rules`:
    tests/unit/admission/test_admission.py)."""
    body = TenancyWorld.for_case(case).clusters.get(case.obj["spec"]["cluster"])
    return body is not None and not validate_resource(body)[1]


def test_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(cases("schema")) >= 25 and len(cases("admission")) >= 10
    assert all(c.field for c in CASES)


@pytest.mark.parametrize("case", cases("schema"), ids=lambda c: c.id)
def test_schema_case_is_refused_by_the_models(case: InvalidCase) -> None:
    errors = schema_errors(case)
    assert errors, f"{case.id}: accepted"
    assert any(case.field in e.path or case.field in e.message for e in errors), errors


@pytest.mark.parametrize("case", [c for c in cases("admission") if judged_by_tenancy(c)], ids=lambda c: c.id)
def test_admission_case_is_refused_by_tenancy(case: InvalidCase) -> None:
    errors = admission_errors(case)
    assert errors, f"{case.id}: admitted"
    assert any(case.field == e.path or case.field in e.message for e in errors), errors


def test_setup_objects_are_valid_and_admitted_in_order() -> None:
    """BASE_SETUP and each case's setup must themselves pass the schema and tenancy, so the replay can create them."""
    for obj in BASE_SETUP:
        if obj["kind"] != "Namespace":
            assert validate_resource(obj)[1] == [], obj["metadata"]["name"]
    for case in CASES:
        for i, setup_obj in enumerate(case.setup):
            earlier = InvalidCase(case.id, "", "admission", "", setup_obj, setup=case.setup[:i])
            if judged_by_tenancy(earlier):  # else admitted with a warning (a cluster that does not exist yet)
                assert admission_errors(earlier) == [], f"{case.id}: setup {setup_obj['metadata']['name']}"


@pytest.mark.parametrize(
    ("kind", "path", "rule"), all_cel_rules(), ids=lambda v: v if isinstance(v, str) else v["rule"][:40]
)
def test_every_cel_rule_has_a_case_and_a_pydantic_mirror(kind: str, path: str, rule: Mapping[str, str]) -> None:
    """For each CEL rule a schema case exists whose pydantic error carries the rule's message."""
    messages = [e.message for case in cases("schema") if case.obj["kind"] == kind for e in schema_errors(case)]
    assert any(rule["message"] in message for message in messages), f"no corpus case exercises {path}: {rule}"
