"""What one SpinnakerAccount reconcile found: the conditions, fields and Events for its status, and what the later
steps (the Spinnaker sync, retiring an old token, the next wake-up) need."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from spinop.api.reasons import Reason
from spinop.errors import SpinopError
from spinop.kube.status import StatusReport
from spinop.remote.cluster import RemoteCluster
from spinop.remote.plan import DesiredRemote
from spinop.spinnaker.desired import DesiredSpinnakerAccount


@dataclass
class Outcome(StatusReport):
    desired: DesiredSpinnakerAccount | None = None
    next_due: float | None = None  # seconds until the credentials need attention
    previous_token_secret: str = ""
    current_token_secret: str = ""
    remote: RemoteCluster | None = None
    desired_remote: DesiredRemote | None = None
    rotation_deferred_until: datetime.datetime | None = None

    def ok(self, type_: str, reason: Reason, message: str) -> None:
        self.set(type_, "True", reason, message)

    def fail(self, type_: str, error: SpinopError) -> Outcome:
        self.set(type_, "False", error.reason, error.message)
        self.error = error
        return self
