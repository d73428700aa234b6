"""Label selectors, as in Kubernetes (metav1.LabelSelector), for SpinnakerCluster tenancy and guardrails."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from spinop.api.v1alpha1.common import LIST_SET, CelRule, SpecModel, cel, field_error, unique_items


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]

_EXPRESSION_CEL = CelRule(
    rule="self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) "
    ": (!has(self.values) || size(self.values) == 0)",
    message="values must be non-empty when operator is In or NotIn, and empty when operator is Exists or DoesNotExist",
    field_path=".values",
)


class LabelSelectorRequirement(SpecModel):
    """A label requirement: key, operator and values, as in a Kubernetes LabelSelector."""

    model_config = ConfigDict(json_schema_extra=cel(_EXPRESSION_CEL))

    key: LabelKey = Field(description="The label key the requirement applies to.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: Annotated[list[LabelValue], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Label values: required (non-empty) for In and NotIn, must be empty for Exists and DoesNotExist.",
        json_schema_extra=LIST_SET,
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        needs_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs_values != bool(self.values):
            raise field_error("values", _EXPRESSION_CEL.message)
        return self


class LabelSelector(SpecModel):
    """A Kubernetes label selector. All of matchLabels and matchExpressions must hold; `{}` selects everything."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})

    match_labels: dict[str, LabelValue] | None = Field(
        default=None,
        max_length=32,
        description="Labels that must be present with exactly these values.",
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None,
        max_length=32,
        description="Requirements that must all hold.",
    )
