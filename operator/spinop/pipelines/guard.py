"""The tenant guard: may this pipeline be saved on behalf of this MGMT namespace? (pure, no I/O)

Spinnaker checks accounts only when a pipeline runs, and Fiat does not protect artifact accounts at all
(gate-pipelines.md §2 "Where account names can hide", §5). So before every save spinop walks the whole body and
refuses, with the exact JSON path, everything that could reach outside the tenant:

- cloud accounts (`account`, `credentials`, anywhere in a stage: `clusters[]`, kayenta `deployments` ...) outside
  the namespace's Ready accounts; manifest namespaces, `namespaceOverride` and `location` outside the namespaces
  of the stage's account; cluster-scoped manifest kinds;
- artifact, docker registry, build service (`master`), Kayenta, pub/sub and service accounts (`runAsUser`,
  `serviceAccount`, `roles`) outside their allowlists;
- references into applications the namespace does not own (`pipeline` stages and triggers,
  `findArtifactFromExecution`, `app`), and a `moniker.app` other than the pipeline's application;
- expressions (`${...}` or a leading `#`) in any of those fields: they resolve at run time, after this check;
- templated pipelines (their stages come from a template at run time); a malformed stage graph (duplicate
  refIds, requisites that do not exist, cycles); artifact ids nobody declares; the deprecated `redblack`;
- `${` in any map key (Orca evaluates keys too), and expressions in any value outside free text and the fields the
  SpinnakerCluster grants, or that are more than a plain reference (`spinop.pipelines.expressions`);
- anything that makes Spinnaker call a URL (webhook stages, notification webhooks, http/git artifacts) unless the
  SpinnakerCluster grants its scheme and host; stage types spinop does not know (preconfigured webhooks, plugins)
  unless granted;
- manifests of kinds outside an allowlist of namespaced kinds, a `moniker.spinnaker.io/application` annotation
  naming another application, and manifests (or patches) from artifacts the guard cannot read.

A tenant is assumed hostile: any input shape yields violations, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import yaml

from .expressions import field_matches, field_patterns, has_expression, is_plain_condition, is_plain_reference
from .ids import managed_service_account
from .paths import PathPart, Violation, format_path

# Kinds a tenant may never deploy: they are not namespaced, so no tenant owns them.
CLUSTER_SCOPED_KINDS = frozenset(
    k.lower()
    for k in (
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "PodSecurityPolicy",
        "ClusterIssuer",
    )
)
# Stages whose `location` is the Kubernetes namespace they act in.
MANIFEST_STAGES = frozenset(
    {
        "deployManifest",
        "deleteManifest",
        "patchManifest",
        "scaleManifest",
        "undoRolloutManifest",
        "findArtifactsFromResource",
        "disableManifest",
        "enableManifest",
        "rollingRestartManifest",
        "runJobManifest",
        "pauseRolloutManifest",
        "resumeRolloutManifest",
    }
)
# Namespaced kinds a tenant may deploy without a grant, with the API groups they may come from (lowercase kind).
NAMESPACED_KINDS: Mapping[str, frozenset[str]] = {
    "deployment": frozenset({"apps"}),
    "replicaset": frozenset({"apps"}),
    "statefulset": frozenset({"apps"}),
    "daemonset": frozenset({"apps"}),
    "job": frozenset({"batch"}),
    "cronjob": frozenset({"batch"}),
    "pod": frozenset({""}),
    "service": frozenset({""}),
    "configmap": frozenset({""}),
    "secret": frozenset({""}),
    "persistentvolumeclaim": frozenset({""}),
    "serviceaccount": frozenset({""}),
    "ingress": frozenset({"networking.k8s.io", "extensions"}),
    "horizontalpodautoscaler": frozenset({"autoscaling"}),
    "poddisruptionbudget": frozenset({"policy"}),
}
# Stage types whose fields the guard knows (orca's stage type names); anything else needs a grant.
KNOWN_STAGE_TYPES = MANIFEST_STAGES | frozenset(
    {
        "bakeManifest",
        "manualJudgment",
        "wait",
        "waitUntil",
        "checkPreconditions",
        "evaluateVariables",
        "kayentaCanary",
        "pipeline",
        "findArtifactFromExecution",
        "findImageFromTags",
        "jenkins",
        "travis",
        "concourse",
        "webhook",
        "deploy",
        "disableCluster",
        "enableCluster",
        "destroyServerGroup",
        "resizeServerGroup",
        "scaleDownCluster",
        "shrinkCluster",
        "rollbackCluster",
    }
)
# Artifact types whose `reference` is a URL clouddriver fetches (clouddriver-artifacts *ArtifactCredentials types).
URL_ARTIFACT_TYPES = frozenset({"http/file", "github/file", "gitlab/file", "bitbucket/file", "git/repo"})
# Echo notification types whose `address` is a URL Echo posts to.
URL_NOTIFICATION_TYPES = frozenset({"googlechat", "microsoftteams", "cdevents", "webhook"})
MONIKER_APPLICATION = "moniker.spinnaker.io/application"
# Subtrees of a stage that hold Kubernetes objects, checked as manifests rather than as stage context.
MANIFEST_KEYS = frozenset({"manifests", "manifest", "patchBody"})
KAYENTA_ACCOUNT_KEYS = frozenset({"metricsAccountName", "storageAccountName", "configurationAccountName"})
ARTIFACT_ACCOUNT_KEYS = frozenset({"artifactAccount", "manifestArtifactAccount"})
APPLICATION_KEYS = frozenset({"application", "pipelineApplication"})
EXPRESSION_HINT = "expressions resolve when the pipeline runs, after this check: write the value itself"


def is_expression(value: str) -> bool:
    """SpEL that Orca would evaluate: `${...}` anywhere, or a string starting with `#`."""
    return "${" in value or value.lstrip().startswith("#")


def _frozen(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(str(v) for v in values or ())


@dataclass(frozen=True)
class TenantScope:
    """What one MGMT namespace may reach.

    `accounts`: the Spinnaker (clouddriver) accounts of this namespace's Ready SpinnakerAccounts, each mapped to
    the remote namespaces it may deploy to. `applications`: the applications this namespace owns (compared
    ignoring case, as Spinnaker does). The other allowlists are empty unless an admin grants them.
    `pubsub_subscriptions` holds `<pubsubSystem>/<subscriptionName>` strings. From the SpinnakerClusters of the
    namespace's accounts (`tenancy.pipelines`): `expression_fields` (field patterns where a plain-reference
    expression is allowed), `url_hosts` (`https://host[:port]` Spinnaker may call), `manifest_kinds` (`Kind` or
    `Kind.group`, beyond NAMESPACED_KINDS), `stage_types` (beyond KNOWN_STAGE_TYPES).
    """

    namespace: str
    accounts: Mapping[str, AbstractSet[str]]
    applications: AbstractSet[str]
    artifact_accounts: AbstractSet[str] = frozenset()
    registry_accounts: AbstractSet[str] = frozenset()
    build_services: AbstractSet[str] = frozenset()
    kayenta_accounts: AbstractSet[str] = frozenset()
    service_accounts: AbstractSet[str] = frozenset()
    roles: AbstractSet[str] = frozenset()
    pubsub_subscriptions: AbstractSet[str] = frozenset()
    expression_fields: AbstractSet[str] = frozenset()
    url_hosts: AbstractSet[str] = frozenset()
    manifest_kinds: AbstractSet[str] = frozenset()
    stage_types: AbstractSet[str] = frozenset()
    _apps_lower: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "accounts", {str(k): _frozen(v) for k, v in dict(self.accounts).items()})
        for name in (
            "applications",
            "artifact_accounts",
            "registry_accounts",
            "build_services",
            "kayenta_accounts",
            "service_accounts",
            "roles",
            "pubsub_subscriptions",
            "expression_fields",
            "url_hosts",
            "manifest_kinds",
            "stage_types",
        ):
            put(self, name, _frozen(getattr(self, name)))
        put(self, "_apps_lower", frozenset(a.lower() for a in self.applications))

    @property
    def namespaces(self) -> frozenset[str]:
        """Every remote namespace any of the accounts may deploy to."""
        return frozenset(ns for namespaces in self.accounts.values() for ns in namespaces)

    def owns_application(self, name: str) -> bool:
        return name.lower() in self._apps_lower


def _listing(values: Iterable[str]) -> str:
    items = sorted(values)
    return ", ".join(items) if items else "none"


def _walk(
    node: Any, path: tuple[PathPart, ...], *, skip: frozenset[str] = frozenset()
) -> Iterator[tuple[tuple[PathPart, ...], str, Any]]:
    """Every (path, key, value) of the dicts inside `node`, not descending into keys in `skip`."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            key = str(key)
            yield (*path, key), key, value
            if key not in skip:
                yield from _walk(value, (*path, key), skip=skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i), skip=skip)


def _every(node: Any, path: tuple[PathPart, ...]) -> Iterator[tuple[tuple[PathPart, ...], str | None, Any]]:
    """Every node below `node` with its path, and the map key it sits under (None for list items)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            key = str(key)
            yield (*path, key), key, value
            yield from _every(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i), None, value
            yield from _every(value, (*path, i))


# A URL the guard can read the same way Java's URI does: no user info, no backslashes, no spaces, a plain host.
_URL = re.compile(r"^(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?(?:[/?#][^\s\\@]*)?$", re.I)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def url_origin(url: str) -> str | None:
    """`https://Hooks.example.com:443/x` -> `https://hooks.example.com`; None if not a plain http(s) URL."""
    match = _URL.match(url.strip())
    if match is None:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _ref(value: Any) -> str | None:
    """A refId as Orca compares it (a string or a number, for historical reasons)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


class _Guard:
    def __init__(self, pipeline: Mapping[str, Any], scope: TenantScope, prefix: tuple[PathPart, ...], app_path: str):
        self.pipeline = pipeline
        self.scope = scope
        self.prefix = prefix
        self.app_path = app_path
        self.violations: list[Violation] = []
        app = pipeline.get("application")
        self.application = app if isinstance(app, str) else ""
        pid = pipeline.get("id")
        self.own_service_account = managed_service_account(pid) if isinstance(pid, str) and pid else None

    def refuse(self, path: tuple[PathPart, ...] | str, message: str) -> None:
        where = path if isinstance(path, str) else format_path((*self.prefix, *path))
        self.violations.append(Violation(where, message))

    # ---- value checks -------------------------------------------------------------------------------

    def literal(self, path: tuple[PathPart, ...], value: Any, what: str) -> str | None:
        """`value` as a plain string, or None after refusing it (not a string, empty, or an expression)."""
        if not isinstance(value, str) or not value.strip():
            self.refuse(path, f"{what} must be a non-empty string")
            return None
        if is_expression(value):
            self.refuse(path, f"{what} {value!r} is an expression: {EXPRESSION_HINT}")
            return None
        return value

    def allowed(self, path: tuple[PathPart, ...], value: Any, what: str, allowed: Iterable[str]) -> str | None:
        allowed = set(allowed)
        text = self.literal(path, value, what)
        if text is None:
            return None
        if text not in allowed:
            self.refuse(
                path,
                f"{what} {text!r} is not available to namespace {self.scope.namespace}; allowed: {_listing(allowed)}",
            )
            return None
        return text

    def cloud_account(self, path: tuple[PathPart, ...], value: Any) -> str | None:
        text = self.literal(path, value, "account")
        if text is None:
            return None
        if text not in self.scope.accounts:
            self.refuse(
                path,
                f"account {text!r} is not a Ready account of namespace {self.scope.namespace}; "
                f"allowed: {_listing(self.scope.accounts)}",
            )
            return None
        return text

    def owned_application(self, path: tuple[PathPart, ...], value: Any) -> None:
        text = self.literal(path, value, "application")
        if text is not None and not self.scope.owns_application(text):
            self.refuse(
                path,
                f"application {text!r} is not owned by namespace {self.scope.namespace}; "
                f"owned: {_listing(self.scope.applications)}",
            )

    def namespace(self, path: tuple[PathPart, ...], value: Any, allowed: AbstractSet[str] | None) -> None:
        """A Kubernetes namespace that must be one the stage's account may deploy to."""
        text = self.literal(path, value, "namespace")
        if text is None:
            return
        allowed = self.scope.namespaces if allowed is None else allowed
        if text not in allowed:
            self.refuse(path, f"namespace {text!r} is outside this account's namespaces: {_listing(allowed)}")

    def url(self, path: tuple[PathPart, ...], value: Any, what: str) -> None:
        """A URL Spinnaker will call: literal, plain http(s), and on a scheme + host the SpinnakerCluster grants."""
        text = self.literal(path, value, what)
        if text is None:
            return
        origin = url_origin(text)
        granted = {o for o in (url_origin(h) for h in self.scope.url_hosts) if o}
        if origin is None:
            self.refuse(path, f"{what} {text!r} is not a plain http(s) URL (no user info, no backslashes)")
        elif origin not in granted:
            self.refuse(
                path,
                f"{what} {text!r} would make Spinnaker call {origin}, which the SpinnakerCluster does not grant "
                f"(tenancy.pipelines.allowedUrlHosts: {_listing(granted)})",
            )

    def kind_allowed(self, kind: str, api_version: str | None) -> bool:
        """Is `kind` (from `api_version`, when known) a namespaced kind on the allowlist or granted?"""
        name = kind.strip().lower()
        group = None if api_version is None else api_version.rpartition("/")[0].lower()
        if name in NAMESPACED_KINDS and (group is None or group in NAMESPACED_KINDS[name]):
            return True
        for entry in self.scope.manifest_kinds:
            granted_kind, _, granted_group = entry.partition(".")
            if granted_kind.lower() == name and (group is None or group == granted_group.lower()):
                return True
        return False

    def manifest_kind(self, path: tuple[PathPart, ...], kind: str, api_version: str | None = None) -> None:
        if kind.lower() in CLUSTER_SCOPED_KINDS:
            self.refuse(path, f"{kind} is cluster-scoped: tenants deploy only namespaced objects")
        elif not self.kind_allowed(kind, api_version):
            shown = f"{kind} ({api_version})" if api_version else kind
            self.refuse(
                path,
                f"kind {shown} is not on the allowlist of namespaced kinds "
                f"({', '.join(sorted(NAMESPACED_KINDS))}) nor granted by the SpinnakerCluster "
                f"(tenancy.pipelines.allowedManifestKinds: {_listing(self.scope.manifest_kinds)})",
            )

    def service_account(self, path: tuple[PathPart, ...], value: Any) -> None:
        allowed = set(self.scope.service_accounts)
        if self.own_service_account:
            allowed.add(self.own_service_account)
        self.allowed(path, value, "service account", allowed)

    # ---- the pipeline -----------------------------------------------------------------------------------

    def check(self) -> list[Violation]:
        p = self.pipeline
        app = p.get("application")
        if not isinstance(app, str) or not app:
            self.refuse(self.app_path, "an application is required")
        elif not self.scope.owns_application(app):
            self.refuse(
                self.app_path,
                f"application {app!r} is not owned by namespace {self.scope.namespace}; "
                f"owned: {_listing(self.scope.applications)}",
            )
        templated = [
            key
            for key, hit in (
                ("type", p.get("type") == "templatedPipeline"),
                ("template", "template" in p),
                ("schema", p.get("schema") == "v2"),
            )
            if hit
        ]
        if templated:
            self.refuse(
                (templated[0],),
                "templated pipelines are not allowed: their stages come from a template when the pipeline runs, "
                "so they cannot be checked here; write the stages out",
            )
        if "roles" in p:
            roles = p["roles"]
            if not isinstance(roles, list):
                self.refuse(("roles",), "roles must be a list of role names")
            else:
                for i, role in enumerate(roles):
                    self.allowed(("roles", i), role, "role", self.scope.roles)
        if "serviceAccount" in p:
            self.service_account(("serviceAccount",), p["serviceAccount"])

        stages = self.list_of_objects(("stages",), p.get("stages"), "stages")
        declared = self.declared_artifacts(stages)
        for i, stage in stages:
            self.check_stage(("stages", i), stage, declared)
        self.check_graph(stages)
        for i, trigger in self.list_of_objects(("triggers",), p.get("triggers"), "triggers"):
            self.check_trigger(("triggers", i), trigger, declared)
        self.check_parameters()
        # Artifact and Kayenta accounts can sit at any depth (expectedArtifacts, requiredArtifacts, triggers ...).
        for path, key, value in _walk(p, (), skip=MANIFEST_KEYS):
            if key in ARTIFACT_ACCOUNT_KEYS:
                self.allowed(path, value, "artifact account", self.scope.artifact_accounts)
            elif key in KAYENTA_ACCOUNT_KEYS:
                self.allowed(path, value, "Kayenta account", self.scope.kayenta_accounts)
        self.check_notifications(("notifications",), p.get("notifications"))
        self.check_url_artifacts()
        self.check_expressions()
        return list(dict.fromkeys(self.violations))  # first occurrence order, in linear time

    def list_of_objects(self, path: tuple[PathPart, ...], value: Any, what: str) -> list[tuple[int, Mapping[str, Any]]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.refuse(path, f"{what} must be a list")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append((i, item))
            else:
                self.refuse((*path, i), f"each entry of {what} must be an object")
        return out

    def declared_artifacts(self, stages: list[tuple[int, Mapping[str, Any]]]) -> tuple[set[str], set[str]]:
        """Ids of expected artifacts: (declared by the pipeline, declared anywhere incl. by stages)."""
        top: set[str] = set()
        for _, artifact in self.list_of_objects(
            ("expectedArtifacts",), self.pipeline.get("expectedArtifacts"), "expectedArtifacts"
        ):
            if isinstance(artifact.get("id"), str):
                top.add(artifact["id"])
        everywhere = set(top)
        for _, stage in stages:
            produced = stage.get("expectedArtifacts")
            if isinstance(produced, list):
                everywhere.update(a["id"] for a in produced if isinstance(a, Mapping) and isinstance(a.get("id"), str))
        return top, everywhere

    # ---- stages -----------------------------------------------------------------------------------------

    def check_stage(
        self, path: tuple[PathPart, ...], stage: Mapping[str, Any], declared: tuple[set[str], set[str]]
    ) -> None:
        kind = stage.get("type")
        if not isinstance(kind, str) or not kind:
            self.refuse((*path, "type"), "every stage needs a type")
            kind = ""
        elif is_expression(kind):
            self.refuse((*path, "type"), f"stage type is an expression: {EXPRESSION_HINT}")
        elif kind not in KNOWN_STAGE_TYPES and kind not in self.scope.stage_types:
            self.refuse(
                (*path, "type"),
                f"stage type {kind!r} is not one spinop can check (a preconfigured webhook or a plugin stage can "
                "call anything); a platform admin may grant it in the SpinnakerCluster (tenancy.pipelines.stageTypes)",
            )

        account: str | None = None
        for key in ("account", "credentials"):
            if key in stage:
                checked = self.cloud_account((*path, key), stage[key])
                account = account or checked
        # Without a usable account (none given, or one already refused) only the tenant's union can be checked.
        namespaces = self.scope.accounts.get(account) if account else None

        for sub, key, value in _walk(stage, path, skip=MANIFEST_KEYS):
            parent = sub[:-1]
            depth = len(sub) - len(path)
            in_artifacts = any(p in ("inputArtifacts", "inputArtifact") for p in sub[len(path) :])
            if key in ("account", "credentials") and depth > 1:
                if in_artifacts:
                    self.allowed(sub, value, "artifact account", self.scope.artifact_accounts)
                else:
                    self.cloud_account(sub, value)
            elif key == "master":
                self.allowed(sub, value, "build service", self.scope.build_services)
            elif key == "runAsUser":
                self.service_account(sub, value)
            elif key in APPLICATION_KEYS or (key == "app" and parent[-1:] != ("moniker",)):
                self.owned_application(sub, value)
            elif key == "app":
                self.moniker_app(sub, value)
            elif key == "pipeline" and kind in ("pipeline", "findArtifactFromExecution") and depth == 1:
                self.literal(sub, value, "pipeline reference")
            elif key == "namespaceOverride" or (depth == 1 and (key == "namespace" or self.is_location(key, kind))):
                self.namespace(sub, value, namespaces)
            elif key in ("controlLocation", "experimentLocation"):
                self.namespace(sub, value, None)
            elif key in ("controlScope", "experimentScope") and isinstance(value, str) and is_expression(value):
                self.refuse(sub, f"a canary scope is an expression: {EXPRESSION_HINT}")
            elif self.is_redblack(key, value, parent):
                self.refuse(
                    sub, "the redblack strategy is deprecated (Front50 rewrites it to bluegreen): use bluegreen"
                )

        self.check_manifests(path, stage, kind, namespaces)
        self.check_artifact_refs(path, stage, declared[1])
        self.check_bare_expressions(path, stage)
        if kind == "webhook":
            self.check_webhook(path, stage)
        if kind in MANIFEST_STAGES:
            self.check_kind_references(path, stage)
        if "patchBody" in stage:
            self.check_patch_body((*path, "patchBody"), stage["patchBody"])
        self.check_notifications((*path, "notifications"), stage.get("notifications"))

    def check_bare_expressions(self, path: tuple[PathPart, ...], stage: Mapping[str, Any]) -> None:
        """Strings Orca evaluates without `${`: it wraps them itself (orca OptionalStageSupport for
        `stageEnabled.expression`, ExpressionPreconditionTask for `expression` preconditions), and
        EvaluateVariablesStage turns a variable's `sourceExpression` `{` into `${` on a restart."""
        conditions: list[tuple[tuple[PathPart, ...], Any]] = []
        enabled = stage.get("stageEnabled")
        if isinstance(enabled, Mapping) and "expression" in enabled:
            conditions.append(((*path, "stageEnabled", "expression"), enabled["expression"]))
        for sub, key, value in _every(stage, path):
            if key == "sourceExpression":
                self.refuse(sub, "sourceExpression is Orca's own record of an evaluated variable: write value instead")
            elif key == "expression" and sub[-2:-1] == ("context",) and isinstance(value, str | int | float):
                conditions.append((sub, value))
        for where, value in conditions:
            if not isinstance(value, str) or not is_plain_condition(value):
                self.refuse(
                    where,
                    f"Orca evaluates {value!r} as an expression: only references (trigger, parameters, execution, "
                    "#stage('name')), literals, comparisons and !, &&, ||, and, or, not are allowed here",
                )

    def check_webhook(self, path: tuple[PathPart, ...], stage: Mapping[str, Any]) -> None:
        """orca-webhook WebhookStage.StageData: `url`, `statusEndpoint`, `cancelEndpoint` are called by Orca."""
        self.url((*path, "url"), stage.get("url"), "webhook url")
        for key in ("statusEndpoint", "cancelEndpoint"):
            if stage.get(key) not in (None, ""):
                self.url((*path, key), stage[key], f"webhook {key}")
        resolution = stage.get("statusUrlResolution")
        if stage.get("waitForCompletion") and resolution not in (None, "getMethod"):
            self.refuse(
                (*path, "statusUrlResolution"),
                f"statusUrlResolution {resolution!r} takes the status URL from the webhook's answer, which the guard "
                "cannot check: use getMethod with a statusEndpoint on a granted host",
            )

    def check_kind_references(self, path: tuple[PathPart, ...], stage: Mapping[str, Any]) -> None:
        """Kinds a manifest stage names instead of carrying a manifest: `manifestName`/`cluster` ("kind name"),
        `kind`, `kinds[]` (clouddriver KubernetesCoordinates / the delete and find stages' selectors)."""
        for key in ("manifestName", "cluster"):
            value = stage.get(key)
            if isinstance(value, str) and not has_expression(value) and value.strip():
                self.manifest_kind((*path, key), value.split()[0])
        if isinstance(stage.get("kind"), str) and not has_expression(stage["kind"]):
            self.manifest_kind((*path, "kind"), stage["kind"])
        kinds = stage.get("kinds")
        if kinds is not None:
            if not isinstance(kinds, list):
                self.refuse((*path, "kinds"), "kinds must be a list of kind names")
            else:
                for i, item in enumerate(kinds):
                    text = self.literal((*path, "kinds", i), item, "kind")
                    if text is not None:
                        self.manifest_kind((*path, "kinds", i), text)

    def check_patch_body(self, path: tuple[PathPart, ...], body: Any) -> None:
        """A patch may not re-label an object into another application (merge patches and JSON-patch ops)."""
        if isinstance(body, str):
            self.refuse(path, "patchBody must be an object or a list of patch operations")
            return
        for sub, key, value in _every(body, path):
            if key == MONIKER_APPLICATION:
                self.moniker_annotation(sub, value)
            elif isinstance(value, Mapping) and "moniker.spinnaker.io~1application" in str(value.get("path", "")):
                self.moniker_annotation((*sub, "value"), value.get("value"))
            elif (
                key == "path" and isinstance(value, str) and value.rstrip("/") in ("/metadata/annotations", "/metadata")
            ):
                self.refuse(sub, "a JSON patch may not replace metadata or all annotations: patch single keys")

    def moniker_annotation(self, path: tuple[PathPart, ...], value: Any) -> None:
        text = self.literal(path, value, MONIKER_APPLICATION)
        if text is not None and text.lower() != self.application.lower():
            self.refuse(path, f"{MONIKER_APPLICATION} must be the pipeline's application {self.application!r}")

    def check_notifications(self, path: tuple[PathPart, ...], notifications: Any) -> None:
        """Echo posts to the `address` of webhook-style notifications (Google Chat, Teams, CDEvents)."""
        for i, entry in self.list_of_objects(path, notifications, "notifications"):
            kind = entry.get("type")
            address = entry.get("address")
            if not isinstance(kind, str) or not kind:
                self.refuse((*path, i, "type"), "every notification needs a type")
            elif kind.lower() in URL_NOTIFICATION_TYPES or (isinstance(address, str) and "://" in address):
                self.url((*path, i, "address"), address, f"{kind} notification address")

    def check_url_artifacts(self) -> None:
        """Artifacts clouddriver fetches from their `reference` (http, GitHub, GitLab, Bitbucket, git)."""
        for path, key, node in _every(self.pipeline, ()):
            if not isinstance(node, Mapping) or any(part in MANIFEST_KEYS for part in path):
                continue
            kind = node.get("type")
            if not isinstance(kind, str) or kind.lower() not in URL_ARTIFACT_TYPES:
                continue
            if key == "matchArtifact":
                self.refuse(
                    (*path, "type"),
                    f"an expected {kind} artifact is fetched from whatever URL the trigger supplies at run time; "
                    "declare it with a defaultArtifact on a granted host and useDefaultArtifact, or use another type",
                )
            else:
                self.url((*path, "reference"), node.get("reference"), f"{kind} artifact reference")

    def check_expressions(self) -> None:
        """Orca evaluates `${` in map keys and values alike (kork ExpressionTransform.transformMap)."""
        refused = {v.path for v in self.violations}
        patterns = field_patterns(self.scope.expression_fields)
        for path, key, value in _every(self.pipeline, ()):
            where = format_path((*self.prefix, *path))
            if key is not None and has_expression(key):
                self.refuse(
                    path,
                    f"the key {key!r} is an expression: Orca evaluates map keys too, so it becomes whatever field "
                    "(account, namespace, application ...) it resolves to when the pipeline runs; write the key itself",
                )
            elif isinstance(value, str) and has_expression(value):
                if where in refused:
                    continue
                if not any(field_matches(path, p) for p in patterns):
                    self.refuse(
                        path,
                        "expressions are allowed only in free text (names, descriptions, instructions, notification "
                        "text) and in fields the SpinnakerCluster grants (tenancy.pipelines.expressionFields): "
                        f"{EXPRESSION_HINT}",
                    )
                elif not is_plain_reference(value):
                    self.refuse(
                        path,
                        "only plain references such as ${trigger.tag}, ${parameters['x']} or "
                        "${#stage('name')['outputs']['x']} are allowed: method calls, helpers such as #fromUrl "
                        "or #readJson, types and operators are refused",
                    )

    @staticmethod
    def is_location(key: str, stage_type: str) -> bool:
        return key == "location" and stage_type in MANIFEST_STAGES

    @staticmethod
    def is_redblack(key: str, value: Any, parent: tuple[PathPart, ...]) -> bool:
        return (
            key == "strategy"
            and parent[-2:] == ("trafficManagement", "options")
            and isinstance(value, str)
            and value.lower() == "redblack"
        )

    def moniker_app(self, path: tuple[PathPart, ...], value: Any) -> None:
        text = self.literal(path, value, "moniker.app")
        if text is not None and text.lower() != self.application.lower():
            self.refuse(path, f"moniker.app must be the pipeline's application {self.application!r}")

    def check_manifests(
        self, path: tuple[PathPart, ...], stage: Mapping[str, Any], kind: str, namespaces: AbstractSet[str] | None
    ) -> None:
        override = stage.get("namespaceOverride")
        has_override = isinstance(override, str) and bool(override)
        single = namespaces is not None and len(namespaces) == 1
        from_artifact = (
            stage.get("source") == "artifact" or "manifestArtifactId" in stage or "manifestArtifact" in stage
        )
        if kind in ("deployManifest", "runJobManifest", "patchManifest") and from_artifact:
            self.check_artifact_manifests(path, stage, kind, namespaces, has_override, single)
        if "manifests" in stage:
            manifests = stage["manifests"]
            if not isinstance(manifests, list):
                self.refuse((*path, "manifests"), "manifests must be a list of Kubernetes objects")
            else:
                for i, manifest in enumerate(manifests):
                    self.check_manifest((*path, "manifests", i), manifest, namespaces, has_override, single)
        if "manifest" in stage:
            self.check_manifest((*path, "manifest"), stage["manifest"], namespaces, has_override, single)

    def check_artifact_manifests(
        self,
        path: tuple[PathPart, ...],
        stage: Mapping[str, Any],
        kind: str,
        namespaces: AbstractSet[str] | None,
        has_override: bool,
        single: bool,
    ) -> None:
        """A manifest from an artifact is checked only when the guard can read it: an inline embedded/base64
        `manifestArtifact`. Anything fetched or produced at run time (manifestArtifactId, a bake's output, a
        GitHub file ...) could hold any kind, namespace or application, so it is refused."""
        artifact = stage.get("manifestArtifact")
        where = (*path, "manifestArtifact")
        if (
            kind == "patchManifest"
            or not isinstance(artifact, Mapping)
            or artifact.get("type") != "embedded/base64"
            or "manifestArtifactId" in stage
        ):
            at = (*path, "source") if "source" in stage else where
            self.refuse(
                at,
                "a manifest or patch from an artifact is read when the pipeline runs, so its kind, namespace and "
                "application cannot be checked now: write it in the stage (source: text, manifests/patchBody), or "
                "use an inline embedded/base64 manifestArtifact",
            )
            return
        reference = artifact.get("reference")
        try:
            text = base64.b64decode(reference if isinstance(reference, str) else "", validate=True).decode()
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except (binascii.Error, UnicodeDecodeError, ValueError, yaml.YAMLError):
            self.refuse((*where, "reference"), "an embedded/base64 manifest must be base64 of YAML or JSON objects")
            return
        if not documents:
            self.refuse((*where, "reference"), "the embedded manifest is empty")
        for i, document in enumerate(documents):
            self.check_manifest((*where, "reference", i), document, namespaces, has_override, single)
            if any(has_expression(str(k)) or has_expression(str(v)) for _, k, v in _every(document, ())):
                self.refuse((*where, "reference", i), f"the embedded manifest holds an expression: {EXPRESSION_HINT}")

    def check_manifest(
        self,
        path: tuple[PathPart, ...],
        manifest: Any,
        namespaces: AbstractSet[str] | None,
        has_override: bool,
        single_namespace: bool,
    ) -> None:
        if not isinstance(manifest, Mapping):
            self.refuse(path, "each manifest must be an object (expressions that build whole manifests are refused)")
            return
        kind = manifest.get("kind")
        if not isinstance(kind, str) or not kind:
            self.refuse((*path, "kind"), "a manifest needs a kind")
        elif is_expression(kind):
            self.refuse((*path, "kind"), f"kind is an expression: {EXPRESSION_HINT}")
        elif kind == "List":
            items = manifest.get("items")
            if not isinstance(items, list):
                self.refuse((*path, "items"), "a List needs items")
            else:
                for i, item in enumerate(items):
                    self.check_manifest((*path, "items", i), item, namespaces, has_override, single_namespace)
            return
        else:
            api_version = manifest.get("apiVersion")
            self.manifest_kind((*path, "kind"), kind, api_version if isinstance(api_version, str) else None)
        metadata = manifest.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, Mapping):
            self.refuse((*path, "metadata"), "metadata must be an object")
            return
        annotations = metadata.get("annotations")
        if annotations is not None and not isinstance(annotations, Mapping):
            self.refuse((*path, "metadata", "annotations"), "annotations must be an object")
        elif annotations and MONIKER_APPLICATION in annotations:
            # clouddriver KubernetesManifestAnnotater: this annotation decides which application the object joins.
            self.moniker_annotation(
                (*path, "metadata", "annotations", MONIKER_APPLICATION), annotations[MONIKER_APPLICATION]
            )
        if "namespace" in metadata:
            ns_path = (*path, "metadata", "namespace")
            if has_override:
                # clouddriver replaces it with namespaceOverride; only refuse what could never be a name.
                self.literal(ns_path, metadata["namespace"], "namespace")
            else:
                self.namespace(ns_path, metadata["namespace"], namespaces)
        elif not has_override and not single_namespace:
            self.refuse(
                (*path, "metadata", "namespace"),
                "set metadata.namespace or the stage's namespaceOverride "
                f"(one of {_listing(namespaces if namespaces is not None else self.scope.namespaces)})",
            )

    def check_artifact_refs(self, path: tuple[PathPart, ...], stage: Mapping[str, Any], declared: set[str]) -> None:
        refs: list[tuple[tuple[PathPart, ...], Any]] = []
        if "manifestArtifactId" in stage:
            refs.append(((*path, "manifestArtifactId"), stage["manifestArtifactId"]))
        ids = stage.get("requiredArtifactIds")
        if isinstance(ids, list):
            refs.extend(((*path, "requiredArtifactIds", i), v) for i, v in enumerate(ids))
        required = stage.get("requiredArtifacts")
        if isinstance(required, list):
            for i, entry in enumerate(required):
                if isinstance(entry, Mapping) and "expectedArtifactId" in entry:
                    refs.append(((*path, "requiredArtifacts", i, "expectedArtifactId"), entry["expectedArtifactId"]))
        for ref_path, ref in refs:
            if ref is None or ref == "":
                continue
            if not isinstance(ref, str) or ref not in declared:
                self.refuse(ref_path, f"no expected artifact has the id {ref!r}; declared: {_listing(declared)}")

    def check_graph(self, stages: list[tuple[int, Mapping[str, Any]]]) -> None:
        owner: dict[str, int] = {}
        edges: dict[str, list[str]] = {}
        for i, stage in stages:
            ref = _ref(stage.get("refId"))
            if ref is None:
                self.refuse(("stages", i, "refId"), "every stage needs a refId (a string or a number)")
                continue
            if ref in owner:
                self.refuse(("stages", i, "refId"), f"refId {ref!r} is also used by stages[{owner[ref]}]")
                continue
            owner[ref] = i
        for i, stage in stages:
            ref = _ref(stage.get("refId"))
            requisites = stage.get("requisiteStageRefIds")
            if requisites is None:
                continue
            if not isinstance(requisites, list):
                self.refuse(("stages", i, "requisiteStageRefIds"), "requisiteStageRefIds must be a list of refIds")
                continue
            for j, req in enumerate(requisites):
                target = _ref(req)
                if target is None or target not in owner:
                    self.refuse(
                        ("stages", i, "requisiteStageRefIds", j),
                        f"no stage has the refId {req!r}; refIds: {_listing(owner)}",
                    )
                elif ref is not None and owner.get(ref) == i:
                    edges.setdefault(ref, []).append(target)
        # Depth-first search for cycles, reported at the member that comes first in `stages` (once per stage).
        state: dict[str, int] = {}
        reported: set[str] = set()

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            trail.append(node)
            for nxt in edges.get(node, []):
                if state.get(nxt) == 1:
                    members = trail[trail.index(nxt) :]
                    first = min(members, key=lambda m: owner[m])
                    if first not in reported:
                        reported.add(first)
                        start = members.index(first)
                        # edges point from a stage to what it waits for; print in run order
                        order = list(reversed(members[start:] + members[:start]))
                        self.refuse(
                            ("stages", owner[first], "requisiteStageRefIds"),
                            "the stages form a cycle: " + " -> ".join([*order[-1:], *order]),
                        )
                elif nxt not in state:
                    visit(nxt, trail)
            trail.pop()
            state[node] = 2

        for node in sorted(edges, key=lambda n: owner[n]):
            if node not in state:
                visit(node, [])

    # ---- triggers and parameters ------------------------------------------------------------------------

    def check_trigger(
        self, path: tuple[PathPart, ...], trigger: Mapping[str, Any], declared: tuple[set[str], set[str]]
    ) -> None:
        kind = trigger.get("type")
        kind = kind if isinstance(kind, str) else ""
        if not kind:
            self.refuse((*path, "type"), "every trigger needs a type")
        if "account" in trigger:
            if kind == "docker":
                self.allowed(
                    (*path, "account"), trigger["account"], "docker registry account", self.scope.registry_accounts
                )
            else:
                allowed = self.scope.artifact_accounts | self.scope.registry_accounts
                self.allowed((*path, "account"), trigger["account"], "trigger account", allowed)
        if "master" in trigger:
            self.allowed((*path, "master"), trigger["master"], "build service", self.scope.build_services)
        if "runAsUser" in trigger:
            self.service_account((*path, "runAsUser"), trigger["runAsUser"])
        if kind == "pipeline" or "application" in trigger:
            self.owned_application((*path, "application"), trigger.get("application"))
        if kind == "pipeline":
            self.literal((*path, "pipeline"), trigger.get("pipeline"), "pipeline reference")
        if kind == "pubsub" or "pubsubSystem" in trigger or "subscriptionName" in trigger:
            system = self.literal((*path, "pubsubSystem"), trigger.get("pubsubSystem"), "pubsubSystem")
            sub = self.literal((*path, "subscriptionName"), trigger.get("subscriptionName"), "subscriptionName")
            if system and sub and f"{system}/{sub}" not in self.scope.pubsub_subscriptions:
                self.refuse(
                    (*path, "subscriptionName"),
                    f"subscription {system}/{sub} is not available to namespace {self.scope.namespace}; "
                    f"allowed: {_listing(self.scope.pubsub_subscriptions)}",
                )
        ids = trigger.get("expectedArtifactIds")
        if ids is not None:
            if not isinstance(ids, list):
                self.refuse((*path, "expectedArtifactIds"), "expectedArtifactIds must be a list")
            else:
                for i, ref in enumerate(ids):
                    if not isinstance(ref, str) or ref not in declared[0]:
                        self.refuse(
                            (*path, "expectedArtifactIds", i),
                            f"no expected artifact of the pipeline has the id {ref!r}; "
                            f"declared: {_listing(declared[0])}",
                        )

    def check_parameters(self) -> None:
        seen: dict[str, int] = {}
        for i, param in self.list_of_objects(
            ("parameterConfig",), self.pipeline.get("parameterConfig"), "parameterConfig"
        ):
            name = param.get("name")
            if not isinstance(name, str) or not name.strip():
                self.refuse(("parameterConfig", i, "name"), "every parameter needs a name")
            elif name in seen:
                self.refuse(("parameterConfig", i, "name"), f"parameter {name!r} is also parameterConfig[{seen[name]}]")
            else:
                seen[name] = i


def check_pipeline(
    pipeline: Any,
    scope: TenantScope,
    *,
    path_prefix: str = "spec.pipeline",
    application_path: str = "spec.application",
) -> list[Violation]:
    """Every field of a rendered pipeline body that reaches outside `scope`; an empty list means it may be saved.

    Paths start with `path_prefix` (the body's fields are `spec.pipeline`'s); the application is reported at
    `application_path`, since spinop takes it from `spec.application`.
    """
    prefix: tuple[PathPart, ...] = tuple(path_prefix.split(".")) if path_prefix else ()
    if not isinstance(pipeline, Mapping):
        return [Violation(path_prefix or "$", "the pipeline must be an object")]
    return _Guard(pipeline, scope, prefix, application_path).check()
