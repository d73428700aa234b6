"""Session fixtures: real kube-apiserver + kube-controller-manager processes (MGMT and remote clusters).

The control planes are built from the Go modules pinned in tools/controlplane when missing (never skipped), started
once per test run in a fresh directory, and stopped at the end. Set SPINOP_TEST_CLUSTERS_DIR to a directory to
reuse a running set between runs while iterating (`spinop dev cluster up --dir DIR` starts one).

`make test` runs the suite on several pytest-xdist workers (`--dist loadscope`: a module stays on one worker, so
its operator process is started once). Each worker has control planes of its own, because the operators the tests
start watch the whole MGMT cluster and would act on each other's objects; with SPINOP_TEST_CLUSTERS_DIR each
worker reuses DIR/<worker id>.
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
from tests.integration.operator_process import OperatorProcess

REMOTE_CLUSTERS = tuple(name for name in DEFAULT_CLUSTERS if name != "mgmt")


#: Seconds each long module took on one worker of `make test` (2 CPUs, 4 workers, 2026-12-06; refresh from
#: `--durations=0` when they shift). Under xdist (`--dist loadscope --no-loadscope-reorder`, Makefile) a module
#: stays on one worker and modules are handed out in collection order, so the longest go first and the short ones
#: fill in behind them: the run does not end with one worker busy on a long module while the others are idle.
#: Unlisted modules keep their collection order after these.
LONG_RUNNING_MODULES = {
    "spinnaker/test_sync.py": 475,
    "reliability/test_bad_input.py": 202,
    "reliability/test_halyard_faults.py": 169,
    "test_accounts.py": 112,
    "spinnaker/test_migration.py": 92,
    "test_demo.py": 59,
    "test_helm_chart.py": 56,
    "spinnaker/test_accounts_api_wire.py": 56,
    "test_bench_smoke.py": 56,
    "pipelines/test_pipelines.py": 55,
    "test_idle_accounts.py": 53,
    "reliability/test_remote_outage.py": 51,
    "reliability/test_halyard_outage_mid_deploy.py": 45,
    "spinnaker/test_halyard_burst.py": 38,
    "spinnaker/test_halyard_wire.py": 31,
    "admission/test_tenant_boundaries.py": 30,
    "plan/test_plan.py": 30,
    "test_guardrails.py": 29,
    "hostile/test_hostile_accounts.py": 28,
    "reliability/test_kill9_rollout.py": 25,
    "admission/test_webhook.py": 25,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
    seconds = {here / module: took for module, took in LONG_RUNNING_MODULES.items()}
    items.sort(key=lambda item: -seconds.get(Path(str(item.fspath)), 0))  # stable: unlisted keep their order


def _worker_dir(reuse: str) -> Path:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return Path(reuse) / worker if worker else Path(reuse)


def _progress(message: str) -> None:
    print(f"[spinop tests] {message}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def control_planes() -> Iterator[ControlPlanes]:
    binaries = ensure_binaries(_progress)
    reuse = os.environ.get("SPINOP_TEST_CLUSTERS_DIR")
    if reuse:
        planes = ControlPlanes(_worker_dir(reuse), binaries, progress=_progress)
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


@pytest.fixture(scope="session")
def namespaces_to_reap(clusters: dict[str, Cluster]) -> Iterator[list[tuple[Cluster, str]]]:
    """Namespaces deleted by tests; waited for once at the end (finalization takes ~5 s each, by design)."""
    deleted: list[tuple[Cluster, str]] = []
    yield deleted
    for handle, name in deleted:
        wait_for(_gone_probe(handle, name), timeout=180, what=f"namespace {name} deleted")


@pytest.fixture()
def fresh_namespace(
    clusters: dict[str, Cluster], namespaces_to_reap: list[tuple[Cluster, str]]
) -> Iterator[Callable[..., str]]:
    """Create namespaces on any cluster for one test; they are deleted afterwards (and reaped at session end)."""
    created: list[tuple[Cluster, str]] = []

    def make(cluster: str = "mgmt", prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        handle = clusters[cluster]
        name = handle.create_namespace(prefix, labels)
        created.append((handle, name))
        return name

    yield make
    for handle, name in created:
        handle.delete_namespace(name)
        namespaces_to_reap.append((handle, name))


def _gone_probe(handle: Cluster, name: str) -> Callable[[], bool]:
    return lambda: handle.namespace_gone(name)


@pytest.fixture(scope="session")
def crds(mgmt: Cluster) -> list[str]:
    """The generated CRDs applied to MGMT (server-side apply, so re-runs against reused clusters update them)."""
    from spinop.api.crdgen import repo_crd_dir

    mgmt.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(repo_crd_dir()))
    names = [f"{plural}.spinop.io" for plural in ("spinnakerclusters", "spinnakeraccounts", "spinnakerpipelines")]
    mgmt.kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    return names


CREDENTIALS_NAMESPACE = "devops"
OPERATOR_NAMESPACE = "spinop-system"


@pytest.fixture(scope="session")
def admin_kubeconfig_secrets(mgmt: Cluster, remotes: dict[str, Cluster], crds: list[str]) -> dict[str, str]:
    """For each remote cluster, the Secret a SpinnakerCluster references: a kubeconfig for spinop's identity there,
    installed from deploy/remote (its ClusterRole and admission policy), exactly as a platform admin would."""
    from tests.integration.objects import ensure_namespace
    from tests.integration.rbac_manifests import install_remote_identity, store_admin_kubeconfig

    ensure_namespace(mgmt, CREDENTIALS_NAMESPACE)
    ensure_namespace(mgmt, OPERATOR_NAMESPACE)
    return {
        name: store_admin_kubeconfig(
            mgmt,
            install_remote_identity(remote).kubeconfig,
            name=f"{name}-admin-kubeconfig",
            namespace=CREDENTIALS_NAMESPACE,
        )
        for name, remote in remotes.items()
    }


@pytest.fixture(scope="session")
def operator_kubeconfig(mgmt: Cluster, crds: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's own identity on MGMT with exactly the RBAC in deploy/base (plus the Halyard components):
    integration tests run the operator under it, not as cluster admin."""
    from tests.integration.rbac_manifests import install_operator_identity, write_kubeconfig

    identity = install_operator_identity(mgmt, components=["halyard-exec", "halyard-mounted-kubeconfigs"])
    return write_kubeconfig(identity.kubeconfig, tmp_path_factory.mktemp("operator-identity") / "kubeconfig")


@pytest.fixture(scope="module")
def start_operator(
    mgmt: Cluster,
    admin_kubeconfig_secrets: dict[str, str],
    operator_kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start the real operator (a `spinop run` process) with settings, under deploy/base's RBAC unless a test
    passes another kubeconfig; stopped and checked for tracebacks after."""
    from tests.integration.operator_process import OperatorProcess

    started: list[OperatorProcess] = []

    def start(
        settings: dict[str, object] | None = None,
        args: tuple[str, ...] = (),
        kubeconfig: Path | None = None,
        standalone: bool = True,
    ) -> OperatorProcess:
        merged: dict[str, object] = {
            "operator_namespace": OPERATOR_NAMESPACE,
            "credentials_namespace": CREDENTIALS_NAMESPACE,
            "spinnaker_backend": "none",
            "drift_interval_seconds": 300,
            "metrics": {"port": 0},
            **(settings or {}),
        }
        process = OperatorProcess(
            kubeconfig or operator_kubeconfig, tmp_path_factory.mktemp("operator"), merged, args, standalone
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    for process in started:
        process.assert_clean()
