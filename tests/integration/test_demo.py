"""The README's first command, run as a new user would: everything becomes Ready under deploy/base's identity, the
installed webhook judges writes, and nothing is left behind."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from spinop.devcluster.build import ensure_binaries
from spinop.devcluster.controlplane import process_alive
from tests.integration.kube import wait_for


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (text in cmdline or f"SPINOP_DEMO_ROOT={text}" in environ) and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_demo_shows_accounts_and_pipelines_ready_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "spinop.cli", "demo", "--dir", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "press Ctrl-C" in log.read_text() or demo.poll() is not None, timeout=300, what="demo Ready")
        text = log.read_text()
        assert demo.poll() is None, text
        assert "all 3 accounts on 3 clusters and 2 pipelines are Ready" in text, text
        assert "(1 Halyard deploy(s) of clouddriver)" in text, text
        assert "installed deploy/base in mgmt as production does" in text, text
        assert _operator_user(root) == "system:serviceaccount:spinop-system:spinop"
        _assert_webhook_refuses_an_account_outside_the_tenancy(root)
        started_here = _processes_mentioning(str(root))
        assert started_here, "the demo's control planes should be running"
        (tmp_path / "empty-path").mkdir()
        _run_hints_as_printed(text, tmp_path / "empty-path")
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert demo.wait(timeout=120) == 0, log.read_text()
        deadline = time.monotonic() + 30
        while _processes_mentioning(str(root)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _processes_mentioning(str(root)), "processes left behind after Ctrl-C"
        assert "stopped; no process left behind" in log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)


def _operator_user(root: Path) -> str:
    """Who the demo's operator process is to mgmt: the user its KUBECONFIG authenticates as (`kubectl auth whoami`)."""
    operators = [pid for pid in _processes_mentioning(str(root)) if b"spinop.cli\0run" in _proc(pid, "cmdline")]
    assert len(operators) == 1, operators
    environ = dict(
        entry.decode().partition("=")[::2] for entry in _proc(operators[0], "environ").split(b"\0") if b"=" in entry
    )
    result = subprocess.run(
        [str(ensure_binaries().kubectl), f"--kubeconfig={environ['KUBECONFIG']}", "auth", "whoami", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(result.stdout)["status"]["userInfo"]["username"])


def _proc(pid: int, name: str) -> bytes:
    return (Path("/proc") / str(pid) / name).read_bytes()


def _assert_webhook_refuses_an_account_outside_the_tenancy(root: Path) -> None:
    """deploy/base's webhook configuration reaches the operator: team-a may only have team-a-dev on dev."""
    account = {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "outside", "namespace": "team-a"},
        "spec": {"cluster": "dev", "namespace": "kube-system", "profile": "deployer"},
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spinop.cli",
            "dev",
            "kubectl",
            "--dir",
            str(root),
            "create",
            "--dry-run=server",
            "-f",
            "-",
        ],
        input=json.dumps(account),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert 'admission webhook "validate-spinnakeraccount.spinop.io" denied the request' in result.stderr, result.stderr
    assert "spec.namespace" in result.stderr, result.stderr


def _run_hints_as_printed(text: str, fresh_path: Path) -> None:
    """Every command the demo suggests runs as printed, by a shell on a PATH without kubectl, from the directory the
    demo was started in, and shows the sample accounts. `fresh_path` is an empty directory: not even kubectl is on
    PATH (issue 19 item 5)."""
    hints = [line.split("try: ", 1)[1] for line in text.splitlines() if line.startswith("[spinop demo] try: ")]
    assert hints, text
    assert shutil.which("kubectl", path=str(fresh_path)) is None
    for hint in hints:
        assert shlex.split(hint)[0] != "kubectl", hint
        result = subprocess.run(  # noqa: S602 (the command exactly as a person pastes it into a shell)
            hint,
            shell=True,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PATH": str(fresh_path)},
            check=False,
        )
        assert result.returncode == 0, f"{hint!r} failed: {result.stderr}"
        assert "team-a" in result.stdout, (hint, result.stdout)
