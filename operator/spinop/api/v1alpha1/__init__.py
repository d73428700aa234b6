"""spinop.io/v1alpha1: pydantic models of SpinnakerCluster, SpinnakerAccount and SpinnakerPipeline.

These models are the single source of truth for `crds/*.yaml` (`spinop.api.crdgen`). Parse a body once at the
boundary with `parse_resource` (or `validate_resource` to get FieldErrors instead of an exception) and work with
the model inside.
"""

from spinop.api.v1alpha1.account import (
    CustomResourceKind,
    DeletionPolicy,
    LastDeploy,
    ObjectRef,
    SpinnakerAccount,
    SpinnakerAccountSpec,
    SpinnakerAccountStatus,
    SpinnakerKind,
    default_account_name,
)
from spinop.api.v1alpha1.cluster import (
    Credentials,
    CredentialsType,
    GuardrailRollout,
    SecretKeyRef,
    SpinnakerCluster,
    SpinnakerClusterSpec,
    SpinnakerClusterStatus,
    Tenancy,
)
from spinop.api.v1alpha1.common import (
    Condition,
    ConditionStatus,
    CustomResource,
    ObjectMeta,
    Permissions,
    PolicyRule,
    Profile,
    format_duration,
    parse_duration,
)
from spinop.api.v1alpha1.guardrails import (
    AccountGuardrails,
    CidrBlock,
    Guardrails,
    LimitRangePolicy,
    NetworkPolicyGuardrail,
    PodSecurity,
    PodSecurityLevel,
    PodSecurityOverride,
    ResourceQuotaPolicy,
    parse_quantity,
)
from spinop.api.v1alpha1.pipeline import (
    ApplicationSettings,
    DriftPolicy,
    SpinnakerPipeline,
    SpinnakerPipelineSpec,
    SpinnakerPipelineStatus,
)
from spinop.api.v1alpha1.selectors import LabelSelector, LabelSelectorRequirement, SelectorOperator
from spinop.api.v1alpha1.validation import (
    KINDS,
    parse_resource,
    resource_class,
    validate_resource,
    validate_update,
)

__all__ = [
    "KINDS",
    "AccountGuardrails",
    "ApplicationSettings",
    "CidrBlock",
    "Condition",
    "ConditionStatus",
    "Credentials",
    "CredentialsType",
    "CustomResource",
    "CustomResourceKind",
    "DeletionPolicy",
    "DriftPolicy",
    "GuardrailRollout",
    "Guardrails",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LastDeploy",
    "LimitRangePolicy",
    "NetworkPolicyGuardrail",
    "ObjectMeta",
    "ObjectRef",
    "Permissions",
    "PodSecurity",
    "PodSecurityLevel",
    "PodSecurityOverride",
    "PolicyRule",
    "Profile",
    "ResourceQuotaPolicy",
    "SecretKeyRef",
    "SelectorOperator",
    "SpinnakerAccount",
    "SpinnakerAccountSpec",
    "SpinnakerAccountStatus",
    "SpinnakerCluster",
    "SpinnakerClusterSpec",
    "SpinnakerClusterStatus",
    "SpinnakerKind",
    "SpinnakerPipeline",
    "SpinnakerPipelineSpec",
    "SpinnakerPipelineStatus",
    "Tenancy",
    "default_account_name",
    "format_duration",
    "parse_duration",
    "parse_quantity",
    "parse_resource",
    "resource_class",
    "validate_resource",
    "validate_update",
]
