"""A test double of the Halyard daemon (contract: ../shared/contracts/halyard.md).

Not Halyard: a Python stand-in that speaks Halyard's REST API and task protocol over real HTTP, keeps a real
halconfig file (strictly parsed), validates Kubernetes accounts like Halyard, records deploys with the
kubeconfigs they copied, detects overlapping mutations, injects faults, and serves a Kubernetes pods/exec
WebSocket endpoint that runs a `hal` CLI emulator against itself.

    async with HalyardStandin(tmp_path, exec_token="t") as standin:
        standin.daemon_url, standin.kube_url, standin.control_url

or as a process: `python -m tests.standins.halyard --port 0 --root DIR` (prints one JSON line when ready).
"""

from .daemon import DaemonSettings, Faults, HalyardDaemon
from .kube_exec import AllowAllAuthorizer, KubeAuthorizer, StaticTokenAuthorizer
from .standin import HalyardStandin, StandinUrls

__all__ = [
    "AllowAllAuthorizer",
    "DaemonSettings",
    "Faults",
    "HalyardDaemon",
    "HalyardStandin",
    "KubeAuthorizer",
    "StandinUrls",
    "StaticTokenAuthorizer",
]
