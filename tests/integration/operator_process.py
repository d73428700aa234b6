"""Run the real operator (`spinop run`) as a separate process against the real MGMT control plane.

Like kopf's own e2e tests, a run is judged by its log too: `assert_clean()` fails on any traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.integration.kube import wait_for

TRACEBACK_MARKERS = ("Traceback (most recent call last)",)


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        settings: dict[str, Any],
        args: tuple[str, ...] = (),
        standalone: bool = True,
        verbose: bool = True,
        module: str = "spinop.cli",
        env: dict[str, str | None] | None = None,
        start_timeout: float = 60,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.settings = settings
        self.args = args
        self.standalone = standalone
        self.verbose = verbose
        self.module = module  # bench.traced_operator wraps spinop.cli to profile memory (bench/memory.py)
        self.extra_env = env or {}  # None unsets a variable
        self.start_timeout = start_timeout  # tracemalloc with many frames makes start-up several times slower
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "operator.log"
        self.config_path = workdir / "spinop-config.yaml"
        self.runs = 0

    def start(self) -> OperatorProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("the operator is still running: stop() or kill() it before start()")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.settings))
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "SPINOP_CONFIG": str(self.config_path),
            "PYTHONUNBUFFERED": "1",
            **{k: v for k, v in self.extra_env.items() if v is not None},
        }
        for name in [k for k, v in self.extra_env.items() if v is None]:
            env.pop(name, None)
        env.pop("KUBERNETES_SERVICE_HOST", None)
        log = self.log_path.open("ab")
        log.write(f"\n===== operator start #{self.runs + 1} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "run",
                *(["--standalone"] if self.standalone else []),
                *(["--verbose"] if self.verbose else []),
                "--log-format",
                "full",
                *self.args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        self.runs += 1
        wait_for(
            lambda: "spinop started" in self.log() or self._exited(),
            timeout=self.start_timeout,
            what="operator start-up",
        )
        if self._exited():
            raise AssertionError(f"the operator exited at start-up:\n{self.log()[-4000:]}")
        return self

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """kill -9: no clean-up, no flush; what a node failure or OOM kill does."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def assert_clean(self) -> None:
        text = self.log()
        for marker in TRACEBACK_MARKERS:
            assert marker not in text, f"the operator logged a traceback:\n{_around(text, marker)}"

    def wait_logged(self, needle: str, timeout: float = 30) -> None:
        wait_for(lambda: needle in self.log(), timeout=timeout, what=f"operator log line {needle!r}")


def _around(text: str, marker: str, before: int = 1500, after: int = 3000) -> str:
    index = text.index(marker)
    return text[max(0, index - before) : index + after]
