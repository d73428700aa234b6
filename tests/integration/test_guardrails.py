"""Tenant namespace guardrails on real control planes: Pod Security and quota enforced by the remote kube-apiserver
(admission) and kube-controller-manager (quota usage), out of the tenant's reach, repaired when removed, and rolled
out to every tenant namespace when the cluster's policy changes.

The operator runs as a real `spinop run` process; the tenant's side is the kubeconfig spinop stored in MGMT, used
with the real kubectl.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from spinop.api.labels import GRANTED_TENANT
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess

ENV = "dev"
GUARDRAILS = "spinop-guardrails"
PER_SECOND = 4  # the guardrail rollout's pace in this module
PSA = "pod-security.kubernetes.io/"
POLICY: dict[str, Any] = {
    "resourceQuota": {"hard": {"pods": "2", "requests.cpu": "1", "count/configmaps": "10"}},
    "limitRange": {
        "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        "default": {"cpu": "200m", "memory": "128Mi"},
        "max": {"cpu": "500m"},
    },
    "networkPolicy": {"egressToCIDRs": [{"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}]},
}


@dataclass
class Tenant:
    namespace: str
    cluster: str

    def target(self, suffix: str) -> str:
        return f"{self.namespace}-{ENV}-{suffix}"


@pytest.fixture(scope="module")
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator(
        {
            "drift_interval_seconds": 3,
            # No watch sees the namespace or the guardrail objects: an idle pass reads them once per verify interval.
            "verify_interval_seconds": 3,
            "guardrail_rollout": {"concurrency": 2, "per_second": PER_SECOND, "batch_size": 1},
        }
    )


@pytest.fixture()
def tenant(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Tenant]:
    """A tenant namespace in MGMT and a SpinnakerCluster on dev with guardrails, open to it."""
    namespace = fresh_namespace("mgmt", "gr", labels=objects.TENANT_LABEL)
    name = f"gr-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            name,
            admin_kubeconfig_secrets[ENV],
            ENV,
            tenancy={"namespacePattern": "{tenant}-{environment}-*", "guardrails": POLICY},
        ),
    )
    yield Tenant(namespace, name)
    listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", namespace, "spinnakeraccounts")
    accounts = [item["metadata"]["name"] for item in listed["items"]]
    for account in accounts:
        objects.delete(mgmt, "SpinnakerAccount", account, namespace)
    for account in accounts:
        objects.wait_gone(mgmt, "SpinnakerAccount", account, namespace, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", name)


def _account(mgmt: Cluster, tenant: Tenant, name: str, target: str, **spec: Any) -> dict[str, Any]:
    objects.create(
        mgmt, objects.spinnaker_account(tenant.namespace, name, tenant.cluster, target, deletionPolicy="Delete", **spec)
    )
    return objects.wait_condition(mgmt, "SpinnakerAccount", name, tenant.namespace, "Ready")


def _tenant_kubeconfig(mgmt: Cluster, account: dict[str, Any], tmp_path: Path) -> Path:
    ref = account["status"]["credentialsSecretRef"]
    path = tmp_path / f"{account['metadata']['name']}.kubeconfig"
    path.write_text(objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"]))
    return path


def _pod(name: str, *, privileged: bool = False, cpu: str | None = None) -> dict[str, Any]:
    """A Pod that meets the restricted Pod Security Standard, or a privileged one."""
    container: dict[str, Any] = {"name": "app", "image": "registry.k8s.io/pause:3.10"}
    if privileged:
        container["securityContext"] = {"privileged": True}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def _create_as_tenant(remote: Cluster, kubeconfig: Path, body: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / f"{body['metadata']['name']}.json"
    path.write_text(json.dumps(body))
    return remote.kubectl("create", "-f", str(path), kubeconfig=kubeconfig, check=False)


def _labels(remote: Cluster, namespace: str) -> dict[str, str]:
    return dict(remote.core.read_namespace(namespace).metadata.labels or {})


def _quota_counted(remote: Cluster, namespace: str) -> bool:
    """kube-controller-manager has computed the quota's usage (admission refuses everything until then)."""
    status = remote.core.read_namespaced_resource_quota(GUARDRAILS, namespace).status
    return bool(status and status.hard and status.used is not None and "pods" in status.used)


def _wait_rolled_out(mgmt: Cluster, cluster: str) -> dict[str, Any]:
    """Wait until the cluster's current generation of guardrails has reached all its tenant namespaces."""

    def done() -> dict[str, Any] | None:
        obj = objects.get(mgmt, "SpinnakerCluster", cluster) or {}
        progress = (obj.get("status") or {}).get("guardrails") or {}
        current = progress.get("generation") == obj.get("metadata", {}).get("generation")
        return progress if current and progress.get("finishedAt") else None

    return wait_for(done, timeout=60, interval=0.1, what=f"the guardrails of SpinnakerCluster {cluster} rolled out")


def _forbidden(result: Any) -> bool:
    return result.returncode != 0 and "forbidden" in result.stderr.lower()


def test_guardrails_are_enforced_by_the_remote_cluster_and_out_of_the_tenants_reach(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant, tmp_path: Path
) -> None:
    remote, ns = remotes[ENV], tenant.target("app")
    account = _account(mgmt, tenant, "app", ns)
    applied = objects.condition(account, "GuardrailsApplied")
    assert applied and applied["status"] == "True" and applied["reason"] == "Applied", applied

    labels = _labels(remote, ns)
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"{PSA}{mode}"] == "restricted" and labels[f"{PSA}{mode}-version"] == "latest"
    net = k8s.NetworkingV1Api(remote.api).read_namespaced_network_policy(GUARDRAILS, ns)
    assert net.spec.policy_types == ["Ingress", "Egress"] and net.spec.pod_selector.match_labels is None
    assert net.spec.egress[0].to[-1].ip_block.cidr == "0.0.0.0/0"
    assert remote.core.read_namespaced_limit_range(GUARDRAILS, ns).spec.limits[0].max == {"cpu": "500m"}
    kubeconfig = _tenant_kubeconfig(mgmt, account, tmp_path)

    # Pod Security: the kube-apiserver refuses a privileged Pod of the tenant, and admits a restricted one.
    refused = _create_as_tenant(remote, kubeconfig, _pod("privileged", privileged=True), tmp_path)
    assert _forbidden(refused) and 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    wait_for(lambda: _quota_counted(remote, ns), timeout=60, what="quota usage computed")
    admitted = wait_for(
        lambda: (r := _create_as_tenant(remote, kubeconfig, _pod("first"), tmp_path)).returncode == 0 and r,
        timeout=30,
        what="a restricted Pod admitted (its ServiceAccount must exist first)",
    )
    assert admitted
    # The LimitRange filled in what the Pod did not ask for.
    first = remote.core.read_namespaced_pod("first", ns)
    assert first.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "64Mi"}
    # LimitRange max and quota: refused by admission, with the guardrail named.
    too_big = _create_as_tenant(remote, kubeconfig, _pod("big", cpu="2"), tmp_path)
    assert _forbidden(too_big) and "maximum cpu usage per Container is 500m" in too_big.stderr, too_big.stderr
    wait_for(lambda: _create_as_tenant(remote, kubeconfig, _pod("second"), tmp_path).returncode == 0, what="pod 2")
    over = wait_for(
        lambda: (r := _create_as_tenant(remote, kubeconfig, _pod("third"), tmp_path)).returncode != 0 and r,
        what="a third Pod refused",
    )
    assert "exceeded quota: spinop-guardrails" in over.stderr and "limited: pods=2" in over.stderr, over.stderr

    # The tenant's credentials cannot loosen anything.
    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all"},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]},
    }
    attempts = {
        "delete quota": ("delete", "resourcequota", GUARDRAILS),
        "raise quota": ("patch", "resourcequota", GUARDRAILS, "-p", '{"spec":{"hard":{"pods":"100"}}}'),
        "delete limits": ("delete", "limitrange", GUARDRAILS),
        "edit limits": ("patch", "limitrange", GUARDRAILS, "--type=json", "-p", '[{"op":"remove","path":"/spec"}]'),
        "delete network policy": ("delete", "networkpolicy", GUARDRAILS),
        "relabel namespace": ("label", "namespace", ns, f"{PSA}enforce=privileged", "--overwrite"),
        "unlabel namespace": ("label", "namespace", ns, f"{PSA}enforce-"),
        "delete namespace": ("delete", "namespace", ns),
    }
    for what, args in attempts.items():
        result = remote.kubectl(*args, kubeconfig=kubeconfig, check=False)
        assert _forbidden(result), (what, result.stdout, result.stderr)
    result = _create_as_tenant(remote, kubeconfig, allow_all, tmp_path)
    assert _forbidden(result), result.stderr
    can_i = remote.kubectl("auth", "can-i", "delete", "resourcequotas", kubeconfig=kubeconfig, check=False)
    assert can_i.stdout.strip() == "no"
    assert _labels(remote, ns)[f"{PSA}enforce"] == "restricted"
    assert remote.core.read_namespaced_resource_quota(GUARDRAILS, ns).spec.hard["pods"] == "2"
    # Several periodic passes ran meanwhile: the objects as the apiserver stores them (canonical quantities, its
    # defaults) are never mistaken for drift.
    drift = mgmt.core.list_namespaced_event(
        tenant.namespace, field_selector="reason=DriftRepaired,involvedObject.name=app"
    ).items
    assert drift == [], [e.message for e in drift]


def test_removed_or_edited_guardrails_are_repaired(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    remote, ns = remotes[ENV], tenant.target("repair")
    _account(mgmt, tenant, "repair", ns)
    _wait_rolled_out(mgmt, tenant.cluster)  # so that what repairs below is the account's periodic pass
    net = k8s.NetworkingV1Api(remote.api)
    quota_uid = remote.core.read_namespaced_resource_quota(GUARDRAILS, ns).metadata.uid

    # An admin (or anything with rights) removes and loosens everything at once.
    remote.core.delete_namespaced_resource_quota(GUARDRAILS, ns)
    net.delete_namespaced_network_policy(GUARDRAILS, ns)
    remote.core.patch_namespaced_limit_range(GUARDRAILS, ns, {"spec": {"limits": [{"type": "Container"}]}})
    remote.core.patch_namespace(ns, {"metadata": {"labels": {f"{PSA}enforce": "privileged", f"{PSA}warn": None}}})

    def repaired() -> bool:
        try:
            quota = remote.core.read_namespaced_resource_quota(GUARDRAILS, ns)
            net.read_namespaced_network_policy(GUARDRAILS, ns)
        except ApiException:
            return False
        limits = remote.core.read_namespaced_limit_range(GUARDRAILS, ns).spec.limits[0]
        labels = _labels(remote, ns)
        return (
            quota.metadata.uid != quota_uid
            and quota.spec.hard["pods"] == "2"
            and limits.max == {"cpu": "500m"}
            and labels.get(f"{PSA}enforce") == "restricted"
            and labels.get(f"{PSA}warn") == "restricted"
        )

    wait_for(repaired, timeout=60, what="the guardrails restored by the periodic pass")

    def reported() -> list[str] | None:
        events = mgmt.core.list_namespaced_event(tenant.namespace, field_selector="reason=DriftRepaired").items
        messages = [e.message for e in events]
        return messages if any("create ResourceQuota spinop-guardrails" in m for m in messages) else None

    wait_for(reported, timeout=30, what="a DriftRepaired event naming the re-created ResourceQuota")


def test_an_account_may_tighten_but_never_loosen(
    operator: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    remote = remotes[ENV]
    tight, loose = tenant.target("tight"), tenant.target("loose")
    _account(mgmt, tenant, "tight", tight, guardrails={"resourceQuota": {"hard": {"pods": "1", "services": "3"}}})
    # No admission webhook in this operator: the reconcile is the last line, and applies the cluster's values.
    account = _account(
        mgmt,
        tenant,
        "loose",
        loose,
        guardrails={"podSecurity": {"enforce": "privileged"}, "resourceQuota": {"hard": {"pods": "50"}}},
    )
    assert remote.core.read_namespaced_resource_quota(GUARDRAILS, tight).spec.hard == {
        "pods": "1",
        "requests.cpu": "1",
        "count/configmaps": "10",
        "services": "3",
    }
    assert remote.core.read_namespaced_resource_quota(GUARDRAILS, loose).spec.hard["pods"] == "2"
    assert _labels(remote, loose)[f"{PSA}enforce"] == "restricted"
    applied = objects.condition(account, "GuardrailsApplied")
    assert applied and (applied["status"], applied["reason"]) == ("False", "LooserThanCluster"), applied
    assert "spec.guardrails.podSecurity.enforce" in applied["message"]
    assert "spec.guardrails.resourceQuota.hard[pods]" in applied["message"]


@pytest.fixture()
def slow_drift(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The operator restarted without periodic passes in sight: only the guardrail rollout can change namespaces."""
    operator.stop()
    operator.settings = {**operator.settings, "drift_interval_seconds": 600}
    operator.start()
    yield operator
    operator.stop()
    operator.settings = {**operator.settings, "drift_interval_seconds": 3}
    operator.start()


def test_a_policy_change_rolls_out_to_every_tenant_namespace_with_progress(
    slow_drift: OperatorProcess, mgmt: Cluster, remotes: dict[str, Cluster], tenant: Tenant
) -> None:
    remote = remotes[ENV]
    targets = [tenant.target(f"r{i}") for i in range(4)]
    for i, target in enumerate(targets):
        _account(mgmt, tenant, f"r{i}", target)
    foreign = tenant.target("theirs")  # created by someone else, granted by the admins: used, never relabelled
    remote.core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=foreign, labels={GRANTED_TENANT: tenant.namespace}))
    )
    grant = [{"namespace": foreign, "tenant": tenant.namespace}]
    objects.patch(mgmt, "SpinnakerCluster", tenant.cluster, None, {"spec": {"tenancy": {"existingNamespaces": grant}}})
    try:
        account = _account(mgmt, tenant, "theirs", foreign)
        applied = objects.condition(account, "GuardrailsApplied")
        assert applied and (applied["status"], applied["reason"]) == ("False", "NamespaceNotCreatedBySpinop")

        change = {
            "podSecurity": {"enforce": "baseline", "warn": "restricted"},
            "resourceQuota": {"hard": {"pods": "7", "requests.cpu": None}},
        }
        objects.patch(mgmt, "SpinnakerCluster", tenant.cluster, None, {"spec": {"tenancy": {"guardrails": change}}})
        generation = (objects.get(mgmt, "SpinnakerCluster", tenant.cluster) or {})["metadata"]["generation"]
        seen: list[dict[str, Any]] = []

        def rolled_out() -> dict[str, Any] | None:
            status = (objects.get(mgmt, "SpinnakerCluster", tenant.cluster) or {}).get("status") or {}
            progress = status.get("guardrails") or {}
            if progress.get("generation") == generation and progress not in seen:
                seen.append(progress)
            return progress if progress.get("generation") == generation and progress.get("finishedAt") else None

        progress = wait_for(rolled_out, timeout=60, interval=0.1, what=f"generation {generation} rolled out")
        assert (progress["total"], progress["updated"], progress["unmanaged"], progress["failed"]) == (5, 4, 1, 0)
        assert [p["updated"] + p["unmanaged"] for p in seen] == sorted(p["updated"] + p["unmanaged"] for p in seen)
        assert len(seen) >= 2, seen  # progress was reported on the way, not only at the end
        cluster = objects.get(mgmt, "SpinnakerCluster", tenant.cluster)
        condition = objects.condition(cluster, "GuardrailsApplied")
        assert condition and (condition["status"], condition["reason"]) == ("True", "Applied"), condition
        assert "4 of 5 tenant namespaces updated, 1 not created by spinop" in condition["message"]

        for target in targets:
            labels = _labels(remote, target)
            assert (labels[f"{PSA}enforce"], labels[f"{PSA}warn"], labels[f"{PSA}audit"]) == (
                "baseline",
                "restricted",
                "baseline",
            )
            assert remote.core.read_namespaced_resource_quota(GUARDRAILS, target).spec.hard == {
                "pods": "7",
                "count/configmaps": "10",
            }
        assert not any(k.startswith(PSA) for k in _labels(remote, foreign))
        with pytest.raises(ApiException) as err:
            remote.core.read_namespaced_resource_quota(GUARDRAILS, foreign)
        assert err.value.status == 404
        # The rollout did it (periodic passes are 600 s away), at its pace.
        prefix = tenant.target("r")
        lines = [line for line in slow_drift.log().splitlines() if f"guardrails of {prefix}" in line]
        assert len(lines) == 4, lines
        times = sorted(datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f") for line in lines)
        assert (times[-1] - times[0]).total_seconds() >= 3 / PER_SECOND * 0.8, times  # 4 starts, 1/PER_SECOND apart
    finally:
        objects.delete(mgmt, "SpinnakerAccount", "theirs", tenant.namespace)
        objects.wait_gone(mgmt, "SpinnakerAccount", "theirs", tenant.namespace)
        remote.delete_namespace(foreign)


@pytest.fixture()
def default_tenant(
    mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str], fresh_namespace: Callable[..., str]
) -> Iterator[Tenant]:
    """A tenant on a SpinnakerCluster whose guardrails only name Ingress hosts: everything else is the default."""
    namespace = fresh_namespace("mgmt", "gd", labels=objects.TENANT_LABEL)
    name = f"gd-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            name,
            admin_kubeconfig_secrets[ENV],
            ENV,
            tenancy={
                "namespacePattern": "{tenant}-{environment}-*",
                "guardrails": {"ingress": {"allowedHostSuffixes": ["{tenant}.apps.example.com"]}},
            },
        ),
    )
    yield Tenant(namespace, name)
    objects.delete(mgmt, "SpinnakerAccount", "web", namespace)
    objects.wait_gone(mgmt, "SpinnakerAccount", "web", namespace, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", name)


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


def _ingress(name: str, *hosts: str | None, tls: tuple[str, ...] = ()) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    paths = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
    spec: dict[str, Any] = {"rules": [{**({"host": h} if h else {}), **paths} for h in hosts]}
    if tls:
        spec["tls"] = [{"hosts": list(tls), "secretName": "cert"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name}, "spec": spec}


def test_default_quota_no_external_ips_and_ingress_hosts_only_under_the_tenants_suffix(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    default_tenant: Tenant,
    tmp_path: Path,
) -> None:
    """Attacks, as the tenant's own credentials on the real remote apiserver: a NodePort (a port on every node), a
    Service with externalIPs (CVE-2020-8554: intercept traffic to any address), an Ingress claiming another tenant's
    host, a catch-all Ingress. All refused, naming the field; nothing is created."""
    from spinop.api.v1alpha1.guardrails import DEFAULT_QUOTA

    remote, target = remotes[ENV], default_tenant.target("web")
    account = _account(mgmt, default_tenant, "web", target)
    assert remote.core.read_namespaced_resource_quota(GUARDRAILS, target).spec.hard == DEFAULT_QUOTA
    annotations = remote.core.read_namespace(target).metadata.annotations
    assert annotations["spinop.io/ingress-host-suffixes"] == f"{default_tenant.namespace}.apps.example.com"
    wait_for(lambda: _quota_counted(remote, target), timeout=60, what="the default quota's usage counted")
    kubeconfig = _tenant_kubeconfig(mgmt, account, tmp_path)
    own = f"{default_tenant.namespace}.apps.example.com"
    attacks = {
        "services.nodeports": _service("nodeport", type="NodePort"),
        "spec.externalIPs": _service("intercept", externalIPs=["10.0.0.1"]),
        "spec.rules[].host": _ingress("steal", "shop.other-tenant.apps.example.com"),
        "(no Ingress without a host": _ingress("catchall", None),
        "spec.tls[].hosts[]": _ingress("steal-tls", f"www.{own}", tls=("login.example.com",)),
        "must be one of": _ingress("lookalike", f"evil{own}"),
    }
    for field, body in attacks.items():
        result = _create_as_tenant(remote, kubeconfig, body, tmp_path)
        assert result.returncode != 0 and field in result.stderr, (body["metadata"]["name"], result.stderr)
        if field != "services.nodeports":
            assert "spinop-tenant-limits" in result.stderr, result.stderr
    assert [s.metadata.name for s in remote.core.list_namespaced_service(target).items] == []
    networking = k8s.NetworkingV1Api(remote.api)
    assert networking.list_namespaced_ingress(target).items == []
    # The tenant's own hosts (and wildcards under them) are admitted, as is a plain Service.
    for body in (_service("web"), _ingress("mine", own, f"*.{own}", tls=(f"www.{own}",))):
        result = _create_as_tenant(remote, kubeconfig, body, tmp_path)
        assert result.returncode == 0, result.stderr
