"""`spinop import`: existing Spinnaker accounts (halconfig, live Halyard, Terraform-style lists) → adopting CRs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop.api.labels import IMPORTED_FROM
from spinop.api.v1alpha1 import Permissions, SpinnakerAccount, parse_resource, validate_resource
from spinop.cli import main
from spinop.commands.importer.output import ImportResult, to_yaml, write_directory
from spinop.commands.importer.plan import ImportOptions, adoption_changes, derive_tenant, plan_import
from spinop.commands.importer.sources import (
    SourceAccount,
    SourceError,
    accounts_from_document,
    file_reader,
    load_source,
    read_halyard,
    resolve_target,
    resolve_targets,
)
from spinop.remote.profiles import DEPLOYER_KINDS
from tests.unit.halyard.conftest import make_standin

HAL_HOME = "/home/spinnaker/.hal"
SERVERS = {
    "dev": "https://dev.k8s.corp.example:6443",
    "staging": "https://staging.k8s.corp.example:6443",
    "prod": "https://prod.k8s.corp.example:6443",
}


def ca_of(env: str) -> str:
    return base64.b64encode(f"-----BEGIN CERTIFICATE-----\n{env}\n".encode()).decode()


def kubeconfig(context: str, env: str, server: str | None = None) -> str:
    """One kubeconfig per account, as the seed's Terraform wrote them: its own context, the env's GKE cluster."""
    cluster = f"gke_corp_europe-west1_{env}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": server or SERVERS[env], "certificate-authority-data": ca_of(env)},
                }
            ],
            "users": [{"name": f"{context}-sa", "user": {"token": "old-token-not-spinops"}}],
            "contexts": [{"name": context, "context": {"cluster": cluster, "user": f"{context}-sa"}}],
            "current-context": context,
        }
    )


def hal_account(name: str, env: str | None, namespaces: list[str], **fields: Any) -> dict[str, Any]:
    """An account as Halyard serializes it (every default written out)."""
    account: dict[str, Any] = {
        "name": name,
        "requiredGroupMembership": [],
        "providerVersion": "V2",
        "permissions": {},
        "dockerRegistries": [],
        "context": f"{name}-ctx",
        "configureImagePullSecrets": True,
        "cacheThreads": 1,
        "namespaces": namespaces,
        "omitNamespaces": [],
        "kinds": [],
        "omitKinds": [],
        "customResources": [],
        "cachingPolicies": [],
        "kubeconfigFile": f"{HAL_HOME}/kube/{name}.yaml",
        "rawResourcesEndpointConfig": {"kindExpressions": [], "omitKindExpressions": []},
        "oAuthScopes": [],
        "onlySpinnakerManaged": False,
    }
    if env is not None:
        account["environment"] = env
    account.update(fields)
    return account


IMPORTABLE = {
    "payments-dev": hal_account(
        "payments-dev",
        "dev",
        ["payments-dev"],
        permissions={"READ": ["payments", "platform"], "WRITE": ["payments"], "EXECUTE": ["payments-release"]},
        kinds=["deployment", "service", "configMap", "secret"],
        onlySpinnakerManaged=True,
        cacheThreads=2,
    ),
    "search-dev": hal_account(
        "search-dev", "dev", ["search-dev"], permissions={"READ": ["search"], "WRITE": ["search"]}
    ),
    "ml-dev": hal_account(
        "ml-dev",
        "dev",
        ["ml-dev"],
        omitKinds=["secret"],
        customResources=[
            {
                "kubernetesKind": "SeldonDeployment.machinelearning.seldon.io",
                "spinnakerKind": "serverGroups",
                "versioned": False,
            }
        ],
        permissions={"READ": ["ml"], "WRITE": ["ml"]},
    ),
    "payments-staging": hal_account(
        "payments-staging",
        "staging",
        ["payments-staging"],
        permissions={"READ": ["payments"], "WRITE": ["payments"]},
        kinds=["deployment", "service"],
    ),
    "search-staging": hal_account(
        "search-staging",
        "staging",
        ["search-staging"],
        kinds=["deployment"],
        requiredGroupMembership=["search-admins"],
        permissions={"READ": ["search"], "WRITE": ["search"], "CREATE": ["platform"]},
    ),
    "payments-prod": hal_account(
        "payments-prod",
        "prod",
        ["payments-prod"],
        kinds=["deployment", "service", "configMap"],
        permissions={"READ": ["payments", "sre"], "WRITE": ["payments-release"], "EXECUTE": ["payments-release"]},
        cacheThreads=4,
        onlySpinnakerManaged=True,
    ),
    "search-prod": hal_account(
        "search-prod",
        "prod",
        ["search-prod"],
        kinds=["deployment", "service"],
        cachingPolicies=[{"kubernetesKind": "pod", "maxEntriesPerAgent": 1000}],
        checkPermissionsOnStartup=False,
    ),
}
UNIMPORTABLE = {
    "spinnaker": {"name": "spinnaker", "environment": "mgmt", "serviceAccount": True, "namespaces": ["spinnaker"]},
    "prod-cluster-admin": hal_account("prod-cluster-admin", "prod", []),
    "staging-shared": hal_account("staging-shared", "staging", ["payments-staging", "search-staging"]),
    "legacy-v1": hal_account(
        "legacy-v1",
        "prod",
        ["legacy"],
        providerVersion="V1",
        dockerRegistries=[{"accountName": "gcr", "namespaces": []}],
    ),
    "Ops_Prod": hal_account("Ops_Prod", "prod", ["ops-prod"]),
}


def halconfig(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "halyardVersion": "1.70.0",
        "currentDeployment": "default",
        "deploymentConfigurations": [
            {
                "name": "default",
                "version": "1.36.1",
                "providers": {"kubernetes": {"enabled": True, "accounts": accounts, "primaryAccount": "payments-dev"}},
                "deploymentEnvironment": {"type": "Distributed", "accountName": "spinnaker"},
            }
        ],
    }


def files_for(accounts: list[dict[str, Any]]) -> dict[str, str]:
    files = {}
    for a in accounts:
        if a.get("kubeconfigFile") and a.get("environment") in SERVERS:
            files[a["kubeconfigFile"]] = kubeconfig(a["context"], a["environment"])
    return files


def reader(files: dict[str, str]) -> Any:
    def read(path: str, base: Path | None) -> tuple[str | None, str | None]:
        return (files[path], None) if path in files else (None, f"kubeconfig {path} is not readable here")

    return read


def import_halconfig(
    accounts: list[dict[str, Any]], options: ImportOptions | None = None, files: dict[str, str] | None = None
) -> ImportResult:
    sources = accounts_from_document(halconfig(accounts), "~/.hal/config")
    return plan_import(resolve_targets(sources, reader(files_for(accounts) if files is None else files)), options)


def by_kind(result: ImportResult, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in result.objects if o["kind"] == kind}


@pytest.fixture(scope="module")
def realistic() -> ImportResult:
    return import_halconfig([*IMPORTABLE.values(), *UNIMPORTABLE.values()])


# ---------------------------------------------------------------------------------------------- the whole picture


def test_accounts_on_three_clusters_become_one_cluster_per_server_and_adopting_accounts(
    realistic: ImportResult,
) -> None:
    clusters = by_kind(realistic, "SpinnakerCluster")
    accounts = by_kind(realistic, "SpinnakerAccount")
    assert sorted(clusters) == ["dev", "prod", "staging"]
    assert sorted(accounts) == sorted(IMPORTABLE)
    for env, cluster in clusters.items():
        assert cluster["spec"]["environment"] == env
        assert cluster["spec"]["server"] == SERVERS[env]
        assert cluster["spec"]["certificateAuthorityData"] == ca_of(env)
        assert cluster["spec"]["kubeconfigSecretRef"] == {"name": f"{env}-admin-kubeconfig", "key": "kubeconfig"}
        assert cluster["spec"]["tenancy"]["namespacePattern"] == "{tenant}-{environment}"
        assert cluster["spec"]["tenancy"]["namespaceSelector"] == {"matchLabels": {"spinop.io/tenant": "true"}}
    for name, account in accounts.items():
        spec = account["spec"]
        assert spec["adopt"] is True
        assert spec["accountName"] == name
        assert spec["cluster"] == IMPORTABLE[name]["environment"]
        assert spec["namespace"] == IMPORTABLE[name]["namespaces"][0]
        assert account["metadata"]["annotations"][IMPORTED_FROM] == "~/.hal/config (deployment default)"
    namespaces = by_kind(realistic, "Namespace")
    assert sorted(namespaces) == ["ml", "payments", "search"]
    assert all(ns["metadata"]["labels"] == {"spinop.io/tenant": "true"} for ns in namespaces.values())
    assert {a["metadata"]["namespace"] for a in accounts.values()} == set(namespaces)


def test_each_granted_namespace_comes_with_the_label_its_clusters_admin_must_set(realistic: ImportResult) -> None:
    """deploy/remote lets spinop write in a namespace it did not create only once the remote admin labelled it for
    the tenant: the report says, per cluster, exactly which `kubectl label` to run there."""
    clusters = by_kind(realistic, "SpinnakerCluster")
    for result in realistic.report.clusters:
        grants = clusters[result.name]["spec"]["tenancy"]["existingNamespaces"]
        assert [{"namespace": g["namespace"], "tenant": g["tenant"]} for g in result.granted_namespaces] == grants
        for g in result.granted_namespaces:
            assert g["command"] == f"kubectl label namespace {g['namespace']} spinop.io/granted-tenant={g['tenant']}"
    dev = next(c for c in realistic.report.clusters if c.name == "dev")
    assert {g["namespace"]: g["tenant"] for g in dev.granted_namespaces}["payments-dev"] == "payments"
    text = realistic.report.render()
    assert "kubectl label namespace payments-dev spinop.io/granted-tenant=payments" in text
    assert "NamespaceGrantNotLabelled" in text
    data = json.loads(json.dumps(realistic.report.to_json(), default=str))
    assert {c["name"]: c["granted_namespaces"] for c in data["clusters"]}["dev"] == dev.granted_namespaces


def test_every_generated_object_validates_against_the_models(realistic: ImportResult) -> None:
    for obj in realistic.objects:
        if obj["kind"] == "Namespace":
            continue
        model, errors = validate_resource(obj)
        assert model is not None, errors


def test_the_fields_spinop_manages_are_carried_over_exactly(realistic: ImportResult) -> None:
    accounts = by_kind(realistic, "SpinnakerAccount")
    for name, raw in IMPORTABLE.items():
        spec = accounts[name]["spec"]
        permissions = {k: v for k, v in raw["permissions"].items() if k in ("READ", "WRITE", "EXECUTE")}
        assert spec.get("permissions", {}) == permissions, name
        assert spec.get("kinds", []) == raw["kinds"], name
        assert spec.get("omitKinds", []) == raw["omitKinds"], name
        assert spec["onlySpinnakerManaged"] is raw["onlySpinnakerManaged"], name
        assert spec["cacheThreads"] == raw["cacheThreads"], name
        assert spec.get("customResources", []) == raw["customResources"], name
    # EXECUTE is carried, so spinop manages it from now on.
    assert accounts["payments-prod"]["spec"]["permissions"]["EXECUTE"] == ["payments-release"]


def test_adoption_changes_nothing_spinop_manages_except_an_all_kinds_account(realistic: ImportResult) -> None:
    for name in IMPORTABLE:
        changes = realistic.report.account(name).changes
        if name == "search-dev":
            assert [c.field for c in changes] == ["kinds"]
            assert changes[0].before == [] and changes[0].after == list(DEPLOYER_KINDS)
        elif name == "search-prod":  # open to every Spinnaker user in Halyard: the cluster's default closes it
            assert [(c.field, c.before, c.after) for c in changes] == [
                ("permissions", {}, {"READ": ["search"], "WRITE": ["search"]})
            ]
        else:
            assert changes == [], (name, changes)


def test_adoption_changes_is_what_the_reconcile_writes() -> None:
    raw = IMPORTABLE["payments-prod"]
    model = parse_resource(
        {
            "apiVersion": "spinop.io/v1alpha1",
            "kind": "SpinnakerAccount",
            "metadata": {"name": "x", "namespace": "payments"},
            "spec": {
                "cluster": "prod",
                "namespace": "payments-prod",
                "accountName": "payments-prod",
                "cacheThreads": 8,
            },
        }
    )
    assert isinstance(model, SpinnakerAccount)
    default = Permissions.model_validate(
        {"READ": ["payments"], "WRITE": ["payments"]}
    )  # the cluster's default for tenant payments
    changes = {c.field: (c.before, c.after) for c in adoption_changes(raw, model.spec, "production", default)}
    assert changes["cacheThreads"] == (4, 8)
    assert changes["environment"] == ("prod", "production")
    # READ and WRITE follow the effective permissions; EXECUTE, which they do not set, stays as it was.
    assert changes["permissions"][1] == {
        "EXECUTE": ["payments-release"],
        "READ": ["payments"],
        "WRITE": ["payments"],
    }
    assert "kubeconfigFile" not in changes and "context" not in changes  # the credentials are expected to change


def test_unimportable_accounts_are_reported_with_the_reason_and_get_no_object(realistic: ImportResult) -> None:
    accounts = by_kind(realistic, "SpinnakerAccount")
    problems = {a.name: " ".join(a.problems) for a in realistic.report.skipped}
    assert sorted(problems) == sorted(UNIMPORTABLE)
    assert not set(UNIMPORTABLE) & set(accounts)
    assert "serviceAccount: true" in problems["spinnaker"]
    assert "none (all namespaces)" in problems["prod-cluster-admin"]
    assert "payments-staging, search-staging" in problems["staging-shared"]
    assert "exactly one namespace" in problems["staging-shared"]
    assert "providerVersion V1" in problems["legacy-v1"]
    assert "not a DNS label" in problems["Ops_Prod"]


def test_fields_spinop_does_not_manage_are_reported_as_kept(realistic: ImportResult) -> None:
    report = realistic.report
    staging = " ".join(report.account("search-staging").not_carried)
    assert "requiredGroupMembership" in staging and "permissions.CREATE" in staging
    prod = " ".join(report.account("search-prod").not_carried)
    assert "cachingPolicies" in prod and "checkPermissionsOnStartup" in prod
    assert report.account("payments-dev").not_carried == []  # Halyard's defaults are not noise
    assert "SeldonDeployment" in " ".join(report.account("ml-dev").warnings)


def test_report_renders_and_serializes(realistic: ImportResult) -> None:
    text = realistic.report.render()
    assert text.startswith("spinop import: 7 of 12 account(s) adopted on 3 SpinnakerCluster(s) for 3 tenant(s)")
    assert "Secret dev-admin-kubeconfig" in text
    assert "search-dev -> SpinnakerAccount search/search-dev on dev/search-dev" in text
    assert "kinds: [] -> " in text
    assert "Not importable" in text and "legacy-v1" in text
    assert "old ServiceAccounts, tokens and kubeconfig files stay" in text
    assert "old-token-not-spinops" not in text + to_yaml(realistic.objects)
    data = json.loads(json.dumps(realistic.report.to_json(), default=str))
    assert {a["name"] for a in data["accounts"] if not a["adopted"]} == set(UNIMPORTABLE)


# -------------------------------------------------------------------------------------------------------- grouping


def test_unreadable_kubeconfigs_group_by_context_and_say_so() -> None:
    accounts = [hal_account("a-dev", "dev", ["a-dev"], context="dev-cluster"), hal_account("b-dev", "dev", ["b-dev"])]
    result = import_halconfig(accounts, files={})
    clusters = by_kind(result, "SpinnakerCluster")
    # Two contexts of one environment: named after the contexts, since neither can claim "dev".
    assert sorted(clusters) == ["b-dev-ctx", "dev-cluster"]
    assert all("server" not in c["spec"] for c in clusters.values())
    notes = " ".join(n for c in result.report.clusters for n in c.notes)
    assert "is not readable here" in notes and "--cluster-map" in notes
    assert "kubeconfig context dev-cluster" in result.report.render()


def test_cluster_map_by_server_context_or_account_name() -> None:
    accounts = [
        hal_account("a-dev", "dev", ["a-dev"]),
        hal_account("b-dev", "dev", ["b-dev"], context="b-ctx"),
        hal_account("c-prod", "prod", ["c-prod"]),
    ]
    files = files_for(accounts)
    files[f"{HAL_HOME}/kube/b-dev.yaml"] = kubeconfig("b-ctx", "dev")
    options = ImportOptions(cluster_map={SERVERS["dev"]: "eu-dev", "c-prod": "eu-prod"})
    result = import_halconfig(accounts, options, files)
    accounts_out = by_kind(result, "SpinnakerAccount")
    assert {n: a["spec"]["cluster"] for n, a in accounts_out.items()} == {
        "a-dev": "eu-dev",
        "b-dev": "eu-dev",
        "c-prod": "eu-prod",
    }
    assert by_kind(result, "SpinnakerCluster")["eu-prod"]["spec"]["environment"] == "prod"

    by_context = import_halconfig(accounts, ImportOptions(cluster_map={"b-ctx": "b-only"}), files)
    assert by_kind(by_context, "SpinnakerAccount")["b-dev"]["spec"]["cluster"] == "b-only"
    assert by_kind(by_context, "SpinnakerAccount")["a-dev"]["spec"]["cluster"] == "dev"


def test_two_servers_of_one_environment_are_named_after_their_kubeconfig_clusters() -> None:
    accounts = [hal_account("a-prod", "prod", ["a-prod"]), hal_account("b-prod", "prod", ["b-prod"])]
    files = {
        f"{HAL_HOME}/kube/a-prod.yaml": kubeconfig("a-prod-ctx", "prod"),
        f"{HAL_HOME}/kube/b-prod.yaml": kubeconfig("b-prod-ctx", "prod", server="https://prod-us.k8s.corp.example"),
    }
    files[f"{HAL_HOME}/kube/b-prod.yaml"] = files[f"{HAL_HOME}/kube/b-prod.yaml"].replace(
        "gke_corp_europe-west1_prod", "gke_corp_us-east1_prod"
    )
    clusters = by_kind(import_halconfig(accounts, files=files), "SpinnakerCluster")
    assert sorted(clusters) == ["gke-corp-europe-west1-prod", "gke-corp-us-east1-prod"]
    assert all(len(name) <= 36 for name in clusters)


def test_one_server_with_two_environments_becomes_one_cluster_per_environment() -> None:
    accounts = [hal_account("a-dev", "dev", ["a-dev"]), hal_account("a-qa", "qa", ["a-qa"])]
    files = {
        f"{HAL_HOME}/kube/a-dev.yaml": kubeconfig("a-dev-ctx", "dev"),
        f"{HAL_HOME}/kube/a-qa.yaml": kubeconfig("a-qa-ctx", "dev"),
    }
    result = import_halconfig(accounts, files=files)
    clusters = by_kind(result, "SpinnakerCluster")
    assert {n: c["spec"]["environment"] for n, c in clusters.items()} == {
        "gke-corp-europe-west1-dev-dev": "dev",
        "gke-corp-europe-west1-dev-qa": "qa",
    }
    assert all(c.server == SERVERS["dev"] for c in result.report.clusters)


def test_an_explicit_cluster_keeps_one_environment_and_refuses_the_others() -> None:
    accounts = [
        hal_account("a-dev", "dev", ["a-dev"]),
        hal_account("b-dev", "dev", ["b-dev"]),
        hal_account("a-qa", "qa", ["a-qa"]),
    ]
    options = ImportOptions(cluster_map=dict.fromkeys(("a-dev", "b-dev", "a-qa"), "shared"))
    result = import_halconfig(accounts, options)
    assert by_kind(result, "SpinnakerCluster")["shared"]["spec"]["environment"] == "dev"
    assert "serves environment dev" in " ".join(result.report.account("a-qa").problems)
    assert result.report.account("a-qa").cluster is None


def test_accounts_without_an_environment_need_a_default() -> None:
    accounts = [hal_account("a-dev", None, ["a-dev"], kinds=["deployment"])]
    files = {f"{HAL_HOME}/kube/a-dev.yaml": kubeconfig("a-dev-ctx", "dev")}
    refused = import_halconfig(accounts, files=files)
    assert "--default-environment" in " ".join(refused.report.account("a-dev").problems)
    result = import_halconfig(accounts, ImportOptions(default_environment="dev"), files)
    change = result.report.account("a-dev").changes
    assert [(c.field, c.before, c.after) for c in change] == [
        ("environment", None, "dev"),
        ("permissions", {}, {"READ": ["a"], "WRITE": ["a"]}),
    ]


# --------------------------------------------------------------------------------------------------------- tenants


@pytest.mark.parametrize(
    ("pattern", "namespace", "tenant"),
    [
        ("{tenant}-{environment}", "team-a-dev", "team-a"),
        ("{tenant}-{environment}", "team-a-prod", None),
        ("{tenant}-*", "team-a-web", "team-a"),
        ("{environment}-{tenant}", "dev-payments", "payments"),
        ("{cluster}-{tenant}", "eu-dev-payments", "payments"),
        ("{tenant}", "payments", "payments"),
    ],
)
def test_derive_tenant(pattern: str, namespace: str, tenant: str | None) -> None:
    assert derive_tenant(pattern, namespace, environment="dev", cluster="eu-dev") == tenant


def test_tenant_pattern_map_and_fixed_tenant() -> None:
    accounts = [
        hal_account("web-dev", "dev", ["team-a-web"]),
        hal_account("api-dev", "dev", ["team-a-api"]),
        hal_account("odd-dev", "dev", ["legacy-apps"]),
    ]
    result = import_halconfig(accounts, ImportOptions(tenant_pattern="{tenant}-*"))
    tenants = {n: a["metadata"]["namespace"] for n, a in by_kind(result, "SpinnakerAccount").items()}
    assert tenants == {"web-dev": "team-a", "api-dev": "team-a", "odd-dev": "legacy"}
    assert by_kind(result, "SpinnakerCluster")["dev"]["spec"]["tenancy"]["namespacePattern"] == "{tenant}-*"

    strict = import_halconfig(accounts)
    assert "does not match --tenant-pattern" in " ".join(strict.report.account("odd-dev").problems)

    mapped = import_halconfig(accounts, ImportOptions(tenant_map={"legacy-apps": "legacy"}))
    assert "odd-dev" not in by_kind(mapped, "SpinnakerAccount")  # mapped, but the cluster's pattern refuses it
    assert "NamespaceNotAllowed" in " ".join(mapped.report.account("odd-dev").problems)

    fixed = import_halconfig(accounts, ImportOptions(tenant="team-a", tenant_pattern="{tenant}-*"))
    assert sorted(by_kind(fixed, "SpinnakerAccount")) == ["api-dev", "web-dev"]
    assert "NamespaceNotAllowed" in " ".join(fixed.report.account("odd-dev").problems)


def test_accounts_of_one_tenant_sharing_a_namespace_turn_sharing_on() -> None:
    accounts = [
        hal_account("team-a-dev", "dev", ["team-a-dev"]),
        hal_account("team-a-dev-readonly", "dev", ["team-a-dev"], kinds=["deployment"]),
    ]
    result = import_halconfig(accounts)
    assert sorted(by_kind(result, "SpinnakerAccount")) == ["team-a-dev", "team-a-dev-readonly"]
    assert by_kind(result, "SpinnakerCluster")["dev"]["spec"]["tenancy"]["allowNamespaceSharing"] is True


def test_system_namespaces_and_duplicates_are_refused() -> None:
    accounts = [
        hal_account("kube-dev", "dev", ["kube-system"]),
        hal_account("devops-dev", "dev", ["devops"]),
        hal_account("a-dev", "dev", ["a-dev"]),
        hal_account("a-dev", "dev", ["a-dev"], cacheThreads=3),
        hal_account("b-dev", "dev", ["b-dev"], cacheThreads=64),
    ]
    result = import_halconfig(accounts, ImportOptions(tenant_pattern="{tenant}"))
    skipped = {a.name: " ".join(a.problems) for a in result.report.skipped}
    assert "system namespace" in skipped["kube-dev"]
    assert "system namespace" in skipped["devops-dev"]
    assert "duplicate" in skipped["a-dev"]
    assert "spec.cacheThreads" in skipped["b-dev"] and "cacheThreads" in skipped["b-dev"]
    assert sorted(by_kind(result, "SpinnakerAccount")) == ["a-dev"]


# ------------------------------------------------------------------------------------------------ kubeconfig reads


def test_resolve_target_inline_secret_reference_and_service_account() -> None:
    inline = SourceAccount({"name": "x", "kubeconfigContents": kubeconfig("c", "prod"), "context": "c"}, "s")
    assert resolve_target(inline, reader({})).target is not None
    ref = SourceAccount({"name": "x", "kubeconfigFile": "encryptedFile:s3!r:eu!b:bucket!f:x.yaml"}, "s")
    assert "secret reference" in (resolve_target(ref, reader({})).target_note or "")
    missing_context = SourceAccount({"name": "x", "kubeconfigContents": kubeconfig("c", "prod"), "context": "z"}, "s")
    assert "no context named 'z'" in (resolve_target(missing_context, reader({})).target_note or "")
    default = SourceAccount({"name": "x"}, "s")
    assert "~/.kube/config" in (resolve_target(default, reader({})).target_note or "")


def test_file_reader_path_map_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "copy" / "kube").mkdir(parents=True)
    (tmp_path / "copy" / "kube" / "a.yaml").write_text("x")
    read = file_reader([(HAL_HOME, str(tmp_path / "copy"))])
    assert read(f"{HAL_HOME}/kube/a.yaml", None) == ("x", None)
    assert read("kube/a.yaml", tmp_path / "copy") == ("x", None)
    text, note = read("/elsewhere/a.yaml", None)
    assert text is None and note is not None and "--path-map" in note


# ------------------------------------------------------------------------------------------- Terraform-style lists

TFVARS = """
environment = "dev"
project     = "corp-dev"   # other Terraform variables are ignored

accounts = [
  {
    name                   = "payments-dev"
    namespace              = "payments-dev"
    read_permissions       = ["payments", "platform"]
    write_permissions      = ["payments"]
    execute_permissions    = ["payments-release"]
    kinds                  = ["deployment", "service", "configMap"]
    only_spinnaker_managed = true
    cache_threads          = 2
    cpu_quota              = "4"
  },
  {
    name      = "search-dev"
    namespace = "search-dev"
    permissions = { READ = ["search"], WRITE = ["search"] }
    custom_resources = [
      { kubernetes_kind = "Rollout.argoproj.io", spinnaker_kind = "serverGroups", versioned = false },
    ]
  },
  {
    name       = "shared-dev"
    namespaces = ["a-dev", "b-dev"]
  },
]
"""

ACCOUNT_LIST = {
    "environment": "dev",
    "project": "corp-dev",
    "accounts": [
        {
            "name": "payments-dev",
            "namespace": "payments-dev",
            "read_permissions": ["payments", "platform"],
            "write_permissions": ["payments"],
            "execute_permissions": ["payments-release"],
            "kinds": ["deployment", "service", "configMap"],
            "only_spinnaker_managed": True,
            "cache_threads": 2,
            "cpu_quota": "4",
        },
        {
            "name": "search-dev",
            "namespace": "search-dev",
            "permissions": {"READ": ["search"], "WRITE": ["search"]},
            "custom_resources": [
                {"kubernetes_kind": "Rollout.argoproj.io", "spinnaker_kind": "serverGroups", "versioned": False}
            ],
        },
        {"name": "shared-dev", "namespaces": ["a-dev", "b-dev"]},
    ],
}


def _import_file(path: Path) -> ImportResult:
    return plan_import(resolve_targets(load_source(path), reader({})))


def _without_sources(result: ImportResult) -> list[dict[str, Any]]:
    out = []
    for obj in result.objects:
        copy = json.loads(json.dumps(obj))
        copy["metadata"].pop("annotations", None)
        out.append(copy)
    return out


def test_account_list_as_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text(json.dumps(ACCOUNT_LIST))
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(ACCOUNT_LIST))
    from_json, from_yaml = _import_file(tmp_path / "dev.json"), _import_file(tmp_path / "dev.yaml")
    assert _without_sources(from_json) == _without_sources(from_yaml)
    accounts = by_kind(from_json, "SpinnakerAccount")
    assert sorted(accounts) == ["payments-dev", "search-dev"]
    payments = accounts["payments-dev"]["spec"]
    assert payments["permissions"] == {
        "READ": ["payments", "platform"],
        "WRITE": ["payments"],
        "EXECUTE": ["payments-release"],
    }
    assert payments["cacheThreads"] == 2 and payments["onlySpinnakerManaged"] is True
    assert accounts["search-dev"]["spec"]["customResources"] == [
        {"kubernetesKind": "Rollout.argoproj.io", "spinnakerKind": "serverGroups", "versioned": False}
    ]
    # No kubeconfig in the list: one cluster per environment, as the seed's per-environment tfvars mean.
    assert list(by_kind(from_json, "SpinnakerCluster")) == ["dev"]
    report = from_json.report
    assert report.account("payments-dev").changes == []  # the file's environment is the accounts' environment
    assert "cpu_quota" in " ".join(report.account("payments-dev").not_carried)
    assert "exactly one namespace" in " ".join(report.account("shared-dev").problems)
    for obj in from_json.objects:
        if obj["kind"] != "Namespace":
            assert validate_resource(obj)[0] is not None


def test_tfvars_reads_like_the_same_list_in_json(tmp_path: Path) -> None:
    (tmp_path / "dev.tfvars").write_text(TFVARS)
    (tmp_path / "dev.json").write_text(json.dumps(ACCOUNT_LIST))
    assert _without_sources(_import_file(tmp_path / "dev.tfvars")) == _without_sources(
        _import_file(tmp_path / "dev.json")
    )


def test_account_list_cluster_hint_and_terraform_expressions(tmp_path: Path) -> None:
    doc = {
        "environment": "prod",
        "cluster": "eu-prod",
        "accounts": [{"name": "a-prod", "namespace": "a-prod"}, {"name": "b-prod", "namespace": "${var.ns}"}],
    }
    result = plan_import(resolve_targets(accounts_from_document(doc, "prod.yaml"), reader({})))
    assert by_kind(result, "SpinnakerAccount")["a-prod"]["spec"]["cluster"] == "eu-prod"
    assert "Terraform expression" in " ".join(result.report.account("b-prod").problems)
    renamed = plan_import(
        resolve_targets(accounts_from_document(doc, "prod.yaml"), reader({})),
        ImportOptions(cluster_map={"eu-prod": "prod-eu-west1"}),
    )
    assert by_kind(renamed, "SpinnakerAccount")["a-prod"]["spec"]["cluster"] == "prod-eu-west1"


def test_provider_and_deployment_json_are_sources_too() -> None:
    accounts = [IMPORTABLE["payments-dev"]]
    provider = {"enabled": True, "accounts": accounts, "primaryAccount": "payments-dev"}
    deployment = {"name": "default", "providers": {"kubernetes": provider}}
    for doc in (provider, deployment):
        assert [a.name for a in accounts_from_document(doc, "x")] == ["payments-dev"]
    with pytest.raises(SourceError, match="no deployment 'other'"):
        accounts_from_document(halconfig(accounts), "x", deployment="other")
    with pytest.raises(SourceError, match="account list"):
        accounts_from_document({"project": "x"}, "x")


# ---------------------------------------------------------------------------------------------------------- output


def test_write_directory_one_file_per_object_and_a_kustomization(tmp_path: Path, realistic: ImportResult) -> None:
    written = write_directory(tmp_path / "out", realistic.objects)
    kustomization = yaml.safe_load((tmp_path / "out" / "kustomization.yaml").read_text())
    assert len(kustomization["resources"]) == len(realistic.objects) == len(written) - 1
    assert "spinnakeraccount-payments-payments-dev.yaml" in kustomization["resources"]
    assert "spinnakercluster-dev.yaml" in kustomization["resources"]
    assert "namespace-payments.yaml" in kustomization["resources"]
    loaded = [yaml.safe_load((tmp_path / "out" / name).read_text()) for name in kustomization["resources"]]
    assert loaded == realistic.objects
    assert list(yaml.safe_load_all(to_yaml(realistic.objects))) == realistic.objects

    # With the report: per remote cluster, its admin's labels as a script (never a resource of the kustomization).
    written = write_directory(tmp_path / "with-labels", realistic.objects, realistic.report)
    scripts = sorted(p.name for p in written if p.suffix == ".sh")
    assert scripts == [f"remote-namespace-labels-{env}.sh" for env in ("dev", "prod", "staging")]
    kustomization_text = (tmp_path / "with-labels" / "kustomization.yaml").read_text()
    assert yaml.safe_load(kustomization_text)["resources"] == kustomization["resources"]
    assert "remote-namespace-labels-<cluster>.sh" in kustomization_text
    for result in realistic.report.clusters:
        lines = (tmp_path / "with-labels" / f"remote-namespace-labels-{result.name}.sh").read_text().splitlines()
        assert lines[0] == "#!/bin/sh" and "set -e" in lines
        assert [line for line in lines if line.startswith("kubectl ")] == [
            g["command"] for g in result.granted_namespaces
        ]


def test_cli_writes_yaml_to_stdout_and_the_report_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accounts = [*IMPORTABLE.values(), *UNIMPORTABLE.values()]
    (tmp_path / "hal").mkdir()
    (tmp_path / "hal" / "config").write_text(yaml.safe_dump(halconfig(accounts)))
    copy = tmp_path / "copy"
    for path, text in files_for(accounts).items():
        local = copy / Path(path).relative_to(HAL_HOME)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
    args = ["import", str(tmp_path / "hal" / "config"), "--path-map", f"{HAL_HOME}={copy}"]
    assert main([*args, "--cluster-map", f"{SERVERS['prod']}=eu-prod"]) == 0
    out, err = capsys.readouterr()
    objects = list(yaml.safe_load_all(out))
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "SpinnakerCluster") == [
        "dev",
        "eu-prod",
        "staging",
    ]
    assert "7 of 12 account(s) adopted" in err

    assert main([*args, "-o", str(tmp_path / "out"), "--report-format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert json.loads(err)["tenants"] == ["ml", "payments", "search"]
    assert (tmp_path / "out" / "kustomization.yaml").exists()
    assert (tmp_path / "out" / "remote-namespace-labels-dev.sh").exists()

    assert main(["import"]) == 2
    assert main(["import", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------- live Halyard


async def test_read_halyard_lists_the_accounts_of_a_live_daemon(tmp_path: Path) -> None:
    standin = make_standin(tmp_path)
    await standin.start()
    try:
        config = yaml.safe_load(standin.halconfig_text())
        deployment = config["deploymentConfigurations"][0]
        provider = deployment.setdefault("providers", {}).setdefault("kubernetes", {})
        provider.update({"enabled": True, "accounts": [IMPORTABLE["payments-dev"], IMPORTABLE["search-prod"]]})
        standin.write_halconfig_text(yaml.safe_dump(config))
        accounts = await read_halyard(standin.daemon_url)
    finally:
        await standin.stop()
    assert [a.name for a in accounts] == ["payments-dev", "search-prod"]
    assert accounts[0].source == f"Halyard {standin.daemon_url} (deployment default)"
    assert accounts[0].account["permissions"]["EXECUTE"] == ["payments-release"]
    with pytest.raises(SourceError, match="Halyard at"):
        await read_halyard("http://127.0.0.1:9")
