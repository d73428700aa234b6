"""Operator-level settings: where credentials go, which Spinnaker backend, how often to look again.

Read from a YAML file (`SPINOP_CONFIG`, mounted from a ConfigMap in the install) and then from `SPINOP_*`
environment variables, which win. Nested keys use `__`: `SPINOP_HALYARD__URL=http://spin-halyard:8064`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HalyardSettings(_Settings):
    url: str = Field(default="http://spin-halyard.spinnaker:8064", description="Halyard daemon URL (rest transport)")
    transport: Literal["rest", "exec"] = "rest"
    pod_namespace: str = "spinnaker"
    pod_name: str = "spin-halyard-0"
    container: str | None = None
    exec_server: str | None = Field(
        default=None, description="Kubernetes API URL for pods/exec (default: the operator's own MGMT API)"
    )
    deployment: str | None = Field(default=None, description="Halyard deployment name (default: its current one)")
    kubeconfig_delivery: Literal["exec", "mounted"] = "exec"
    kubeconfig_dir: str = "/home/spinnaker/.hal/spinop/kubeconfigs"
    mounted_secret_prefix: str = "spinop-halyard-kubeconfigs"
    mounted_shards: int = Field(default=8, ge=1, le=64)
    mounted_dir: str = Field(
        default="/home/spinnaker/.hal/spinop/mounted", description="where the Halyard pod mounts those Secrets"
    )
    mounted_sync_seconds: float = Field(
        default=90.0, ge=0, description="how long the kubelet may take to refresh mounted Secrets before a deploy"
    )
    service_names: list[str] | None = Field(
        default=None, description="services to redeploy (default: clouddriver, or its HA split when HA is on)"
    )
    quiet_seconds: float = Field(default=10.0, ge=0)
    max_wait_seconds: float = Field(default=60.0, ge=0)
    deploy_timeout_minutes: int = Field(default=10, ge=1)
    validate_changes: bool = Field(
        default=True,
        alias="validate",
        description="send Halyard's writes and deploy prep with validate=true; false for an air-gapped Halyard, "
        "whose validation waits on the network for the version list and BOM (docs/halyard.md)",
    )


class GateSettings(_Settings):
    url: str = "http://spin-gate.spinnaker:8084"
    auth_secret: str | None = Field(default=None, description="Secret in the operator namespace with Gate credentials")
    ca_file: str | None = None
    rate_limit_app: str = "spinop"
    principal: str | None = Field(default=None, description="the identity Gate sees for spinop (for drift reports)")


class AccountsApiSettings(_Settings):
    """The `accounts-api` backend: Spinnaker's account management API through Gate (`gate.url`/`gate.auth_secret`).

    No deploys: clouddriver's credentials poller loads stored definitions (docs/spinnaker-backends.md).
    """

    concurrency: int = Field(default=4, ge=1, le=32, description="account writes in flight at once within a batch")
    quiet_seconds: float = Field(default=2.0, ge=0, description="a batch is applied once no change came for this long")
    max_wait_seconds: float = Field(default=30.0, ge=0)
    reload_seconds: float = Field(
        default=65.0,
        ge=0,
        description="clouddriver's poller period (credentials.poller.types.kubernetes.reloadFrequencyMs) plus a "
        "margin: after updating accounts clouddriver already has, spinop waits this long before reporting them "
        "Synced, so a replaced token is revoked only after clouddriver reloaded the new one",
    )
    load_timeout_seconds: float = Field(
        default=180.0, ge=0, description="how long a new account may take to appear in GET /credentials; 0: no check"
    )
    migrate_from_halyard: bool = Field(
        default=False,
        description="move spinop's accounts out of Halyard's config (settings under `halyard`) into the account "
        "management API, then remove them from Halyard in one clouddriver deploy; idempotent, safe to leave on",
    )


class AdmissionSettings(_Settings):
    """The validating admission webhook (docs/admission.md). Off unless `enabled`.

    Production (deploy/base/components/webhook-cert-manager): `managed` unset, the install ships the
    ValidatingWebhookConfiguration and cert-manager the certificate, mounted at `cert_file`/`key_file`.
    Development and tests: `managed: spinop.io` and no files: spinop generates a CA and a serving certificate at
    start-up and keeps the configuration of that name pointed at itself.
    """

    enabled: bool = False
    listen_address: str | None = Field(
        default=None,
        description="where the HTTPS server listens; default 127.0.0.1 in managed mode (the apiserver runs next to "
        "spinop in development), 0.0.0.0 otherwise (a Pod behind the webhook Service)",
    )
    port: int = Field(default=9443, ge=0, le=65535, description="0: any free port (tests)")
    host: str | None = Field(
        default=None,
        description="managed mode: the host the apiserver uses in the webhook URL (default: the listen address)",
    )
    cert_file: str | None = Field(default=None, description="serving certificate (PEM), re-read when it changes")
    key_file: str | None = Field(default=None, description="its private key (PEM)")
    ca_file: str | None = Field(
        default=None, description="managed mode: CA bundle for the configuration (default: cert_file)"
    )
    managed: str | None = Field(
        default=None,
        description="name of a ValidatingWebhookConfiguration spinop creates and keeps pointed at itself (needs "
        "create/patch on validatingwebhookconfigurations); unset: the install provides a static one",
    )
    ca_bundle_for: str | None = Field(
        default=None,
        description="self-signed mode (deploy/base/components/webhook-self-signed): name of the install's "
        "ValidatingWebhookConfiguration whose caBundle spinop keeps pointed at the CA it generates and rotates "
        "(needs get/patch on that one configuration); the serving certificate is for `host`",
    )
    failure_policy: Literal["Ignore", "Fail"] = Field(
        default="Ignore",
        description="managed mode: the configuration's failurePolicy; both modes: what the webhook answers when it "
        "cannot read what it needs (Ignore: admit with a warning, Fail: refuse)",
    )

    @field_validator(
        "managed", "ca_bundle_for", "listen_address", "host", "cert_file", "key_file", "ca_file", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _complete(self) -> AdmissionSettings:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("admission.cert_file and admission.key_file go together")
        if self.ca_bundle_for and (self.managed or self.cert_file):
            raise ValueError(
                "admission.ca_bundle_for (spinop generates and rotates its own certificate) excludes admission.managed "
                "and admission.cert_file/key_file: choose one way of providing the serving certificate"
            )
        if self.ca_bundle_for and not self.host:
            raise ValueError(
                "admission.ca_bundle_for needs admission.host: the name the apiserver calls (the webhook Service's "
                "DNS name, e.g. spinop-webhook.spinop-system.svc), which the generated certificate is issued for"
            )
        if self.enabled and not self.managed and not self.cert_file and not self.ca_bundle_for:
            raise ValueError(
                "admission is enabled without admission.managed, so the install provides the "
                "ValidatingWebhookConfiguration and its CA: set admission.cert_file and admission.key_file to the "
                "mounted serving certificate, or set admission.managed (e.g. spinop.io) to let spinop generate a "
                "certificate and manage the configuration (development)"
            )
        return self

    @property
    def address(self) -> str:
        """The listen address, with its default filled in."""
        if self.listen_address:
            return self.listen_address
        return "127.0.0.1" if self.managed else "0.0.0.0"  # noqa: S104 (a Pod: the Service routes to it)


class PipelineGrant(_Settings):
    """What a platform admin grants tenants' SpinnakerPipelines beyond their Ready SpinnakerAccounts.

    Names are exact; `{namespace}` in a name is replaced by the tenant's MGMT namespace, so one entry under `"*"`
    can grant every tenant its own account (`"{namespace}-registry"`).
    """

    applications: list[str] = Field(
        default_factory=list, description="existing Spinnaker applications spinop did not create, handed over"
    )
    artifact_accounts: list[str] = Field(default_factory=list, description="artifactAccount / manifestArtifactAccount")
    registry_accounts: list[str] = Field(default_factory=list, description="docker registry accounts (triggers)")
    build_services: list[str] = Field(default_factory=list, description="CI masters (jenkins, travis, ...)")
    kayenta_accounts: list[str] = Field(default_factory=list, description="Kayenta metrics/storage/config accounts")
    service_accounts: list[str] = Field(default_factory=list, description="Fiat service accounts for runAsUser")
    roles: list[str] = Field(default_factory=list, description="pipeline roles (managed service accounts)")
    pubsub_subscriptions: list[str] = Field(default_factory=list, description="<pubsubSystem>/<subscriptionName>")


class PipelineSettings(_Settings):
    grants: dict[str, PipelineGrant] = Field(
        default_factory=dict, description='per MGMT namespace, or "*" for every tenant namespace'
    )
    application_patterns: list[str] = Field(
        default_factory=lambda: ["{namespace}-*"],
        description="applications a namespace's SpinnakerPipelines may claim, besides those granted by name: "
        "{namespace} is the MGMT namespace, * one segment of a-z0-9 (no '-'), so two namespaces' patterns stay "
        "apart; every pattern must contain {namespace}",
    )
    default_application_email: str = Field(
        default="spinop@localhost", description="owner email of applications spinop creates without one in the spec"
    )
    drift_interval_seconds: float | None = Field(
        default=None,
        gt=0,
        description="how often each pipeline is compared with Gate (default: drift_interval_seconds)",
    )

    @field_validator("application_patterns")
    @classmethod
    def _patterns_name_the_namespace(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if "{namespace}" not in pattern or not re.fullmatch(r"([a-z0-9*-]|\{namespace\})+", pattern):
                raise ValueError(
                    f"application pattern {pattern!r} must contain {{namespace}} and only a-z, 0-9, '-', '*' "
                    "(otherwise one tenant could claim another's applications)"
                )
        return patterns


class MetricsSettings(_Settings):
    port: int = Field(default=8081, ge=0, le=65535, description="Prometheus /metrics port; 0 turns it off")
    address: str = Field(default="0.0.0.0", description="listen address")  # noqa: S104


class GuardrailRolloutSettings(_Settings):
    """How a change of a SpinnakerCluster's tenancy.guardrails reaches its tenant namespaces (docs/guardrails.md)."""

    concurrency: int = Field(default=4, ge=1, le=64, description="namespaces updated at once, per remote cluster")
    per_second: float = Field(default=10.0, gt=0, description="namespaces started per second, per remote cluster")
    batch_size: int = Field(default=25, ge=1, le=1000, description="namespaces between two status.guardrails writes")


class OperatorConfig(_Settings):
    operator_namespace: str = "spinop-system"
    credentials_namespace: str = "devops"
    spinnaker_backend: Literal["halyard", "accounts-api", "none"] = "halyard"
    halyard: HalyardSettings = Field(default_factory=HalyardSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    accounts_api: AccountsApiSettings = Field(default_factory=AccountsApiSettings)
    pipelines: PipelineSettings = Field(default_factory=PipelineSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    peering_lifetime_seconds: int = Field(
        default=60, ge=5, description="HA: how long a silent replica counts as alive before another takes over"
    )
    drift_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often each account's periodic pass re-reads its remote objects and repairs drift (the safety "
        "net behind remote_watches)",
    )
    remote_watches: bool = Field(
        default=True,
        description="watch spinop's ServiceAccounts, Roles and RoleBindings on each remote cluster in use (one watch "
        "per kind per cluster) and repair an edit or deletion within seconds; false: drift waits for the periodic pass",
    )
    verify_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="how often an idle account's least privilege is proven again with its own token when nothing it "
        "depends on changed (its Role, RoleBinding, ServiceAccount or token do trigger a proof at once); also how "
        "long an idle pass may rely on the remote watches instead of reading the account's remote objects",
    )
    cluster_probe_seconds: float = Field(default=60.0, gt=0)
    refuse_powerful_admin_credentials: bool = Field(
        default=False,
        description="refuse to use an admin kubeconfig that can do more than deploy/remote grants (SpinnakerCluster "
        "Reachable=False and account RemoteProvisioned=False, reason CredentialsTooPowerful) instead of only warning",
    )
    reconcile_concurrency: int = Field(default=8, ge=1, le=64)
    guardrail_rollout: GuardrailRolloutSettings = Field(default_factory=GuardrailRolloutSettings)
    worker_threads: int = Field(default=16, ge=2, le=128)
    min_rotation_interval_seconds: float = Field(
        default=600.0,
        ge=0,
        description="a spinop.io/rotate-credentials request within this long of the previous requested rotation "
        "waits (condition CredentialsIssued reason RotationWaiting) instead of redeploying clouddriver for everyone",
    )
    max_accounts_on_missing_clusters: int = Field(
        default=10,
        ge=0,
        description="how many SpinnakerAccounts one tenant may have that name SpinnakerClusters which do not exist",
    )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        path = env.get("SPINOP_CONFIG")
        if path:
            data = yaml.safe_load(Path(path).read_text()) or {}
        for key, value in env.items():
            if not key.startswith("SPINOP_") or key == "SPINOP_CONFIG":
                continue
            parts = key[len("SPINOP_") :].lower().split("__")
            if parts[0] not in cls.model_fields:
                continue
            target = data
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = yaml.safe_load(value) if value.startswith(("[", "{")) else value
        return cls.model_validate(data)

    @property
    def reserved_namespaces(self) -> tuple[str, ...]:
        """Namespaces no tenant may target (they hold spinop and everyone's credentials)."""
        return (self.operator_namespace, self.credentials_namespace)
