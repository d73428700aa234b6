"""Build kube-apiserver, kube-controller-manager, kubectl and etcd from the Go modules pinned in tools/controlplane,
and the kstatus verdict printer from tools/kstatus.

The binaries are build outputs under `.build/bin/` (git-ignored). They are rebuilt only when missing or when the
pinned module files change; a stamp file records the hash of go.mod + go.sum they were built from.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from spinop.devcluster.paths import build_dir, project_root

Progress = Callable[[str], None]

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")
HEARTBEAT_SECONDS = 15.0


class BuildError(RuntimeError):
    """A build step failed; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    etcd: Path
    kubernetes_version: str
    etcd_version: str


def print_progress(message: str) -> None:
    print(f"[spinop] {message}", file=sys.stderr, flush=True)


def _module_dir(name: str) -> Path:
    return project_root() / "tools" / "controlplane" / name


def pinned_version(module_dir: Path, module: str) -> str:
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise BuildError(f"{module_dir / 'go.mod'} does not require {module}")
    return match.group(1)


def _stamp(module_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module_dir / name).read_bytes())
    return digest.hexdigest()


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go is not installed or not on PATH. spinop builds its local Kubernetes control planes from the "
            "upstream Go modules: install Go (the version in tools/controlplane/kubernetes/go.mod or newer) "
            "and run the command again."
        )
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env["CGO_ENABLED"] = "0"
    return env


def _run_go(args: list[str], cwd: Path, label: str, progress: Progress, total: int | None = None) -> None:
    """Run a go command, printing a heartbeat (with packages compiled so far when `-v` is used)."""
    started = time.monotonic()
    compiled = 0
    tail: list[str] = []
    proc = subprocess.Popen(
        [_go(), *args], cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            elapsed = int(time.monotonic() - started)
            counted = f", {compiled}/~{total} packages compiled" if total else ""
            progress(f"{label}: still working ({elapsed // 60}m{elapsed % 60:02d}s{counted})")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line and not line.startswith(("#", "go:")) and " " not in line:
            compiled += 1
        tail = [*tail[-39:], line]
    code = proc.wait()
    done.set()
    if code != 0:
        joined = "\n".join(tail)
        hint = ""
        if any(s in joined for s in ("dial tcp", "no such host", "connection refused", "i/o timeout", "proxy")):
            hint = (
                "\nThe Go module proxy could not be reached (GOPROXY="
                f"{os.environ.get('GOPROXY', 'default')}). The first build downloads Kubernetes' modules; "
                "check the network or GOPROXY and run again."
            )
        raise BuildError(f"{label} failed (exit {code}):\n{joined}{hint}")
    elapsed = time.monotonic() - started
    progress(f"{label}: done in {elapsed:.0f}s")


def _count_deps(module_dir: Path, packages: list[str]) -> int | None:
    try:
        out = subprocess.run(
            [_go(), "list", "-deps", *packages],
            cwd=module_dir,
            env=_go_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    return len(out.split())


def _build_module(
    name: str,
    packages: dict[str, str],
    version: str,
    ldflags: str,
    out_dir: Path,
    progress: Progress,
    module_dir: Path | None = None,
) -> None:
    module_dir = module_dir or _module_dir(name)
    stamp_file = out_dir / ".stamp"
    wanted = _stamp(module_dir)
    if _built(stamp_file, wanted, out_dir, packages):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir.parent / f".{out_dir.name}.lock"):
        # Parallel test workers may all find the binary missing: one builds, the others wait and find it built.
        if not _built(stamp_file, wanted, out_dir, packages):
            _go_build(name, packages, version, ldflags, out_dir, progress, module_dir)
            stamp_file.write_text(wanted)


def _built(stamp_file: Path, wanted: str, out_dir: Path, packages: dict[str, str]) -> bool:
    return stamp_file.exists() and stamp_file.read_text() == wanted and all((out_dir / b).exists() for b in packages)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_build(
    name: str,
    packages: dict[str, str],
    version: str,
    ldflags: str,
    out_dir: Path,
    progress: Progress,
    module_dir: Path,
) -> None:
    progress(f"{name} {version}: downloading modules (first time only; from the Go module proxy)")
    _run_go(["mod", "download"], module_dir, f"{name} module download", progress)
    for binary, package in packages.items():
        total = _count_deps(module_dir, [package])
        progress(f"{name} {version}: building {binary} (a cold build takes a few minutes on 2 cores)")
        _run_go(
            ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(out_dir / binary), package],
            module_dir,
            f"build {binary}",
            progress,
            total,
        )


def ensure_binaries(progress: Progress = print_progress) -> Binaries:
    """Return the control-plane binaries, building whatever is missing or out of date."""
    k8s_dir = _module_dir("kubernetes")
    etcd_dir = _module_dir("etcd")
    k8s_version = pinned_version(k8s_dir, "k8s.io/kubernetes")
    etcd_version = pinned_version(etcd_dir, "go.etcd.io/etcd/server/v3")
    k8s_out = build_dir() / "bin" / f"kubernetes-{k8s_version}"
    etcd_out = build_dir() / "bin" / f"etcd-{etcd_version}"

    major, minor = k8s_version.lstrip("v").split(".")[:2]
    stamp_pkg = "k8s.io/component-base/version"
    k8s_ldflags = " ".join(
        [
            "-s -w",
            f"-X {stamp_pkg}.gitVersion={k8s_version}",
            f"-X {stamp_pkg}.gitMajor={major}",
            f"-X {stamp_pkg}.gitMinor={minor}",
            f"-X {stamp_pkg}.gitTreeState=clean",
            # The client-go copy of the version package is what kubectl reports as its own version.
            f"-X k8s.io/client-go/pkg/version.gitVersion={k8s_version}",
            f"-X k8s.io/client-go/pkg/version.gitMajor={major}",
            f"-X k8s.io/client-go/pkg/version.gitMinor={minor}",
        ]
    )
    _build_module(
        "kubernetes",
        {cmd: f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBERNETES_COMMANDS},
        k8s_version,
        k8s_ldflags,
        k8s_out,
        progress,
    )
    _build_module(
        "etcd",
        {"etcd": "go.etcd.io/etcd/server/v3"},
        etcd_version,
        f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={etcd_version}",
        etcd_out,
        progress,
    )
    return Binaries(
        kube_apiserver=k8s_out / "kube-apiserver",
        kube_controller_manager=k8s_out / "kube-controller-manager",
        kubectl=k8s_out / "kubectl",
        etcd=etcd_out / "etcd",
        kubernetes_version=k8s_version,
        etcd_version=etcd_version,
    )


KSTATUS_MODULE = "sigs.k8s.io/cli-utils"


def ensure_kstatus(progress: Progress = print_progress) -> Path:
    """The `kstatus` verdict printer of tools/kstatus (sigs.k8s.io/cli-utils' status.Compute, what Flux reads),
    built from its pinned Go module like the control planes."""
    module_dir = project_root() / "tools" / "kstatus"
    version = pinned_version(module_dir, KSTATUS_MODULE)
    source = hashlib.sha256((module_dir / "main.go").read_bytes()).hexdigest()[:12]
    out_dir = build_dir() / "bin" / f"kstatus-{version}-{source}"
    _build_module("kstatus", {"kstatus": "."}, version, "-s -w", out_dir, progress, module_dir=module_dir)
    return out_dir / "kstatus"


HELM_MODULE = "helm.sh/helm/v4"


def ensure_helm(progress: Progress = print_progress) -> Path:
    """The real `helm` command, built from the helm.sh/helm/v4 module pinned in tools/helm (renders and installs
    deploy/helm/spinop in the tests), cached like the control planes."""
    module_dir = project_root() / "tools" / "helm"
    version = pinned_version(module_dir, HELM_MODULE)
    out_dir = build_dir() / "bin" / f"helm-{version}"
    # The version helm reports (`helm version`, .Capabilities.HelmVersion), stamped as upstream's Makefile does.
    stamp = f"{HELM_MODULE}/internal/version"
    ldflags = f"-s -w -X {stamp}.version={version} -X {stamp}.gitTreeState=clean"
    _build_module(
        "helm", {"helm": f"{HELM_MODULE}/cmd/helm"}, version, ldflags, out_dir, progress, module_dir=module_dir
    )
    return out_dir / "helm"
