"""SpinnakerAccount: one Spinnaker Kubernetes account for one (cluster, namespace), requested by a tenant.

It lives in the tenant's MGMT namespace, so MGMT RBAC decides who may create one; the target cluster's
SpinnakerCluster.spec.tenancy decides what may be asked (checked by `spinop.tenancy`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1.common import (
    AGE_COLUMN,
    DNS_LABEL_PATTERN,
    LIST_SET,
    CelRule,
    ClusterName,
    Condition,
    CustomResource,
    DnsLabel,
    Int64,
    Permissions,
    PolicyRule,
    PrinterColumn,
    Profile,
    SpecModel,
    StatusModel,
    Timestamp,
    cel,
    condition_column,
    conditions_field,
    field_error,
    observed_generation_field,
    unique_by,
    unique_items,
)
from spinop.api.v1alpha1.guardrails import AccountGuardrails

MAX_ACCOUNT_NAME_LENGTH = 100
ACCOUNT_NAME_PATTERN = DNS_LABEL_PATTERN


def default_account_name(cluster: str, namespace: str) -> str:
    """The Spinnaker account name used when spec.accountName is omitted: `<cluster>-<namespace>`.

    At most 36 + 1 + 63 = 100 characters, because SpinnakerCluster names are limited to 36. The CRD repeats this
    formula in a CEL rule (`self.cluster + '-' + self.__namespace__`); keep them the same.
    """
    return f"{cluster}-{namespace}"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class SpinnakerKind(StrEnum):
    """How Spinnaker's UI groups a custom resource kind (clouddriver's SpinnakerKind)."""

    INSTANCES = "instances"
    CONFIGS = "configs"
    SERVER_GROUPS = "serverGroups"
    LOAD_BALANCERS = "loadBalancers"
    SECURITY_GROUPS = "securityGroups"
    SERVER_GROUP_MANAGERS = "serverGroupManagers"
    UNCLASSIFIED = "unclassified"


KindName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=253, pattern=r"^[A-Za-z][A-Za-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]


class CustomResourceKind(SpecModel):
    """A custom resource kind Spinnaker should deploy and cache in this account (clouddriver customResources)."""

    kubernetes_kind: str = Field(
        min_length=3,
        max_length=253,
        pattern=r"^[A-Za-z][A-Za-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$",
        description="The kind with its API group, as <kind>.<group>, e.g. Rollout.argoproj.io or "
        "ServiceMonitor.monitoring.coreos.com. The credentials also need RBAC for it (spec.extraRules).",
    )
    spinnaker_kind: SpinnakerKind = Field(
        default=SpinnakerKind.UNCLASSIFIED,
        description="How Spinnaker's UI shows it: serverGroups, serverGroupManagers, loadBalancers, "
        "securityGroups, instances, configs or unclassified (default).",
    )
    versioned: bool = Field(
        default=False,
        description="Whether Spinnaker deploys it as versioned copies (name-v000, name-v001, ...), as it does for "
        "ReplicaSets. Default: false (updated in place).",
    )


_SPEC_CEL = (
    CelRule(
        rule="!(has(self.kinds) && size(self.kinds) > 0 && has(self.omitKinds) && size(self.omitKinds) > 0)",
        message="kinds and omitKinds are mutually exclusive: list the kinds Spinnaker may use in kinds, or the "
        "kinds it must skip in omitKinds, not both",
        field_path=".omitKinds",
        reason=Reason.FieldValueForbidden,
    ),
    CelRule(
        rule="has(oldSelf.accountName) ? (has(self.accountName) && self.accountName == oldSelf.accountName) "
        ": (!has(self.accountName) || self.accountName == self.cluster + '-' + self.__namespace__)",
        message="accountName is immutable: changing it would orphan the Spinnaker account. Keep the current value "
        "(when it was omitted, only <cluster>-<namespace> may be written); to rename, create a new "
        "SpinnakerAccount and delete this one",
        field_path=".accountName",
    ),
)
_CLUSTER_IMMUTABLE = CelRule(
    rule="self == oldSelf",
    message="cluster is immutable: create a new SpinnakerAccount to target another cluster",
)
_NAMESPACE_IMMUTABLE = CelRule(
    rule="self == oldSelf",
    message="namespace is immutable: create a new SpinnakerAccount to target another namespace",
)


class SpinnakerAccountSpec(SpecModel):
    """The account a tenant asks for: where (cluster, namespace), with which rights, and how Spinnaker sees it."""

    model_config = ConfigDict(json_schema_extra=cel(*_SPEC_CEL))

    cluster: ClusterName = Field(
        description="Name of the SpinnakerCluster to deploy to (ask your platform admins for the list: kubectl get "
        "spinnakerclusters). The cluster's spec.tenancy must admit this namespace. Immutable.",
        json_schema_extra=cel(_CLUSTER_IMMUTABLE),
    )
    namespace: DnsLabel = Field(
        description="The namespace in that cluster the account may deploy to (a DNS label, at most 63 characters). "
        "spinop creates it if it does not exist. It must match the cluster's tenancy.namespacePattern (by default "
        "<your MGMT namespace>-<environment>, e.g. team-a-dev); system namespaces are never allowed. Immutable.",
        json_schema_extra=cel(_NAMESPACE_IMMUTABLE),
    )
    account_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ACCOUNT_NAME_LENGTH,
        pattern=ACCOUNT_NAME_PATTERN,
        description="The Spinnaker account name pipelines use (lowercase letters, digits and '-', at most 100 "
        "characters, unique across the whole Spinnaker: a name another SpinnakerAccount holds is refused). "
        "Omitted: <cluster>-<namespace>, e.g. dev-team-a-dev; status.spinnakerAccountName shows the name in use. "
        "Immutable once set.",
    )
    profile: Profile = Field(
        default=Profile.DEPLOYER,
        description="What the account's credentials may do in the namespace. deployer (default): what Spinnaker "
        "needs to cache and deploy there (read everything it caches, create/update/patch/delete workloads, "
        "services, config), with no cluster-wide rights. readonly: get, list and watch only. The cluster's "
        "tenancy.allowedProfiles must include it.",
    )
    extra_rules: list[PolicyRule] | None = Field(
        default=None,
        max_length=16,
        description="RBAC rules to grant in the namespace on top of the profile, e.g. for custom resources. Each "
        "must be within the cluster's tenancy.allowedExtraRules. Wildcards ('*') and the escalate, bind and "
        "impersonate verbs are refused.",
    )
    permissions: Permissions | None = Field(
        default=None,
        description="Which Spinnaker (Fiat) roles may READ (see), WRITE (deploy with), EXECUTE and CREATE with this "
        "account; keys exactly READ, WRITE, EXECUTE, CREATE. Omitted: the cluster's tenancy.accountPermissions "
        "(by default READ and WRITE: [<your MGMT namespace>]). Must grant at least one role: an account without "
        "any would be open to every Spinnaker user, and is refused.",
    )
    kinds: Annotated[list[KindName], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Kubernetes kinds Spinnaker may deploy and cache, e.g. [deployment, service, configMap]. "
        "Omitted: every kind the credentials can read. Mutually exclusive with omitKinds.",
        json_schema_extra=LIST_SET,
    )
    omit_kinds: Annotated[list[KindName], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Kubernetes kinds Spinnaker must ignore. Mutually exclusive with kinds.",
        json_schema_extra=LIST_SET,
    )
    only_spinnaker_managed: bool = Field(
        default=True,
        description="Cache only resources Spinnaker deployed (those with Spinnaker's annotations). Default true: "
        "clouddriver does less work, and resources other tools manage in the namespace do not clutter "
        "Spinnaker's UI. Set false to see everything in the namespace.",
    )
    cache_threads: int = Field(
        default=1,
        ge=0,
        le=32,
        description="Clouddriver caching threads for this account (0-32, default 1). Raise only for namespaces "
        "with many resources.",
    )
    custom_resources: list[CustomResourceKind] | None = Field(
        default=None,
        max_length=32,
        description="Custom resource kinds Spinnaker should know about in this namespace (at most 32, each kind once).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["kubernetesKind"]},
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description="What deleting this SpinnakerAccount removes. Retain (default): the Spinnaker account, its "
        "credentials and the remote ServiceAccount and RBAC; the remote namespace and its workloads stay. Delete: "
        "also the remote namespace with everything in it, but only if spinop created it and no other "
        "SpinnakerAccount uses it.",
    )
    guardrails: AccountGuardrails | None = Field(
        default=None,
        description="Tighter guardrails for the namespace than the cluster's tenancy.guardrails (stricter Pod "
        "Security levels, lower quota limits); never looser. Applies when spinop created the namespace for this "
        "account. Omitted: the cluster's guardrails. See docs/guardrails.md.",
    )
    adopt: bool = Field(
        default=False,
        description="Take over an existing Spinnaker account of the same name that spinop did not create (e.g. "
        "one added with hal). Default false: such a name conflict is refused and the existing account is left "
        "alone.",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SpinnakerAccountSpec:
        if self.kinds and self.omit_kinds:
            raise field_error("omitKinds", _SPEC_CEL[0].message)
        if self.custom_resources:
            unique_by(self.custom_resources, "kubernetes_kind", "customResources")
        return self

    @property
    def effective_account_name(self) -> str:
        """spec.accountName, or `<cluster>-<namespace>` when omitted."""
        return self.account_name or default_account_name(self.cluster, self.namespace)

    def update_errors(self, old: SpinnakerAccountSpec) -> list[FieldError]:
        """The CRD's transition rules: what an update from `old` to this spec may not change."""
        errors = []
        if self.cluster != old.cluster:
            errors.append(FieldError("spec.cluster", _CLUSTER_IMMUTABLE.message))
        if self.namespace != old.namespace:
            errors.append(FieldError("spec.namespace", _NAMESPACE_IMMUTABLE.message))
        if old.account_name is not None:
            allowed = self.account_name == old.account_name
        else:
            allowed = self.account_name in (None, default_account_name(self.cluster, self.namespace))
        if not allowed:
            errors.append(FieldError("spec.accountName", _SPEC_CEL[1].message))
        return errors


class ObjectRef(StatusModel):
    namespace: str | None = Field(default=None, max_length=63, description="Namespace of the object.")
    name: str | None = Field(default=None, max_length=253, description="Name of the object.")


class LastDeploy(StatusModel):
    """The last Spinnaker change that carried this account (one Halyard deploy or accounts-API call per batch)."""

    id: str | None = Field(default=None, max_length=256, description="Backend reference, e.g. a Halyard task id.")
    backend: str | None = Field(default=None, max_length=64, description="halyard or accounts-api.")
    started_at: Timestamp | None = Field(default=None, description="When the change started.")
    finished_at: Timestamp | None = Field(default=None, description="When the change finished.")
    outcome: str | None = Field(
        default=None, max_length=64, description="Succeeded, Failed or Running, as reported by the backend."
    )


class SpinnakerAccountStatus(StatusModel):
    """What spinop last did and observed for this account. Never contains a token."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (
        "Ready",
        "RemoteProvisioned",
        "CredentialsIssued",
        "PermissionsVerified",
        "SpinnakerSynced",
        "GuardrailsApplied",
    )
    # GuardrailsApplied reports, it does not gate: an account in a namespace spinop did not create still works.
    READY_INPUTS: ClassVar[tuple[str, ...]] = CONDITION_TYPES[1:5]

    observed_generation: Int64 | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "RemoteProvisioned: namespace, ServiceAccount, Role and RoleBinding exist in the remote cluster. "
        "CredentialsIssued: a token was issued and the kubeconfig Secret written. PermissionsVerified: the token "
        "can do what the profile grants and nothing more. SpinnakerSynced: Spinnaker has the account with these "
        "credentials. Ready: summary, True when all four are True for the current generation; when False its "
        "reason and message say what to fix (kubectl wait --for=condition=Ready works). GuardrailsApplied (not part "
        "of Ready): the namespace holds the cluster's guardrails (False when spinop did not create the namespace, "
        "or when spec.guardrails asks for something looser than the cluster, which is then ignored)."
    )
    spinnaker_account_name: str | None = Field(
        default=None, max_length=MAX_ACCOUNT_NAME_LENGTH, description="The Spinnaker account name in use."
    )
    credentials_secret_ref: ObjectRef | None = Field(
        default=None, description="The Secret in MGMT holding the account's kubeconfig."
    )
    token_expires_at: Timestamp | None = Field(
        default=None, description="When the current token expires (TokenRequest only)."
    )
    token_fingerprint: str | None = Field(
        default=None,
        max_length=128,
        description="A short hash identifying the current token, to tell rotations apart; not the token.",
    )
    credentials_rotated_at: Timestamp | None = Field(
        default=None, description="When the credentials were last issued or rotated."
    )
    last_applied_to_spinnaker: Timestamp | None = Field(
        default=None, description="When Spinnaker last received this account's configuration."
    )
    last_deploy: LastDeploy | None = Field(
        default=None, description="The last Spinnaker change (Halyard deploy or API call) that carried this account."
    )


class SpinnakerAccount(CustomResource):
    KIND: ClassVar[str] = "SpinnakerAccount"
    PLURAL: ClassVar[str] = "spinnakeraccounts"
    SINGULAR: ClassVar[str] = "spinnakeraccount"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("spaccount",)
    SCOPE: ClassVar[Literal["Namespaced", "Cluster"]] = "Namespaced"
    DESCRIPTION: ClassVar[str] = (
        "SpinnakerAccount asks spinop for a Spinnaker Kubernetes account that can deploy to one namespace of one "
        "remote cluster. Create it in your team's MGMT namespace; spinop creates the remote namespace, "
        "ServiceAccount and RBAC, issues and rotates the credentials, and registers the account in Spinnaker. "
        "Watch status.conditions (Ready) for progress and for what to fix."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        condition_column("Ready", "Ready"),
        condition_column("Reason", "Ready", field="reason"),
        PrinterColumn("Cluster", "string", ".spec.cluster", "The target SpinnakerCluster."),
        PrinterColumn("Remote Namespace", "string", ".spec.namespace", "The target namespace in that cluster."),
        PrinterColumn(
            "Spinnaker Account", "string", ".status.spinnakerAccountName", "The Spinnaker account name in use."
        ),
        AGE_COLUMN,
    )
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = (".spec.cluster", ".spec.namespace", ".spec.accountName")
    """The admission webhook reads only the accounts that can compete with one under review (spec.cluster and
    spec.namespace: the same target; spec.accountName: the same Spinnaker name), not every account."""

    kind: Literal["SpinnakerAccount"] = "SpinnakerAccount"
    spec: SpinnakerAccountSpec = Field(description="Desired state, written by the tenant.")
    status: SpinnakerAccountStatus = Field(
        default_factory=SpinnakerAccountStatus, description="Observed state, written by spinop."
    )
