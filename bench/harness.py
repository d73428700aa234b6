"""The benchmark environment: real control planes (with audit logs), the Halyard stand-in, the real operator.

Measures, for a burst of N SpinnakerAccounts spread over dev/staging/prod: time until all Ready, Halyard deploys,
API requests per account by verb (from the apiservers' audit logs, by caller), operator CPU seconds and peak RSS;
then the steady state (requests and CPU while nothing changes), single-account latency, and the seed's procedure
(per account: namespace, SA, Role, RoleBinding, token Secret, `hal … account add`, `hal deploy apply`) on the same
clusters and stand-in, for the side-by-side ratio.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException
from tests.integration import objects
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import (
    install_operator_identity,
    install_remote_identity,
    store_admin_kubeconfig,
    write_kubeconfig,
)
from tests.integration.spinnaker.standins import HalyardStandinProcess

from bench.audit import Counts, count_since, mark
from spinop.devcluster.controlplane import DEFAULT_CLUSTERS, ControlPlanes
from spinop.devcluster.paths import project_root
from spinop.remote.profiles import Profile, rules_for

REMOTES = ("dev", "staging", "prod")
OPERATOR_USER = "system:serviceaccount:spinop-system:"
CREDENTIALS_NAMESPACE = "devops"
VERIFY_INTERVAL_SECONDS = 3600.0  # the operator's default verify_interval_seconds, set explicitly to be on record
# What the image sets (Dockerfile), so the bench measures the operator as production runs it: at most two glibc malloc
# arenas for the worker threads (bench/README.md, "Where the memory goes").
OPERATOR_ENV: dict[str, str | None] = {"MALLOC_ARENA_MAX": "2"}


logging.getLogger("spinop.halyard").setLevel(logging.ERROR)  # the seed procedure's Halyard warnings are expected


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100.0


def _proc_memory_mib(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Vm")}
    return int(values["VmRSS"]) / 1024, int(values["VmHWM"]) / 1024


@dataclass
class Env:
    root: Path
    planes: ControlPlanes
    clusters: dict[str, Cluster]
    standin: HalyardStandinProcess
    operator: OperatorProcess
    admin_secrets: dict[str, str] = field(default_factory=dict)
    owns_planes: bool = True  # False when the control planes were lent (the test run's): they stay up after

    @property
    def mgmt(self) -> Cluster:
        return self.clusters["mgmt"]

    def audit_logs(self) -> list[Path]:
        return [Path(self.planes.cluster(n).directory) / "logs" / "audit.log" for n in DEFAULT_CLUSTERS]

    def callers(self) -> dict[tuple[str, str], str]:
        mgmt_log, *remote_logs = (str(p) for p in self.audit_logs())
        who = {(mgmt_log, OPERATOR_USER + "spinop"): "operator on MGMT"}
        for log in remote_logs:
            who[(log, OPERATOR_USER + "spinop")] = "operator on remote clusters"
            who[(log, "system:serviceaccount:")] = "account tokens (proof of least privilege)"
        return who


def start_env(
    root: Path,
    *,
    deploy_seconds: float,
    drift_interval: float,
    operator_module: str = "spinop.cli",
    operator_env: dict[str, str | None] | None = None,
    operator_start_timeout: float = 60,
    planes: ControlPlanes | None = None,
    watch_namespaces: Sequence[str] = (),
    quiet_seconds: float = 10,
) -> Env:
    """The clusters, the Halyard stand-in and the operator. Control planes of its own unless `planes` lends running
    ones (the smoke test lends the test run's); then `watch_namespaces` keeps the operator to the bench's tenants,
    as objects other tests left in MGMT are none of its business. `quiet_seconds` is Halyard's batching window: the
    bench measures with 10 s, the smoke test, which asserts counts and not times, with less."""
    root.mkdir(parents=True, exist_ok=True)
    owns_planes = planes is None
    if planes is None:
        planes = ControlPlanes(root / "clusters", die_with_parent=True)
        planes.up(DEFAULT_CLUSTERS)
    kubectl = planes.binaries.kubectl
    clusters = {
        name: Cluster(name, state.server, state.kubeconfig, state.ca_file, kubectl)
        for name, state in planes.state.clusters.items()
    }
    mgmt = clusters["mgmt"]
    mgmt.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(project_root() / "crds"))
    mgmt.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/spinnakeraccounts.spinop.io")
    for ns in (CREDENTIALS_NAMESPACE, "spinop-system", "spinnaker"):
        objects.ensure_namespace(mgmt, ns)
    admin = {
        env: store_admin_kubeconfig(mgmt, install_remote_identity(clusters[env]).kubeconfig, name=f"{env}-admin")
        for env in REMOTES
    }
    identity = install_operator_identity(mgmt, components=["halyard-exec"])
    kubeconfig = write_kubeconfig(identity.kubeconfig, root / "operator.kubeconfig")

    standin = HalyardStandinProcess.start(root / "halyard", mgmt.kubeconfig, deploy_seconds)
    operator = OperatorProcess(
        kubeconfig,
        root / "operator",
        {
            "operator_namespace": "spinop-system",
            "credentials_namespace": CREDENTIALS_NAMESPACE,
            "spinnaker_backend": "halyard",
            "drift_interval_seconds": drift_interval,
            "verify_interval_seconds": VERIFY_INTERVAL_SECONDS,
            "metrics": {"port": 0},
            "reconcile_concurrency": 8,
            "halyard": {
                "url": standin.daemon_url,
                "transport": "rest",
                "kubeconfig_delivery": "exec",
                "exec_server": standin.kube_url,
                "pod_namespace": standin.namespace,
                "pod_name": standin.pod,
                "quiet_seconds": quiet_seconds,
                "max_wait_seconds": 60,
            },
        },
        verbose=False,  # DEBUG logs (whole bodies) would dominate disk and CPU at 1,000 accounts
        module=operator_module,
        env=OPERATOR_ENV | (operator_env or {}),
        start_timeout=operator_start_timeout,
        args=tuple(arg for namespace in watch_namespaces for arg in ("--namespace", namespace)),
    )
    env = Env(root, planes, clusters, standin, operator, admin, owns_planes)
    try:
        operator.start()
    except BaseException:  # leave no operator or stand-in behind (they run in sessions of their own)
        operator.kill()
        stop_env(env)
        raise
    return env


def stop_env(env: Env) -> None:
    env.operator.stop()
    env.standin.stop()
    if env.owns_planes:
        env.planes.down()


# ---------------------------------------------------------------------------------------------------- measuring


@dataclass
class ScaleResult:
    accounts: int
    seconds_to_ready: float
    deploys: int
    halyard_config_writes: int  # halconfig saves by Halyard config tasks during the burst (target: <= 2)
    requests: dict[str, dict[str, int]]
    writes_per_account: dict[str, float]
    reviews_per_account: dict[str, float]
    top_requests: dict[str, list[tuple[str, int]]]
    operator_cpu_seconds: float
    operator_rss_mib: float
    operator_peak_rss_mib: float
    seconds_to_verified: float = 0.0  # until every account is PermissionsVerified (all but Spinnaker)
    floor_seconds: float = 0.0  # the raw writes one account needs, for all N, by a tight client (run_floor)
    ratio_to_floor: float = 0.0  # seconds_to_verified / floor_seconds: the operator's own overhead
    deletion_seconds: float = 0.0
    deletion_deploys: int = 0


def poll_interval(n: int) -> float:
    """Seconds between the harness's own listings of N accounts: each lists them all (about 3 KiB each, on the
    2 CPUs the operator and the apiservers share), so at 3,000 every 6 s rather than every 2 s."""
    return max(2.0, n / 500)


def wait_limit(n: int) -> float:
    """How long a burst or a deletion of N accounts may take before the harness gives up: an hour per 1,000."""
    return 3600 * max(1.0, n / 1000)


def _true_counts(mgmt: Cluster, namespaces: list[str], types: tuple[str, ...]) -> dict[str, int]:
    """How many accounts in `namespaces` have each condition type True."""
    counts = dict.fromkeys(types, 0)
    for ns in namespaces:
        listed = mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", ns, "spinnakeraccounts")["items"]
        for type_ in types:
            counts[type_] += sum(1 for a in listed if (objects.condition(a, type_) or {}).get("status") == "True")
    return counts


def run_scale(env: Env, n: int, *, label: str) -> ScaleResult:
    mgmt = env.mgmt
    tenants = tenant_namespaces(label, n)
    for tenant in tenants:
        objects.ensure_namespace(mgmt, tenant, objects.TENANT_LABEL)
    clusters = {}
    for remote in REMOTES:
        name = f"{remote}-{label}"
        clusters[remote] = name
        objects.create(
            mgmt,
            objects.spinnaker_cluster(
                name, env.admin_secrets[remote], remote, tenancy={"namespacePattern": "{tenant}-{environment}-*"}
            ),
        )
    specs = []
    for i in range(n):
        tenant = tenants[i % len(tenants)]
        remote = REMOTES[i % 3]
        specs.append(objects.spinnaker_account(tenant, f"a{i:04d}", clusters[remote], f"{tenant}-{remote}-{i:04d}"))

    deploys_before = len(env.standin.deploys())
    writes_before = env.standin.config_writes()
    since = mark(env.audit_logs())
    cpu_before = _proc_cpu_seconds(env.operator.proc.pid)  # type: ignore[union-attr]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: objects.create(mgmt, body), specs))
    say(f"{label}: created {n} SpinnakerAccounts in {time.monotonic() - started:.1f}s; waiting for Ready")
    last = -1
    verified_at: float | None = None
    while True:
        true = _true_counts(mgmt, tenants, ("PermissionsVerified", "Ready"))
        ready = true["Ready"]
        if verified_at is None and true["PermissionsVerified"] == n:
            verified_at = time.monotonic() - started
            say(f"{label}: all {n} PermissionsVerified after {verified_at:.0f}s")
        if ready != last:
            say(f"{label}: {ready}/{n} Ready after {time.monotonic() - started:.0f}s")
            last = ready
        if ready == n:
            break
        if time.monotonic() - started > wait_limit(n):
            raise RuntimeError(f"{label}: only {ready}/{n} accounts Ready after {wait_limit(n):.0f}s")
        time.sleep(poll_interval(n))
    seconds = time.monotonic() - started
    time.sleep(3)  # let the last status writes land in the audit log before counting
    counts = count_since(since, env.callers())
    cpu = _proc_cpu_seconds(env.operator.proc.pid) - cpu_before  # type: ignore[union-attr]
    rss, peak = _proc_memory_mib(env.operator.proc.pid)  # type: ignore[union-attr]
    result = ScaleResult(
        accounts=n,
        seconds_to_ready=round(seconds, 1),
        seconds_to_verified=round(verified_at if verified_at is not None else seconds, 1),
        deploys=len(env.standin.deploys()) - deploys_before,
        halyard_config_writes=env.standin.config_writes() - writes_before,
        requests={group: dict(c.by_verb) for group, c in counts.items()},
        writes_per_account={group: round(c.writes / n, 2) for group, c in counts.items()},
        reviews_per_account={group: round(c.reviews / n, 2) for group, c in counts.items()},
        top_requests={group: c.by_resource.most_common(12) for group, c in counts.items()},
        operator_cpu_seconds=round(cpu, 1),
        operator_rss_mib=round(rss, 1),
        operator_peak_rss_mib=round(peak, 1),
    )
    return result


def tenant_namespaces(label: str, n: int) -> list[str]:
    return [f"{label}-t{i}" for i in range(max(1, (n + 49) // 50))]


def delete_accounts(env: Env, label: str, result: ScaleResult) -> None:
    mgmt = env.mgmt
    tenants = tenant_namespaces(label, result.accounts)
    deploys_before = len(env.standin.deploys())
    started = time.monotonic()
    for tenant in tenants:
        mgmt.custom.delete_collection_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")
    wait_for(
        lambda: all(
            not mgmt.custom.list_namespaced_custom_object("spinop.io", "v1alpha1", t, "spinnakeraccounts")["items"]
            for t in tenants
        ),
        timeout=wait_limit(result.accounts),
        interval=poll_interval(result.accounts),
        what=f"{label}: every account deleted",
    )
    result.deletion_seconds = round(time.monotonic() - started, 1)
    result.deletion_deploys = len(env.standin.deploys()) - deploys_before
    for remote in REMOTES:
        objects.delete(mgmt, "SpinnakerCluster", f"{remote}-{label}")


def clean_up_failed_size(env: Env, label: str, n: int) -> None:
    """After a size failed: delete what it made (its accounts, then its clusters), so the next phases start from
    the same state; gives up quietly after the usual limit, the next size's names are its own anyway."""
    try:
        delete_accounts(env, label, ScaleResult(n, 0.0, 0, 0, {}, {}, {}, {}, 0.0, 0.0, 0.0))
    except Exception as err:  # best effort: the run goes on with its next phase
        say(f"{label}: clean-up after the failure failed too: {err}")


@dataclass
class SteadyResult:
    accounts: int
    window_seconds: float
    drift_interval_seconds: float
    writes_per_hour: dict[str, float]
    reads_per_hour: dict[str, float]
    reviews_per_hour: dict[str, float]
    operator_cpu_seconds_per_hour: float
    requests_per_account_hour: float  # every caller (operator on MGMT and remotes, account tokens), watches excluded


def run_steady(env: Env, n: int, window: float, drift_interval: float) -> SteadyResult:
    since = mark(env.audit_logs())
    cpu_before = _proc_cpu_seconds(env.operator.proc.pid)  # type: ignore[union-attr]
    say(f"steady state: watching {n} Ready accounts for {window:.0f}s")
    time.sleep(window)
    counts: dict[str, Counts] = count_since(since, env.callers())
    cpu = _proc_cpu_seconds(env.operator.proc.pid) - cpu_before  # type: ignore[union-attr]
    scale = 3600 / window
    return SteadyResult(
        accounts=n,
        window_seconds=window,
        drift_interval_seconds=drift_interval,
        writes_per_hour={g: round(c.writes * scale) for g, c in counts.items()},
        reads_per_hour={g: round(c.reads * scale) for g, c in counts.items()},
        reviews_per_hour={g: round(c.reviews * scale) for g, c in counts.items()},
        operator_cpu_seconds_per_hour=round(cpu * scale, 1),
        requests_per_account_hour=round(sum(c.requests_excluding_watches for c in counts.values()) * scale / n, 2),
    )


@dataclass
class FullPassResult:
    """What proving every account again costs: the pass each account makes once per `verify_interval_seconds` (and
    after a restart, as the proof is remembered in memory only), which a steady window shorter than that interval
    does not contain."""

    accounts: int
    seconds: float  # from the operator's restart until every account has been proven again
    requests_per_account: float  # every caller, watches excluded, in that time (per-cluster probes and kopf's first
    # listing included, so an upper bound)
    requests_by_caller: dict[str, int]
    token_reviews_per_account: float


def run_full_pass(env: Env, n: int, *, timeout: float = 1800) -> FullPassResult:
    """Restart the operator and count the requests until each of the n Ready accounts was proven again: each proof
    makes two SelfSubjectRulesReviews with the account's own token (remote/verify.py), so 2n of them mark the end."""
    tokens = "account tokens (proof of least privilege)"
    say(f"full pass: restarting the operator; every one of {n} accounts reads and proves once")
    since = mark(env.audit_logs())
    started = time.monotonic()
    env.operator.restart()
    while True:
        counts = count_since(since, env.callers())
        if counts[tokens].reviews >= 2 * n:
            break
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"full pass: {counts[tokens].reviews // 2}/{n} accounts proven after {timeout:.0f}s")
        time.sleep(2)
    seconds = time.monotonic() - started
    time.sleep(3)  # the last status reads and the dry runs of the last proofs
    counts = count_since(since, env.callers())
    by_caller = {group: c.requests_excluding_watches for group, c in counts.items()}
    say(f"full pass: {n} accounts proven again {seconds:.0f}s after the restart, {sum(by_caller.values())} requests")
    return FullPassResult(
        accounts=n,
        seconds=round(seconds, 1),
        requests_per_account=round(sum(by_caller.values()) / n, 2),
        requests_by_caller=by_caller,
        token_reviews_per_account=round(counts[tokens].reviews / n, 2),
    )


def run_latency(env: Env, samples: int) -> dict[str, float]:
    """apply → PermissionsVerified (everything but the Halyard deploy) for single accounts on a warm operator."""
    mgmt = env.mgmt
    tenant = "latency-t0"
    objects.ensure_namespace(mgmt, tenant, objects.TENANT_LABEL)
    name = "dev-latency"
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            name, env.admin_secrets["dev"], "dev", tenancy={"namespacePattern": "{tenant}-{environment}-*"}
        ),
    )
    times = []
    for i in range(samples):
        started = time.monotonic()
        objects.create(mgmt, objects.spinnaker_account(tenant, f"l{i:03d}", name, f"{tenant}-dev-{i:03d}"))
        objects.wait_condition(mgmt, "SpinnakerAccount", f"l{i:03d}", tenant, "PermissionsVerified", timeout=120)
        times.append(time.monotonic() - started)
    mgmt.custom.delete_collection_namespaced_custom_object("spinop.io", "v1alpha1", tenant, "spinnakeraccounts")
    times.sort()
    return {
        "samples": samples,
        "p50_seconds": round(statistics.median(times), 2),
        "p90_seconds": round(times[int(len(times) * 0.9) - 1], 2),
        "max_seconds": round(times[-1], 2),
    }


FLOOR_CONCURRENCY = 8  # the operator's reconcile_concurrency in this harness: the same parallelism


def run_floor(env: Env, n: int, *, label: str, workers: int = FLOOR_CONCURRENCY) -> float:
    """The floor: exactly the writes one account needs, for N accounts, by a tight client with the operator's
    parallelism and no checks (remote: Namespace, ServiceAccount, Role, RoleBinding, TokenRequest; MGMT: the
    credentials Secret). Seconds until all are done. The MGMT Secrets are removed afterwards; the remote namespaces
    stay until the bench's clusters go (deleting them would finalize namespaces during the next measurement)."""
    namespaces = [f"{label}-floor-{i:04d}" for i in range(n)]

    def one(i: int) -> None:
        remote = env.clusters[REMOTES[i % 3]]
        ns = namespaces[i]
        remote.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        remote.core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="a")))
        remote.rbac.create_namespaced_role(
            ns, {"metadata": {"name": "a"}, "rules": [r.to_k8s() for r in rules_for(Profile.DEPLOYER, ns)]}
        )
        remote.rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": "a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"},
                "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": ns}],
            },
        )
        token = remote.core.create_namespaced_service_account_token(
            "a", ns, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
        )
        env.mgmt.core.create_namespaced_secret(
            CREDENTIALS_NAMESPACE,
            k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=ns), string_data={"kubeconfig": token.status.token}),
        )

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    seconds = time.monotonic() - started
    for ns in namespaces:
        env.mgmt.core.delete_namespaced_secret(ns, CREDENTIALS_NAMESPACE)
    say(f"{label}: floor for {n} accounts: {seconds:.1f}s")
    return round(seconds, 1)


def run_seed_baseline(env: Env, n: int) -> dict[str, float]:
    """The seed's procedure (Terraform module + Halyard Job), per account, sequentially, on the same clusters."""
    import asyncio

    from spinop.halyard import HalyardClient

    async def register(name: str, namespace: str, kubeconfig_path: str) -> None:
        client = HalyardClient.rest(env.standin.daemon_url)
        try:
            provider = await client.get_provider()
            if not provider.get("enabled"):
                await client.set_provider_enabled(True)
            await client.add_account(
                {
                    "name": name,
                    "providerVersion": "V2",
                    "namespaces": [namespace],
                    "context": name,
                    "kubeconfigFile": kubeconfig_path,
                }
            )
            await client.deploy([])  # `hal deploy apply`: every service, as the seed's Job ran it
        finally:
            await client.close()

    started = time.monotonic()
    remote_seconds = 0.0
    for i in range(n):
        remote = env.clusters[REMOTES[i % 3]]
        ns = f"seed{n}-{REMOTES[i % 3]}-{i:04d}"  # each size its own namespaces: a run measures several sizes
        t0 = time.monotonic()
        core, rbac = remote.core, remote.rbac
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="spinnaker")))
        rbac.create_namespaced_role(
            ns, {"metadata": {"name": "spinnaker"}, "rules": [r.to_k8s() for r in rules_for(Profile.DEPLOYER, ns)]}
        )
        rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": "spinnaker"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "spinnaker"},
                "subjects": [{"kind": "ServiceAccount", "name": "spinnaker", "namespace": ns}],
            },
        )
        core.create_namespaced_secret(
            ns,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(
                    name="spinnaker-token", annotations={"kubernetes.io/service-account.name": "spinnaker"}
                ),
                type="kubernetes.io/service-account-token",
            ),
        )

        def filled(remote: Cluster = remote, ns: str = ns) -> bool:
            try:
                return bool((remote.core.read_namespaced_secret("spinnaker-token", ns).data or {}).get("token"))
            except ApiException:
                return False

        wait_for(filled, timeout=60, interval=0.2, what="token filled")
        remote_seconds += time.monotonic() - t0
        path = f"/home/spinnaker/.hal/seed/{ns}.yaml"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": ns,
            "clusters": [{"name": ns, "cluster": {"server": remote.server}}],
            "users": [{"name": ns, "user": {"token": "seed"}}],
            "contexts": [{"name": ns, "context": {"cluster": ns, "user": ns}}],
        }
        _put_pod_file(env.standin, path, json.dumps(kubeconfig))
        asyncio.run(register(f"seed{n}-{i:04d}", ns, path))
    total = time.monotonic() - started
    return {
        "accounts": n,
        "seconds": round(total, 1),
        "remote_seconds": round(remote_seconds, 1),
        "seconds_per_account": round(total / n, 2),
        "deploys": n,
    }


def _put_pod_file(standin: HalyardStandinProcess, path: str, content: str) -> None:
    standin.control("PUT", f"/_standin/pod-file?path={path}", content, raw=True)
