"""Observe and change an account's objects on its remote cluster (the I/O half of `remote.plan`)."""

from __future__ import annotations

from typing import Any

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop.kube.clients import call, get_or_none, to_dict
from spinop.kube.errors import remote_errors
from spinop.remote.cluster import RemoteCluster
from spinop.remote.plan import GUARDRAILS, Action, DesiredRemote, ObservedRemote


def _reader(remote: RemoteCluster) -> Any:
    def read(fn: Any, *args: str) -> dict[str, Any] | None:
        obj = get_or_none(fn, *args)
        return None if obj is None else without_managed_fields(to_dict(remote.api, obj))

    return read


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the planner reads it: metadata.managedFields (a fifth of a remote object, about 2 KiB of JSON per
    account in all) is never read, and each account's memory keeps its observed objects for the operator's life."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def observe(remote: RemoteCluster, desired: DesiredRemote) -> ObservedRemote:
    core, rbac = k8s.CoreV1Api(remote.api), k8s.RbacAuthorizationV1Api(remote.api)
    ns, name = desired.namespace, desired.object_name
    read = _reader(remote)

    with remote_errors(remote.name):
        namespace = read(core.read_namespace, ns)
        if namespace is None:
            return ObservedRemote()
        observed = ObservedRemote(
            namespace=namespace,
            service_account=read(core.read_namespaced_service_account, name, ns),
            role=read(rbac.read_namespaced_role, name, ns),
            role_binding=read(rbac.read_namespaced_role_binding, name, ns),
        )
        if desired.guardrails is not None:
            _read_guardrails(remote, ns, observed)
        return observed


def observe_guardrails(remote: RemoteCluster, namespace: str) -> ObservedRemote:
    """The namespace and its guardrail objects only (the cluster-wide guardrail rollout needs nothing else)."""
    read = _reader(remote)
    with remote_errors(remote.name):
        found = read(k8s.CoreV1Api(remote.api).read_namespace, namespace)
        observed = ObservedRemote(namespace=found)
        if found is not None:
            _read_guardrails(remote, namespace, observed)
        return observed


def _read_guardrails(remote: RemoteCluster, ns: str, observed: ObservedRemote) -> None:
    core, net = k8s.CoreV1Api(remote.api), k8s.NetworkingV1Api(remote.api)
    read = _reader(remote)
    observed.resource_quota = read(core.read_namespaced_resource_quota, GUARDRAILS, ns)
    observed.limit_range = read(core.read_namespaced_limit_range, GUARDRAILS, ns)
    observed.network_policy = read(net.read_namespaced_network_policy, GUARDRAILS, ns)


def apply(remote: RemoteCluster, actions: tuple[Action, ...]) -> None:
    """Carry out planned actions in order. Idempotent: 409 on create and 404 on delete count as done."""
    core, rbac = k8s.CoreV1Api(remote.api), k8s.RbacAuthorizationV1Api(remote.api)
    net = k8s.NetworkingV1Api(remote.api)
    operations: dict[tuple[str, str], Any] = {
        ("create", "Namespace"): lambda a: call(core.create_namespace, a.body),
        ("patch", "Namespace"): lambda a: call(core.patch_namespace, a.name, a.body),
        ("delete", "Namespace"): lambda a: call(core.delete_namespace, a.name),
        ("create", "ServiceAccount"): lambda a: call(core.create_namespaced_service_account, a.namespace, a.body),
        ("patch", "ServiceAccount"): lambda a: call(core.patch_namespaced_service_account, a.name, a.namespace, a.body),
        ("delete", "ServiceAccount"): lambda a: call(core.delete_namespaced_service_account, a.name, a.namespace),
        ("create", "Role"): lambda a: call(rbac.create_namespaced_role, a.namespace, a.body),
        ("patch", "Role"): lambda a: call(rbac.patch_namespaced_role, a.name, a.namespace, a.body),
        ("delete", "Role"): lambda a: call(rbac.delete_namespaced_role, a.name, a.namespace),
        ("create", "RoleBinding"): lambda a: call(rbac.create_namespaced_role_binding, a.namespace, a.body),
        ("patch", "RoleBinding"): lambda a: call(rbac.patch_namespaced_role_binding, a.name, a.namespace, a.body),
        ("delete", "RoleBinding"): lambda a: call(rbac.delete_namespaced_role_binding, a.name, a.namespace),
        ("create", "ResourceQuota"): lambda a: call(core.create_namespaced_resource_quota, a.namespace, a.body),
        ("patch", "ResourceQuota"): lambda a: call(core.patch_namespaced_resource_quota, a.name, a.namespace, a.body),
        ("delete", "ResourceQuota"): lambda a: call(core.delete_namespaced_resource_quota, a.name, a.namespace),
        ("create", "LimitRange"): lambda a: call(core.create_namespaced_limit_range, a.namespace, a.body),
        ("patch", "LimitRange"): lambda a: call(core.patch_namespaced_limit_range, a.name, a.namespace, a.body),
        ("delete", "LimitRange"): lambda a: call(core.delete_namespaced_limit_range, a.name, a.namespace),
        ("create", "NetworkPolicy"): lambda a: call(net.create_namespaced_network_policy, a.namespace, a.body),
        ("patch", "NetworkPolicy"): lambda a: call(net.patch_namespaced_network_policy, a.name, a.namespace, a.body),
        ("delete", "NetworkPolicy"): lambda a: call(net.delete_namespaced_network_policy, a.name, a.namespace),
    }
    with remote_errors(remote.name):
        for action in actions:
            try:
                operations[(action.verb, action.kind)](action)
            except ApiException as err:
                if action.verb == "create" and err.status == 409:
                    continue
                if action.verb == "delete" and err.status == 404:
                    continue
                raise
