"""A tenant cannot create a SpinnakerPipeline whose name Gate refuses in a URL path.

Gate stores any name that travels in the JSON body of `POST /pipelines`, but `DELETE /pipelines/{app}/{name}`
carries it in the path, where Tomcat and Spring Security's StrictHttpFirewall refuse `;`, `%`, `/`, `\\`, control
characters and `.`/`..` (tests/unit/upstream_wire/test_gate.py has the upstream sources). Such a pipeline could be
saved but never deleted, so the CRD refuses the name: here a tenant ServiceAccount bound to spinop-tenant-edit in its
own namespace, on the real apiserver, gets a 422 naming spec.name, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.pipelines.builders import spinnaker_pipeline

PLURAL = "spinnakerpipelines"
TENANT_ROLES = Path(__file__).resolve().parents[3] / "deploy" / "base" / "rbac" / "tenant-clusterroles.yaml"
UNROUTABLE = {
    "semicolon": "deploy;v=1",
    "percent": "100% prod",
    "slash": "deploy/prod",
    "backslash": "deploy\\prod",
    "line-feed": "deploy\nprod",
    "tab": "deploy\tprod",
    "nul": "deploy\x00prod",
    "line-separator": "deploy\u2028prod",
    "dot": ".",
    "dot-dot": "..",
}
BODY = {"stages": [{"refId": "1", "type": "wait", "name": "Wait", "waitTime": 5}]}


@pytest.fixture()
def tenant_api(
    mgmt: Cluster, crds: list[str], fresh_namespace: Callable[..., str]
) -> Iterator[tuple[str, k8s.ApiClient]]:
    """A ServiceAccount in a fresh tenant namespace bound to spinop-tenant-edit there (and nowhere else)."""
    applied = mgmt.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(TENANT_ROLES), check=False)
    assert applied.returncode == 0, applied.stderr
    namespace = fresh_namespace("mgmt", "unroutable", objects.TENANT_LABEL)
    mgmt.core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="dev")))
    mgmt.rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="spinop-edit"),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="spinop-tenant-edit"
            ),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="dev", namespace=namespace)],
        ),
    )
    token = mgmt.core.create_namespaced_service_account_token(
        "dev", namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(expiration_seconds=3600))
    ).status.token
    api = mgmt.client_with_token(token)
    custom = k8s.CustomObjectsApi(api)
    wait_for(
        lambda: custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL) is not None,
        timeout=30,
        what="the tenant's RoleBinding in effect",
    )
    yield namespace, api
    api.close()


def test_a_tenant_cannot_create_a_pipeline_gate_could_never_delete(
    mgmt: Cluster, tenant_api: tuple[str, k8s.ApiClient]
) -> None:
    namespace, api = tenant_api
    custom = k8s.CustomObjectsApi(api)
    for label, name in UNROUTABLE.items():
        body = spinnaker_pipeline(namespace, f"p-{label}", "shop", name, BODY)
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        assert refused.value.status == 422, (label, refused.value.status, refused.value.body)
        assert "spec.name" in str(refused.value.body), (label, refused.value.body)
    # The path-unsafe characters get the message that says why (the CEL rule), not only the pattern.
    for name in ("deploy;v=1", "100% prod", "."):
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, spinnaker_pipeline(namespace, "p-why", "shop", name, BODY)
            )
        assert "never deleted" in str(refused.value.body), refused.value.body
    # No side effect: nothing was stored.
    assert mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"] == []
