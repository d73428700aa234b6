"""Build the Spinnaker sync for the configured backend (operator-level setting, not per CR)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spinop.spinnaker.desired import AccountOwner
from spinop.spinnaker.inventory import Inventory
from spinop.spinnaker.sync import SpinnakerBackend, SpinnakerSync

if TYPE_CHECKING:
    from spinop.controllers.context import OperatorContext


def build_backend(ctx: OperatorContext) -> SpinnakerBackend | None:
    backend = ctx.config.spinnaker_backend
    if backend == "none":
        return None
    if backend == "halyard":
        from spinop.spinnaker.halyard_backend import HalyardBackend

        return HalyardBackend.from_config(ctx.config, ctx.mgmt)
    from spinop.spinnaker.accounts_api_backend import AccountsApiBackend

    return AccountsApiBackend.from_config(ctx.config, ctx.mgmt, gate=ctx.gate)


async def build_sync(ctx: OperatorContext) -> SpinnakerSync | None:
    backend = build_backend(ctx)
    if backend is None:
        return None
    from spinop.controllers.accounts import report_spinnaker_outcome
    from spinop.spinnaker.accounts_api_backend import AccountsApiBackend

    if isinstance(backend, AccountsApiBackend):
        backend.start()  # background work: the migration from Halyard, when configured
    window = ctx.config.accounts_api if isinstance(backend, AccountsApiBackend) else ctx.config.halyard

    async def report(owner: AccountOwner, status: str, reason: str, message: str, fields: dict[str, Any]) -> None:
        await report_spinnaker_outcome(ctx, owner, status, reason, message, fields)

    return SpinnakerSync(
        backend,
        Inventory(ctx.mgmt, ctx.config.operator_namespace),
        report,
        quiet_seconds=window.quiet_seconds,
        max_wait_seconds=window.max_wait_seconds,
        drift_interval_seconds=ctx.config.drift_interval_seconds,
    )
