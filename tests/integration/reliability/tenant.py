"""A real, RBAC-restricted tenant: a ServiceAccount in its MGMT namespace bound to deploy/base's
`spinop-tenant-edit` ClusterRole, speaking to the apiserver with a TokenRequest token and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from tests.integration.kube import Cluster, wait_for
from tests.integration.rbac_manifests import request_token

TENANT_ROLE = "spinop-tenant-edit"


@dataclass(frozen=True)
class Answer:
    """What the apiserver answered a tenant's write: accepted (with the stored object) or refused."""

    accepted: bool
    code: int = 0
    message: str = ""
    obj: dict[str, Any] | None = None

    def __str__(self) -> str:
        return "accepted" if self.accepted else f"refused {self.code}: {self.message[:300]}"


def _answer(err: ApiException) -> Answer:
    message = str(err.reason)
    try:
        body = json.loads(err.body or "{}")
        message = str(body.get("message") or message)
    except (TypeError, ValueError):
        message = f"{message}: {str(err.body)[:300]}"
    return Answer(False, int(err.status or 0), message)


class Tenant:
    def __init__(self, mgmt: Cluster, namespace: str, name: str = "tenant-bot") -> None:
        self.mgmt = mgmt
        self.namespace = namespace
        mgmt.core.create_namespaced_service_account(
            namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
        )
        mgmt.rbac.create_namespaced_role_binding(
            namespace,
            k8s.V1RoleBinding(
                metadata=k8s.V1ObjectMeta(name=f"{name}-{TENANT_ROLE}"),
                role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=TENANT_ROLE),
                subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
            ),
        )
        self.api = mgmt.client_with_token(request_token(mgmt, namespace, name, seconds=3600))
        self.custom = k8s.CustomObjectsApi(self.api)
        self.core = k8s.CoreV1Api(self.api)
        wait_for(self._can_create, timeout=30, what=f"tenant {namespace} allowed to create SpinnakerAccounts")

    def _can_create(self) -> bool:
        review = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    group=GROUP, resource="spinnakeraccounts", verb="create", namespace=self.namespace
                )
            )
        )
        return bool(k8s.AuthorizationV1Api(self.api).create_self_subject_access_review(review).status.allowed)

    def create(self, body: dict[str, Any], *, strict: bool = False, namespace: str | None = None) -> Answer:
        try:
            obj = self.custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace or body.get("metadata", {}).get("namespace") or self.namespace,
                "spinnakeraccounts",
                body,
                field_validation="Strict" if strict else None,
            )
        except ApiException as err:
            return _answer(err)
        return Answer(True, obj=obj)

    def patch(self, name: str, body: dict[str, Any], *, status: bool = False, namespace: str | None = None) -> Answer:
        call = (
            self.custom.patch_namespaced_custom_object_status if status else self.custom.patch_namespaced_custom_object
        )
        try:
            obj = call(GROUP, VERSION, namespace or self.namespace, "spinnakeraccounts", name, body)
        except ApiException as err:
            return _answer(err)
        return Answer(True, obj=obj)

    def attempt(self, call: Any, *args: Any, **kwargs: Any) -> Answer:
        """Any other API call as the tenant."""
        try:
            result = call(*args, **kwargs)
        except ApiException as err:
            return _answer(err)
        return Answer(True, obj=result if isinstance(result, dict) else None)

    def close(self) -> None:
        self.api.close()
