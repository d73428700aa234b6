"""Bad input that spinop must refuse, as data, with the layer that refuses it and the field the error must name.

Unit tests replay every case against the pydantic models (`schema` layer) or `spinop.tenancy` (`admission`
layer); integration tests replay the same cases against a real kube-apiserver with the CRDs (and the webhook).

Replaying against an apiserver:
- create `BASE_SETUP` first (tenant namespaces and SpinnakerClusters the admission cases refer to), then each
  case's own `setup`, in order; all of them are valid;
- `old` set: create `old`, then update it to `obj` (transition rules such as immutability fire on UPDATE only);
- `strict`: only refused with `fieldValidation=Strict` (kubectl's default); the API's default (Warn) prunes
  unknown fields instead;
- `legacy` set: the case needs objects today's CRD and webhook refuse (stored under an older CRD, or while the
  webhook was down); only the unit tests can build that world, replays against an apiserver skip the case;
- accounts naming a SpinnakerCluster that does not exist are admitted with a warning (GitOps ordering), up to the
  operator's `max_accounts_on_missing_clusters` (its default, `MAX_ACCOUNTS_ON_MISSING_CLUSTERS`); they never
  become Ready;
- the error must mention `field` (as its path, or in its message).
Names start with `corpus-` so the objects do not clash with other tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from spinop.config import OperatorConfig
from spinop.tenancy import TenancyJudge

API_VERSION = "spinop.io/v1alpha1"
TENANT = "corpus-a"
OTHER_TENANT = "corpus-b"
UNLABELLED_TENANT = "corpus-unlabelled"
OPERATOR_NAMESPACES = ("spinop-system", "devops")
"""The operator's own and credentials namespaces: reserved, never a target."""
MAX_ACCOUNTS_ON_MISSING_CLUSTERS = OperatorConfig().max_accounts_on_missing_clusters
"""The operator's default, which the webhook and the reconcile judge the corpus with."""

Layer = Literal["schema", "admission"]
DELETE = object()
"""In an override, removes the key."""


@dataclass(frozen=True)
class InvalidCase:
    id: str
    description: str
    layer: Layer
    field: str
    """Must appear in the error: its path (`spec.namespace`) or its message."""
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    setup: tuple[Mapping[str, Any], ...] = ()
    strict: bool = False
    legacy: tuple[Mapping[str, Any], ...] = ()
    """Objects MGMT holds although today's CRD and webhook refuse them (see the module docstring)."""


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base`; `DELETE` removes a key; lists are replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def cluster(name: str = "corpus", **spec: Any) -> dict[str, Any]:
    base = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerCluster",
        "metadata": {"name": name},
        "spec": {
            "kubeconfigSecretRef": {"name": f"{name}-admin-kubeconfig"},
            "environment": "dev",
            "tenancy": {
                "namespaceSelector": {"matchLabels": {"spinop.io/tenant": "true"}},
                "allowedProfiles": ["deployer"],
                "allowedExtraRules": [
                    {
                        "apiGroups": ["monitoring.coreos.com"],
                        "resources": ["servicemonitors"],
                        "verbs": ["get", "list", "watch"],
                    },
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
                ],
            },
        },
    }
    return merged(base, {"spec": spec})


def account(name: str = "corpus-account", tenant: str = TENANT, **spec: Any) -> dict[str, Any]:
    base = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerAccount",
        "metadata": {"name": name, "namespace": tenant},
        "spec": {"cluster": "corpus", "namespace": f"{tenant}-dev"},
    }
    return merged(base, {"spec": spec})


def pipeline(resource_name: str = "corpus-pipeline", **spec: Any) -> dict[str, Any]:
    base = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerPipeline",
        "metadata": {"name": resource_name, "namespace": TENANT},
        "spec": {
            "application": "corpus-a-app",
            "name": "deploy",
            "pipeline": {"stages": [{"refId": "1", "type": "wait", "name": "Wait", "waitTime": 5}]},
        },
    }
    return merged(base, {"spec": spec})


BASE_SETUP: tuple[dict[str, Any], ...] = (
    namespace(TENANT, {"spinop.io/tenant": "true"}),
    namespace(OTHER_TENANT, {"spinop.io/tenant": "true"}),
    namespace(UNLABELLED_TENANT),
    namespace("corpus-restricted", {"spinop.io/tenant": "true", "tier": "restricted"}),
    namespace("corpus-x", {"spinop.io/tenant": "true"}),
    namespace("corpus-x-dev", {"spinop.io/tenant": "true"}),
    # The cluster most admission cases target: {tenant}-dev only, deployer only, a few extra rules, a pod quota.
    cluster("corpus", tenancy={"guardrails": {"resourceQuota": {"hard": {"pods": "10"}}}}),
    # No namespaceSelector: closed to every tenant.
    cluster("corpus-closed", tenancy={"namespaceSelector": DELETE}),
    # Wildcard namespaces, a quota of 2 accounts and 4 cache threads, and a selector with an expression.
    cluster(
        "corpus-wild",
        tenancy={
            "namespacePattern": "{tenant}-{environment}-*",
            "maxAccountsPerTenant": 2,
            "maxCacheThreadsPerTenant": 4,
            "namespaceSelector": {
                "matchLabels": {"spinop.io/tenant": "true"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["restricted"]}],
            },
        },
    ),
)

_RULE = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}

CASES: tuple[InvalidCase, ...] = (
    # --- SpinnakerAccount: schema ---------------------------------------------------------------------------
    InvalidCase("account-no-cluster", "spec.cluster is required", "schema", "spec.cluster", account(cluster=DELETE)),
    InvalidCase(
        "account-no-namespace", "spec.namespace is required", "schema", "spec.namespace", account(namespace=DELETE)
    ),
    InvalidCase(
        "account-namespace-uppercase",
        "target namespace must be a DNS label",
        "schema",
        "spec.namespace",
        account(namespace="Corpus-A-Dev"),
    ),
    InvalidCase(
        "account-namespace-too-long",
        "target namespace is at most 63 characters",
        "schema",
        "spec.namespace",
        account(namespace="a" * 64),
    ),
    InvalidCase(
        "account-cluster-name-too-long",
        "a SpinnakerCluster name is at most 36 characters",
        "schema",
        "spec.cluster",
        account(cluster="c" * 37),
    ),
    InvalidCase(
        "account-name-underscore",
        "Spinnaker account names are lowercase, digits and '-'",
        "schema",
        "spec.accountName",
        account(accountName="team_a_dev"),
    ),
    InvalidCase(
        "account-name-too-long",
        "Spinnaker account names are at most 100 characters",
        "schema",
        "spec.accountName",
        account(accountName="a" * 101),
    ),
    InvalidCase(
        "account-profile-unknown", "profile is deployer or readonly", "schema", "spec.profile", account(profile="admin")
    ),
    InvalidCase(
        "account-extra-rule-star-verb",
        "'*' verbs are refused",
        "schema",
        "spec.extraRules[0].verbs",
        account(extraRules=[{**_RULE, "verbs": ["*"]}]),
    ),
    InvalidCase(
        "account-extra-rule-escalate",
        "the escalate verb is refused",
        "schema",
        "spec.extraRules[0].verbs",
        account(extraRules=[{**_RULE, "verbs": ["get", "escalate"]}]),
    ),
    InvalidCase(
        "account-extra-rule-bind",
        "the bind verb is refused",
        "schema",
        "spec.extraRules[0].verbs",
        account(extraRules=[{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]}]),
    ),
    InvalidCase(
        "account-extra-rule-impersonate",
        "the impersonate verb is refused",
        "schema",
        "spec.extraRules[0].verbs",
        account(extraRules=[{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]),
    ),
    InvalidCase(
        "account-extra-rule-star-resource",
        "'*' resources are refused",
        "schema",
        "spec.extraRules[0].resources",
        account(extraRules=[{**_RULE, "resources": ["*"]}]),
    ),
    InvalidCase(
        "account-extra-rule-star-subresource",
        "'*' inside a resource name is refused",
        "schema",
        "spec.extraRules[0].resources",
        account(extraRules=[{**_RULE, "resources": ["deployments/*"]}]),
    ),
    InvalidCase(
        "account-extra-rule-star-group",
        "'*' API groups are refused",
        "schema",
        "spec.extraRules[0].apiGroups",
        account(extraRules=[{**_RULE, "apiGroups": ["*"]}]),
    ),
    InvalidCase(
        "account-extra-rules-too-many",
        "at most 16 extra rules",
        "schema",
        "spec.extraRules",
        account(extraRules=[_RULE] * 17),
    ),
    InvalidCase(
        "account-extra-rule-no-verbs",
        "a rule needs at least one verb",
        "schema",
        "spec.extraRules[0].verbs",
        account(extraRules=[{**_RULE, "verbs": []}]),
    ),
    InvalidCase(
        "account-kinds-and-omitkinds",
        "kinds and omitKinds are exclusive",
        "schema",
        "spec.omitKinds",
        account(kinds=["deployment"], omitKinds=["secret"]),
    ),
    InvalidCase(
        "account-cache-threads-high",
        "cacheThreads is at most 32",
        "schema",
        "spec.cacheThreads",
        account(cacheThreads=33),
    ),
    InvalidCase(
        "account-cache-threads-negative",
        "cacheThreads is at least 0",
        "schema",
        "spec.cacheThreads",
        account(cacheThreads=-1),
    ),
    InvalidCase(
        "account-custom-resource-duplicate",
        "each customResources kind appears once",
        "schema",
        "spec.customResources",
        account(
            customResources=[
                {"kubernetesKind": "Rollout.argoproj.io"},
                {"kubernetesKind": "Rollout.argoproj.io", "versioned": True},
            ]
        ),
    ),
    InvalidCase(
        "account-custom-resource-no-group",
        "customResources kinds need their API group",
        "schema",
        "spec.customResources[0].kubernetesKind",
        account(customResources=[{"kubernetesKind": "Rollout"}]),
    ),
    InvalidCase(
        "account-deletion-policy-unknown",
        "deletionPolicy is Retain or Delete",
        "schema",
        "spec.deletionPolicy",
        account(deletionPolicy="Orphan"),
    ),
    InvalidCase(
        "account-permissions-lowercase-key",
        "permission keys are READ, WRITE, EXECUTE, CREATE; refused even without strict field validation",
        "schema",
        "spec.permissions",
        account(permissions={"read": ["team-a"]}),
    ),
    InvalidCase(
        "account-unknown-field",
        "unknown spec fields are refused",
        "schema",
        "spec.namespaces",
        account(namespaces=["corpus-a-dev"]),
        strict=True,
    ),
    InvalidCase(
        "account-cluster-changed",
        "spec.cluster is immutable",
        "schema",
        "spec.cluster",
        account(cluster="corpus-wild"),
        old=account(),
    ),
    InvalidCase(
        "account-namespace-changed",
        "spec.namespace is immutable",
        "schema",
        "spec.namespace",
        account(namespace="corpus-a-dev2"),
        old=account(),
    ),
    InvalidCase(
        "account-name-changed",
        "spec.accountName is immutable once set",
        "schema",
        "spec.accountName",
        account(accountName="corpus-new"),
        old=account(accountName="corpus-old"),
    ),
    InvalidCase(
        "account-name-removed",
        "spec.accountName cannot be removed once set",
        "schema",
        "spec.accountName",
        account(),
        old=account(accountName="corpus-old"),
    ),
    InvalidCase(
        "account-name-set-later",
        "a default-named account cannot take another name later",
        "schema",
        "spec.accountName",
        account(accountName="corpus-renamed"),
        old=account(),
    ),
    # --- SpinnakerCluster: schema ----------------------------------------------------------------------------
    InvalidCase(
        "cluster-name-too-long",
        "SpinnakerCluster names are at most 36 characters",
        "schema",
        "metadata.name",
        cluster("corpus-" + "n" * 30),
    ),
    InvalidCase(
        "cluster-no-environment",
        "spec.environment is required",
        "schema",
        "spec.environment",
        cluster("corpus-noenv", environment=DELETE),
    ),
    InvalidCase(
        "cluster-environment-uppercase",
        "environment is a DNS label",
        "schema",
        "spec.environment",
        cluster("corpus-upper", environment="Prod"),
    ),
    InvalidCase(
        "cluster-no-secret-name",
        "kubeconfigSecretRef.name is required",
        "schema",
        "spec.kubeconfigSecretRef.name",
        cluster("corpus-nosecret", kubeconfigSecretRef={"name": DELETE, "key": "config"}),
    ),
    InvalidCase(
        "cluster-server-http",
        "server must be an https URL",
        "schema",
        "spec.server",
        cluster("corpus-http", server="http://10.0.0.1:6443"),
    ),
    InvalidCase(
        "cluster-ttl-too-short",
        "ttl is at least 10m",
        "schema",
        "spec.credentials.ttl",
        cluster("corpus-ttl", credentials={"ttl": "5m"}),
    ),
    InvalidCase(
        "cluster-ttl-not-duration",
        "ttl is a duration like 24h",
        "schema",
        "spec.credentials.ttl",
        cluster("corpus-ttl2", credentials={"ttl": "1d"}),
    ),
    InvalidCase(
        "cluster-renew-before-ttl",
        "renewBefore is shorter than ttl",
        "schema",
        "spec.credentials.renewBefore",
        cluster("corpus-renew", credentials={"ttl": "1h", "renewBefore": "2h"}),
    ),
    InvalidCase(
        "cluster-rotation-too-short",
        "rotationInterval is at least 1h",
        "schema",
        "spec.credentials.rotationInterval",
        cluster("corpus-rotate", credentials={"type": "ServiceAccountTokenSecret", "rotationInterval": "30m"}),
    ),
    InvalidCase(
        "cluster-credentials-type-unknown",
        "credentials.type is TokenRequest or ServiceAccountTokenSecret",
        "schema",
        "spec.credentials.type",
        cluster("corpus-static", credentials={"type": "Static"}),
    ),
    InvalidCase(
        "cluster-audiences-with-secret-token",
        "audiences only apply to TokenRequest",
        "schema",
        "spec.credentials.audiences",
        cluster("corpus-aud", credentials={"type": "ServiceAccountTokenSecret", "audiences": ["spinnaker"]}),
    ),
    InvalidCase(
        "cluster-pattern-without-tenant",
        "namespacePattern must contain {tenant}",
        "schema",
        "spec.tenancy.namespacePattern",
        cluster("corpus-notenant", tenancy={"namespacePattern": "apps-*"}),
    ),
    InvalidCase(
        "cluster-pattern-bad-chars",
        "namespacePattern uses a-z, 0-9, '-', '*' and placeholders",
        "schema",
        "spec.tenancy.namespacePattern",
        cluster("corpus-badpattern", tenancy={"namespacePattern": "{tenant}_{environment}"}),
    ),
    # Fiat permission keys (fiat-core .../model/Authorization.java): anything else would be pruned, leaving it open.
    InvalidCase(
        "account-permissions-admin-key",
        "ADMIN is not a Fiat authorization",
        "schema",
        "spec.permissions",
        account(permissions={"ADMIN": ["corpus-a"]}),
    ),
    InvalidCase(
        "pipeline-application-permissions-unknown-key",
        "ADMIN is not a Fiat authorization",
        "schema",
        "spec.applicationSettings.permissions",
        pipeline(applicationSettings={"permissions": {"ADMIN": ["corpus-a"]}}),
    ),
    InvalidCase(
        "cluster-account-permissions-unknown-key",
        "ADMIN is not a Fiat authorization",
        "schema",
        "spec.tenancy.accountPermissions",
        cluster("corpus-perm-key", tenancy={"accountPermissions": {"ADMIN": ["{tenant}"]}}),
    ),
    InvalidCase(
        "cluster-account-permissions-no-role",
        "a policy granting no role leaves every account open",
        "schema",
        "spec.tenancy.accountPermissions",
        cluster("corpus-perm-empty", tenancy={"accountPermissions": {"READ": [" "], "WRITE": []}}),
    ),
    InvalidCase(
        "cluster-account-permissions-unknown-placeholder",
        "role templates use {tenant}, {environment}, {cluster}",
        "schema",
        "spec.tenancy.accountPermissions",
        cluster("corpus-perm-placeholder", tenancy={"accountPermissions": {"READ": ["{namespace}"]}}),
    ),
    InvalidCase(
        "cluster-pattern-unknown-placeholder",
        "placeholders are {tenant}, {environment}, {cluster}",
        "schema",
        "spec.tenancy.namespacePattern",
        cluster("corpus-placeholder", tenancy={"namespacePattern": "{tenant}-{team}"}),
    ),
    InvalidCase(
        "cluster-profile-unknown",
        "allowedProfiles are deployer and readonly",
        "schema",
        "spec.tenancy.allowedProfiles[0]",
        cluster("corpus-prof", tenancy={"allowedProfiles": ["admin"]}),
    ),
    InvalidCase(
        "cluster-allowed-rule-impersonate",
        "allowedExtraRules never allow impersonate",
        "schema",
        "spec.tenancy.allowedExtraRules[0].verbs",
        cluster(
            "corpus-imp",
            tenancy={"allowedExtraRules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}]},
        ),
    ),
    InvalidCase(
        "cluster-allowed-rule-star-resource",
        "allowedExtraRules never allow '*' resources",
        "schema",
        "spec.tenancy.allowedExtraRules[0].resources",
        cluster("corpus-star", tenancy={"allowedExtraRules": [{**_RULE, "resources": ["*"]}]}),
    ),
    InvalidCase(
        "cluster-allowed-rule-star-group",
        "allowedExtraRules never allow '*' API groups",
        "schema",
        "spec.tenancy.allowedExtraRules[0].apiGroups",
        cluster("corpus-stargroup", tenancy={"allowedExtraRules": [{**_RULE, "apiGroups": ["*"]}]}),
    ),
    InvalidCase(
        "account-snake-case-field",
        "API bodies use camelCase names only",
        "schema",
        "spec.cache_threads",
        account(cache_threads=2),
        strict=True,
    ),
    InvalidCase(
        "cluster-selector-in-without-values",
        "In needs values",
        "schema",
        "spec.tenancy.namespaceSelector.matchExpressions[0].values",
        cluster("corpus-in", tenancy={"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In"}]}}),
    ),
    InvalidCase(
        "cluster-selector-exists-with-values",
        "Exists takes no values",
        "schema",
        "spec.tenancy.namespaceSelector.matchExpressions[0].values",
        cluster(
            "corpus-exists",
            tenancy={
                "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]}
            },
        ),
    ),
    InvalidCase(
        "cluster-selector-operator-unknown",
        "operators are In, NotIn, Exists, DoesNotExist",
        "schema",
        "spec.tenancy.namespaceSelector.matchExpressions[0].operator",
        cluster(
            "corpus-op",
            tenancy={
                "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Equals", "values": ["a"]}]}
            },
        ),
    ),
    InvalidCase(
        "cluster-max-accounts-negative",
        "maxAccountsPerTenant is at least 0",
        "schema",
        "spec.tenancy.maxAccountsPerTenant",
        cluster("corpus-max", tenancy={"maxAccountsPerTenant": -1}),
    ),
    # --- guardrails: schema ---------------------------------------------------------------------------------
    InvalidCase(
        "cluster-guardrails-pod-security-level-unknown",
        "Pod Security levels are privileged, baseline and restricted",
        "schema",
        "spec.tenancy.guardrails.podSecurity.enforce",
        cluster("corpus-psa", tenancy={"guardrails": {"podSecurity": {"enforce": "strict"}}}),
    ),
    InvalidCase(
        "cluster-guardrails-pod-security-version",
        "the Pod Security version is latest or v1.<minor>",
        "schema",
        "spec.tenancy.guardrails.podSecurity.version",
        cluster("corpus-psaver", tenancy={"guardrails": {"podSecurity": {"version": "1.36"}}}),
    ),
    InvalidCase(
        "cluster-guardrails-quota-resource-name",
        "quota keys are resource names",
        "schema",
        "spec.tenancy.guardrails.resourceQuota.hard",
        cluster("corpus-qkey", tenancy={"guardrails": {"resourceQuota": {"hard": {"pods please": "10"}}}}),
    ),
    InvalidCase(
        "cluster-guardrails-quota-quantity",
        "quota values are quantities",
        "schema",
        "spec.tenancy.guardrails.resourceQuota.hard.pods",
        cluster("corpus-qval", tenancy={"guardrails": {"resourceQuota": {"hard": {"pods": "ten"}}}}),
    ),
    InvalidCase(
        "cluster-guardrails-quota-negative",
        "quota values are never negative",
        "schema",
        "spec.tenancy.guardrails.resourceQuota.hard.requests.cpu",
        cluster("corpus-qneg", tenancy={"guardrails": {"resourceQuota": {"hard": {"requests.cpu": "-1"}}}}),
    ),
    InvalidCase(
        "cluster-guardrails-quota-empty",
        "a quota lists at least one resource",
        "schema",
        "spec.tenancy.guardrails.resourceQuota.hard",
        cluster("corpus-qempty", tenancy={"guardrails": {"resourceQuota": {"hard": {}}}}),
    ),
    InvalidCase(
        "cluster-guardrails-limit-range-order",
        "a default limit above the max is refused",
        "schema",
        "spec.tenancy.guardrails.limitRange",
        cluster(
            "corpus-lr", tenancy={"guardrails": {"limitRange": {"default": {"cpu": "2"}, "max": {"cpu": "1500m"}}}}
        ),
    ),
    InvalidCase(
        "cluster-guardrails-limit-range-key",
        "limitRange keys are resource names",
        "schema",
        "spec.tenancy.guardrails.limitRange.max",
        cluster("corpus-lrkey", tenancy={"guardrails": {"limitRange": {"max": {"cpu/": "1"}}}}),
    ),
    InvalidCase(
        "cluster-guardrails-cidr-not-a-range",
        "CIDRs need a prefix length",
        "schema",
        "spec.tenancy.guardrails.networkPolicy.egressToCIDRs[0].cidr",
        cluster("corpus-cidr", tenancy={"guardrails": {"networkPolicy": {"egressToCIDRs": [{"cidr": "10.0.0.1"}]}}}),
    ),
    InvalidCase(
        "cluster-guardrails-cidr-except-outside",
        "except entries lie inside the range",
        "schema",
        "spec.tenancy.guardrails.networkPolicy.ingressFromCIDRs[0].cidr",
        cluster(
            "corpus-except",
            tenancy={
                "guardrails": {
                    "networkPolicy": {"ingressFromCIDRs": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}
                }
            },
        ),
    ),
    InvalidCase(
        "cluster-guardrails-selector-in-without-values",
        "namespace selectors of the network policy follow LabelSelector rules",
        "schema",
        "spec.tenancy.guardrails.networkPolicy.egressToNamespaces[0].matchExpressions[0].values",
        cluster(
            "corpus-npsel",
            tenancy={
                "guardrails": {
                    "networkPolicy": {"egressToNamespaces": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]}
                }
            },
        ),
    ),
    InvalidCase(
        "account-guardrails-quota-resource-name",
        "an account's quota keys are resource names too",
        "schema",
        "spec.guardrails.resourceQuota.hard",
        account(guardrails={"resourceQuota": {"hard": {"Pods!": "1"}}}),
    ),
    InvalidCase(
        "account-guardrails-limit-range",
        "an account cannot set its own LimitRange",
        "schema",
        "spec.guardrails.limitRange",
        account(guardrails={"limitRange": {"max": {"cpu": "1"}}}),
        strict=True,
    ),
    # --- SpinnakerPipeline: schema ---------------------------------------------------------------------------
    InvalidCase(
        "pipeline-no-application",
        "spec.application is required",
        "schema",
        "spec.application",
        pipeline(application=DELETE),
    ),
    InvalidCase(
        "pipeline-application-uppercase",
        "application names are lowercase",
        "schema",
        "spec.application",
        pipeline(application="TeamA"),
    ),
    InvalidCase(
        "pipeline-application-digit-first",
        "application names start with a letter",
        "schema",
        "spec.application",
        pipeline(application="1app"),
    ),
    InvalidCase(
        "pipeline-name-leading-space",
        "pipeline names have no leading spaces",
        "schema",
        "spec.name",
        pipeline(name=" deploy"),
    ),
    InvalidCase(
        "pipeline-name-slash", "pipeline names cannot contain '/'", "schema", "spec.name", pipeline(name="deploy/prod")
    ),
    # Gate refuses each of these in DELETE /pipelines/{app}/{name} (Tomcat, Spring Security's StrictHttpFirewall):
    # such a pipeline could be saved but never deleted.
    *(
        InvalidCase(
            f"pipeline-name-unroutable-{label}",
            f"pipeline names cannot contain {label} (Gate refuses it in a URL path)",
            "schema",
            "spec.name",
            pipeline(name=name),
        )
        for label, name in (
            ("semicolon", "deploy;v=1"),
            ("percent", "100% prod"),
            ("backslash", "deploy\\prod"),
            ("tab", "deploy\tprod"),
            ("nul", "deploy\x00prod"),
            ("line-separator", "deploy\u2028prod"),
            ("del", "deploy\x7fprod"),
        )
    ),
    InvalidCase("pipeline-name-dot", "a pipeline cannot be named '.'", "schema", "spec.name", pipeline(name=".")),
    InvalidCase("pipeline-name-dot-dot", "a pipeline cannot be named '..'", "schema", "spec.name", pipeline(name="..")),
    InvalidCase(
        "pipeline-name-too-long",
        "pipeline names are at most 256 characters",
        "schema",
        "spec.name",
        pipeline(name="p" * 257),
    ),
    InvalidCase("pipeline-no-body", "spec.pipeline is required", "schema", "spec.pipeline", pipeline(pipeline=DELETE)),
    InvalidCase(
        "pipeline-body-id",
        "the body must not set id",
        "schema",
        "spec.pipeline.id",
        pipeline(pipeline={"id": "abc", "stages": []}),
    ),
    InvalidCase(
        "pipeline-body-application",
        "the body must not set application",
        "schema",
        "spec.pipeline.application",
        pipeline(pipeline={"application": "other-app", "stages": []}),
    ),
    InvalidCase(
        "pipeline-body-name",
        "the body must not set name",
        "schema",
        "spec.pipeline.name",
        pipeline(pipeline={"name": "other", "stages": []}),
    ),
    InvalidCase(
        "pipeline-drift-policy-unknown",
        "driftPolicy is Enforce or Report",
        "schema",
        "spec.driftPolicy",
        pipeline(driftPolicy="Ignore"),
    ),
    InvalidCase(
        "pipeline-application-changed",
        "spec.application is immutable",
        "schema",
        "spec.application",
        pipeline(application="corpus-other"),
        old=pipeline(),
    ),
    # --- SpinnakerAccount: admission (spinop.tenancy) -------------------------------------------------------
    InvalidCase(
        "tenancy-permissions-empty",
        "permissions that grant no role leave the account open to every Spinnaker user",
        "admission",
        "spec.permissions",
        account(permissions={}),
    ),
    InvalidCase(
        "tenancy-permissions-blank-roles",
        "Fiat trims roles and drops blank ones: no role is left",
        "admission",
        "spec.permissions",
        account(permissions={"READ": [" "], "WRITE": []}),
    ),
    InvalidCase(
        "tenancy-kube-system",
        "kube-system is never a target",
        "admission",
        "spec.namespace",
        account(namespace="kube-system"),
    ),
    InvalidCase(
        "tenancy-default", "default is never a target", "admission", "spec.namespace", account(namespace="default")
    ),
    InvalidCase(
        "tenancy-kube-prefix",
        "kube-* namespaces are never targets",
        "admission",
        "spec.namespace",
        account(cluster="corpus-wild", namespace="kube-corpus-a-dev-x"),
    ),
    InvalidCase(
        "tenancy-credentials-namespace",
        "the credentials namespace is never a target",
        "admission",
        "spec.namespace",
        account(namespace="devops"),
    ),
    InvalidCase(
        "tenancy-pattern-mismatch",
        "another tenant's namespace does not match the pattern",
        "admission",
        "spec.namespace",
        account(namespace="corpus-b-dev"),
    ),
    InvalidCase(
        "tenancy-unlabelled-tenant",
        "the tenant namespace is not selected",
        "admission",
        "metadata.namespace",
        account(tenant=UNLABELLED_TENANT),
    ),
    InvalidCase(
        "tenancy-closed-cluster",
        "a cluster without namespaceSelector accepts no one",
        "admission",
        "spec.cluster",
        account(cluster="corpus-closed"),
    ),
    InvalidCase(
        "tenancy-selector-expression",
        "a NotIn expression excludes the tenant",
        "admission",
        "metadata.namespace",
        account(tenant="corpus-restricted", cluster="corpus-wild", namespace="corpus-restricted-dev-x"),
    ),
    InvalidCase(
        "tenancy-profile-not-allowed",
        "readonly is not in allowedProfiles",
        "admission",
        "spec.profile",
        account(profile="readonly"),
    ),
    InvalidCase(
        "tenancy-extra-rule-outside",
        "secrets are not in allowedExtraRules",
        "admission",
        "spec.extraRules[0]",
        account(extraRules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
    ),
    InvalidCase(
        "tenancy-extra-rule-more-verbs",
        "delete is beyond the allowed verbs",
        "admission",
        "spec.extraRules[1]",
        account(
            extraRules=[
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
                {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["get", "delete"]},
            ]
        ),
    ),
    InvalidCase(
        "tenancy-extra-rule-subresource",
        "deployments does not cover deployments/scale",
        "admission",
        "spec.extraRules[0]",
        account(extraRules=[{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]}]),
    ),
    InvalidCase(
        "tenancy-guardrails-looser-pod-security",
        "an account cannot loosen the cluster's Pod Security level",
        "admission",
        "spec.guardrails.podSecurity.enforce",
        account(guardrails={"podSecurity": {"enforce": "baseline"}}),
    ),
    InvalidCase(
        "tenancy-guardrails-higher-quota",
        "an account cannot raise the cluster's quota",
        "admission",
        "spec.guardrails.resourceQuota.hard[pods]",
        account(guardrails={"resourceQuota": {"hard": {"pods": "20", "count/configmaps": "5"}}}),
    ),
    InvalidCase(
        "tenancy-quota",
        "maxAccountsPerTenant 2 is reached",
        "admission",
        "spec.cluster",
        account("corpus-third", cluster="corpus-wild", namespace="corpus-a-dev-three"),
        setup=(
            account("corpus-first", cluster="corpus-wild", namespace="corpus-a-dev-one"),
            account("corpus-second", cluster="corpus-wild", namespace="corpus-a-dev-two"),
        ),
    ),
    InvalidCase(
        "tenancy-namespace-shared",
        "namespace sharing is off",
        "admission",
        "spec.namespace",
        account("corpus-second"),
        setup=(account("corpus-first"),),
    ),
    InvalidCase(
        "tenancy-namespace-other-tenant",
        "a wildcard overlap cannot reach another tenant's namespace",
        "admission",
        "spec.namespace",
        account("corpus-overlap", tenant="corpus-x", cluster="corpus-wild", namespace="corpus-x-dev-dev-app"),
        setup=(
            account("corpus-owner", tenant="corpus-x-dev", cluster="corpus-wild", namespace="corpus-x-dev-dev-app"),
        ),
    ),
    InvalidCase(
        "tenancy-account-name-taken",
        "a Spinnaker account name has one holder",
        "admission",
        "spec.accountName",
        account(accountName="corpus-a-shared"),
        setup=(
            account(
                "corpus-holder", cluster="corpus-wild", namespace="corpus-a-dev-app", accountName="corpus-a-shared"
            ),
        ),
    ),
    InvalidCase(
        "tenancy-account-name-of-another-tenant",
        "a Spinnaker account name must carry the tenant: another tenant's name is refused even before it is taken",
        "admission",
        "spec.accountName",
        account(accountName="corpus-b-shared"),
    ),
    InvalidCase(
        "tenancy-default-account-name-taken",
        "the default name <cluster>-<namespace> can be taken too (by the same tenant's other account)",
        "admission",
        "spec.accountName",
        account(),
        setup=(
            account(
                "corpus-holder", cluster="corpus-wild", namespace="corpus-a-dev-app", accountName="corpus-corpus-a-dev"
            ),
        ),
    ),
    InvalidCase(
        "tenancy-default-account-name-squatted",
        "another tenant cannot take a tenant's future default name <cluster>-<namespace>",
        "admission",
        "spec.accountName",
        account(
            tenant=OTHER_TENANT, cluster="corpus-wild", namespace="corpus-b-dev-app", accountName="corpus-corpus-a-dev"
        ),
    ),
    InvalidCase(
        "tenancy-adopt-unlisted",
        "a name of the tenant's own, but no admin listed it in tenancy.adoptableAccounts for adoption",
        "admission",
        "spec.adopt",
        account(accountName="corpus-a-legacy", adopt=True),
    ),
    InvalidCase(
        "tenancy-cache-threads",
        "maxCacheThreadsPerTenant 4: 3 threads held, 2 more asked",
        "admission",
        "spec.cacheThreads",
        account("corpus-second", cluster="corpus-wild", namespace="corpus-a-dev-two", cacheThreads=2),
        setup=(account("corpus-first", cluster="corpus-wild", namespace="corpus-a-dev-one", cacheThreads=3),),
    ),
    InvalidCase(
        "tenancy-too-many-on-missing-clusters",
        "a tenant's accounts on SpinnakerClusters that do not exist are capped (each is free work for everyone)",
        "admission",
        "spec.cluster",
        account("corpus-lost", cluster="corpus-gone"),
        setup=tuple(
            account(f"corpus-lost-{i}", cluster=f"corpus-gone-{i}") for i in range(MAX_ACCOUNTS_ON_MISSING_CLUSTERS)
        ),
    ),
    InvalidCase(
        "tenancy-too-many-on-one-missing-cluster",
        "the cap counts every account on a missing cluster, also when they all name the same one (they compete with "
        "each other, and none stands on its own, yet each is an object and a periodic reconcile)",
        "admission",
        "spec.cluster",
        account("corpus-piled", cluster="corpus-gone", namespace="corpus-a-dev-piled"),
        setup=tuple(
            account(f"corpus-piled-{i}", cluster="corpus-gone", namespace=f"corpus-a-dev-piled{i}")
            for i in range(MAX_ACCOUNTS_ON_MISSING_CLUSTERS)
        ),
    ),
    InvalidCase(
        "tenancy-cluster-unreadable",
        "a SpinnakerCluster stored under an older CRD that spinop cannot read accepts no account",
        "admission",
        "spec.cluster",
        account(cluster="corpus-legacy"),
        legacy=(cluster("corpus-legacy", environment="Dev"),),
    ),
)


def cases(layer: Layer | None = None) -> list[InvalidCase]:
    return [case for case in CASES if layer is None or case.layer == layer]


@dataclass
class TenancyWorld:
    """What `spinop.tenancy` needs for an admission case, built from `BASE_SETUP` and the case's `setup`."""

    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    clusters: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    accounts: list[Mapping[str, Any]] = field(default_factory=list)

    @classmethod
    def for_case(cls, case: InvalidCase) -> TenancyWorld:
        world = cls()
        for obj in (*BASE_SETUP, *case.legacy, *case.setup):
            kind, meta = obj["kind"], obj["metadata"]
            if kind == "Namespace":
                world.namespace_labels[meta["name"]] = dict(meta.get("labels") or {})
            elif kind == "SpinnakerCluster":
                world.clusters[meta["name"]] = obj
            elif kind == "SpinnakerAccount":
                world.accounts.append(obj)
        return world

    def judge(self) -> TenancyJudge:
        """Every namespace and cluster, as `observe.account_world` and the reconcile see them."""
        return TenancyJudge(
            namespace_labels=self.namespace_labels, cluster_bodies=self.clusters, reserved=OPERATOR_NAMESPACES
        )
