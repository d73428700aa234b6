"""`spinop import` end to end: a Spinnaker installed the seed's way (Terraform-made ServiceAccounts and tokens, one
kubeconfig per account, accounts added to Halyard) is imported from the live Halyard, the generated CRs are applied to
the real MGMT apiserver with the real operator running (Halyard backend, rest transport), and every account is
adopted: Ready, with Spinnaker's view of it unchanged in every field spinop manages, only the credentials replaced by
spinop's. Accounts the import reports as not importable are left exactly as they were.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml

from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.conftest import halyard, operator_token_kubeconfig  # noqa: F401  (fixtures)
from tests.integration.spinnaker.standins import HalyardStandinProcess

HAL_HOME = "/home/spinnaker/.hal"
SPINOP_KUBECONFIG_DIR = f"{HAL_HOME}/spinop/kubeconfigs"
CREDENTIALS = ("kubeconfigFile", "kubeconfigContents", "context")
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass
class OldWorld:
    """What Terraform and the Halyard Job left behind."""

    sid: str
    tenants: list[str]
    hal_copy: Path
    """A local copy of the Halyard pod's ~/.hal (as `kubectl cp` would make), for --path-map."""
    importable: list[str] = field(default_factory=list)
    unimportable: dict[str, str] = field(default_factory=dict)
    """Account name → a word the report gives as the reason."""
    remote_namespaces: list[tuple[Cluster, str]] = field(default_factory=list)


def _old_credentials(remote: Cluster, namespace: str) -> str:
    """The seed's Terraform: a ServiceAccount `spinnaker` bound to `edit` in the namespace, and a token for it."""
    remote.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    remote.core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="spinnaker"))
    )
    remote.rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="spinnaker-edit"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="spinnaker", namespace=namespace)],
        ),
    )
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(expiration_seconds=7200))
    return str(remote.core.create_namespaced_service_account_token("spinnaker", namespace, request).status.token)


def _kubeconfig(remote: Cluster, context: str, token: str) -> str:
    cluster = f"gke_corp_europe-west1_{remote.name}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {
                        "server": remote.server,
                        "certificate-authority-data": base64.b64encode(remote.ca_file.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": cluster, "user": context}}],
            "current-context": context,
        }
    )


def _account(name: str, environment: str, namespaces: list[str], **fields: Any) -> dict[str, Any]:
    """An account as Halyard writes it to ~/.hal/config after `hal config provider kubernetes account add`."""
    return {
        "name": name,
        "environment": environment,
        "requiredGroupMembership": [],
        "providerVersion": "V2",
        "permissions": {},
        "dockerRegistries": [],
        "context": f"{environment}-{name}",
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
        **fields,
    }


@pytest.fixture()
def old_world(
    halyard: HalyardStandinProcess,  # noqa: F811
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tmp_path: Path,
    namespaces_to_reap: list[tuple[Cluster, str]],
) -> Iterator[OldWorld]:
    sid = objects.short_id()
    pay, search = f"pay-{sid}", f"search-{sid}"
    world = OldWorld(sid, [pay, search], tmp_path / "hal-copy")
    files: dict[str, str] = {}
    accounts: list[dict[str, Any]] = []

    def provision(env: str, tenant: str, **fields: Any) -> None:
        name = namespace = f"{tenant}-{env}"
        token = _old_credentials(remotes[env], namespace)
        world.remote_namespaces.append((remotes[env], namespace))
        account = _account(name, env, [namespace], **fields)
        files[account["kubeconfigFile"]] = _kubeconfig(remotes[env], account["context"], token)
        accounts.append(account)
        world.importable.append(name)

    provision(
        "dev",
        pay,
        kinds=["deployment", "service", "configMap", "secret"],
        permissions={"READ": [pay, "platform"], "WRITE": [pay], "EXECUTE": [f"{pay}-release"]},
        onlySpinnakerManaged=True,
        cacheThreads=2,
    )
    provision("dev", search, permissions={"READ": [search], "WRITE": [search]})  # every kind, as `hal … add` leaves it
    provision(
        "staging",
        pay,
        kinds=["deployment", "service"],
        permissions={"READ": [pay], "WRITE": [pay], "CREATE": ["platform"]},
        requiredGroupMembership=[f"{pay}-admins"],
        customResources=[
            {"kubernetesKind": "Rollout.argoproj.io", "spinnakerKind": "serverGroups", "versioned": False}
        ],
    )
    provision("staging", search, omitKinds=["secret"], permissions={"READ": [search], "WRITE": [search]})
    provision(
        "prod",
        pay,
        kinds=["deployment", "service", "configMap"],
        permissions={"READ": [pay, "sre"], "WRITE": [f"{pay}-release"], "EXECUTE": [f"{pay}-release"]},
        cacheThreads=4,
        cachingPolicies=[{"kubernetesKind": "pod", "maxEntriesPerAgent": 1000}],
    )
    provision(
        "prod", search, kinds=["deployment", "service"], onlySpinnakerManaged=True, checkPermissionsOnStartup=False
    )

    # What the import must leave alone.
    any_kubeconfig = next(iter(files.values()))
    for name, account, why in (
        (
            f"spinnaker-{sid}",
            _account(f"spinnaker-{sid}", "mgmt", ["spinnaker"], serviceAccount=True),
            "serviceAccount",
        ),
        (f"all-{sid}-prod", _account(f"all-{sid}-prod", "prod", []), "exactly one namespace"),
        (
            f"shared-{sid}-staging",
            _account(f"shared-{sid}-staging", "staging", [f"{pay}-staging", f"{search}-staging"]),
            "exactly one namespace",
        ),
        (
            f"legacy-{sid}",
            _account(
                f"legacy-{sid}",
                "prod",
                [f"legacy-{sid}"],
                providerVersion="V1",
                dockerRegistries=[{"accountName": "gcr", "namespaces": []}],
            ),
            "providerVersion V1",
        ),
    ):
        if not account.get("serviceAccount"):
            files[account["kubeconfigFile"]] = any_kubeconfig
        else:
            account.pop("kubeconfigFile")
        accounts.append(account)
        world.unimportable[name] = why

    for path, text in files.items():
        halyard.control("PUT", f"/_standin/pod-file?path={path}", text)
        local = world.hal_copy / Path(path).relative_to(HAL_HOME)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
    config = halyard.halconfig()
    provider = config["deploymentConfigurations"][0].setdefault("providers", {}).setdefault("kubernetes", {})
    provider["enabled"] = True
    provider["accounts"] = accounts
    halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(config, sort_keys=False))
    yield world

    for tenant in world.tenants:
        listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")
        for item in listed["items"]:
            objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant)
        for item in listed["items"]:
            objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], tenant, timeout=180)
    for env in ENVIRONMENTS:
        objects.delete(mgmt, "SpinnakerCluster", f"imp-{sid}-{env}")
    for handle, namespace in [*world.remote_namespaces, *((mgmt, t) for t in world.tenants)]:
        handle.delete_namespace(namespace)
        namespaces_to_reap.append((handle, namespace))


@pytest.fixture()
def operator(
    start_operator: Callable[..., OperatorProcess],
    halyard: HalyardStandinProcess,  # noqa: F811
    operator_token_kubeconfig: Path,  # noqa: F811
) -> OperatorProcess:
    return start_operator(
        {
            "spinnaker_backend": "halyard",
            "halyard": {
                "url": halyard.daemon_url,
                "transport": "rest",
                "pod_namespace": halyard.namespace,
                "pod_name": halyard.pod,
                "exec_server": halyard.kube_url,
                "kubeconfig_delivery": "exec",
                "kubeconfig_dir": SPINOP_KUBECONFIG_DIR,
                "quiet_seconds": 3,
                "max_wait_seconds": 30,
                "deploy_timeout_minutes": 2,
            },
        },
        kubeconfig=operator_token_kubeconfig,
    )


def _spinnaker_view(account: dict[str, Any]) -> dict[str, Any]:
    """The account without its credentials; an absent serviceAccount means false to Halyard."""
    view = {k: v for k, v in account.items() if k not in CREDENTIALS}
    view["serviceAccount"] = bool(view.get("serviceAccount"))
    return view


def _run_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spinop.cli", "import", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_import_from_live_halyard_adopts_every_account_changing_only_the_credentials(
    old_world: OldWorld,
    operator: OperatorProcess,
    halyard: HalyardStandinProcess,  # noqa: F811
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    admin_kubeconfig_secrets: dict[str, str],
    tmp_path: Path,
) -> None:
    before = halyard.accounts()
    out = tmp_path / "imported"
    cluster_map = [f"--cluster-map={remotes[env].server}=imp-{old_world.sid}-{env}" for env in ENVIRONMENTS]
    run = _run_import(
        "--halyard-url",
        halyard.daemon_url,
        f"--path-map={HAL_HOME}={old_world.hal_copy}",
        *cluster_map,
        "--admin-secret-name={environment}-admin-kubeconfig",
        "--report-format=json",
        "-o",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stderr)

    # The report: the seed's accounts adopted, the others not importable and why.
    imported = {a["name"]: a for a in report["accounts"] if a["name"] in before}
    assert sorted(n for n, a in imported.items() if a["adopted"]) == sorted(old_world.importable)
    for name, why in old_world.unimportable.items():
        assert not imported[name]["adopted"]
        assert why in " ".join(imported[name]["problems"]), imported[name]["problems"]
    assert sorted(report["tenants"]) == sorted(old_world.tenants)
    for cluster in report["clusters"]:
        env = cluster["environment"]
        assert cluster["name"] == f"imp-{old_world.sid}-{env}"
        assert cluster["server"] == remotes[env].server
        assert cluster["admin_secret"] == admin_kubeconfig_secrets[env]
    predicted = {name: imported[name]["changes"] for name in old_world.importable}
    search_dev, search_prod = f"search-{old_world.sid}-dev", f"search-{old_world.sid}-prod"
    # Two accounts change a managed field: the one that allowed every kind (spinop lists the kinds it can read), and
    # the one open to every Spinnaker user (no permissions), which gets its tenant's roles from the cluster policy.
    assert {n: [c["field"] for c in cs] for n, cs in predicted.items() if cs} == {
        search_dev: ["kinds"],
        search_prod: ["permissions"],
    }
    search_tenant = f"search-{old_world.sid}"
    assert predicted[search_prod][0]["after"] == {"READ": [search_tenant], "WRITE": [search_tenant]}

    # The namespaces exist and spinop did not create them: each remote cluster's admin confirms the grants with the
    # labels the import lists (deploy/remote refuses spinop's writes there until then), by running its script.
    for cluster in report["clusters"]:
        remote = remotes[cluster["environment"]]
        grants = {(ns, ns.rsplit("-", 1)[0]) for r, ns in old_world.remote_namespaces if r is remote}
        assert {(g["namespace"], g["tenant"]) for g in cluster["granted_namespaces"]} == grants
        script = out / f"remote-namespace-labels-{cluster['name']}.sh"
        assert [line for line in script.read_text().splitlines() if line.startswith("kubectl ")] == [
            g["command"] for g in cluster["granted_namespaces"]
        ]
        env = {
            **os.environ,
            "KUBECONFIG": str(remote.kubeconfig),
            "PATH": f"{remote.kubectl_binary.parent}{os.pathsep}{os.environ['PATH']}",
        }
        subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True, text=True, timeout=60)
        for namespace, tenant in grants:
            assert remote.core.read_namespace(namespace).metadata.labels["spinop.io/granted-tenant"] == tenant

    mgmt.kubectl("apply", "-k", str(out))
    accounts = {}
    for name in old_world.importable:
        tenant = name.rsplit("-", 1)[0]
        accounts[name] = objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant, "Ready", timeout=240)
        assert accounts[name]["status"]["spinnakerAccountName"] == name

    after = halyard.accounts()
    deploy = halyard.deploys()[-1]
    for name in old_world.importable:
        expected = _spinnaker_view(before[name])
        for change in predicted[name]:
            expected[change["field"]] = change["after"]
        assert _spinnaker_view(after[name]) == expected, name
        # The credentials are spinop's: its kubeconfig file, context and a token it issued and stored.
        assert after[name]["kubeconfigFile"] == f"{SPINOP_KUBECONFIG_DIR}/{name}.yaml"
        assert after[name]["context"] == name
        ref = accounts[name]["status"]["credentialsSecretRef"]
        assert ref["namespace"] == CREDENTIALS_NAMESPACE
        stored = yaml.safe_load(objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"]))
        carried = yaml.safe_load(deploy["kubeconfigs"][name]["content"])
        assert carried["users"][0]["user"]["token"] == stored["users"][0]["user"]["token"]
        assert carried["clusters"][0]["cluster"]["server"] == remotes[after[name]["environment"]].server
    for name in old_world.unimportable:
        assert after[name] == before[name], f"{name} was not adopted, yet it changed"

    # spinop added its own ServiceAccount next to the old one and deleted nothing it did not create.
    for remote, namespace in old_world.remote_namespaces:
        names = {sa.metadata.name for sa in remote.core.list_namespaced_service_account(namespace).items}
        assert {"spinnaker", f"spinop-{namespace}"} <= names, names
    # The old credentials still work until the admin retires them (docs/import.md): spinop never revokes them.
    old = yaml.safe_load((old_world.hal_copy / "kube" / f"pay-{old_world.sid}-prod.yaml").read_text())
    old_client = remotes["prod"].client_with_token(old["users"][0]["user"]["token"])
    assert k8s.CoreV1Api(old_client).list_namespaced_pod(f"pay-{old_world.sid}-prod").items == []
