"""SpinnakerAccounts on real remote clusters: provisioning, least privilege, drift, rotation, deletion, outages.

The operator runs as a real `spinop run` process against the real MGMT apiserver; remote clusters are real
kube-apiservers with controller-managers. Spinnaker registration is off here (backend `none`): the Halyard and
accounts-API tests cover that side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from spinop.api.labels import CREATED_NAMESPACE, GRANTED_TENANT, MANAGED_BY, OWNER_UID, TENANT
from spinop.api.v1alpha1 import Profile
from spinop.devcluster.controlplane import ControlPlanes
from spinop.errors import InvalidRequest
from spinop.redact import Redacted
from spinop.remote.access import expected_access
from spinop.remote.cluster import ClusterConnection, RemoteCluster, RemoteClusters
from spinop.remote.profiles import rules_for
from spinop.remote.verify import verify_access
from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import (
    DEPLOY,
    REMOTE_NAMESPACE,
    apply_objects,
    render,
    request_token,
    select,
    store_admin_kubeconfig,
    token_kubeconfig,
)

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass
class Tenant:
    namespace: str
    clusters: dict[str, str]  # environment -> SpinnakerCluster name

    def target(self, env: str) -> str:
        return f"{self.namespace}-{env}"


@pytest.fixture(scope="module")
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    # A verify interval as short as the pass: rights granted beside spinop's objects (a ClusterRoleBinding, which no
    # watch sees) show within seconds; tests/integration/test_idle_accounts.py covers the idle pass.
    return start_operator({"drift_interval_seconds": 4, "verify_interval_seconds": 4})


@pytest.fixture()
def tenant(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Tenant]:
    """A tenant namespace in MGMT and SpinnakerClusters of its own for dev, staging and prod."""
    namespace = fresh_namespace("mgmt", "tn", labels=objects.TENANT_LABEL)
    suffix = objects.short_id()
    names = {}
    for env in ENVIRONMENTS:
        name = f"{env}-{suffix}"
        objects.create(mgmt, objects.spinnaker_cluster(name, admin_kubeconfig_secrets[env], env))
        names[env] = name
    yield Tenant(namespace, names)
    for account in _accounts(mgmt, namespace):
        objects.delete(mgmt, "SpinnakerAccount", account, namespace)
    for account in _accounts(mgmt, namespace):
        objects.wait_gone(mgmt, "SpinnakerAccount", account, namespace, timeout=120)
    for name in names.values():
        objects.delete(mgmt, "SpinnakerCluster", name)


def _accounts(mgmt: Cluster, namespace: str) -> list[str]:
    listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", namespace, "spinnakeraccounts")
    return [item["metadata"]["name"] for item in listed["items"]]


def _write_kubeconfig(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(text)
    return path


def test_accounts_become_ready_on_three_clusters_with_working_least_privilege_kubeconfigs(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    for env in ENVIRONMENTS:
        objects.create(mgmt, objects.spinnaker_account(tenant.namespace, env, tenant.clusters[env], tenant.target(env)))
    for env in ENVIRONMENTS:
        account = objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "Ready")
        status = account["status"]
        assert status["observedGeneration"] == account["metadata"]["generation"]
        for type_ in ("RemoteProvisioned", "CredentialsIssued", "PermissionsVerified", "SpinnakerSynced"):
            assert objects.condition(account, type_)["status"] == "True", type_  # type: ignore[index]
        assert status["spinnakerAccountName"] == f"{tenant.clusters[env]}-{tenant.target(env)}"
        assert status["tokenFingerprint"].startswith("sha256:")
        assert status["tokenExpiresAt"]
        ref = status["credentialsSecretRef"]
        assert ref["namespace"] == CREDENTIALS_NAMESPACE

        # The remote side: namespace, ServiceAccount, Role, RoleBinding, labelled with the owning CR.
        remote = remotes[env]
        ns = remote.core.read_namespace(tenant.target(env))
        assert ns.metadata.labels["app.kubernetes.io/managed-by"] == "spinop"
        assert ns.metadata.annotations["spinop.io/owner"] == f"{tenant.namespace}/{env}"
        sa_name = f"spinop-{status['spinnakerAccountName']}"
        sa = remote.core.read_namespaced_service_account(sa_name, tenant.target(env))
        assert sa.metadata.labels["spinop.io/account-uid"] == account["metadata"]["uid"]
        assert not sa.secrets, "the token Secret must never be listed in the ServiceAccount (legacy token cleanup)"
        remote.rbac.read_namespaced_role(sa_name, tenant.target(env))
        remote.rbac.read_namespaced_role_binding(sa_name, tenant.target(env))

        # The stored kubeconfig works with the real kubectl in its namespace, and is Forbidden elsewhere.
        text = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
        token = yaml.safe_load(text)["users"][0]["user"]["token"]
        assert token not in str(account), "the token must never appear in the CR"
        kubeconfig = _write_kubeconfig(tmp_path, text, env)
        allowed = remote.kubectl("get", "pods", kubeconfig=kubeconfig)
        assert allowed.returncode == 0, allowed.stderr
        created = remote.kubectl("create", "deployment", "web", "--image=nginx", kubeconfig=kubeconfig, check=False)
        assert created.returncode == 0, created.stderr
        for forbidden in (
            ("get", "pods", "-n", "kube-system"),
            ("get", "secrets", "-n", "default"),
            ("get", "namespaces"),
            ("create", "rolebinding", "x", "--clusterrole=admin", "--user=me"),
            ("auth", "can-i", "escalate", "roles"),
        ):
            result = remote.kubectl(*forbidden, kubeconfig=kubeconfig, check=False)
            if forbidden[0] == "auth":
                assert result.stdout.strip() == "no", forbidden
            else:
                assert result.returncode != 0 and "forbidden" in result.stderr.lower(), (forbidden, result.stderr)


def test_drift_is_repaired(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    env = "dev"
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, "drift", tenant.clusters[env], tenant.target(env)))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", "drift", tenant.namespace, "Ready")
    name = f"spinop-{account['status']['spinnakerAccountName']}"
    remote, ns = remotes[env], tenant.target(env)
    uid = remote.rbac.read_namespaced_role_binding(name, ns).metadata.uid

    remote.rbac.delete_namespaced_role_binding(name, ns)
    role = remote.rbac.read_namespaced_role(name, ns)
    role.rules = [k8s.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])]
    remote.rbac.replace_namespaced_role(name, ns, role)

    def repaired() -> bool:
        try:
            binding = remote.rbac.read_namespaced_role_binding(name, ns)
        except ApiException:
            return False
        rules = remote.rbac.read_namespaced_role(name, ns).rules
        return binding.metadata.uid != uid and all("*" not in (r.verbs or []) for r in rules)

    wait_for(repaired, timeout=60, what="the RoleBinding re-created and the Role's rules restored")
    objects.wait_condition(mgmt, "SpinnakerAccount", "drift", tenant.namespace, "Ready")

    # A deleted namespace comes back too (the drift watches may re-create it before a poll would see it gone).
    ns_uid = remote.core.read_namespace(ns).metadata.uid
    remote.core.delete_namespace(ns)
    wait_for(lambda: remote.core.read_namespace(ns).metadata.uid != ns_uid, timeout=120, what="namespace re-created")
    objects.wait_condition(mgmt, "SpinnakerAccount", "drift", tenant.namespace, "Ready", timeout=90)
    assert remote.rbac.read_namespaced_role_binding(name, ns)


def _kubeconfig_works(remote: Cluster, mgmt: Cluster, ref: dict[str, str], tmp_path: Path) -> bool:
    text = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
    path = _write_kubeconfig(tmp_path, text, "probe")
    result = remote.kubectl("get", "pods", kubeconfig=path, check=False)
    return result.returncode == 0


def test_rotation_on_request_never_leaves_an_invalid_kubeconfig(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant, tmp_path: Path
) -> None:
    env = "staging"
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, "rot", tenant.clusters[env], tenant.target(env)))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", "rot", tenant.namespace, "Ready")
    before = account["status"]["tokenFingerprint"]
    ref = account["status"]["credentialsSecretRef"]

    objects.patch(
        mgmt,
        "SpinnakerAccount",
        "rot",
        tenant.namespace,
        {"metadata": {"annotations": {"spinop.io/rotate-credentials": "now"}}},
    )
    # Every read of the stored kubeconfig during rotation must work.
    checks = []

    def rotated() -> bool:
        checks.append(_kubeconfig_works(remotes[env], mgmt, ref, tmp_path))
        current = objects.get(mgmt, "SpinnakerAccount", "rot", tenant.namespace)
        return bool(current and current["status"].get("tokenFingerprint") not in (None, before))

    wait_for(rotated, timeout=60, what="a new token fingerprint")
    checks.append(_kubeconfig_works(remotes[env], mgmt, ref, tmp_path))
    assert all(checks), checks
    objects.wait_condition(mgmt, "SpinnakerAccount", "rot", tenant.namespace, "Ready")


def test_long_lived_token_secret_rotation_revokes_the_old_token(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant, tmp_path: Path
) -> None:
    env = "prod"
    objects.patch_cluster_and_wait(mgmt, tenant.clusters[env], {"credentials": {"type": "ServiceAccountTokenSecret"}})
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, "lts", tenant.clusters[env], tenant.target(env)))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", "lts", tenant.namespace, "Ready")
    assert "tokenExpiresAt" not in account["status"]
    ref = account["status"]["credentialsSecretRef"]
    old_text = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
    old_path = _write_kubeconfig(tmp_path, old_text, "old")
    remote = remotes[env]
    secret_names = [s.metadata.name for s in remote.core.list_namespaced_secret(tenant.target(env)).items]
    assert any(n.endswith("-token-1") for n in secret_names), secret_names
    sa = remote.core.read_namespaced_service_account(
        f"spinop-{account['status']['spinnakerAccountName']}", tenant.target(env)
    )
    assert not sa.secrets

    objects.patch(
        mgmt,
        "SpinnakerAccount",
        "lts",
        tenant.namespace,
        {"metadata": {"annotations": {"spinop.io/rotate-credentials": "1"}}},
    )

    def old_revoked() -> bool:
        result = remote.kubectl("get", "pods", kubeconfig=old_path, check=False)
        return result.returncode != 0 and "Unauthorized" in (result.stderr + result.stdout)

    wait_for(old_revoked, timeout=60, what="the old long-lived token revoked")
    assert _kubeconfig_works(remote, mgmt, ref, tmp_path)
    names = [s.metadata.name for s in remote.core.list_namespaced_secret(tenant.target(env)).items]
    assert any(n.endswith("-token-2") for n in names) and not any(n.endswith("-token-1") for n in names), names


def test_deletion_retain_keeps_the_namespace_and_delete_removes_it(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    env = "dev"
    remote = remotes[env]
    retain_ns, delete_ns = f"{tenant.target(env)}-keep", f"{tenant.target(env)}-drop"
    objects.patch_cluster_and_wait(
        mgmt, tenant.clusters[env], {"tenancy": {"namespacePattern": "{tenant}-{environment}-*"}}
    )
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, "keep", tenant.clusters[env], retain_ns))
    objects.create(
        mgmt,
        objects.spinnaker_account(tenant.namespace, "drop", tenant.clusters[env], delete_ns, deletionPolicy="Delete"),
    )
    keep = objects.wait_condition(mgmt, "SpinnakerAccount", "keep", tenant.namespace, "Ready")
    drop = objects.wait_condition(mgmt, "SpinnakerAccount", "drop", tenant.namespace, "Ready")
    remote.core.create_namespaced_config_map(retain_ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="workload")))

    for name in ("keep", "drop"):
        objects.delete(mgmt, "SpinnakerAccount", name, tenant.namespace)
    for name in ("keep", "drop"):
        objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant.namespace)

    # Retain: the namespace and the tenant's workloads stay; spinop's SA, Role, RoleBinding and Secret go.
    assert remote.core.read_namespaced_config_map("workload", retain_ns)
    sa = f"spinop-{keep['status']['spinnakerAccountName']}"
    for read in (
        remote.core.read_namespaced_service_account,
        remote.rbac.read_namespaced_role,
        remote.rbac.read_namespaced_role_binding,
    ):
        with pytest.raises(ApiException) as err:
            read(sa, retain_ns)
        assert err.value.status == 404
    for account in (keep, drop):
        ref = account["status"]["credentialsSecretRef"]
        with pytest.raises(ApiException) as err:
            mgmt.core.read_namespaced_secret(ref["name"], ref["namespace"])
        assert err.value.status == 404
    # Delete: the namespace spinop created goes too.
    wait_for(lambda: remote.namespace_gone(delete_ns), timeout=90, what=f"namespace {delete_ns} deleted")
    remote.delete_namespace(retain_ns)


def test_a_namespace_spinop_did_not_create_is_never_deleted(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    env = "staging"
    remote, ns = remotes[env], tenant.target(env)
    # Created by "someone else": spinop may use it (once the admins grant it, in MGMT and with the remote cluster's
    # label) but must never delete it.
    remote.core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns, labels={GRANTED_TENANT: tenant.namespace}))
    )
    grant = [{"namespace": ns, "tenant": tenant.namespace}]
    objects.patch(
        mgmt, "SpinnakerCluster", tenant.clusters[env], None, {"spec": {"tenancy": {"existingNamespaces": grant}}}
    )
    try:
        objects.create(
            mgmt,
            objects.spinnaker_account(tenant.namespace, "pre", tenant.clusters[env], ns, deletionPolicy="Delete"),
        )
        objects.wait_condition(mgmt, "SpinnakerAccount", "pre", tenant.namespace, "Ready")
        objects.delete(mgmt, "SpinnakerAccount", "pre", tenant.namespace)
        objects.wait_gone(mgmt, "SpinnakerAccount", "pre", tenant.namespace)
        assert remote.core.read_namespace(ns).status.phase == "Active"
    finally:
        remote.delete_namespace(ns)


def test_tenancy_refusals_are_reported_and_nothing_is_created(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    env = "dev"
    cases = {
        "sysns": ("kube-system", "NamespaceNotAllowed"),
        "other": ("someone-else-dev", "NamespaceNotAllowed"),
    }
    for name, (target, _) in cases.items():
        objects.create(mgmt, objects.spinnaker_account(tenant.namespace, name, tenant.clusters[env], target))
    objects.create(
        mgmt, objects.spinnaker_account(tenant.namespace, "nocluster", "no-such-cluster", tenant.target(env))
    )
    for name, (_, reason) in cases.items():
        account = objects.wait_condition(
            mgmt, "SpinnakerAccount", name, tenant.namespace, "Ready", status="False", reason=reason
        )
        assert "spec.namespace" in objects.condition(account, "Ready")["message"]  # type: ignore[index]
    objects.wait_condition(
        mgmt, "SpinnakerAccount", "nocluster", tenant.namespace, "Ready", status="False", reason="ClusterNotFound"
    )
    assert remotes[env].namespace_gone("someone-else-dev")


def test_an_unreachable_cluster_affects_only_its_accounts_and_they_recover(
    operator: OperatorProcess,
    control_planes: ControlPlanes,
    mgmt: Cluster,
    tenant: Tenant,
) -> None:
    for env in ("dev", "prod"):
        objects.create(mgmt, objects.spinnaker_account(tenant.namespace, env, tenant.clusters[env], tenant.target(env)))
        objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "Ready")
    control_planes.stop_apiserver("prod")
    try:
        objects.wait_condition(
            mgmt,
            "SpinnakerAccount",
            "prod",
            tenant.namespace,
            "Ready",
            status="False",
            reason="ClusterUnreachable",
            timeout=60,
        )
        dev = objects.get(mgmt, "SpinnakerAccount", "dev", tenant.namespace)
        assert objects.condition(dev, "Ready")["status"] == "True"  # type: ignore[index]
    finally:
        control_planes.start_apiserver("prod")
    objects.wait_condition(mgmt, "SpinnakerAccount", "prod", tenant.namespace, "Ready", timeout=90)


def test_operator_restart_mid_reconcile_creates_no_duplicates(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    env = "dev"
    objects.patch_cluster_and_wait(
        mgmt, tenant.clusters[env], {"tenancy": {"namespacePattern": "{tenant}-{environment}-*"}}
    )
    names = [f"a{i}" for i in range(8)]
    for name in names:
        objects.create(
            mgmt,
            objects.spinnaker_account(tenant.namespace, name, tenant.clusters[env], f"{tenant.target(env)}-{name}"),
        )
    operator.kill()
    operator.start()
    for name in names:
        objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant.namespace, "Ready")
    remote = remotes[env]
    for name in names:
        ns = f"{tenant.target(env)}-{name}"
        assert len(remote.core.list_namespaced_service_account(ns, label_selector="spinop.io/account-uid").items) == 1
        assert len(remote.rbac.list_namespaced_role(ns).items) == 1
        assert len(remote.rbac.list_namespaced_role_binding(ns).items) == 1
    secrets = mgmt.core.list_namespaced_secret(
        CREDENTIALS_NAMESPACE, label_selector="spinop.io/account-namespace=" + tenant.namespace
    ).items
    assert len(secrets) == len(names)
    for name in names:
        objects.delete(mgmt, "SpinnakerAccount", name, tenant.namespace)
    for name in names:
        objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant.namespace)
    for name in names:
        remote.delete_namespace(f"{tenant.target(env)}-{name}")


# A Pod that passes Pod Security "restricted" (the tenant namespace's default), so only spinop-tenant-limits can
# refuse it.
_RESTRICTED_CONTAINER = {
    "name": "c",
    "image": "registry.k8s.io/pause:3.10",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 65535,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _pod_spec(service_account: str) -> dict[str, object]:
    return {"serviceAccountName": service_account, "containers": [_RESTRICTED_CONTAINER]}


def test_an_account_cannot_get_a_long_lived_token_of_its_own_service_account(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tenant: Tenant,
) -> None:
    """Attack: as the deployer account's own token, mint a token Secret for its ServiceAccount, or run a Pod (directly
    or through a workload) as it to get its token mounted: a token outside rotation. deploy/remote's
    spinop-tenant-limits refuses each, naming the field, and nothing is created; PermissionsVerified proves it."""
    env = "dev"
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, env, tenant.clusters[env], tenant.target(env)))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "Ready")
    assert objects.condition(account, "PermissionsVerified")["status"] == "True"  # type: ignore[index]
    remote, namespace = remotes[env], tenant.target(env)
    service_account = f"spinop-{account['status']['spinnakerAccountName']}"
    ref = account["status"]["credentialsSecretRef"]
    token = yaml.safe_load(objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"]))["users"][0]["user"]["token"]
    client = remote.client_with_token(token)
    try:
        core, apps, batch = k8s.CoreV1Api(client), k8s.AppsV1Api(client), k8s.BatchV1Api(client)
        template = {"metadata": {"labels": {"app": "x"}}, "spec": _pod_spec(service_account)}
        attempts = {
            "metadata.annotations[kubernetes.io/service-account.name]": lambda: core.create_namespaced_secret(
                namespace,
                {
                    "metadata": {
                        "name": "stolen-token",
                        "annotations": {"kubernetes.io/service-account.name": service_account},
                    },
                    "type": "kubernetes.io/service-account-token",
                },
            ),
            "spec.serviceAccountName": lambda: core.create_namespaced_pod(
                namespace, {"metadata": {"name": "thief"}, "spec": _pod_spec(service_account)}
            ),
            "spec.template.spec.serviceAccountName": lambda: apps.create_namespaced_deployment(
                namespace,
                {
                    "metadata": {"name": "thief"},
                    "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template},
                },
            ),
            "spec.jobTemplate.spec.template.spec.serviceAccountName": lambda: batch.create_namespaced_cron_job(
                namespace,
                {
                    "metadata": {"name": "thief"},
                    "spec": {
                        "schedule": "* * * * *",
                        "jobTemplate": {
                            "spec": {
                                "template": {
                                    **template,
                                    "spec": {**_pod_spec(service_account), "restartPolicy": "Never"},
                                }
                            }
                        },
                    },
                },
            ),
        }
        for field, attempt in attempts.items():
            with pytest.raises(ApiException) as refused:
                attempt()
            assert refused.value.status == 403, (field, refused.value.body)
            assert "spinop-tenant-limits" in refused.value.body and f"{field}:" in refused.value.body, field
        # No side effect: nothing of the attempts exists.
        assert not [
            s.metadata.name
            for s in remote.core.list_namespaced_secret(namespace).items
            if s.type == "kubernetes.io/service-account-token"
        ]
        assert not remote.core.list_namespaced_pod(namespace).items
        assert not k8s.AppsV1Api(remote.api).list_namespaced_deployment(namespace).items
        assert not k8s.BatchV1Api(remote.api).list_namespaced_cron_job(namespace).items
        # The same Pod as another ServiceAccount is admitted: the refusals above are the policy's, not RBAC's.
        core.create_namespaced_pod(
            namespace, {"metadata": {"name": "fine"}, "spec": _pod_spec("default")}, dry_run="All"
        )
    finally:
        client.close()
    # Verification tells the two apart with dry runs as the account: its own ServiceAccount is guarded, while a
    # ServiceAccount the policy does not cover (`default`) is reported exposed, which is what PermissionsVerified
    # says on a cluster without the policy.
    handle = RemoteCluster(
        name=env,
        api=remote.api,
        server=remote.server,
        tenant_server=remote.server,
        ca_data=None,
        ca_file=str(remote.ca_file),
        insecure=False,
        fingerprint="",
        loaded_at=0.0,
    )
    for sa, exposed in ((service_account, ()), ("default", ("secret", "pod"))):
        verdict = verify_access(
            handle, Redacted(token), expected_access(Profile.DEPLOYER, namespace, service_account=sa)
        )
        assert tuple(e.kind for e in verdict.exposed) == exposed, (sa, verdict.message())
        assert not verdict.missing and not verdict.excess, verdict.message()


def test_permissions_verified_sees_cluster_wide_grants_and_any_rule_beyond_the_role(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tenant: Tenant,
) -> None:
    """Someone binds extra rights to the account's ServiceAccount: `get nodes/proxy` cluster-wide (exec in any Pod
    through the kubelet) and, in its namespace, `create pods/attach`. Neither was among the fixed probes; the full
    comparison of the namespace's rules with the Role, and the cluster-wide probes, catch both."""
    env = "dev"
    objects.create(mgmt, objects.spinnaker_account(tenant.namespace, env, tenant.clusters[env], tenant.target(env)))
    account = objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "Ready")
    remote, namespace = remotes[env], tenant.target(env)
    service_account = f"spinop-{account['status']['spinnakerAccountName']}"
    name = f"escape-{objects.short_id()}"
    subject = k8s.RbacV1Subject(kind="ServiceAccount", name=service_account, namespace=namespace)
    remote.rbac.create_cluster_role(
        k8s.V1ClusterRole(
            metadata=k8s.V1ObjectMeta(name=name),
            rules=[
                k8s.V1PolicyRule(api_groups=[""], resources=["nodes/proxy"], verbs=["get"]),
                k8s.V1PolicyRule(api_groups=[""], resources=["pods/attach"], verbs=["create"]),
            ],
        )
    )
    role_ref = k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name)
    try:
        remote.rbac.create_cluster_role_binding(
            k8s.V1ClusterRoleBinding(metadata=k8s.V1ObjectMeta(name=name), role_ref=role_ref, subjects=[subject])
        )

        def flagged() -> dict[str, str] | None:
            got = objects.condition(objects.get(mgmt, "SpinnakerAccount", env, tenant.namespace), "PermissionsVerified")
            return got if got and got["status"] == "False" else None

        condition = wait_for(flagged, timeout=90, what="PermissionsVerified False")
        assert condition["reason"] == "PermissionsMismatch"
        assert "get nodes/proxy cluster-wide" in condition["message"], condition["message"]
        assert f"create pods/attach in namespace {namespace}" in condition["message"], condition["message"]
    finally:
        for delete in (remote.rbac.delete_cluster_role_binding, remote.rbac.delete_cluster_role):
            try:
                delete(name)
            except ApiException as err:
                if err.status != 404:
                    raise
    objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant.namespace, "PermissionsVerified", timeout=90)


def test_the_cluster_probe_flags_an_admin_kubeconfig_more_powerful_than_deploy_remote(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    admin_kubeconfig_secrets: dict[str, str],
) -> None:
    """deploy/remote's identity: not too powerful, and its admission policies are in place. The remote's cluster-admin
    kubeconfig: CredentialsTooPowerful=True (a warning: the cluster stays Reachable)."""
    suffix = objects.short_id()
    limited, admin = f"lim-{suffix}", f"adm-{suffix}"
    secret = store_admin_kubeconfig(
        mgmt,
        yaml.safe_load(remotes["dev"].kubeconfig.read_text()),
        name=f"{admin}-admin-kubeconfig",
        namespace=CREDENTIALS_NAMESPACE,
    )
    objects.create(mgmt, objects.spinnaker_cluster(limited, admin_kubeconfig_secrets["dev"], "dev"))
    objects.create(mgmt, objects.spinnaker_cluster(admin, secret, "dev"))
    try:
        ok = objects.wait_condition(mgmt, "SpinnakerCluster", limited, None, "CredentialsTooPowerful", status="False")
        assert objects.condition(ok, "AdmissionPoliciesInstalled")["status"] == "True"  # type: ignore[index]
        flagged = objects.wait_condition(mgmt, "SpinnakerCluster", admin, None, "CredentialsTooPowerful")
        message = objects.condition(flagged, "CredentialsTooPowerful")["message"]  # type: ignore[index]
        assert "* *" in message and "deploy/remote" in message, message
        assert objects.condition(flagged, "Reachable")["status"] == "True"  # type: ignore[index]
    finally:
        objects.delete(mgmt, "SpinnakerCluster", limited)
        objects.delete(mgmt, "SpinnakerCluster", admin)
        mgmt.core.delete_namespaced_secret(secret, CREDENTIALS_NAMESPACE)


def test_a_token_request_only_identity_provisions_and_deletes_accounts_without_any_secret_access(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    tenant: Tenant,
) -> None:
    """deploy/overlays/remote-token-request-only: spinop's remote identity cannot read a single Secret, and accounts
    with TokenRequest credentials still become Ready and are deleted (the finalizer has no token Secret to revoke).
    The identity is installed under its own names so the shared deploy/remote stays as it is."""
    remote, env = remotes["dev"], "dev"
    suffix = objects.short_id()
    name = f"spinop-tro-{suffix}"
    rendered = select(render(remote.kubectl_binary, DEPLOY / "overlays" / "remote-token-request-only"), {"ClusterRole"})
    role = rendered[0]
    role["metadata"]["name"] = name
    account_ref = {"kind": "ServiceAccount", "name": name, "namespace": REMOTE_NAMESPACE}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [account_ref],
    }
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": REMOTE_NAMESPACE},
    }
    apply_objects(remote, [service_account, role, binding])
    cluster_name = f"tro-{suffix}"
    try:
        token = request_token(remote, REMOTE_NAMESPACE, name)
        client = remote.client_with_token(token)
        try:
            review = k8s.AuthorizationV1Api(client).create_self_subject_access_review(
                k8s.V1SelfSubjectAccessReview(
                    spec=k8s.V1SelfSubjectAccessReviewSpec(
                        resource_attributes=k8s.V1ResourceAttributes(verb="list", resource="secrets")
                    )
                )
            )
            assert review.status.allowed is False
        finally:
            client.close()
        secret = store_admin_kubeconfig(
            mgmt,
            token_kubeconfig(remote, token),
            name=f"{cluster_name}-admin-kubeconfig",
            namespace=CREDENTIALS_NAMESPACE,
        )
        objects.create(mgmt, objects.spinnaker_cluster(cluster_name, secret, env))
        objects.create(
            mgmt,
            objects.spinnaker_account(
                tenant.namespace, "tro", cluster_name, tenant.target(env), deletionPolicy="Delete"
            ),
        )
        account = objects.wait_condition(mgmt, "SpinnakerAccount", "tro", tenant.namespace, "Ready")
        assert objects.condition(account, "CredentialsIssued")["message"].startswith("TokenRequest")  # type: ignore[index]
        objects.delete(mgmt, "SpinnakerAccount", "tro", tenant.namespace)
        objects.wait_gone(mgmt, "SpinnakerAccount", "tro", tenant.namespace, timeout=120)
    finally:
        objects.delete(mgmt, "SpinnakerCluster", cluster_name)
        for delete in (remote.rbac.delete_cluster_role_binding, remote.rbac.delete_cluster_role):
            try:
                delete(name)
            except ApiException as err:
                if err.status != 404:
                    raise
        remote.core.delete_namespaced_service_account(name, REMOTE_NAMESPACE)


def test_spinops_remote_identity_may_write_roles_only_with_profile_and_allowed_extra_rules(
    remotes: dict[str, Cluster], admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> None:
    """spinop's own remote identity (deploy/remote, with `escalate` on Roles) tries Roles a compromised spinop would
    write: exec into Pods, RBAC writes, another Namespace, wildcards, escalate. deploy/remote's spinop-remote-roles
    refuses each; the profiles' rules and the extra rules the cluster's admin listed (here the sample cluster's
    ServiceMonitors, set by install_remote_identity) pass. Dry runs: nothing is created. The namespace is one the
    admin granted to a tenant (spinop-remote-limits would refuse any Role elsewhere), so only the rules decide."""
    remote = remotes["dev"]
    namespace = fresh_namespace("dev", "roles", labels={GRANTED_TENANT: "team-roles"})
    token = request_token(remote, REMOTE_NAMESPACE, "spinop", 600)
    client = remote.client_with_token(token)
    rbac = k8s.RbacAuthorizationV1Api(client)

    def role(*rules: Mapping[str, object]) -> dict[str, object]:
        labels = {MANAGED_BY: "spinop", TENANT: "team-roles"}
        return {"metadata": {"name": "spinop-probe", "labels": labels}, "rules": list(rules)}

    attempts: list[list[Mapping[str, object]]] = [
        [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
        [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]}],
        [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": ["kube-system"]}],
        [{"apiGroups": ["monitoring.coreos.com"], "resources": ["podmonitors"], "verbs": ["get"]}],
        [{"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["deletecollection"]}],
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["deletecollection"]}],
    ]
    try:
        for rules in attempts:
            with pytest.raises(ApiException) as refused:
                rbac.create_namespaced_role(namespace, role(*rules), dry_run="All")
            assert refused.value.status == 403 and "spinop-remote-roles" in refused.value.body, rules
        allowed: list[Mapping[str, object]] = [
            *(r.to_k8s() for r in rules_for(Profile.DEPLOYER, namespace)),
            *(r.to_k8s() for r in rules_for(Profile.READONLY, namespace)),
            {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["get", "create"]},
        ]
        rbac.create_namespaced_role(namespace, role(*allowed), dry_run="All")
    finally:
        client.close()
    assert not remote.rbac.list_namespaced_role(namespace).items


def test_spinops_remote_identity_writes_identities_only_where_it_created_the_namespace_or_the_admin_granted_it(
    remotes: dict[str, Cluster], admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> None:
    """A compromised spinop (deploy/remote's identity) plants a ServiceAccount, a token Secret, a Role and a
    RoleBinding, all named spinop-* with spinop's labels: spinop-remote-limits refuses them in a namespace it did not
    create and nobody labelled, and in one its admin labelled for another tenant; spinop cannot label a namespace for
    a tenant itself. In a namespace labelled for the tenant the objects name, they pass. Dry runs: nothing is made."""
    remote = remotes["dev"]
    tenant = f"tn-{objects.short_id()}"
    unlabelled = fresh_namespace("dev", "nogrant")
    theirs = fresh_namespace("dev", "theirs", labels={GRANTED_TENANT: f"{tenant}-other"})
    granted = fresh_namespace("dev", "granted", labels={GRANTED_TENANT: tenant})
    # As if spinop had created it (its annotation), to show the label is refused even on spinop's own namespaces.
    own = fresh_namespace("dev", "own", labels={MANAGED_BY: "spinop"})
    remote.core.patch_namespace(own, {"metadata": {"annotations": {CREATED_NAMESPACE: "uid-own"}}})
    name = "spinop-intruder"
    labels = {MANAGED_BY: "spinop", OWNER_UID: "uid-forged", TENANT: tenant}
    client = remote.client_with_token(request_token(remote, REMOTE_NAMESPACE, "spinop", 600))
    core, rbac = k8s.CoreV1Api(client), k8s.RbacAuthorizationV1Api(client)

    def plant(namespace: str) -> list[tuple[str, Callable[[], object]]]:
        meta = {"name": name, "labels": labels}
        secret = {
            "metadata": {**meta, "name": f"{name}-token", "annotations": {"kubernetes.io/service-account.name": name}},
            "type": "kubernetes.io/service-account-token",
        }
        role = {"metadata": meta, "rules": [r.to_k8s() for r in rules_for(Profile.DEPLOYER, namespace)]}
        binding = {
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
        return [
            (
                "ServiceAccount",
                lambda: core.create_namespaced_service_account(namespace, {"metadata": meta}, dry_run="All"),
            ),
            ("Secret", lambda: core.create_namespaced_secret(namespace, secret, dry_run="All")),
            ("Role", lambda: rbac.create_namespaced_role(namespace, role, dry_run="All")),
            ("RoleBinding", lambda: rbac.create_namespaced_role_binding(namespace, binding, dry_run="All")),
        ]

    def refused(write: Callable[[], object], what: str) -> str:
        with pytest.raises(ApiException) as err:
            write()
        body = err.value.body if isinstance(err.value.body, str) else str(err.value.body)
        assert err.value.status == 403 and "spinop-remote-limits" in body, (what, err.value.status, body)
        return body

    try:
        # (a) not created by spinop, not labelled; (b) labelled for another tenant than the objects name.
        for namespace, why in ((unlabelled, "has no such label"), (theirs, "is granted to another tenant")):
            for kind, write in plant(namespace):
                assert why in refused(write, f"{kind} in {namespace}")
        # (c) spinop may not label a namespace for a tenant: not a foreign one, not its own, not a new one.
        grant = {"metadata": {"labels": {GRANTED_TENANT: tenant}}}
        refused(lambda: core.patch_namespace(unlabelled, grant, dry_run="All"), "label a foreign namespace")
        body = refused(lambda: core.patch_namespace(own, grant, dry_run="All"), "label its own namespace")
        assert "granted-tenant" in body
        new = {
            "metadata": {
                "name": f"{tenant}-forged",
                "labels": {MANAGED_BY: "spinop", GRANTED_TENANT: tenant},
                "annotations": {CREATED_NAMESPACE: "uid-forged"},
            }
        }
        assert "granted-tenant" in refused(lambda: core.create_namespace(new, dry_run="All"), "a labelled namespace")
        # (d) the admin labelled the namespace for the tenant the objects name: allowed.
        for _, write in plant(granted):
            write()
    finally:
        client.close()
    for namespace in (unlabelled, theirs, granted):
        assert not [
            sa for sa in remote.core.list_namespaced_service_account(namespace).items if sa.metadata.name == name
        ]
        assert not remote.core.list_namespaced_secret(namespace, label_selector=f"{OWNER_UID}=uid-forged").items
        assert not remote.rbac.list_namespaced_role(namespace).items
        assert not remote.rbac.list_namespaced_role_binding(namespace).items
    assert GRANTED_TENANT not in (remote.core.read_namespace(own).metadata.labels or {})
    assert remote.namespace_gone(f"{tenant}-forged")


def test_with_the_refuse_policy_an_admin_kubeconfig_beyond_deploy_remote_is_not_used(
    mgmt: Cluster, remotes: dict[str, Cluster], admin_kubeconfig_secrets: dict[str, str]
) -> None:
    """Operator setting refuse_powerful_admin_credentials: spinop's client registry refuses the cluster-admin
    kubeconfig with CredentialsTooPowerful (the cluster probe and every account on it report that reason) and
    accepts deploy/remote's identity."""
    suffix = objects.short_id()
    secret = store_admin_kubeconfig(
        mgmt,
        yaml.safe_load(remotes["dev"].kubeconfig.read_text()),
        name=f"refuse-{suffix}-admin-kubeconfig",
        namespace=CREDENTIALS_NAMESPACE,
    )
    registry = RemoteClusters(mgmt.api, CREDENTIALS_NAMESPACE, refuse_powerful=True)
    try:
        with pytest.raises(InvalidRequest) as refused:
            registry.get(ClusterConnection(name=f"refuse-{suffix}", secret_name=secret))
        assert refused.value.reason == "CredentialsTooPowerful"
        assert "* *.* in namespace kube-system" in refused.value.message, refused.value.message
        limited = registry.get(ClusterConnection(name="dev", secret_name=admin_kubeconfig_secrets["dev"]))
        assert registry.version(limited)
    finally:
        mgmt.core.delete_namespaced_secret(secret, CREDENTIALS_NAMESPACE)
