"""What a WebSocket pods/exec needs on the real kube-apiserver (the version tools/controlplane pins), through spinop's
own exec client: `get` (the upgrade is an HTTP GET) and `create` (AuthorizePodWebsocketUpgradeCreatePermission, on
by default since Kubernetes 1.35). The Halyard stand-in's KubeAuthorizer and deploy/base/components/halyard-exec
follow this; tests/unit/upstream_wire/test_kube_exec.py cites the upstream sources.

The pod does not exist: a request that passes both authorization checks reaches ExecREST's pod lookup and gets 404,
one that fails either gets 403 first, so no kubelet is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import kubernetes.client as k8s
import pytest

from spinop.halyard import KubeExecClient, KubeExecError
from tests.integration.kube import Cluster, wait_for

POD = "spin-halyard-0"


def _bind(mgmt: Cluster, namespace: str, name: str, verbs: list[str]) -> str:
    """A ServiceAccount whose Role grants `verbs` on pods/exec of POD only; returns its token."""
    mgmt.core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name)))
    mgmt.rbac.create_namespaced_role(
        namespace,
        k8s.V1Role(
            metadata=k8s.V1ObjectMeta(name=name),
            rules=[k8s.V1PolicyRule(api_groups=[""], resources=["pods/exec"], resource_names=[POD], verbs=verbs)],
        ),
    )
    mgmt.rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name=name),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
        ),
    )
    token = mgmt.core.create_namespaced_service_account_token(
        name, namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(expiration_seconds=600))
    ).status.token
    api = k8s.AuthorizationV1Api(mgmt.client_with_token(token))

    def in_effect() -> bool:
        review = api.create_self_subject_access_review(
            k8s.V1SelfSubjectAccessReview(
                spec=k8s.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=k8s.V1ResourceAttributes(
                        namespace=namespace, verb=verbs[0], resource="pods", subresource="exec", name=POD
                    )
                )
            )
        )
        return bool(review.status.allowed)

    wait_for(in_effect, timeout=30, what=f"the Role of {name} in effect")
    return str(token)


def _exec_status(mgmt: Cluster, namespace: str, token: str) -> tuple[int | None, str]:
    client = KubeExecClient.from_configuration(mgmt.client_with_token(token).configuration, namespace, POD)
    try:
        asyncio.run(client.run(["true"]))
    except KubeExecError as err:
        return err.status, str(err)
    return 0, ""


@pytest.mark.timeout(120)
def test_a_websocket_exec_needs_get_and_create_on_pods_exec(mgmt: Cluster, fresh_namespace: Callable[..., str]) -> None:
    namespace = fresh_namespace("mgmt", "execverbs")
    tokens = {
        verbs: _bind(mgmt, namespace, "-".join(verbs), list(verbs))
        for verbs in (("get",), ("create",), ("get", "create"))
    }
    # `create` alone: the authorization filter refuses the GET upgrade as `get`.
    status, message = _exec_status(mgmt, namespace, tokens[("create",)])
    assert status == 403 and 'cannot get resource "pods/exec"' in message, message
    # `get` alone: ExecREST.Connect's compound check refuses it (enough before 1.35, not since).
    status, message = _exec_status(mgmt, namespace, tokens[("get",)])
    assert status == 403 and f'pods "{POD}" is forbidden' in message and "cannot get" not in message, message
    # Both: authorized; the missing pod is the only thing left to refuse.
    status, message = _exec_status(mgmt, namespace, tokens[("get", "create")])
    assert status == 404, message
