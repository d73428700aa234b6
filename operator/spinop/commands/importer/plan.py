"""`spinop import`'s plan (pure): the source accounts → SpinnakerClusters, tenants and SpinnakerAccounts that adopt
them (each marked `spec.adopt: true` with `spec.accountName` = the existing name), checked with the operator's own
tenancy rules, and the report of what was carried over, what adoption will change in Spinnaker and what cannot be
imported. The rules: docs/import.md.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spinop.api.labels import GRANTED_TENANT, IMPORTED_FROM
from spinop.commands.importer.output import (
    AccountResult,
    ClusterResult,
    FieldChange,
    ImportReport,
    ImportResult,
    _short,
)
from spinop.commands.importer.sources import SourceAccount, _text

if TYPE_CHECKING:
    from spinop.api.v1alpha1 import Permissions, SpinnakerAccountSpec

API_VERSION = "spinop.io/v1alpha1"
TENANT_LABEL = ("spinop.io/tenant", "true")
DEFAULT_TENANT_PATTERN = "{tenant}-{environment}"
DEFAULT_ADMIN_SECRET = "{cluster}-admin-kubeconfig"
MAX_CLUSTER_NAME = 36

# What a SpinnakerAccount carries over (spinop manages these fields of the Spinnaker account).
CARRIED_FIELDS = frozenset(
    {
        "name",
        "environment",
        "namespaces",
        "omitNamespaces",
        "kinds",
        "omitKinds",
        "permissions",
        "onlySpinnakerManaged",
        "cacheThreads",
        "customResources",
        "providerVersion",
        "serviceAccount",
    }
)
# What adoption replaces: spinop's own kubeconfig (and its context) instead of the old one.
CREDENTIAL_FIELDS = frozenset({"kubeconfigFile", "kubeconfigContents", "context"})
MANAGED_PERMISSIONS = ("READ", "WRITE", "EXECUTE")
_NOT_CARRIED_WHY = {
    "dockerRegistries": "used only by the V1 provider; clouddriver's V2 provider ignores it",
    "requiredGroupMembership": "deprecated in favour of permissions",
    "cluster": "names a cluster entry of the old kubeconfig, which spinop's kubeconfig does not have: remove it "
    "from the account before applying",
    "user": "names a user entry of the old kubeconfig, which spinop's kubeconfig does not have: remove it from the "
    "account before applying",
}
# Halyard's defaults (`spinop.halyard.model.account_to_halyard`): a field at its default is not worth reporting.
_DEFAULTS: dict[str, Any] = {
    "configureImagePullSecrets": True,
    "rawResourcesEndpointConfig": {"kindExpressions": [], "omitKindExpressions": []},
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# ------------------------------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class ImportOptions:
    cluster_map: Mapping[str, str] = field(default_factory=dict)
    """Key → SpinnakerCluster name. A key is an account name, a kubeconfig context, a kubeconfig cluster entry name
    or an API server URL (tried in that order)."""
    tenant_pattern: str = DEFAULT_TENANT_PATTERN
    """Derives the tenant from the remote namespace; also becomes the clusters' tenancy.namespacePattern."""
    tenant: str | None = None
    """Every account's tenant (MGMT namespace), unless tenant_map names another."""
    tenant_map: Mapping[str, str] = field(default_factory=dict)
    """Account name or remote namespace → tenant."""
    default_environment: str | None = None
    """The environment of accounts that have none."""
    admin_secret_name: str = DEFAULT_ADMIN_SECRET
    """Name of each cluster's admin kubeconfig Secret; {cluster} and {environment} are filled in."""
    reserved_namespaces: tuple[str, ...] = ("spinop-system", "devops")
    """Namespaces no account may target (the operator's own and the credentials namespace)."""


# ------------------------------------------------------------------------------------------------------ planning


@dataclass
class _Candidate:
    source: SourceAccount
    result: AccountResult
    environment: str
    namespace: str
    group: tuple[str, str]
    """(how, key): how the cluster was chosen and by what."""
    explicit_cluster: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)


def plan_import(accounts: Sequence[SourceAccount], options: ImportOptions | None = None) -> ImportResult:
    """Group the accounts into SpinnakerClusters, give each a tenant, and build the objects that adopt them."""
    options = options or ImportOptions()
    report = ImportReport()
    candidates: list[_Candidate] = []
    seen: dict[str, str] = {}
    for account in accounts:
        result = AccountResult(account.name or "(unnamed)", account.source)
        report.accounts.append(result)
        if account.name and account.name in seen:
            result.problems.append(f"duplicate: the account {account.name} from {seen[account.name]} is used")
            continue
        seen[account.name] = account.source
        candidate = _candidate(account, result, options)
        if candidate is not None:
            candidates.append(candidate)

    clusters = _clusters(candidates)
    objects = _objects(candidates, clusters, options, report)
    report.accounts.sort(key=lambda a: (not a.adopted, a.cluster or "", a.name))
    return ImportResult(objects, report)


def _candidate(account: SourceAccount, result: AccountResult, options: ImportOptions) -> _Candidate | None:
    raw = account.account
    problems = result.problems
    if not account.name:
        problems.append("the account has no name")
    elif not _DNS_LABEL.match(account.name) or len(account.name) > 100:
        problems.append(
            "the name is not a DNS label of at most 100 characters (lowercase letters, digits and '-'): "
            "spec.accountName must be the existing name exactly, so this account cannot be adopted; rename it in "
            "Spinnaker first (pipelines refer to it by name)"
        )
    if str(raw.get("providerVersion") or "V2").upper() == "V1":
        problems.append("providerVersion V1: the V1 provider was removed in Spinnaker 1.21 and spinop writes V2")
    if raw.get("serviceAccount") is True:
        problems.append(
            "serviceAccount: true authenticates as clouddriver's own ServiceAccount; adopting it would switch it to a "
            "namespace-scoped token, not keep it"
        )
    namespaces = [str(n) for n in raw.get("namespaces") or []]
    if len(namespaces) != 1:
        shown = "none (all namespaces" + (
            f" except {', '.join(map(str, raw.get('omitNamespaces') or []))})" if raw.get("omitNamespaces") else ")"
        )
        problems.append(
            f"namespaces: {', '.join(namespaces) if namespaces else shown}: a SpinnakerAccount deploys to exactly one "
            "namespace; split it into one account per namespace in Spinnaker, or leave it unmanaged"
        )
    elif raw.get("omitNamespaces"):
        problems.append("omitNamespaces is set together with namespaces (Halyard refuses that); fix the account first")
    strings = [v for v in _walk(raw) if isinstance(v, str) and "${" in v]
    if strings:
        problems.append(f"unresolved Terraform expression {strings[0]!r}: give the account list literal values")
    environment = _text(raw.get("environment")) or options.default_environment
    if environment is None:
        problems.append(
            "no environment (Spinnaker then shows the account's name as its environment); set one in Spinnaker or "
            "pass --default-environment"
        )
    elif not _DNS_LABEL.match(environment) or len(environment) > 63:
        problems.append(
            f"environment {environment!r} is not a DNS label; a SpinnakerCluster's environment must be, and adoption "
            "would change it"
        )
    if problems:
        return None

    namespace = namespaces[0]
    result.namespace = namespace
    assert environment is not None
    explicit, group = _cluster_choice(account, environment, options)
    spec = _account_spec(raw, namespace)
    result.not_carried.extend(_not_carried(account))
    result.warnings.extend(_profile_warnings(raw))
    return _Candidate(account, result, environment, namespace, group, explicit, spec)


def _walk(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _cluster_choice(
    account: SourceAccount, environment: str, options: ImportOptions
) -> tuple[str | None, tuple[str, str]]:
    """(explicit SpinnakerCluster name or None, (how, key)) for grouping."""
    target = account.target
    keys = [account.name, account.context, target.context if target else None, account.cluster_hint]
    keys += [target.cluster_name, target.server] if target else []
    for key in keys:
        if key and key in options.cluster_map:
            return options.cluster_map[key], ("--cluster-map", key)
    if account.cluster_hint:
        return account.cluster_hint, ("the account list's cluster", account.cluster_hint)
    if target is not None:
        return None, ("server", target.server)
    if account.context:
        return None, ("context", account.context)
    return None, ("environment", environment)


def _account_spec(raw: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"namespace": namespace, "accountName": raw["name"], "adopt": True, "profile": "deployer"}
    permissions = raw.get("permissions") or {}
    carried = {
        key: _unique([str(r) for r in permissions.get(key) or []])
        for key in MANAGED_PERMISSIONS
        if permissions.get(key)
    }
    if carried:
        spec["permissions"] = carried
    if raw.get("kinds"):
        spec["kinds"] = _unique([str(k) for k in raw["kinds"]])
    if raw.get("omitKinds"):
        spec["omitKinds"] = _unique([str(k) for k in raw["omitKinds"]])
    # Halyard's defaults differ from spinop's (onlySpinnakerManaged: false there): always written out.
    spec["onlySpinnakerManaged"] = bool(raw.get("onlySpinnakerManaged", False))
    threads = raw.get("cacheThreads")
    spec["cacheThreads"] = 1 if threads is None else threads
    resources = [
        {k: v for k, v in r.items() if k in ("kubernetesKind", "spinnakerKind", "versioned") and v is not None}
        for r in raw.get("customResources") or []
        if isinstance(r, Mapping)
    ]
    if resources:
        spec["customResources"] = resources
    return spec


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _not_carried(account: SourceAccount) -> list[str]:
    out = []
    raw = account.account
    for key, value in raw.items():
        if key in CARRIED_FIELDS or key in CREDENTIAL_FIELDS or _is_default(key, value):
            continue
        why = _NOT_CARRIED_WHY.get(key, "spinop does not manage it")
        out.append(f"{key}: {_short(value)} ({why})")
    extra_permissions = sorted(
        k for k, v in (raw.get("permissions") or {}).items() if k not in MANAGED_PERMISSIONS and v
    )
    out += [
        f"permissions.{k}: {_short((raw.get('permissions') or {})[k])} (spinop manages READ, WRITE and EXECUTE only)"
        for k in extra_permissions
    ]
    if account.extra_keys:
        out.append(f"{', '.join(account.extra_keys)} (account-list keys that are not Spinnaker account fields)")
    return out


def _is_default(key: str, value: Any) -> bool:
    if value is None or value == [] or value == {}:
        return True
    return key in _DEFAULTS and value == _DEFAULTS[key]


def _profile_warnings(raw: Mapping[str, Any]) -> list[str]:
    from spinop.remote.profiles import DEPLOYER_KINDS

    readable = {k.lower() for k in DEPLOYER_KINDS}
    outside = [str(k) for k in raw.get("kinds") or [] if str(k).lower() not in readable]
    out = []
    if outside:
        out.append(
            f"kinds {', '.join(outside)} are beyond the deployer profile's RBAC: give the account spec.extraRules "
            "for them (allowed by the cluster's tenancy.allowedExtraRules), or clouddriver cannot cache them"
        )
    resources = [str(r.get("kubernetesKind")) for r in raw.get("customResources") or [] if isinstance(r, Mapping)]
    if resources:
        out.append(
            f"custom resources {', '.join(resources)} need spec.extraRules (allowed by the cluster's "
            "tenancy.allowedExtraRules) for the new credentials to read and deploy them"
        )
    return out


# ----------------------------------------------------------------------------------------------------- clusters


@dataclass
class _Cluster:
    name: str
    environment: str
    grouped_by: str
    candidates: list[_Candidate] = field(default_factory=list)


def _clusters(candidates: list[_Candidate]) -> dict[str, _Cluster]:
    """SpinnakerClusters by name. Explicit names (--cluster-map, an account list's `cluster`) are taken as given;
    otherwise accounts are grouped by their kubeconfig's server (else context) and environment."""
    clusters: dict[str, _Cluster] = {}
    by_key: dict[tuple[str, str], dict[str, list[_Candidate]]] = {}
    for c in candidates:
        if c.explicit_cluster is None:
            by_key.setdefault(c.group, {}).setdefault(c.environment, []).append(c)
    envs_elsewhere = Counter(env for per_env in by_key.values() for env in per_env)
    explicit_names = {c.explicit_cluster for c in candidates if c.explicit_cluster}
    taken: set[str] = set(explicit_names)
    for (how, key), per_env in sorted(by_key.items()):
        base = _base_name(per_env, how, key, envs_elsewhere)
        for env, members in sorted(per_env.items()):
            if len(per_env) == 1 and base == env and env not in taken:
                name = env
            else:
                name = _unique_name(base if len(per_env) == 1 else f"{base}-{env}", taken)
            taken.add(name)
            shown = {
                "server": f"the kubeconfig's server {key}",
                "context": f"kubeconfig context {key} (the kubeconfig was not readable)",
                "environment": f"environment {key} (no kubeconfig context or server known)",
            }[how]
            cluster = _Cluster(name, env, shown + (f", environment {env}" if len(per_env) > 1 else ""), members)
            clusters[name] = cluster

    for c in candidates:
        if c.explicit_cluster is None:
            continue
        how, key = c.group
        explicit = clusters.get(c.explicit_cluster)
        if explicit is None:
            explicit = clusters[c.explicit_cluster] = _Cluster(c.explicit_cluster, "", f"{how} {key}")
        explicit.candidates.append(c)
    for cluster in clusters.values():
        if cluster.environment:
            continue
        # An explicit cluster serves one environment: the most common among its accounts.
        counts = Counter(c.environment for c in cluster.candidates)
        cluster.environment = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        kept = []
        for c in cluster.candidates:
            if c.environment == cluster.environment:
                kept.append(c)
                continue
            c.result.problems.append(
                f"SpinnakerCluster {cluster.name} serves environment {cluster.environment}; this account's "
                f"environment {c.environment} would change: map it to another cluster with --cluster-map"
            )
        cluster.candidates = kept
    for c in candidates:
        if c.result.adopted:
            c.result.cluster = next(n for n, cl in clusters.items() if c in cl.candidates)
    return {name: cl for name, cl in clusters.items() if cl.candidates}


def _base_name(per_env: Mapping[str, list[_Candidate]], how: str, key: str, envs_elsewhere: Counter[str]) -> str:
    """A cluster's name: its environment when it is the only cluster of that environment, else its kubeconfig
    cluster entry (or context) as a DNS label."""
    if len(per_env) == 1:
        env = next(iter(per_env))
        if envs_elsewhere[env] == 1 and len(env) <= MAX_CLUSTER_NAME:
            return env
    first = next(iter(per_env.values()))[0].source
    label = first.target.cluster_name if how == "server" and first.target else key
    return _dns_label(label, MAX_CLUSTER_NAME - 9)


def _dns_label(text: str, limit: int) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower().split("://")[-1]).strip("-")
    label = re.sub(r"-{2,}", "-", label) or "cluster"
    if len(label) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        label = label[: limit - 7].rstrip("-") + "-" + digest
    return label


def _unique_name(name: str, taken: set[str]) -> str:
    name = name[:MAX_CLUSTER_NAME].rstrip("-")
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name[: MAX_CLUSTER_NAME - 3].rstrip('-')}-{n}"
        n += 1
    return candidate


# ------------------------------------------------------------------------------------------------------ objects


def derive_tenant(pattern: str, namespace: str, *, environment: str, cluster: str) -> str | None:
    """The {tenant} of `pattern` that makes it match `namespace` (the longest one), or None."""
    regex = ""
    tenant_seen = False
    for piece in re.split(r"(\{tenant\}|\{environment\}|\{cluster\}|\*)", pattern):
        if piece == "{tenant}":
            regex += "(?P=tenant)" if tenant_seen else "(?P<tenant>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
            tenant_seen = True
        elif piece == "{environment}":
            regex += re.escape(environment)
        elif piece == "{cluster}":
            regex += re.escape(cluster)
        elif piece == "*":
            regex += "[a-z0-9]+"  # one segment, as tenancy.namespacePattern's `*`
        else:
            regex += re.escape(piece)
    match = re.fullmatch(regex, namespace)
    return match.group("tenant") if match and tenant_seen else None


def _objects(
    candidates: list[_Candidate], clusters: dict[str, _Cluster], options: ImportOptions, report: ImportReport
) -> list[dict[str, Any]]:
    from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerCluster, validate_resource
    from spinop.api.v1alpha1.cluster import AdoptableAccount, ExistingNamespace
    from spinop.remote.plan import grant_label_command
    from spinop.tenancy import (
        AccountClaim,
        AccountUnderJudgement,
        effective_permissions,
        is_system_namespace,
        tenancy_violations,
    )

    cluster_objects: list[dict[str, Any]] = []
    account_objects: list[dict[str, Any]] = []
    tenants: set[str] = set()
    for name in sorted(clusters):
        cluster = clusters[name]
        body, result = _cluster_object(cluster, options)
        model, errors = validate_resource(body)
        if model is None or not isinstance(model, SpinnakerCluster):
            for c in cluster.candidates:
                c.result.problems.append(
                    f"SpinnakerCluster {name} would be invalid: " + "; ".join(str(e) for e in errors)
                )
            continue
        claims: list[AccountClaim] = []
        for c in sorted(cluster.candidates, key=lambda c: c.source.name):
            if is_system_namespace(c.namespace, options.reserved_namespaces):
                c.result.problems.append(
                    f"namespace {c.namespace} is a system namespace (kube-*, default) or one of spinop's own "
                    f"({', '.join(options.reserved_namespaces)}): spinop never gives an account one; leave it unmanaged"
                )
                continue
            tenant = _tenant(c, cluster, options)
            if tenant is None:
                c.result.problems.append(
                    f"no tenant: namespace {c.namespace} does not match --tenant-pattern {options.tenant_pattern!r} "
                    f"(environment {cluster.environment}); pass --tenant-map {c.namespace}=TENANT or --tenant"
                )
                continue
            if not _DNS_LABEL.match(tenant) or len(tenant) > 63 or is_system_namespace(tenant):
                c.result.problems.append(f"tenant {tenant!r} cannot be an MGMT namespace of tenant accounts")
                continue
            account_body = _account_object(c, tenant, name)
            account, errors = validate_resource(account_body)
            if account is None or not isinstance(account, SpinnakerAccount):
                c.result.problems += [f"{e} (from the account's {_halyard_field(e.path)})" for e in errors]
                continue
            # The cluster lets exactly this tenant adopt exactly this account (tenancy.adoptableAccounts).
            adoptable = AdoptableAccount(account_name=account.spec.effective_account_name, tenant=tenant)
            # ... and use the namespace it deploys to, which spinop did not create (tenancy.existingNamespaces).
            listed = [
                ExistingNamespace.model_validate(g) for g in body["spec"]["tenancy"].get("existingNamespaces", [])
            ]
            new_grant = not any(g.namespace == account.spec.namespace for g in listed)
            if new_grant:
                listed.append(ExistingNamespace(namespace=account.spec.namespace, tenant=tenant))
            tenancy = model.spec.tenancy.model_copy(
                update={"adoptable_accounts": [adoptable], "existing_namespaces": listed}
            )
            judged = AccountUnderJudgement(
                account.spec,
                tenant,
                account_body["metadata"]["name"],
                dict([TENANT_LABEL]),
                name,
                model.spec.model_copy(update={"tenancy": tenancy}),
                options.reserved_namespaces,
            )
            violations = tenancy_violations(judged, claims)
            if violations:
                c.result.problems += [f"{v.reason}: {e}" for v in violations for e in v.errors]
                continue
            body["spec"]["tenancy"].setdefault("adoptableAccounts", []).append(
                {"accountName": adoptable.account_name, "tenant": tenant}
            )
            if new_grant:
                body["spec"]["tenancy"].setdefault("existingNamespaces", []).append(
                    {"namespace": account.spec.namespace, "tenant": tenant}
                )
                # The remote admin's half of the grant: deploy/remote's admission policy needs the namespace's label.
                command = grant_label_command(account.spec.namespace, tenant)
                result.granted_namespaces.append(
                    {"namespace": account.spec.namespace, "tenant": tenant, "command": command}
                )
            claims.append(AccountClaim.from_resource(account))
            c.result.tenant = tenant
            permissions = effective_permissions(account.spec, tenant=tenant, cluster_name=name, cluster=model.spec)
            c.result.changes = adoption_changes(c.source.account, account.spec, cluster.environment, permissions)
            account_objects.append(account_body)
            result.accounts.append(c.source.name)
            tenants.add(tenant)
        if result.accounts:
            cluster_objects.append(body)
            report.clusters.append(result)
        for c in cluster.candidates:
            if not c.result.adopted:
                c.result.cluster = None
    report.tenants = sorted(tenants)
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": tenant, "labels": dict([TENANT_LABEL])},
        }
        for tenant in report.tenants
    ]
    if report.adopted:
        report.notes.append(
            "adoption replaces each account's credentials: spinop creates ServiceAccount spinop-<account> with a "
            "Role in the account's namespace and writes its own kubeconfig (context = the account name) to "
            "Spinnaker; the old ServiceAccounts, tokens and kubeconfig files stay until you retire them "
            "(docs/import.md)"
        )
    if any(c.granted_namespaces for c in report.clusters):
        report.notes.append(
            "the imported accounts' namespaces exist and spinop did not create them: each cluster's admin confirms "
            f"its grants by labelling them ({GRANTED_TENANT}=<tenant>, the commands listed per cluster); until then "
            "those accounts report NamespaceGrantNotLabelled and nothing is created in them (docs/import.md)"
        )
    account_objects.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    return [*namespaces, *cluster_objects, *account_objects]


def _cluster_object(cluster: _Cluster, options: ImportOptions) -> tuple[dict[str, Any], ClusterResult]:
    targets = {c.source.target for c in cluster.candidates if c.source.target is not None}
    servers = sorted({t.server for t in targets})
    notes = []
    spec: dict[str, Any] = {
        "kubeconfigSecretRef": {
            "name": options.admin_secret_name.format(cluster=cluster.name, environment=cluster.environment),
            "key": "kubeconfig",
        },
        "environment": cluster.environment,
    }
    server = servers[0] if len(servers) == 1 else None
    if len(servers) > 1:
        notes.append(f"its accounts' kubeconfigs point at several servers ({', '.join(servers)}): spec.server omitted")
    if server and not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", server):
        notes.append(f"server {server} is not an https URL: spec.server omitted")
        server = None
    if server:
        spec["server"] = server
        cas = {t.certificate_authority_data for t in targets if t.server == server}
        if len(cas) == 1 and None not in cas:
            spec["certificateAuthorityData"] = cas.pop()
        else:
            notes.append("no single inline CA in the old kubeconfigs: the admin kubeconfig's CA is used")
    unknown = [c.source.name for c in cluster.candidates if c.source.target is None]
    if unknown:
        reasons = sorted({c.source.target_note or "" for c in cluster.candidates if c.source.target is None})
        notes.append(
            f"server unknown for {', '.join(sorted(unknown))}: {'; '.join(r for r in reasons if r)}; check that this "
            "cluster is the one they deploy to (--cluster-map KEY=CLUSTER groups explicitly)"
        )
    sharing = Counter(c.namespace for c in cluster.candidates)
    tenancy: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": dict([TENANT_LABEL])},
        "namespacePattern": options.tenant_pattern,
    }
    if any(n > 1 for n in sharing.values()):
        tenancy["allowNamespaceSharing"] = True
        notes.append("allowNamespaceSharing: true, because accounts of one tenant share a namespace")
    spec["tenancy"] = tenancy
    sources = sorted({c.source.source for c in cluster.candidates})
    body = {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerCluster",
        "metadata": {"name": cluster.name, "annotations": {IMPORTED_FROM: ", ".join(sources)}},
        "spec": spec,
    }
    result = ClusterResult(
        cluster.name, cluster.environment, cluster.grouped_by, server, spec["kubeconfigSecretRef"]["name"]
    )
    result.notes = notes
    return body, result


def _tenant(c: _Candidate, cluster: _Cluster, options: ImportOptions) -> str | None:
    for key in (c.source.name, c.namespace):
        if key in options.tenant_map:
            return options.tenant_map[key]
    if options.tenant:
        return options.tenant
    return derive_tenant(options.tenant_pattern, c.namespace, environment=cluster.environment, cluster=cluster.name)


def _account_object(c: _Candidate, tenant: str, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SpinnakerAccount",
        "metadata": {
            "name": c.source.name,
            "namespace": tenant,
            "annotations": {IMPORTED_FROM: c.source.source},
        },
        "spec": {"cluster": cluster, **c.spec},
    }


_SPEC_TO_HALYARD = {
    "spec.namespace": "namespaces",
    "spec.accountName": "name",
    "spec.permissions": "permissions",
    "spec.kinds": "kinds",
    "spec.omitKinds": "omitKinds",
    "spec.cacheThreads": "cacheThreads",
    "spec.customResources": "customResources",
    "spec.onlySpinnakerManaged": "onlySpinnakerManaged",
    "metadata.name": "name",
}


def _halyard_field(path: str) -> str:
    for prefix, key in _SPEC_TO_HALYARD.items():
        if path.startswith(prefix):
            return key
    return path


def adoption_changes(
    existing: Mapping[str, Any], spec: SpinnakerAccountSpec, environment: str, permissions: Permissions
) -> list[FieldChange]:
    """What adopting `existing` with this SpinnakerAccount spec changes in Spinnaker, the credentials aside.

    `permissions`: the account's effective ones (`tenancy.effective_permissions`).

    Computed with the operator's own functions (`desired_spinnaker_account`, `merge_account`), so it is what the
    reconcile will write, not a second opinion of it.
    """
    from spinop.accounts import desired_spinnaker_account
    from spinop.halyard.model import account_to_halyard
    from spinop.redact import Redacted
    from spinop.spinnaker.desired import AccountOwner, merge_account

    desired = desired_spinnaker_account(
        AccountOwner("", "", ""), spec, environment, Redacted(""), "", permissions=permissions
    )
    before = _comparable(account_to_halyard(existing))
    after = _comparable(account_to_halyard(merge_account(dict(existing), desired)))
    return [
        FieldChange(key, before.get(key), after.get(key), _CHANGE_WHY.get(key, ""))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


_CHANGE_WHY = {
    "kinds": "the account allowed every kind; spinop lists the kinds its deployer credentials can read, so "
    "clouddriver never probes kinds it cannot list",
    "environment": "a SpinnakerAccount's environment is its cluster's",
    "permissions": "an account without READ or WRITE roles is open to every Spinnaker user (Fiat); spinop gives it "
    "the cluster's tenancy.accountPermissions (default READ and WRITE: [tenant]) unless spec.permissions says more",
    "customResources": "spinop writes every entry in full (spinnakerKind unclassified and versioned false are "
    "clouddriver's defaults)",
}


def _comparable(account: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in account.items() if k not in CREDENTIAL_FIELDS}
    out["serviceAccount"] = bool(out.get("serviceAccount"))  # absent and false mean the same to Halyard
    return out
