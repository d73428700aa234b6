"""`spinop demo`: the README's main command.

Builds and starts local control planes (MGMT + dev/staging/prod), runs the operator against MGMT, and stops
everything on Ctrl-C, leaving no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from spinop.devcluster.build import ensure_binaries
from spinop.devcluster.controlplane import DEFAULT_CLUSTERS, ControlPlanes
from spinop.devcluster.paths import build_dir


def say(message: str) -> None:
    print(f"[spinop demo] {message}", flush=True)


def run_demo(root: Path | None = None, *, duration: float | None = None) -> int:
    """Run until Ctrl-C (or `duration` seconds, for tests); returns the exit code."""
    root = root or build_dir() / "clusters" / "demo"
    binaries = ensure_binaries()
    planes = ControlPlanes(root, binaries, die_with_parent=True)
    operator: subprocess.Popen[bytes] | None = None
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        clusters = planes.up(DEFAULT_CLUSTERS)
        mgmt = clusters["mgmt"]
        say("control planes:")
        for name, state in clusters.items():
            say(f"  {name:8} {state.server}  ({planes.server_version(state)})")
        env = dict(os.environ, KUBECONFIG=str(mgmt.kubeconfig))
        log = root / "logs" / "operator.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        say(f"starting the operator against mgmt; its log: {log}")
        with log.open("ab") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "spinop.cli", "run", "--standalone"], env=env, stdout=out, stderr=out
            )
        say(f"try: KUBECONFIG={root / 'kubeconfig'} kubectl get namespaces --context dev")
        say("press Ctrl-C to stop everything")
        started = time.monotonic()
        while not stop_requested:
            if operator.poll() is not None:
                say(f"the operator exited with code {operator.returncode}; see {log}")
                return 1
            if duration is not None and time.monotonic() - started > duration:
                break
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        say("stopping the operator and the control planes")
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
        planes.down()
        say("stopped; no process left behind")
