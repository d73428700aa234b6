"""SpinnakerCluster `spec.tenancy.pipelines`: what an admin grants the pipelines of this cluster's tenants."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from spinop.api.v1alpha1.common import LIST_SET, SpecModel, unique_items

# `stages[].manifests[].spec.replicas`: keys, `[]` for any list index, `*` for any one key (annotation names).
FIELD_PATTERN = r"^(\*|[A-Za-z_][A-Za-z0-9_-]*)(\[\])*(\.(\*|[A-Za-z_][A-Za-z0-9_-]*)(\[\])*)*$"
# `https://hooks.example.com` or `https://hooks.example.com:8443`: a scheme and a host, nothing else.
URL_HOST_PATTERN = r"^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$"
# `Build.build.knative.dev` (Kind.group) or `Kind` for the core group.
KIND_PATTERN = r"^[A-Za-z][A-Za-z0-9]*(\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?)?$"
STAGE_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"

FieldPattern = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=FIELD_PATTERN)]
UrlHost = Annotated[str, StringConstraints(min_length=8, max_length=262, pattern=URL_HOST_PATTERN)]
ManifestKind = Annotated[str, StringConstraints(min_length=1, max_length=317, pattern=KIND_PATTERN)]
StageType = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=STAGE_TYPE_PATTERN)]


class PipelineTenancy(SpecModel):
    """Exceptions to the pipeline guard for tenants with accounts on this cluster. Omitted lists grant nothing."""

    expression_fields: Annotated[list[FieldPattern], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Fields of spec.pipeline where a plain-reference expression (${trigger.tag}, "
        "${parameters['x']}, ${#stage('name')['outputs']['x']}) is allowed besides free text (names, descriptions, "
        "instructions, notification text). Paths use [] for any list index and * for any one key, e.g. "
        "stages[].manifests[].spec.template.spec.containers[].image. Account, namespace, application and URL "
        "fields never take expressions, whatever this says.",
        json_schema_extra=LIST_SET,
    )
    allowed_url_hosts: Annotated[list[UrlHost], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Scheme and host (and port, if not the default) that webhook stages, webhook notifications and "
        "http/git artifacts may make Spinnaker call, e.g. https://hooks.example.com. Never list Halyard, the "
        "kube-apiserver, Gate, cloud metadata (169.254.169.254) or other in-cluster services.",
        json_schema_extra=LIST_SET,
    )
    allowed_manifest_kinds: Annotated[list[ManifestKind], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Namespaced kinds beyond spinop's allowlist (Deployment, ReplicaSet, StatefulSet, DaemonSet, "
        "Job, CronJob, Pod, Service, ConfigMap, Secret, PersistentVolumeClaim, ServiceAccount, Ingress, "
        "HorizontalPodAutoscaler, PodDisruptionBudget) that tenants' manifests may hold, as Kind.group (e.g. "
        "Build.build.knative.dev). Cluster-scoped kinds are refused whatever this says.",
        json_schema_extra=LIST_SET,
    )
    stage_types: Annotated[list[StageType], AfterValidator(unique_items)] | None = Field(
        default=None,
        max_length=64,
        description="Stage types beyond the ones spinop checks (e.g. a preconfigured webhook or a plugin stage the "
        "admin has reviewed). Their fields are still checked for accounts, applications and expressions.",
        json_schema_extra=LIST_SET,
    )
