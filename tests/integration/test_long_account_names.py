"""Issue 16 item 5: a SpinnakerAccount with a maximum-length accountName (100 characters) is created, rotated and
deleted on the real control planes, with both credential types.

`spinop-<accountName>` is the remote ServiceAccount's name, and used to be the value of the token Secrets'
`spinop.io/token-for` label too: label values hold at most 63 characters, so above 56 the long-lived token Secret
could not be created (422) and the finalizer's label selector was answered 400 forever: the account could never be
deleted. The account is created by a real tenant (a ServiceAccount bound to spinop-tenant-edit in its namespace).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spinop.api.labels import TOKEN_SECRET_LABEL
from spinop.api.v1alpha1.account import MAX_ACCOUNT_NAME_LENGTH
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.reliability.tenant import Tenant

KIND = "SpinnakerAccount"


@pytest.fixture(scope="module")
def operator(start_operator: Callable[..., OperatorProcess], operator_kubeconfig: Path) -> OperatorProcess:
    return start_operator({"drift_interval_seconds": 4})


@pytest.fixture()
def credential_clusters(mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str]) -> Iterator[dict[str, str]]:
    """Two SpinnakerClusters on dev: TokenRequest credentials, and long-lived ServiceAccountTokenSecret ones."""
    suffix = objects.short_id()
    names = {"TokenRequest": f"tr-{suffix}", "ServiceAccountTokenSecret": f"lt-{suffix}"}
    for kind, name in names.items():
        body = objects.spinnaker_cluster(name, admin_kubeconfig_secrets["dev"], "dev")
        body["spec"]["credentials"] = {"type": kind}
        objects.create(mgmt, body)
    yield names
    for name in names.values():
        objects.delete(mgmt, "SpinnakerCluster", name)


def _long_name(namespace: str, tag: str) -> str:
    prefix = f"{namespace}-{tag}-"
    return prefix + "x" * (MAX_ACCOUNT_NAME_LENGTH - len(prefix))


@pytest.mark.parametrize("credentials", ["TokenRequest", "ServiceAccountTokenSecret"])
def test_a_maximum_length_account_name_is_created_rotated_and_deleted(
    credentials: str,
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    credential_clusters: dict[str, str],
    fresh_namespace: Callable[..., str],
) -> None:
    namespace = fresh_namespace("mgmt", "ln", labels=objects.TENANT_LABEL)
    target = f"{namespace}-dev"
    account_name = _long_name(namespace, "lt" if credentials == "ServiceAccountTokenSecret" else "tr")
    assert len(account_name) == MAX_ACCOUNT_NAME_LENGTH
    tenant = Tenant(mgmt, namespace)
    remote = remotes["dev"]
    try:
        answer = tenant.create(
            objects.spinnaker_account(
                namespace, "long", credential_clusters[credentials], target, accountName=account_name
            )
        )
        assert answer.accepted, str(answer)
        account = objects.wait_condition(mgmt, KIND, "long", namespace, "Ready", timeout=120)
        assert account["status"]["spinnakerAccountName"] == account_name
        service_account = f"spinop-{account_name}"
        assert remote.core.read_namespaced_service_account(service_account, target)

        def token_secrets() -> list[str]:
            listed = remote.core.list_namespaced_secret(target, label_selector=TOKEN_SECRET_LABEL)
            return sorted(s.metadata.name for s in listed.items)

        if credentials == "ServiceAccountTokenSecret":
            assert token_secrets() == [f"{service_account}-token-1"]

        before = account["status"]["tokenFingerprint"]
        patched = tenant.patch("long", {"metadata": {"annotations": {"spinop.io/rotate-credentials": "1"}}})
        assert patched.accepted, str(patched)

        def rotated() -> bool:
            current = objects.get(mgmt, KIND, "long", namespace) or {}
            return (current.get("status") or {}).get("tokenFingerprint") not in (None, before)

        wait_for(rotated, timeout=90, what="new credentials after the rotate-credentials annotation")
        objects.wait_condition(mgmt, KIND, "long", namespace, "Ready", timeout=90)
        if credentials == "ServiceAccountTokenSecret":
            wait_for(
                lambda: token_secrets() == [f"{service_account}-token-2"],
                timeout=60,
                what="the old long-lived token Secret revoked",
            )

        deleted = tenant.attempt(
            tenant.custom.delete_namespaced_custom_object,
            "spinop.io",
            "v1alpha1",
            namespace,
            "spinnakeraccounts",
            "long",
        )
        assert deleted.accepted, str(deleted)
        objects.wait_gone(mgmt, KIND, "long", namespace, timeout=120)
        assert token_secrets() == []
        assert not [
            sa.metadata.name
            for sa in remote.core.list_namespaced_service_account(target).items
            if sa.metadata.name == service_account
        ]
        ref = account["status"]["credentialsSecretRef"]
        assert not [
            s for s in mgmt.core.list_namespaced_secret(ref["namespace"]).items if s.metadata.name == ref["name"]
        ]
        operator.assert_clean()
    finally:
        tenant.close()
