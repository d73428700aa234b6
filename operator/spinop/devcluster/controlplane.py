"""Run several real Kubernetes control planes on loopback: one etcd, and per cluster a kube-apiserver and a
kube-controller-manager.

Each cluster has its own CA, serving certificate, service-account signing keys (so TokenRequest works), RBAC
authorization, an etcd key prefix of its own, and an admin kubeconfig (client certificate in `system:masters`).
State (pids, ports) is kept in `<root>/state.json` so `up` is idempotent and `down` can stop processes started by
an earlier command. No scheduler or kubelet runs: Pods are admitted but never scheduled.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spinop.devcluster import pki
from spinop.devcluster.build import Binaries, ensure_binaries, print_progress

Progress = Callable[[str], None]

DEFAULT_CLUSTERS = ("mgmt", "dev", "staging", "prod")
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = ",".join(
    [
        "garbage-collector-controller",
        "namespace-controller",
        "serviceaccount-controller",
        "serviceaccount-token-controller",
        "legacy-serviceaccount-token-cleaner-controller",
        "root-ca-certificate-publisher-controller",
        "resourcequota-controller",
        "clusterrole-aggregation-controller",
        "deployment-controller",
        "replicaset-controller",
    ]
)
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version"]
  - level: Metadata
"""
START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0


class ControlPlaneError(RuntimeError):
    """A control plane failed to start or stop; the message carries the cause and the log tail."""


@dataclass
class ClusterState:
    name: str
    port: int
    directory: str
    apiserver_pid: int = 0
    controller_manager_pid: int = 0
    max_token_expiration: str | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return Path(self.directory) / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return Path(self.directory) / "ca.crt"


@dataclass
class State:
    etcd_port: int = 0
    etcd_peer_port: int = 0
    etcd_pid: int = 0
    clusters: dict[str, ClusterState] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        clusters = {name: ClusterState(**c) for name, c in raw.pop("clusters", {}).items()}
        return cls(**raw, clusters=clusters)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_alive(pid: int) -> bool:
    """True for a running (not zombie) process."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: a test run that is killed takes its control planes with it.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlanes:
    """A set of named local clusters sharing one etcd, rooted in one directory."""

    def __init__(
        self,
        root: Path,
        binaries: Binaries | None = None,
        *,
        die_with_parent: bool = False,
        progress: Progress = print_progress,
    ) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._binaries = binaries
        self.die_with_parent = die_with_parent
        self.progress = progress
        self.state_file = self.root / "state.json"
        self.state = State.load(self.state_file)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = ensure_binaries(self.progress)
        return self._binaries

    # ----------------------------------------------------------------------------------------------- lifecycle

    def up(
        self, names: Iterable[str] = DEFAULT_CLUSTERS, *, token_limits: dict[str, str] | None = None
    ) -> dict[str, ClusterState]:
        """Start (or reuse) the named clusters; returns their state once every one is ready."""
        names = list(names)
        token_limits = token_limits or {}
        binaries = self.binaries
        self._ensure_etcd(binaries)
        starting: list[ClusterState] = []
        for name in names:
            cluster = self.state.clusters.get(name)
            if cluster is None:
                cluster = ClusterState(
                    name=name,
                    port=free_port(),
                    directory=str(self.root / name),
                    max_token_expiration=token_limits.get(name),
                )
                self.state.clusters[name] = cluster
            self._prepare_pki(cluster)
            if not (process_alive(cluster.apiserver_pid) and self._ready(cluster)):
                self._start_apiserver(cluster, binaries)
                starting.append(cluster)
        self.state.save(self.state_file)
        for cluster in starting:
            self._wait_apiserver(cluster)
        for name in names:
            cluster = self.state.clusters[name]
            if not process_alive(cluster.controller_manager_pid):
                self._start_controller_manager(cluster, binaries)
        self.state.save(self.state_file)
        for name in names:
            self._wait_controller_manager(self.state.clusters[name])
        self._write_merged_kubeconfig()
        self.progress(
            f"clusters ready: {', '.join(f'{n} ({self.state.clusters[n].server})' for n in names)}; "
            f"kubeconfig: {self.root / 'kubeconfig'}"
        )
        return {name: self.state.clusters[name] for name in names}

    def down(self) -> None:
        """Stop every process of this set; leaves certificates and etcd data for the next `up`."""
        pids: list[int] = []
        for cluster in self.state.clusters.values():
            pids += [cluster.controller_manager_pid, cluster.apiserver_pid]
            cluster.controller_manager_pid = cluster.apiserver_pid = 0
        pids.append(self.state.etcd_pid)
        self.state.etcd_pid = 0
        self._stop(pids)
        self.state.save(self.state_file)

    def stop_apiserver(self, name: str) -> None:
        """Stop one cluster's kube-apiserver (its controller-manager keeps retrying), for outage tests."""
        cluster = self.state.clusters[name]
        self._stop([cluster.apiserver_pid])
        cluster.apiserver_pid = 0
        self.state.save(self.state_file)

    def start_apiserver(self, name: str) -> None:
        """Start a stopped kube-apiserver again on the same port, so kubeconfigs stay valid."""
        cluster = self.state.clusters[name]
        if not process_alive(cluster.apiserver_pid):
            self._start_apiserver(cluster, self.binaries)
            self.state.save(self.state_file)
            self._wait_apiserver(cluster)

    def status(self) -> list[dict[str, Any]]:
        rows = [
            {
                "name": "etcd",
                "endpoint": f"http://127.0.0.1:{self.state.etcd_port}" if self.state.etcd_port else "-",
                "running": process_alive(self.state.etcd_pid),
            }
        ]
        for cluster in self.state.clusters.values():
            rows.append(
                {
                    "name": cluster.name,
                    "endpoint": cluster.server,
                    "running": process_alive(cluster.apiserver_pid) and self._ready(cluster),
                    "controller_manager": process_alive(cluster.controller_manager_pid),
                    "version": self.server_version(cluster) if process_alive(cluster.apiserver_pid) else "-",
                    "kubeconfig": str(cluster.kubeconfig),
                }
            )
        return rows

    def cluster(self, name: str) -> ClusterState:
        return self.state.clusters[name]

    # ------------------------------------------------------------------------------------------------ internals

    def _spawn(self, args: list[str], log: Path) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self._children[proc.pid] = proc
        return proc.pid

    def _stop(self, pids: list[int]) -> None:
        live = [p for p in pids if process_alive(p)]
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(self._reap(p) for p in live):
            time.sleep(0.1)
        for pid in live:
            if self._reap(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        for pid in live:
            proc = self._children.pop(pid, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=STOP_TIMEOUT)

    def _reap(self, pid: int) -> bool:
        """Collect an exited child of ours; True while the process still runs."""
        proc = self._children.get(pid)
        if proc is not None and proc.poll() is not None:
            return False
        return process_alive(pid)

    def _ensure_etcd(self, binaries: Binaries) -> None:
        if process_alive(self.state.etcd_pid) and self._etcd_healthy():
            return
        self.state.etcd_port = free_port()
        self.state.etcd_peer_port = free_port()
        client = f"http://127.0.0.1:{self.state.etcd_port}"
        peer = f"http://127.0.0.1:{self.state.etcd_peer_port}"
        self.progress(f"starting etcd {binaries.etcd_version} on {client}")
        self.state.etcd_pid = self._spawn(
            [
                str(binaries.etcd),
                "--name=spinop-dev",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=spinop-dev={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ],
            self.root / "logs" / "etcd.log",
        )
        self.state.save(self.state_file)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._etcd_healthy():
            if not process_alive(self.state.etcd_pid):
                raise ControlPlaneError(f"etcd exited while starting:\n{_log_tail(self.root / 'logs' / 'etcd.log')}")
            if time.monotonic() > deadline:
                raise ControlPlaneError("etcd did not become healthy in time")
            time.sleep(0.2)

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.state.etcd_port}/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _prepare_pki(self, cluster: ClusterState) -> None:
        directory = Path(cluster.directory)
        directory.mkdir(parents=True, exist_ok=True)
        ca = pki.ensure_ca(directory, f"spinop-dev-{cluster.name}-ca")
        pki.issue_cert(
            ca,
            directory,
            "apiserver",
            common_name="kube-apiserver",
            server_hosts=[
                "127.0.0.1",
                "localhost",
                "10.0.0.1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        )
        pki.issue_cert(ca, directory, "admin", common_name="spinop-admin", organization="system:masters", client=True)
        pki.ensure_service_account_keys(directory)
        self._write_admin_kubeconfig(cluster)

    def _write_admin_kubeconfig(self, cluster: ClusterState) -> None:
        directory = Path(cluster.directory)
        config = kubeconfig_dict(
            cluster.name,
            cluster.server,
            ca_pem=(directory / "ca.crt").read_text(),
            user={
                "client-certificate-data": base64.b64encode((directory / "admin.crt").read_bytes()).decode(),
                "client-key-data": base64.b64encode((directory / "admin.key").read_bytes()).decode(),
            },
        )
        cluster.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        cluster.kubeconfig.chmod(0o600)

    def _write_merged_kubeconfig(self) -> None:
        merged: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [],
            "users": [],
            "contexts": [],
        }
        for cluster in self.state.clusters.values():
            single = yaml.safe_load(cluster.kubeconfig.read_text())
            for key in ("clusters", "users", "contexts"):
                merged[key] += single[key]
        merged["current-context"] = "mgmt" if "mgmt" in self.state.clusters else next(iter(self.state.clusters))
        path = self.root / "kubeconfig"
        path.write_text(yaml.safe_dump(merged, sort_keys=False))
        path.chmod(0o600)

    def _start_apiserver(self, cluster: ClusterState, binaries: Binaries) -> None:
        directory = Path(cluster.directory)
        if not _port_free(cluster.port):
            raise ControlPlaneError(
                f"port {cluster.port} for cluster {cluster.name!r} is busy (another process listens on it). "
                f"Stop that process or remove {self.state_file} to pick new ports."
            )
        args = [
            str(binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
            f"--etcd-prefix=/spinop-dev/{cluster.name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={cluster.port}",
            f"--tls-cert-file={directory / 'apiserver.crt'}",
            f"--tls-private-key-file={directory / 'apiserver.key'}",
            f"--client-ca-file={directory / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={directory / 'sa.pub'}",
            f"--service-account-signing-key-file={directory / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--event-ttl=1h",
        ]
        if cluster.max_token_expiration:
            args.append(f"--service-account-max-token-expiration={cluster.max_token_expiration}")
        # Every request is recorded (metadata only: who, verb, resource, status), so benchmarks and debugging can
        # count what a client really sent; rotated to stay small.
        policy = directory / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        args += [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={directory / 'logs' / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-maxsize=100",
            "--audit-log-maxbackup=3",
        ]
        self.progress(f"starting kube-apiserver {binaries.kubernetes_version} for {cluster.name} on {cluster.server}")
        cluster.apiserver_pid = self._spawn(args, directory / "logs" / "kube-apiserver.log")

    def _wait_apiserver(self, cluster: ClusterState) -> None:
        log = Path(cluster.directory) / "logs" / "kube-apiserver.log"
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready(cluster):
            if not process_alive(cluster.apiserver_pid):
                tail = _log_tail(log)
                hint = ""
                if "address already in use" in tail:
                    hint = f"\nport {cluster.port} is busy: stop what listens there or remove {self.state_file}."
                raise ControlPlaneError(f"kube-apiserver for {cluster.name} exited while starting:\n{tail}{hint}")
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"kube-apiserver for {cluster.name} was not ready after {START_TIMEOUT:.0f}s:\n{_log_tail(log)}"
                )
            time.sleep(0.5)

    def _start_controller_manager(self, cluster: ClusterState, binaries: Binaries) -> None:
        directory = Path(cluster.directory)
        cluster.controller_manager_pid = self._spawn(
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={cluster.kubeconfig}",
                "--leader-elect=false",
                f"--controllers={CONTROLLERS}",
                f"--service-account-private-key-file={directory / 'sa.key'}",
                f"--root-ca-file={directory / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--secure-port=0",
                "--concurrent-gc-syncs=5",
                "--concurrent-namespace-syncs=5",
            ],
            directory / "logs" / "kube-controller-manager.log",
        )

    def _wait_controller_manager(self, cluster: ClusterState) -> None:
        """Ready once its serviceaccount controller has created `default/default`."""
        log = Path(cluster.directory) / "logs" / "kube-controller-manager.log"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            status, _ = self.request(cluster, "/api/v1/namespaces/default/serviceaccounts/default")
            if status == 200:
                return
            if not process_alive(cluster.controller_manager_pid):
                raise ControlPlaneError(
                    f"kube-controller-manager for {cluster.name} exited while starting:\n{_log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"kube-controller-manager for {cluster.name} did not create the default ServiceAccount "
                    f"in time:\n{_log_tail(log)}"
                )
            time.sleep(0.5)

    def _ssl_context(self, cluster: ClusterState) -> ssl.SSLContext:
        directory = Path(cluster.directory)
        context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
        context.load_cert_chain(str(directory / "admin.crt"), str(directory / "admin.key"))
        return context

    def request(self, cluster: ClusterState, path: str) -> tuple[int, bytes]:
        """A GET as the cluster admin; (0, b"") when the server cannot be reached."""
        try:
            with urllib.request.urlopen(  # noqa: S310
                cluster.server + path, context=self._ssl_context(cluster), timeout=5
            ) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()
        except (OSError, ssl.SSLError):
            return 0, b""

    def _ready(self, cluster: ClusterState) -> bool:
        status, body = self.request(cluster, "/readyz")
        return status == 200 and body.strip() == b"ok"

    def server_version(self, cluster: ClusterState) -> str:
        status, body = self.request(cluster, "/version")
        return str(json.loads(body).get("gitVersion", "?")) if status == 200 else "-"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kubeconfig_dict(name: str, server: str, *, ca_pem: str, user: dict[str, str]) -> dict[str, Any]:
    """A single-context kubeconfig; `user` is the kubeconfig user entry (token, or client cert data)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
