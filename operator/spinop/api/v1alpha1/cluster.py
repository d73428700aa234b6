"""SpinnakerCluster: how spinop reaches a remote cluster and what tenants may ask of it (cluster-scoped)."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from spinop.api.reasons import Reason
from spinop.api.v1alpha1.common import (
    AGE_COLUMN,
    AUTHORIZATIONS,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    LIST_SET,
    MAX_CLUSTER_NAME_LENGTH,
    SECRET_KEY_PATTERN,
    CelRule,
    Condition,
    CustomResource,
    DnsLabel,
    Duration,
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
    parse_duration,
    permissions_schema,
    unique_items,
)
from spinop.api.v1alpha1.guardrails import Guardrails
from spinop.api.v1alpha1.pipeline_tenancy import PipelineTenancy
from spinop.api.v1alpha1.selectors import LabelSelector

DEFAULT_NAMESPACE_PATTERN = "{tenant}-{environment}"
NAMESPACE_PATTERN_REGEX = r"^([a-z0-9*-]|\{(tenant|environment|cluster)\})+$"
MIN_TOKEN_TTL = timedelta(minutes=10)
MIN_RENEW_BEFORE = timedelta(minutes=1)
MIN_ROTATION_INTERVAL = timedelta(hours=1)


class SecretKeyRef(SpecModel):
    """A key of a Secret in the operator's credentials namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the Secret, in the namespace where spinop keeps credentials (`devops` by default).",
    )
    key: str = Field(
        default="kubeconfig",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key in the Secret's data that holds the kubeconfig. Default: kubeconfig.",
    )


# --- tenancy ------------------------------------------------------------------------------------------------------

_TENANCY_CEL = CelRule(
    rule="!has(self.namespacePattern) || self.namespacePattern.contains('{tenant}')",
    message="namespacePattern must contain {tenant}, so that one tenant can never claim another tenant's "
    "namespaces; e.g. {tenant}-{environment}",
    field_path=".namespacePattern",
)


def unique_adoptable(items: list[AdoptableAccount]) -> list[AdoptableAccount]:
    names = [item.account_name for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"each accountName may be listed once; listed more than once: {', '.join(duplicates)}")
    return items


ROLE_PLACEHOLDERS = ("{tenant}", "{environment}", "{cluster}")
DEFAULT_ACCOUNT_PERMISSIONS = {"READ": ["{tenant}"], "WRITE": ["{tenant}"]}
"""What a SpinnakerAccount without spec.permissions gets when the cluster's tenancy.accountPermissions is omitted:
only the tenant's own Spinnaker role may see and deploy with it. No EXECUTE: Fiat checks READ and WRITE on accounts,
an account restricted by READ/WRITE gives nobody else EXECUTE, and `hal` (the Halyard exec transport) cannot
express EXECUTE or CREATE."""

_ACCOUNT_PERMISSIONS_CEL = (
    CelRule(
        rule="self.exists(k, self[k].exists(r, r.trim() != ''))",
        message="accountPermissions must grant at least one role: with none, Fiat lets every Spinnaker user read and "
        "deploy with the tenants' accounts; omit it for the default (READ and WRITE: [{tenant}])",
    ),
    CelRule(
        rule="self.all(k, self[k].all(r, !r.replace('{tenant}', '').replace('{environment}', '')"
        ".replace('{cluster}', '').contains('{') && !r.replace('{tenant}', '').replace('{environment}', '')"
        ".replace('{cluster}', '').contains('}')))",
        message="role templates may use only the placeholders {tenant}, {environment} and {cluster}",
    ),
)


def _account_permissions_schema(schema: dict[str, Any]) -> None:
    permissions_schema(schema)
    schema["x-kubernetes-validations"].extend(rule.to_schema() for rule in _ACCOUNT_PERMISSIONS_CEL)


class AccountPermissionTemplates(Permissions):
    """Fiat permissions with role templates, filled in per tenant for SpinnakerAccounts without spec.permissions."""

    model_config = ConfigDict(json_schema_extra=_account_permissions_schema)

    @model_validator(mode="after")
    def _grants_a_role_with_known_placeholders(self) -> AccountPermissionTemplates:
        if not self.granted():
            raise ValueError(_ACCOUNT_PERMISSIONS_CEL[0].message)
        for role in (r for roles in (self.read, self.write, self.execute, self.create) for r in roles or ()):
            rest = role
            for placeholder in ROLE_PLACEHOLDERS:
                rest = rest.replace(placeholder, "")
            if "{" in rest or "}" in rest:
                raise ValueError(_ACCOUNT_PERMISSIONS_CEL[1].message + f" (got {role!r})")
        return self

    def fill(self, *, tenant: str, environment: str, cluster: str) -> Permissions:
        """The permissions one tenant's account gets."""
        values = {"{tenant}": tenant, "{environment}": environment, "{cluster}": cluster}

        def filled(roles: list[str] | None) -> list[str] | None:
            if roles is None:
                return None
            out = []
            for role in roles:
                for placeholder, value in values.items():
                    role = role.replace(placeholder, value)
                out.append(role)
            return sorted(set(out))

        roles = zip(AUTHORIZATIONS, (self.read, self.write, self.execute, self.create), strict=True)
        return Permissions.model_validate({key: filled(r) for key, r in roles if r is not None})


def unique_existing(items: list[ExistingNamespace]) -> list[ExistingNamespace]:
    names = [item.namespace for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"each namespace may be listed once; listed more than once: {', '.join(duplicates)}")
    return items


class ExistingNamespace(SpecModel):
    """A namespace on the remote cluster that spinop did not create, granted to one tenant."""

    namespace: DnsLabel = Field(description="The existing namespace's name on the remote cluster.")
    tenant: DnsLabel = Field(
        description="The MGMT namespace whose SpinnakerAccounts may target it (and get deployer rights there). "
        "Other tenants' accounts are refused with NamespaceNotAllowed, whatever the namespacePattern says.",
    )


class AdoptableAccount(SpecModel):
    """A Spinnaker account spinop did not create that one tenant may take over with spec.adopt."""

    account_name: str = Field(
        min_length=1,
        max_length=100,
        pattern=DNS_LABEL_PATTERN,
        description="The existing Spinnaker account's name, exactly (what `hal config provider kubernetes account "
        "list` shows).",
    )
    tenant: DnsLabel = Field(
        description="The MGMT namespace whose SpinnakerAccount may adopt it (spec.accountName = accountName, "
        "spec.adopt: true). Other tenants' attempts are refused with AdoptNotAllowed.",
    )


class Tenancy(SpecModel):
    """Which MGMT namespaces (tenants) may request accounts on this cluster, and what they may ask for."""

    model_config = ConfigDict(json_schema_extra=cel(_TENANCY_CEL))

    namespace_selector: LabelSelector | None = Field(
        default=None,
        description="Selects the MGMT namespaces (tenants) whose SpinnakerAccounts may target this cluster, by "
        "namespace labels. Omitted: no namespace may (secure by default). `{}`: every namespace may. "
        'Example: {matchLabels: {"spinop.io/tenant": "true"}}.',
    )
    namespace_pattern: str = Field(
        default=DEFAULT_NAMESPACE_PATTERN,
        min_length=1,
        max_length=128,
        pattern=NAMESPACE_PATTERN_REGEX,
        description="The target namespaces a tenant may ask for. Placeholders: {tenant} (the requesting MGMT "
        "namespace), {environment} (spec.environment), {cluster} (this SpinnakerCluster's name); `*` matches one "
        "segment: one or more of a-z and 0-9, never '-', so {tenant}-* never reaches another tenant's "
        "<tenant>-<suffix>; anything else is literal. A namespace that the pattern matches for several tenants "
        "(MGMT namespaces) belongs to the one whose literal prefix (the pattern filled in up to its first `*`) is "
        "longest; on a tie to none. Must contain {tenant}. Default: "
        "{tenant}-{environment}, so tenant team-a on environment dev gets exactly team-a-dev. System namespaces "
        "(kube-*, default, the operator's own) are never allowed whatever the pattern.",
    )
    allowed_profiles: Annotated[list[Profile], AfterValidator(unique_items)] = Field(
        default_factory=lambda: [Profile.DEPLOYER, Profile.READONLY],
        max_length=2,
        description="RBAC profiles tenants may pick in SpinnakerAccount spec.profile. Default: [deployer, "
        "readonly]. An empty list closes the cluster to new accounts.",
        json_schema_extra={**LIST_SET, "default": ["deployer", "readonly"]},
    )
    allow_namespace_sharing: bool = Field(
        default=False,
        description="Whether two SpinnakerAccounts of the same tenant may target the same namespace (e.g. a "
        "deployer and a readonly account). Accounts of different tenants never share a namespace. Default: "
        "false.",
    )
    max_accounts_per_tenant: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="How many SpinnakerAccounts one tenant may have on this cluster. Omitted: no limit.",
    )
    max_cache_threads_per_tenant: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="How many clouddriver caching threads (the sum of spec.cacheThreads) one tenant's "
        "SpinnakerAccounts may ask for on this cluster, e.g. 8. Omitted: no limit beyond 32 per account.",
    )
    allowed_extra_rules: list[PolicyRule] | None = Field(
        default=None,
        max_length=32,
        description="RBAC rules a tenant may add on top of its profile with SpinnakerAccount spec.extraRules. A "
        "requested rule is accepted when every (apiGroup, resource, verb) it grants is granted by one of these. "
        "Omitted: no extra rules. Wildcards and the escalate, bind and impersonate verbs are refused.",
    )
    adoptable_accounts: Annotated[list[AdoptableAccount], AfterValidator(unique_adoptable)] | None = Field(
        default=None,
        max_length=1000,
        description="Spinnaker accounts that spinop did not create (added with hal, or before spinop) and which "
        "tenant may take each over with SpinnakerAccount spec.adopt: true. Omitted: no tenant may adopt anything, "
        "so no tenant can take over an account it does not own by naming it. `spinop import` writes this list.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["accountName"]},
    )
    account_permissions: AccountPermissionTemplates | None = Field(
        default=None,
        description="The Spinnaker (Fiat) roles a SpinnakerAccount on this cluster gets when its spec.permissions is "
        "omitted, as READ/WRITE/EXECUTE/CREATE lists of role templates. Placeholders: {tenant} (the account's MGMT "
        "namespace), {environment}, {cluster}. Must grant at least one role. Omitted: READ and WRITE: [{tenant}], "
        "so only the tenant's own Spinnaker role sees and deploys with its accounts. EXECUTE and CREATE cannot be "
        "written by the Halyard exec transport (accounts report HalTransportCannotExpress).",
    )
    existing_namespaces: Annotated[list[ExistingNamespace], AfterValidator(unique_existing)] | None = Field(
        default=None,
        max_length=1000,
        description="Namespaces that already exist on the remote cluster (spinop did not create them) and the one "
        "tenant whose SpinnakerAccounts may use each. spinop provisions a ServiceAccount and RBAC only into a "
        "namespace it created for the same tenant, or one listed here. A listed namespace must still match the "
        "namespacePattern for its tenant, and no other tenant may use it. Omitted: no existing namespace is used.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["namespace"]},
    )
    guardrails: Guardrails = Field(
        default_factory=Guardrails,
        description="What every tenant namespace spinop creates on this cluster gets: Pod Security levels "
        "(default: restricted), and optionally a ResourceQuota, a LimitRange and a default-deny NetworkPolicy. "
        "spinop keeps them in place, tenants' credentials cannot change them, and a change here rolls out to "
        "every tenant namespace (progress in status.guardrails). Namespaces spinop did not create are left alone. "
        "See docs/guardrails.md.",
        json_schema_extra={"default": {}},
    )
    pipelines: PipelineTenancy = Field(
        default_factory=PipelineTenancy,
        description="What the SpinnakerPipelines of tenants with accounts on this cluster may use beyond spinop's "
        "defaults: expressions in more fields, URLs Spinnaker may call, more manifest kinds and stage types. "
        "Omitted: nothing (see docs/pipelines.md).",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _pattern_names_tenant(self) -> Tenancy:
        if "{tenant}" not in self.namespace_pattern:
            raise field_error("namespacePattern", _TENANCY_CEL.message)
        return self


# --- credentials --------------------------------------------------------------------------------------------------


class CredentialsType(StrEnum):
    TOKEN_REQUEST = "TokenRequest"
    SERVICE_ACCOUNT_TOKEN_SECRET = "ServiceAccountTokenSecret"


# Every rule guards with has(): the apiserver also checks the CRD's `default: {}` against them, before nested defaults.
_CREDENTIALS_CEL = (
    CelRule(
        rule="!has(self.ttl) || duration(self.ttl) >= duration('10m')",
        message="ttl must be at least 10m (the TokenRequest minimum), e.g. 24h",
        field_path=".ttl",
    ),
    CelRule(
        rule="!has(self.renewBefore) || (duration(self.renewBefore) >= duration('1m') "
        "&& duration(self.renewBefore) < duration(has(self.ttl) ? self.ttl : '24h'))",
        message="renewBefore must be at least 1m and shorter than ttl, e.g. 8h for a 24h ttl; omit it for a third "
        "of ttl",
        field_path=".renewBefore",
    ),
    CelRule(
        rule="!has(self.rotationInterval) || duration(self.rotationInterval) >= duration('1h')",
        message="rotationInterval must be at least 1h, e.g. 720h",
        field_path=".rotationInterval",
    ),
    CelRule(
        rule="!has(self.audiences) || !has(self.type) || self.type == 'TokenRequest'",
        message="audiences can only be set when type is TokenRequest (Secret-based tokens have no audience)",
        field_path=".audiences",
        reason=Reason.FieldValueForbidden,
    ),
)


Audience = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class Credentials(SpecModel):
    """How spinop issues the tokens in tenant kubeconfigs on this cluster."""

    model_config = ConfigDict(json_schema_extra=cel(*_CREDENTIALS_CEL))

    type: CredentialsType = Field(
        default=CredentialsType.TOKEN_REQUEST,
        description="TokenRequest (default): short-lived tokens from the TokenRequest API, renewed before they "
        "expire; nothing long-lived is stored in the remote cluster. ServiceAccountTokenSecret: a long-lived token "
        "in a Secret of type kubernetes.io/service-account-token, rotated every rotationInterval or on request.",
    )
    ttl: Duration = Field(
        default="24h",
        description="TokenRequest: how long each token lives, as a duration such as 24h or 90m. Default 24h, "
        "minimum 10m. The remote apiserver may shorten it (--service-account-max-token-expiration); spinop "
        "reads the real expiry back. Ignored for ServiceAccountTokenSecret.",
    )
    renew_before: Duration | None = Field(
        default=None,
        description="TokenRequest: renew a token this long before it expires, e.g. 8h. At least 1m and shorter "
        "than ttl. Omitted: a third of ttl.",
    )
    rotation_interval: Duration = Field(
        default="720h",
        description="ServiceAccountTokenSecret: replace the token this often, as a duration. Default 720h (30 "
        "days), minimum 1h. Ignored for TokenRequest.",
    )
    audiences: Annotated[list[Audience], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=8,
        description="TokenRequest: audiences to request. Omitted: the remote apiserver's default audience. Set "
        "only if the remote apiserver was started with extra --api-audiences.",
        json_schema_extra=LIST_SET,
    )

    @model_validator(mode="after")
    def _durations_make_sense(self) -> Credentials:
        ttl = parse_duration(self.ttl)
        if ttl < MIN_TOKEN_TTL:
            raise field_error("ttl", _CREDENTIALS_CEL[0].message + f" (got {self.ttl})")
        if self.renew_before is not None:
            renew = parse_duration(self.renew_before)
            if renew < MIN_RENEW_BEFORE or renew >= ttl:
                raise field_error("renewBefore", _CREDENTIALS_CEL[1].message + f" (got {self.renew_before})")
        if parse_duration(self.rotation_interval) < MIN_ROTATION_INTERVAL:
            raise field_error("rotationInterval", _CREDENTIALS_CEL[2].message + f" (got {self.rotation_interval})")
        if self.audiences is not None and self.type != CredentialsType.TOKEN_REQUEST:
            raise field_error("audiences", _CREDENTIALS_CEL[3].message)
        return self

    @property
    def ttl_delta(self) -> timedelta:
        return parse_duration(self.ttl)

    @property
    def renew_before_delta(self) -> timedelta:
        """When to renew before expiry: spec.renewBefore, or a third of ttl when it is omitted."""
        if self.renew_before is not None:
            return parse_duration(self.renew_before)
        return self.ttl_delta / 3

    @property
    def rotation_interval_delta(self) -> timedelta:
        return parse_duration(self.rotation_interval)


# --- spec and status ------------------------------------------------------------------------------------------------


class SpinnakerClusterSpec(SpecModel):
    """How to reach the remote cluster, which environment it is, and what tenants may ask of it."""

    kubeconfig_secret_ref: SecretKeyRef = Field(
        description="A Secret in the operator's credentials namespace holding an admin kubeconfig for the remote "
        "cluster. spinop uses it to create tenant namespaces, ServiceAccounts, Roles and tokens; it is never given "
        "to Spinnaker."
    )
    server: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https://[^\s/?#]+(/[^\s?#]*)?$",
        description="The https URL of the remote API server to write into tenant kubeconfigs, when Spinnaker "
        "reaches the cluster by another address than spinop does. Omitted: the server of the admin kubeconfig.",
    )
    certificate_authority_data: str | None = Field(
        default=None,
        max_length=65536,
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
        description="Base64 PEM CA bundle for `server`, to override the admin kubeconfig's. Omitted: the admin "
        "kubeconfig's certificate-authority-data.",
    )
    environment: DnsLabel = Field(
        description="The environment this cluster serves, e.g. dev, staging or prod (a DNS label). It becomes "
        "the Spinnaker account's environment and the {environment} of tenancy.namespacePattern."
    )
    tenancy: Tenancy = Field(
        default_factory=Tenancy,
        description="Which MGMT namespaces may request accounts here and what they may ask for. Omitted: no "
        "namespace may request accounts.",
        json_schema_extra={"default": {}},
    )
    credentials: Credentials = Field(
        default_factory=Credentials,
        description="How tenant tokens are issued and rotated. Omitted: TokenRequest tokens valid 24h, renewed "
        "8h before expiry.",
        json_schema_extra={"default": {}},
    )


class GuardrailRollout(StatusModel):
    """How far the cluster's tenancy.guardrails have reached its tenant namespaces."""

    generation: Int64 | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation whose guardrails are rolling out (or rolled out) to tenant namespaces.",
    )
    total: int | None = Field(default=None, ge=0, description="Tenant namespaces of this cluster's accounts.")
    updated: int | None = Field(
        default=None, ge=0, description="Of those, how many hold the guardrails of that generation."
    )
    unmanaged: int | None = Field(
        default=None,
        ge=0,
        description="Of those, how many spinop did not create: their guardrails are left to whoever owns them.",
    )
    failed: int | None = Field(
        default=None, ge=0, description="Of those, how many could not be updated yet (retried on the next pass)."
    )
    started_at: Timestamp | None = Field(default=None, description="When this rollout started.")
    finished_at: Timestamp | None = Field(default=None, description="When this rollout finished.")


class SpinnakerClusterStatus(StatusModel):
    """What spinop last observed about the remote cluster."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = ("Ready", "Reachable", "GuardrailsApplied")
    READY_INPUTS: ClassVar[tuple[str, ...]] = ("Reachable",)

    observed_generation: Int64 | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "Reachable: spinop can authenticate to the remote cluster with the admin kubeconfig. GuardrailsApplied: "
        "every tenant namespace spinop created holds this generation's tenancy.guardrails (False while a change "
        "rolls out, with progress in status.guardrails). Ready: summary, True when Reachable is True for the "
        "current generation."
    )
    server_version: str | None = Field(
        default=None, max_length=64, description="The remote API server's version, e.g. v1.36.3."
    )
    account_count: int | None = Field(default=None, ge=0, description="How many SpinnakerAccounts target this cluster.")
    last_probe_time: Timestamp | None = Field(default=None, description="When spinop last contacted the cluster.")
    guardrails: GuardrailRollout | None = Field(
        default=None, description="Progress of the last tenancy.guardrails rollout to tenant namespaces."
    )


class SpinnakerCluster(CustomResource):
    KIND: ClassVar[str] = "SpinnakerCluster"
    PLURAL: ClassVar[str] = "spinnakerclusters"
    SINGULAR: ClassVar[str] = "spinnakercluster"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("spcluster",)
    SCOPE: ClassVar[Literal["Namespaced", "Cluster"]] = "Cluster"
    DESCRIPTION: ClassVar[str] = (
        "SpinnakerCluster registers a remote Kubernetes cluster that Spinnaker deploys to, and sets the rules for "
        "tenants that request SpinnakerAccounts on it. Cluster-scoped; owned by platform admins. The name is a DNS "
        "label of at most 36 characters and appears in default Spinnaker account names (<cluster>-<namespace>)."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Environment", "string", ".spec.environment", "The cluster's environment."),
        condition_column("Reachable", "Reachable"),
        PrinterColumn("Version", "string", ".status.serverVersion", "The remote API server's version."),
        PrinterColumn("Accounts", "integer", ".status.accountCount", "SpinnakerAccounts on this cluster."),
        condition_column("Ready", "Ready"),
        AGE_COLUMN,
    )
    ROOT_VALIDATIONS: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule=f"self.metadata.name.size() <= {MAX_CLUSTER_NAME_LENGTH} "
            f"&& self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
            message=f"metadata.name must be a DNS label (lowercase letters, digits and '-') of at most "
            f"{MAX_CLUSTER_NAME_LENGTH} characters, so that <cluster>-<namespace> account names fit in 100",
        ),
    )

    kind: Literal["SpinnakerCluster"] = "SpinnakerCluster"
    spec: SpinnakerClusterSpec = Field(description="Desired state, written by platform admins.")
    status: SpinnakerClusterStatus = Field(
        default_factory=SpinnakerClusterStatus, description="Observed state, written by spinop."
    )

    @model_validator(mode="after")
    def _name_is_short_label(self) -> SpinnakerCluster:
        name = self.metadata.name
        if name is not None and (len(name) > MAX_CLUSTER_NAME_LENGTH or not re.fullmatch(DNS_LABEL_PATTERN, name)):
            raise field_error("metadata.name", self.ROOT_VALIDATIONS[0].message + f" (got {name!r})")
        return self
