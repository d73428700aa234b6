"""Session fixtures: real kube-apiserver + kube-controller-manager processes (MGMT and remote clusters).

The control planes are built from the Go modules pinned in tools/controlplane when missing (never skipped), started
once per test run in a fresh directory, and stopped at the end. Set SPINOP_TEST_CLUSTERS_DIR to a directory to
reuse a running set between runs while iterating (`spinop dev cluster up --dir DIR` starts one).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spinop.devcluster.build import ensure_binaries
from spinop.devcluster.controlplane import DEFAULT_CLUSTERS, ControlPlanes
from tests.integration.kube import Cluster, wait_for

REMOTE_CLUSTERS = tuple(name for name in DEFAULT_CLUSTERS if name != "mgmt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def _progress(message: str) -> None:
    print(f"[spinop tests] {message}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def control_planes() -> Iterator[ControlPlanes]:
    binaries = ensure_binaries(_progress)
    reuse = os.environ.get("SPINOP_TEST_CLUSTERS_DIR")
    if reuse:
        planes = ControlPlanes(Path(reuse), binaries, progress=_progress)
        planes.up(DEFAULT_CLUSTERS)
        yield planes
        return
    with tempfile.TemporaryDirectory(prefix="spinop-test-clusters-") as root:
        planes = ControlPlanes(Path(root), binaries, die_with_parent=True, progress=_progress)
        try:
            planes.up(DEFAULT_CLUSTERS)
            yield planes
        finally:
            planes.down()


@pytest.fixture(scope="session")
def clusters(control_planes: ControlPlanes) -> dict[str, Cluster]:
    kubectl = control_planes.binaries.kubectl
    return {
        name: Cluster(name, state.server, state.kubeconfig, state.ca_file, kubectl)
        for name, state in control_planes.state.clusters.items()
    }


@pytest.fixture(scope="session")
def mgmt(clusters: dict[str, Cluster]) -> Cluster:
    return clusters["mgmt"]


@pytest.fixture(scope="session")
def remotes(clusters: dict[str, Cluster]) -> dict[str, Cluster]:
    return {name: clusters[name] for name in REMOTE_CLUSTERS}


@pytest.fixture()
def fresh_namespace(clusters: dict[str, Cluster]) -> Iterator[Callable[..., str]]:
    """Create namespaces on any cluster for one test; they are deleted (and waited for) afterwards."""
    created: list[tuple[Cluster, str]] = []

    def make(cluster: str = "mgmt", prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        handle = clusters[cluster]
        name = handle.create_namespace(prefix, labels)
        created.append((handle, name))
        return name

    yield make
    for handle, name in created:
        handle.delete_namespace(name)
    for handle, name in created:
        wait_for(_gone_probe(handle, name), timeout=120, what=f"namespace {name} deleted")


def _gone_probe(handle: Cluster, name: str) -> Callable[[], bool]:
    return lambda: handle.namespace_gone(name)
