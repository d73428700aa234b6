"""A Gate stand-in: a test double of Spinnaker Gate and the Front50/Orca/clouddriver behaviour behind it.

In process: `async with GateStandin(auth="x509") as gate: ...` (or `GateStandinThread` for sync tests).
As a process: `python -m tests.standins.gate --port 0 [--auth none|basic|bearer|x509]`, which prints one JSON
ready line on stdout. See README.md in this folder for the endpoints and the `/_standin/...` control API.
"""

from .server import GateStandin, GateStandinThread, RateLimitSettings, StandinOptions
from .state import GateState, Rejected, Task
from .tls import CertificateAuthority, IssuedCert

__all__ = [
    "CertificateAuthority",
    "GateStandin",
    "GateStandinThread",
    "GateState",
    "IssuedCert",
    "RateLimitSettings",
    "Rejected",
    "StandinOptions",
    "Task",
]
