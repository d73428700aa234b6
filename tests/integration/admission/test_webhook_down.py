"""With the webhook down, failurePolicy Ignore admits what it would refuse, and the reconcile refuses it instead.

The operator is killed (SIGKILL: no clean-up), so its webhooks stay in the configuration pointing at a port nobody
listens on: the apiserver calls them, fails, and applies the failure policy. (A clean stop removes fail-open
webhooks from the configuration, which admits everything too.) When the operator is back, the reconcile applies
the same tenancy rules and reports the refusal in status.conditions; an account that lost its name to an older one
leaves the older one editable.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

import pytest

from spinop import GROUP, VERSION
from tests.integration import objects
from tests.integration.admission.conftest import (
    ACCOUNT_WEBHOOK,
    ADMISSION_SETTINGS,
    wait_webhook_ready,
    webhook_configuration,
)
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess


def utcnow_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture()
def operator(
    webhook_configurations: None, start_operator: Callable[..., OperatorProcess], mgmt: Cluster
) -> OperatorProcess:
    operator = start_operator(ADMISSION_SETTINGS, kubeconfig=mgmt.kubeconfig)  # managed webhook config: admin
    wait_webhook_ready(mgmt)
    return operator


@pytest.fixture()
def world(
    operator: OperatorProcess,
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    fresh_namespace: Callable[..., str],
) -> Iterator[tuple[str, str, str]]:
    """(tenant a, tenant b, SpinnakerCluster on dev open to both)."""
    a = fresh_namespace("mgmt", "down", labels=objects.TENANT_LABEL)
    b = fresh_namespace("mgmt", "down", labels=objects.TENANT_LABEL)
    cluster = f"down-{objects.short_id()}"
    objects.create(mgmt, objects.spinnaker_cluster(cluster, admin_kubeconfig_secrets["dev"], "dev"))
    yield a, b, cluster
    if operator.proc is not None and operator.proc.poll() is not None:
        operator.start()  # the test failed while the operator was down: finalizers need it
    for ns in (a, b):
        for item in mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "spinnakeraccounts")["items"]:
            objects.delete(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns)
            objects.wait_gone(mgmt, "SpinnakerAccount", item["metadata"]["name"], ns, timeout=120)
    objects.delete(mgmt, "SpinnakerCluster", cluster)


def test_webhook_down_admits_and_the_reconcile_refuses(
    operator: OperatorProcess, world: tuple[str, str, str], mgmt: Cluster
) -> None:
    a, b, cluster = world
    operator.kill()
    configuration = webhook_configuration(mgmt)
    assert configuration is not None
    account_hook = next(w for w in configuration["webhooks"] if w["name"] == ACCOUNT_WEBHOOK)
    assert account_hook["failurePolicy"] == "Ignore"  # still registered: the apiserver calls it and fails

    # Admitted without the webhook: a system namespace, and a name an older account holds.
    objects.create(mgmt, objects.spinnaker_account(a, "sys", cluster, "kube-system"))
    holder = objects.create(mgmt, objects.spinnaker_account(a, "holder", cluster, f"{a}-dev", accountName=f"{a}-name"))
    # creationTimestamp has one-second resolution (ties go by uid): make "late" visibly younger.
    wait_for(lambda: utcnow_iso() > holder["metadata"]["creationTimestamp"], timeout=3, what="the next second")
    objects.create(mgmt, objects.spinnaker_account(b, "late", cluster, f"{b}-dev", accountName=f"{a}-name"))

    operator.start()
    sys_account = objects.wait_condition(
        mgmt, "SpinnakerAccount", "sys", a, "RemoteProvisioned", "False", reason="NamespaceNotAllowed"
    )
    message = objects.condition(sys_account, "RemoteProvisioned")["message"]  # type: ignore[index]
    assert message.startswith("spec.namespace: 'kube-system' is a system namespace"), message
    assert objects.condition(sys_account, "Ready")["status"] == "False"  # type: ignore[index]

    # Another tenant's name is refused as not carrying tenant b (before it would be AccountNameTaken).
    late = objects.wait_condition(
        mgmt, "SpinnakerAccount", "late", b, "RemoteProvisioned", "False", reason="AccountNameNotAllowed"
    )
    assert f"must start with '{b}-'" in objects.condition(late, "RemoteProvisioned")["message"]  # type: ignore[index]
    objects.wait_condition(mgmt, "SpinnakerAccount", "holder", a, "Ready")

    # With the webhook back, the older holder stays editable (only older claims count on update) ...
    wait_webhook_ready(mgmt)
    objects.patch(mgmt, "SpinnakerAccount", "holder", a, {"spec": {"cacheThreads": 2}})
    # ... and the account admitted while it was down can still be cleaned up (deletion is never judged).
    objects.delete(mgmt, "SpinnakerAccount", "sys", a)
    objects.wait_gone(mgmt, "SpinnakerAccount", "sys", a)
