"""Build the Spinnaker sync for the configured backend (operator-level setting, not per CR).

Takes plain inputs, not the controllers' context: this package sits below the controllers, which hand it the
callback that writes each account's verdict (`report`).
"""

from __future__ import annotations

from kubernetes.client import ApiClient

from spinop.config import OperatorConfig
from spinop.gate import GateClient
from spinop.spinnaker.inventory import Inventory
from spinop.spinnaker.sync import Reporter, SpinnakerBackend, SpinnakerSync


def build_backend(config: OperatorConfig, mgmt: ApiClient, gate: GateClient | None) -> SpinnakerBackend | None:
    backend = config.spinnaker_backend
    if backend == "none":
        return None
    if backend == "halyard":
        from spinop.spinnaker.halyard_backend import HalyardBackend

        return HalyardBackend.from_config(config, mgmt)
    from spinop.spinnaker.accounts_api_backend import AccountsApiBackend

    return AccountsApiBackend.from_config(config, mgmt, gate=gate)


async def build_sync(
    config: OperatorConfig, mgmt: ApiClient, gate: GateClient | None, report: Reporter
) -> SpinnakerSync | None:
    """Async because a backend may start background work on the running loop."""
    backend = build_backend(config, mgmt, gate)
    if backend is None:
        return None
    from spinop.spinnaker.accounts_api_backend import AccountsApiBackend

    if isinstance(backend, AccountsApiBackend):
        backend.start()  # background work: the migration from Halyard, when configured
    window = config.accounts_api if isinstance(backend, AccountsApiBackend) else config.halyard
    return SpinnakerSync(
        backend,
        Inventory(mgmt, config.operator_namespace),
        report,
        quiet_seconds=window.quiet_seconds,
        max_wait_seconds=window.max_wait_seconds,
        drift_interval_seconds=config.drift_interval_seconds,
    )
