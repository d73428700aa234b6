"""The Halyard and Gate stand-ins (tests/standins) as real processes on loopback, and handles to their control APIs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]


def _start(args: list[str], log: Path, what: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=REPO
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the {what} stand-in did not start:\n{log.read_text()}")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=15)


@dataclass
class HalyardStandinProcess:
    proc: subprocess.Popen[str]
    daemon_url: str
    kube_url: str
    control_url: str
    namespace: str
    pod: str

    @classmethod
    def start(cls, root: Path, mgmt_kubeconfig: Path, deploy_seconds: float = 0.5) -> HalyardStandinProcess:
        root.mkdir(parents=True, exist_ok=True)
        proc, ready = _start(
            [
                "tests.standins.halyard",
                "--port",
                "0",
                "--root",
                str(root),
                "--deploy-seconds",
                str(deploy_seconds),
                "--kubeconfig",
                str(mgmt_kubeconfig),
                "--cli-poll-interval",
                "0.1",
            ],
            root / "standin.log",
            "Halyard",
        )
        return cls(proc, ready["daemon_url"], ready["kube_url"], ready["control_url"], ready["namespace"], ready["pod"])

    def stop(self) -> None:
        _stop(self.proc)

    def control(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        data = None if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        request = urllib.request.Request(self.control_url + path, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        return text if raw else (json.loads(text) if text else None)

    def deploys(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_standin/deploys")["deploys"])

    def halconfig(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.control("GET", "/_standin/halconfig", raw=True)))

    def accounts(self) -> dict[str, dict[str, Any]]:
        deployment = self.halconfig()["deploymentConfigurations"][0]
        kubernetes = (deployment.get("providers") or {}).get("kubernetes") or {}
        return {a["name"]: a for a in kubernetes.get("accounts") or []}

    def faults(self, **spec: Any) -> None:
        self.control("PUT", "/_standin/faults", spec)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_standin/faults")

    def concurrency(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_standin/concurrency"))

    def config_writes(self) -> int:
        """Halconfig saves by Halyard config tasks so far (a refused write saves nothing, like upstream)."""
        return int(self.control("GET", "/_standin/config-writes")["configWrites"])


@dataclass
class GateStandinProcess:
    """The Gate stand-in with HTTP Basic users: `spinop` (the operator) and `alice` (someone else)."""

    proc: subprocess.Popen[str]
    url: str
    users: dict[str, str]

    @classmethod
    def start(cls, root: Path, users: dict[str, str], poll_seconds: float) -> GateStandinProcess:
        args = [
            "tests.standins.gate",
            "--port",
            "0",
            "--auth",
            "basic",
            "--credentials-poll-interval",
            str(poll_seconds),
        ]
        for user, password in users.items():
            args += ["--user", f"{user}={password}"]
        proc, ready = _start(args, root / "standin.log", "Gate")
        assert ready["event"] == "ready", ready
        return cls(proc, ready["url"], users)

    def stop(self) -> None:
        _stop(self.proc)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback stand-in)
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        return json.loads(text) if text else None

    def call(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Gate's own API as `user`: (status, JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        auth = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read().decode() or "null")

    def state(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_standin/state"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_standin/requests"))

    def visible(self) -> set[str]:
        """The Kubernetes account names clouddriver has loaded now (Gate's `GET /credentials`), as spinop sees it."""
        status, body = self.call("spinop", "GET", "/credentials")
        assert status == 200, (status, body)
        return {a["name"] for a in body if a.get("cloudProvider") == "kubernetes"}

    def set_static_accounts(self, accounts: list[dict[str, Any]]) -> None:
        self.control("PUT", "/_standin/credentials/static", {"accounts": accounts})

    def faults(self, **spec: Any) -> None:
        self.control("POST", "/_standin/faults", spec)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_standin/faults")

    def is_up(self) -> bool:
        try:
            self.control("GET", "/_standin/state")
        except OSError:
            return False
        return True
