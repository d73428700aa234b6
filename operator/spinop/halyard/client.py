"""`HalyardClient`: one interface over two transports (REST to the daemon, or `hal` through pods/exec).

The client serializes every mutating call (Halyard has no locking: concurrent mutations race and the last
writer wins), resolves the deployment once (or uses the one given), turns account models into Halyard's JSON,
and logs what it did without secrets. WARNINGs come back on `TaskResult.warnings`; each is logged once, since
Halyard validates the whole provider on every task and repeats the same warning for every account every time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ..redact import Redacted
from .errors import HalyardNotSupported, HalyardProtocolError
from .exec_transport import ExecTransport
from .kube_exec import KubeExecClient
from .model import AccountInput, Problem, TaskResult, account_json, unknown_account_fields
from .rest import RestTransport

log = logging.getLogger(__name__)

#: Warnings remembered as already logged; past this many the memory starts over (and they are logged again).
WARNINGS_REMEMBERED = 20_000


class HalyardTransport(Protocol):
    name: str

    async def close(self) -> None: ...
    async def health(self) -> bool: ...
    async def current_deployment(self) -> str: ...
    async def get_deployment(self, deployment: str) -> dict[str, Any]: ...
    async def get_provider(self, deployment: str, provider: str) -> dict[str, Any]: ...
    async def get_account(self, deployment: str, name: str) -> dict[str, Any]: ...
    async def add_account(self, deployment: str, account: dict[str, Any], validate: bool) -> TaskResult: ...
    async def replace_account(
        self, deployment: str, name: str, account: dict[str, Any], validate: bool
    ) -> TaskResult: ...
    async def delete_account(self, deployment: str, name: str, validate: bool) -> TaskResult: ...
    async def set_provider_enabled(
        self, deployment: str, provider: str, enabled: bool, validate: bool
    ) -> TaskResult: ...
    async def prep(
        self, deployment: str, service_names: Sequence[str], exclude: Sequence[str], validate: bool
    ) -> TaskResult: ...
    async def deploy(
        self,
        deployment: str,
        service_names: Sequence[str],
        exclude: Sequence[str],
        validate: bool,
        wait_for_completion: bool,
        wait_timeout_minutes: int | None,
    ) -> TaskResult: ...
    async def write_file(self, path: str, content: Redacted[bytes], mode: int) -> None: ...
    async def remove_file(self, path: str) -> None: ...
    async def wait_idle(self, time_limit: float) -> None: ...


class HalyardClient:
    """The operator's Halyard client. Build it with `HalyardClient.rest(url)` or `HalyardClient.exec(client)`."""

    def __init__(self, transport: HalyardTransport, *, deployment: str | None = None) -> None:
        self.transport = transport
        self._deployment = deployment
        self._mutations = asyncio.Lock()
        self._warned: set[Problem] = set()

    @classmethod
    def rest(cls, url: str, *, deployment: str | None = None, **options: Any) -> HalyardClient:
        """Talk to the daemon's REST API (`http://spin-halyard.<ns>:8064`). Options go to `RestTransport`."""
        return cls(RestTransport(url, **options), deployment=deployment)

    @classmethod
    def exec(cls, exec_client: KubeExecClient, *, deployment: str | None = None, **options: Any) -> HalyardClient:
        """Run `hal` in the Halyard pod through pods/exec. Options go to `ExecTransport`."""
        return cls(ExecTransport(exec_client, **options), deployment=deployment)

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> HalyardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_idle(self, time_limit: float) -> None:
        """Return once Halyard runs no task (any client's, e.g. a deploy spinop lost sight of); Halyard has no
        locking, so a mutation started meanwhile would race it. HalyardUnavailable after `time_limit` seconds."""
        await self.transport.wait_idle(time_limit)

    async def _resolve(self, deployment: str | None) -> str:
        if deployment:
            return deployment
        if self._deployment is None:
            self._deployment = await self.transport.current_deployment()
        return self._deployment

    def _log(self, result: TaskResult) -> TaskResult:
        log.info("halyard %s via %s: %s", result.operation, self.transport.name, result.state)
        fresh = [w for w in result.warnings if w not in self._warned]
        if len(self._warned) + len(fresh) > WARNINGS_REMEMBERED:
            self._warned.clear()
        self._warned.update(fresh)
        # One line per distinct warning: with 1,000 accounts the same version warning comes once per account.
        places: dict[tuple[str, str | None], list[str]] = {}
        for warning in fresh:
            places.setdefault((warning.message, warning.remediation), []).append(warning.location or "-")
        for (message, remediation), locations in places.items():
            where = locations[0] if len(locations) == 1 else f"{locations[0]} and {len(locations) - 1} more"
            fix = f" (remediation: {remediation})" if remediation else ""
            log.warning("halyard %s: WARNING at %s: %s%s", result.operation, where, message, fix)
        return result

    # -- reads ----------------------------------------------------------------------------------------------

    async def health(self) -> bool:
        return await self.transport.health()

    async def current_deployment(self) -> str:
        return await self.transport.current_deployment()

    async def get_deployment(self, deployment: str | None = None) -> dict[str, Any]:
        return await self.transport.get_deployment(await self._resolve(deployment))

    async def get_provider(self, deployment: str | None = None, provider: str = "kubernetes") -> dict[str, Any]:
        return await self.transport.get_provider(await self._resolve(deployment), provider)

    async def get_account(self, name: str, *, deployment: str | None = None) -> dict[str, Any]:
        return await self.transport.get_account(await self._resolve(deployment), name)

    async def list_accounts(self, *, deployment: str | None = None) -> list[dict[str, Any]]:
        provider = await self.get_provider(deployment)
        return list(provider.get("accounts") or [])

    # -- mutations (serialized) -----------------------------------------------------------------------------

    @staticmethod
    def _account_body(account: AccountInput, operation: str) -> dict[str, Any]:
        """Halyard drops unknown fields without a problem (DefaultObjectMapper), so they are refused here instead."""
        body = account_json(account)
        unknown = unknown_account_fields(body)
        if unknown:
            raise HalyardProtocolError(
                f"{', '.join(unknown)} {'is not a field' if len(unknown) == 1 else 'are not fields'} of Halyard's "
                "KubernetesAccount; Halyard would drop it silently, so nothing was sent",
                operation=operation,
            )
        return body

    async def add_account(
        self, account: AccountInput, *, deployment: str | None = None, validate: bool = True
    ) -> TaskResult:
        body = self._account_body(account, "add account")
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.add_account(d, body, validate))

    async def replace_account(
        self, name: str, account: AccountInput, *, deployment: str | None = None, validate: bool = True
    ) -> TaskResult:
        body = self._account_body(account, f"replace account {name}")
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.replace_account(d, name, body, validate))

    async def delete_account(self, name: str, *, deployment: str | None = None, validate: bool = True) -> TaskResult:
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.delete_account(d, name, validate))

    @property
    def writes_whole_provider(self) -> bool:
        """True when one call can replace a whole provider (REST). `hal` cannot: its `provider kubernetes edit` has
        no flags, so over exec every account change is its own daemon task and config write."""
        return isinstance(self.transport, RestTransport)

    async def set_provider(
        self,
        body: dict[str, Any],
        provider: str = "kubernetes",
        *,
        deployment: str | None = None,
        validate: bool = True,
    ) -> TaskResult:
        """One config write for the whole provider (REST only). Accounts are sent as given: spinop's own were
        checked by `account_json` when built, others come back exactly as Halyard returned them."""
        if not isinstance(self.transport, RestTransport):
            raise HalyardNotSupported("only the REST transport can set a whole provider", operation="set provider")
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.set_provider(d, provider, body, validate))

    async def set_provider_enabled(
        self, enabled: bool, provider: str = "kubernetes", *, deployment: str | None = None, validate: bool = True
    ) -> TaskResult:
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.set_provider_enabled(d, provider, enabled, validate))

    async def prep(
        self,
        service_names: Sequence[str] = (),
        *,
        exclude_service_names: Sequence[str] = (),
        deployment: str | None = None,
        validate: bool = True,
    ) -> TaskResult:
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(await self.transport.prep(d, list(service_names), list(exclude_service_names), validate))

    async def deploy(
        self,
        service_names: Sequence[str] = (),
        wait_timeout_minutes: int | None = None,
        *,
        wait_for_completion: bool = True,
        exclude_service_names: Sequence[str] = (),
        deployment: str | None = None,
        validate: bool = True,
    ) -> TaskResult:
        """`hal deploy apply [--service-names …]`: prep (validating) then deploy. Empty names = every service."""
        async with self._mutations:
            d = await self._resolve(deployment)
            return self._log(
                await self.transport.deploy(
                    d,
                    list(service_names),
                    list(exclude_service_names),
                    validate,
                    wait_for_completion,
                    wait_timeout_minutes,
                )
            )

    async def write_file(self, path: str, content: Redacted[bytes] | bytes, mode: int = 0o600) -> None:
        """Place a file in the Halyard pod (exec transport only); `content` is treated as a secret."""
        secret = content if isinstance(content, Redacted) else Redacted(content)
        async with self._mutations:
            await self.transport.write_file(path, secret, mode)
        log.info("halyard: wrote %s (%s, mode %04o)", path, secret.fingerprint(), mode)

    async def remove_file(self, path: str) -> None:
        async with self._mutations:
            await self.transport.remove_file(path)
        log.info("halyard: removed %s", path)
