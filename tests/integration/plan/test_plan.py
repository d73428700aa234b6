"""`spinop plan -f DIR` on the samples, as a platform team would run it on a GitOps pull request."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from spinop.devcluster.paths import project_root
from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE, OPERATOR_NAMESPACE
from tests.integration.kube import Cluster
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.standins import HalyardStandinProcess

SAMPLE_KINDS = ("SpinnakerCluster", "SpinnakerAccount", "Namespace")


@pytest.fixture()
def samples(tmp_path: Path, mgmt: Cluster) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """deploy/samples rewritten for this test: its own tenant namespace and cluster names (no collisions)."""
    suffix = objects.short_id()
    tenant = f"plan-{suffix}"
    clusters = {env: f"{env}-{suffix}" for env in ("dev", "staging", "prod")}
    docs = []
    for file in sorted((project_root() / "deploy" / "samples").glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in SAMPLE_KINDS:
                continue
            text = yaml.safe_dump(doc).replace("team-a", tenant)
            doc = yaml.safe_load(text)
            if doc["kind"] == "SpinnakerCluster":
                doc["metadata"]["name"] = clusters[doc["metadata"]["name"]]
            if doc["kind"] == "SpinnakerAccount":
                doc["spec"]["cluster"] = clusters[doc["spec"]["cluster"]]
            docs.append(doc)
    directory = tmp_path / "pr"
    directory.mkdir()
    for i, doc in enumerate(docs):
        (directory / f"{i:02d}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc))
    yield directory, tenant, clusters
    for name in ("dev", "staging", "prod"):
        objects.delete(mgmt, "SpinnakerAccount", name, tenant)
    for name in ("dev", "staging", "prod"):
        objects.wait_gone(mgmt, "SpinnakerAccount", name, tenant, timeout=120)
    for cluster in clusters.values():
        objects.delete(mgmt, "SpinnakerCluster", cluster)
    mgmt.delete_namespace(tenant)


def _settings(halyard: HalyardStandinProcess) -> dict[str, object]:
    return {
        "operator_namespace": OPERATOR_NAMESPACE,
        "credentials_namespace": CREDENTIALS_NAMESPACE,
        "spinnaker_backend": "halyard",
        "halyard": {
            "url": halyard.daemon_url,
            "transport": "rest",
            "exec_server": halyard.kube_url,
            "pod_namespace": halyard.namespace,
            "pod_name": halyard.pod,
            "quiet_seconds": 2,
        },
        "metrics": {"port": 0},
    }


def _plan(mgmt: Cluster, config: Path, directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spinop.cli", "plan", "-f", str(directory), "--config", str(config), *extra],
        env={**os.environ, "KUBECONFIG": str(mgmt.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plan_shows_what_would_change_then_nothing_once_applied(
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    halyard: HalyardStandinProcess,
    operator_token_kubeconfig: Path,
    start_operator: Callable[..., OperatorProcess],
    samples: tuple[Path, str, dict[str, str]],
    tmp_path: Path,
) -> None:
    directory, tenant, clusters = samples
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_settings(halyard)))
    deploys_before = len(halyard.deploys())

    # Before anything exists: every remote object, credentials and Spinnaker account would be created.
    first = _plan(mgmt, config, directory, "--detailed-exitcode")
    assert first.returncode == 2, first.stdout + first.stderr
    for env, cluster in clusters.items():
        assert f"Remote cluster {cluster}:" in first.stdout
        assert f"+ {tenant}/{env}: create Namespace {tenant}-{env}" in first.stdout
        assert f"+ {tenant}/{env}: create Role spinop-{cluster}-{tenant}-{env}" in first.stdout
        assert f"+ add account {cluster}-{tenant}-{env}" in first.stdout
    assert first.stdout.count("would issue TokenRequest credentials") == 3
    assert "3 to add to Spinnaker, 0 to change, 0 refused" in first.stdout
    assert "ONE batch" in first.stdout
    # ... and planning changed nothing anywhere.
    assert objects.get(mgmt, "SpinnakerCluster", clusters["dev"]) is None
    assert len(halyard.deploys()) == deploys_before

    # Apply the PR for real and let the operator converge.
    apply = mgmt.kubectl("apply", "-f", str(directory), check=False)
    assert apply.returncode == 0, apply.stderr
    start_operator(_settings(halyard), kubeconfig=operator_token_kubeconfig)
    for env in clusters:
        objects.wait_condition(mgmt, "SpinnakerAccount", env, tenant, "Ready", timeout=120)

    second = _plan(mgmt, config, directory, "--detailed-exitcode")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("remote objects in place") == 3, second.stdout
    assert second.stdout.count("credentials: present (TokenRequest") == 3
    assert second.stdout.count("unchanged") == 3
    assert "0 to add to Spinnaker, 0 to change, 0 refused" in second.stdout

    # A change in the PR shows up as exactly that change.
    account_file = next(p for p in directory.glob("*spinnakeraccount.yaml") if "name: dev\n" in p.read_text())
    doc = yaml.safe_load(account_file.read_text())
    doc["spec"]["cacheThreads"] = 3
    account_file.write_text(yaml.safe_dump(doc))
    third = _plan(mgmt, config, directory, "--detailed-exitcode")
    assert third.returncode == 2, third.stdout + third.stderr
    assert f"~ change account {clusters['dev']}-{tenant}-dev: cacheThreads 1 → 3" in third.stdout

    # A bad object in the PR is refused with the reason the operator would give.
    (directory / "99-bad.yaml").write_text(
        yaml.safe_dump(objects.spinnaker_account(tenant, "bad", clusters["dev"], "kube-system"))
    )
    fourth = _plan(mgmt, config, directory)
    assert fourth.returncode == 1
    assert f"! {tenant}/bad: refused: NamespaceNotAllowed: spec.namespace" in fourth.stdout
