"""Kubeconfig delivery through mounted Secrets (`halyard.kubeconfig_delivery: mounted`): no pods/exec needed.

spinop writes each account's kubeconfig into sharded Secrets in the Halyard namespace on the real MGMT apiserver;
the Halyard pod would mount them all at one directory. There is no kubelet here, so `KubeletStandin` plays its part:
it copies the Secrets' keys into the Halyard stand-in's pod filesystem, as the kubelet refreshes a mounted Secret.
"""

from __future__ import annotations

import base64
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.standins import HalyardStandinProcess

MOUNTED_DIR = "/home/spinnaker/.hal/spinop/mounted"
HALYARD_NAMESPACE = "spinnaker"
PREFIX = "spinop-halyard-kubeconfigs"


class KubeletStandin:
    """Mirrors every `<PREFIX>-N` Secret key into `<MOUNTED_DIR>/<key>` in the Halyard stand-in's pod, every 0.3 s."""

    def __init__(self, mgmt: Cluster, halyard: HalyardStandinProcess) -> None:
        self.mgmt, self.halyard = mgmt, halyard
        self.stop = threading.Event()
        self.synced: dict[str, str] = {}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.3):
            try:
                secrets = self.mgmt.core.list_namespaced_secret(HALYARD_NAMESPACE).items
            except ApiException:
                continue
            for secret in secrets:
                if not secret.metadata.name.startswith(PREFIX):
                    continue
                for key, value in (secret.data or {}).items():
                    if self.synced.get(key) == value:
                        continue
                    path = urllib.parse.quote(f"{MOUNTED_DIR}/{key}", safe="/")
                    self.halyard.control(
                        "PUT", f"/_standin/pod-file?path={path}&mode=600", base64.b64decode(value).decode()
                    )
                    self.synced[key] = value


@pytest.fixture()
def kubelet(mgmt: Cluster, halyard: HalyardStandinProcess) -> Iterator[KubeletStandin]:
    objects.ensure_namespace(mgmt, HALYARD_NAMESPACE)
    standin = KubeletStandin(mgmt, halyard)
    standin.thread.start()
    yield standin
    standin.stop.set()
    standin.thread.join(timeout=5)


def test_mounted_secrets_carry_kubeconfigs_and_rotations_to_the_deploy(
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    halyard: HalyardStandinProcess,
    kubelet: KubeletStandin,
    operator_token_kubeconfig: Any,
    start_operator: Callable[..., OperatorProcess],
    fresh_namespace: Callable[..., str],
) -> None:
    start_operator(
        {
            "spinnaker_backend": "halyard",
            "halyard": {
                "url": halyard.daemon_url,
                "transport": "rest",
                "kubeconfig_delivery": "mounted",
                "pod_namespace": HALYARD_NAMESPACE,
                "mounted_dir": MOUNTED_DIR,
                "mounted_secret_prefix": PREFIX,
                "mounted_sync_seconds": 2,
                "quiet_seconds": 2,
            },
        },
        kubeconfig=operator_token_kubeconfig,
    )
    tenant = fresh_namespace("mgmt", "mnt", labels=objects.TENANT_LABEL)
    cluster = f"dev-{objects.short_id()}"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            cluster, admin_kubeconfig_secrets["dev"], "dev", tenancy={"namespacePattern": "{tenant}-{environment}-*"}
        ),
    )
    names = ["m1", "m2", "m3"]
    try:
        deploys_before = len(halyard.deploys())
        for name in names:
            objects.create(mgmt, objects.spinnaker_account(tenant, name, cluster, f"{tenant}-dev-{name}"))
        accounts = {n: objects.wait_condition(mgmt, "SpinnakerAccount", n, tenant, "Ready", timeout=120) for n in names}
        deploys = halyard.deploys()[deploys_before:]
        assert len(deploys) == 1, "one burst, one deploy"
        live = halyard.accounts()
        for account in accounts.values():
            spinnaker_name = account["status"]["spinnakerAccountName"]
            assert live[spinnaker_name]["kubeconfigFile"] == f"{MOUNTED_DIR}/{spinnaker_name}.yaml"
            ref = account["status"]["credentialsSecretRef"]
            stored = objects.secret_kubeconfig(mgmt, ref["namespace"], ref["name"])
            copied = deploys[-1]["kubeconfigs"][spinnaker_name]["content"]
            assert yaml.safe_load(copied) == yaml.safe_load(stored), "the deploy copied what spinop stored"

        # Rotation: the new token reaches the shard Secret, the kubelet, and the next deploy.
        first = accounts["m1"]
        name = first["status"]["spinnakerAccountName"]
        old = yaml.safe_load(deploys[-1]["kubeconfigs"][name]["content"])["users"][0]["user"]["token"]
        objects.patch(
            mgmt,
            "SpinnakerAccount",
            "m1",
            tenant,
            {"metadata": {"annotations": {"spinop.io/rotate-credentials": "mounted"}}},
        )

        def carried() -> bool:
            latest = halyard.deploys()[-1]
            content = latest["kubeconfigs"].get(name, {}).get("content", "")
            return bool(content) and yaml.safe_load(content)["users"][0]["user"]["token"] != old

        # The drift pass is minutes away here: the annotation alone must start the rotation.
        wait_for(carried, timeout=90, what="a deploy carrying the rotated token through the mounted Secret")
    finally:
        for name in names:
            objects.delete(mgmt, "SpinnakerAccount", name, tenant)
        for name in names:
            objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant, timeout=120)
        objects.delete(mgmt, "SpinnakerCluster", cluster)
    # Deleted accounts leave the shards.
    keys = {
        k
        for s in mgmt.core.list_namespaced_secret(HALYARD_NAMESPACE).items
        if s.metadata.name.startswith(PREFIX)
        for k in (s.data or {})
    }
    assert not keys & {f"{a['status']['spinnakerAccountName']}.yaml" for a in accounts.values()}
