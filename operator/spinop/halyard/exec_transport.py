"""The exec transport: runs `hal … -q -o json` inside the Halyard pod through `pods/exec` (see `kube_exec`).

Each client operation maps to `hal` command lines (contract §1; see `hal_argv` for what the CLI cannot express).
Results come from the exit code, the first JSON value on stdout and the problems `hal` prints on stderr
(`hal` prints FATAL problems as "! ERROR", so problems read back through this transport are at most ERROR).
There is no task uuid, event list or child list on this path.

Multi-step changes (custom resources after an add, edits that need several rounds) run the intermediate steps
with `--no-validate` and validate on the last one; if a later step fails, the earlier steps are undone
(the added account deleted, an edited account edited back) before the error is raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..redact import Redacted
from .errors import (
    HalyardError,
    HalyardNotFound,
    HalyardProtocolError,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardUnavailable,
    failure_for,
)
from .hal_argv import (
    CliReport,
    add_flags,
    check_known_fields,
    custom_resource_flags,
    first_json,
    parse_stderr,
    plan_edit,
)
from .kube_exec import ExecResult, KubeExecClient, KubeExecError
from .model import Problem, Severity, TaskResult, account_to_halyard
from .pod_files import remove_file_argv, write_file_argv

log = logging.getLogger(__name__)

ACCOUNT = ("config", "provider", "kubernetes", "account")
_HTTP_STATUS = re.compile(r"^(\d{3}) ")


def _check_name(name: str) -> str:
    if not name or name.startswith("-"):
        raise HalyardRejected(f"account {name!r}", [Problem(f"invalid account name {name!r}", Severity.FATAL)])
    return name


class ExecTransport:
    """Drives `hal` in the Halyard pod through a `KubeExecClient`."""

    name = "exec"

    def __init__(
        self,
        exec_client: KubeExecClient,
        *,
        hal: str = "hal",
        command_timeout: float = 180.0,
        deploy_timeout: float = 35 * 60.0,
    ) -> None:
        self.exec = exec_client
        self.hal = hal
        self.command_timeout = command_timeout
        self.deploy_timeout = deploy_timeout

    async def close(self) -> None:
        return None

    # -- running hal ----------------------------------------------------------------------------------------

    async def _exec(
        self, argv: Sequence[str], operation: str, time_limit: float, stdin: Redacted[bytes] | None = None
    ) -> ExecResult:
        try:
            return await self.exec.run(argv, stdin=stdin, time_limit=time_limit)
        except KubeExecError as e:
            if e.retryable:
                raise HalyardUnavailable(str(e), operation=operation) from None
            raise HalyardProtocolError(str(e), operation=operation) from None

    async def _hal(
        self,
        *args: str,
        operation: str,
        deployment: str | None = None,
        validate: bool = True,
        time_limit: float | None = None,
    ) -> tuple[ExecResult, CliReport]:
        argv = [self.hal, *args, "-q", "-o", "json"]
        if deployment is not None:
            argv.append(f"--deployment={deployment}")
        if not validate:
            argv.append("--no-validate")
        result = await self._exec(argv, operation, time_limit or self.command_timeout)
        report = parse_stderr(result.stderr_text)
        if result.exit_code != 0:
            raise self._failure(operation, result, report)
        return result, report

    @staticmethod
    def _failure(operation: str, result: ExecResult, report: CliReport) -> HalyardError:
        code = result.exit_code
        stderr = result.stderr_text.strip()
        if code in (126, 127):
            return HalyardProtocolError(
                f"hal is not runnable in the pod (exit {code}): {stderr[:300]}", operation=operation
            )
        if report.daemon_errors:
            message = report.daemon_errors[0]
            status = _HTTP_STATUS.match(message)
            if status and status.group(1).startswith("4"):
                problem = Problem(
                    f"HTTP {message} from the Halyard daemon (hal prints no problems for it)", Severity.ERROR
                )
                cls = HalyardNotFound if status.group(1) == "404" else HalyardRejected
                return cls(operation, [problem])
            return HalyardUnavailable(f"hal could not talk to the Halyard daemon: {message}", operation=operation)
        if code == 7:
            state = "TIMED_OUT" if any("too long" in f for f in report.failures) else "INTERRUPTED"
            return HalyardTaskFailed(
                operation, state=state, fatal_error="; ".join(report.failures) or None, problems=report.problems
            )
        if report.problems or report.failures:
            return failure_for(operation, "FAILED", report.problems, fatal_error="; ".join(report.failures) or None)
        if any("Task failed without reason" in e for e in report.errors):
            return HalyardTaskFailed(operation, state="FAILED", fatal_error=report.errors[0])
        return HalyardProtocolError(f"hal exited {code}: {stderr[:500]}", operation=operation)

    @staticmethod
    def _result(operation: str, report: CliReport, body: Any = None, state: str = "SUCCEEDED") -> TaskResult:
        return TaskResult(
            operation=operation, state=state, problems=tuple(report.problems), body=body, transport="exec"
        )

    # -- reads ----------------------------------------------------------------------------------------------

    async def health(self) -> bool:
        try:
            result = await self.exec.run([self.hal, "--ready"], time_limit=self.command_timeout)
        except KubeExecError as e:
            if e.retryable:
                return False
            raise HalyardProtocolError(str(e), operation="health") from None
        return result.exit_code == 0

    async def _json(self, *args: str, operation: str, deployment: str | None = None) -> Any:
        result, _ = await self._hal(*args, operation=operation, deployment=deployment, validate=False)
        value = first_json(result.stdout_text)
        if value is None:
            raise HalyardProtocolError(f"hal printed no JSON: {result.stdout_text[:300]!r}", operation=operation)
        return value

    async def current_deployment(self) -> str:
        value = await self._json("config", operation="get current deployment")
        if not isinstance(value, Mapping) or not value.get("name"):
            raise HalyardProtocolError("hal config printed no deployment name", operation="get current deployment")
        return str(value["name"])

    async def get_deployment(self, deployment: str) -> dict[str, Any]:
        return dict(await self._json("config", operation=f"get deployment {deployment}", deployment=deployment))

    async def get_provider(self, deployment: str, provider: str) -> dict[str, Any]:
        return dict(
            await self._json(
                "config", "provider", provider, operation=f"get provider {provider}", deployment=deployment
            )
        )

    async def get_account(self, deployment: str, name: str) -> dict[str, Any]:
        return dict(
            await self._json(*ACCOUNT, "get", _check_name(name), operation=f"get account {name}", deployment=deployment)
        )

    # -- account changes ------------------------------------------------------------------------------------

    async def add_account(self, deployment: str, account: dict[str, Any], validate: bool) -> TaskResult:
        name = _check_name(str(account.get("name") or ""))
        operation = f"add account {name}"
        check_known_fields(account, operation)
        full = account_to_halyard(account)
        flags = add_flags(full)
        crs = list(full.get("customResources") or [])
        _, report = await self._hal(
            *ACCOUNT, "add", name, *flags, operation=operation, deployment=deployment, validate=validate
        )
        problems = list(report.problems)
        for i, cr in enumerate(crs):
            last = i == len(crs) - 1
            try:
                _, step = await self._hal(
                    *ACCOUNT,
                    "edit",
                    name,
                    *custom_resource_flags(cr),
                    operation=operation,
                    deployment=deployment,
                    validate=validate and last,
                )
            except HalyardError:
                await self._undo(operation, [*ACCOUNT, "delete", name], deployment)
                raise
            if last:
                problems = list(step.problems)
        return TaskResult(operation=operation, state="SUCCEEDED", problems=tuple(problems), transport="exec")

    async def replace_account(self, deployment: str, name: str, account: dict[str, Any], validate: bool) -> TaskResult:
        operation = f"replace account {_check_name(name)}"
        check_known_fields(account, operation)
        original = await self.get_account(deployment, name)
        plan = plan_edit(original, account, name)
        if not plan.rounds:
            return TaskResult(operation=operation, state="UNCHANGED", transport="exec")
        report = CliReport()
        for i, flags in enumerate(plan.rounds):
            last = i == len(plan.rounds) - 1
            try:
                _, report = await self._hal(
                    *ACCOUNT,
                    "edit",
                    name,
                    *flags,
                    operation=operation,
                    deployment=deployment,
                    validate=validate and last,
                )
            except HalyardError:
                if i > 0:
                    await self._restore(operation, deployment, name, original)
                raise
        return self._result(operation, report)

    async def _restore(self, operation: str, deployment: str, name: str, original: Mapping[str, Any]) -> None:
        try:
            current = await self.get_account(deployment, name)
            for flags in plan_edit(current, original, name).rounds:
                await self._hal(
                    *ACCOUNT, "edit", name, *flags, operation=operation, deployment=deployment, validate=False
                )
        except HalyardError as e:
            log.error("%s: could not restore account %s after a failed edit: %s", operation, name, e)

    async def _undo(self, operation: str, argv: Sequence[str], deployment: str) -> None:
        try:
            await self._hal(*argv, operation=operation, deployment=deployment, validate=False)
        except HalyardError as e:
            log.error("%s: undo (%s) failed: %s", operation, " ".join(argv), e)

    async def delete_account(self, deployment: str, name: str, validate: bool) -> TaskResult:
        operation = f"delete account {_check_name(name)}"
        _, report = await self._hal(
            *ACCOUNT, "delete", name, operation=operation, deployment=deployment, validate=validate
        )
        return self._result(operation, report)

    async def set_provider_enabled(self, deployment: str, provider: str, enabled: bool, validate: bool) -> TaskResult:
        word = "enable" if enabled else "disable"
        operation = f"{word} provider {provider}"
        _, report = await self._hal(
            "config", "provider", provider, word, operation=operation, deployment=deployment, validate=validate
        )
        return self._result(operation, report)

    # -- deploys --------------------------------------------------------------------------------------------

    @staticmethod
    def _service_flags(service_names: Sequence[str], exclude: Sequence[str]) -> list[str]:
        flags: list[str] = []
        for flag, names in (("--service-names", service_names), ("--exclude-service-names", exclude)):
            if names:
                for n in names:
                    if not n or n.startswith("-") or "," in n:
                        raise HalyardRejected("deploy", [Problem(f"invalid service name {n!r}", Severity.FATAL)])
                flags += [flag, *names]
        return flags

    async def prep(
        self, deployment: str, service_names: Sequence[str], exclude: Sequence[str], validate: bool
    ) -> TaskResult:
        operation = "prep deployment"
        _, report = await self._hal(
            "deploy",
            "apply",
            "--prep-only",
            *self._service_flags(service_names, exclude),
            operation=operation,
            deployment=deployment,
            validate=validate,
            time_limit=max(self.command_timeout, 300.0),
        )
        return self._result(operation, report)

    async def deploy(
        self,
        deployment: str,
        service_names: Sequence[str],
        exclude: Sequence[str],
        validate: bool,
        wait_for_completion: bool,
        wait_timeout_minutes: int | None,
    ) -> TaskResult:
        operation = "deploy " + (",".join(service_names) or "all services")
        flags = self._service_flags(service_names, exclude)
        if wait_for_completion:
            flags.append("--wait-for-completion")
        if wait_timeout_minutes is not None:
            flags.append(f"--wait-for-completion-timeout-minutes={int(wait_timeout_minutes)}")
        _, report = await self._hal(
            "deploy",
            "apply",
            *flags,
            operation=operation,
            deployment=deployment,
            validate=validate,
            time_limit=self.deploy_timeout,
        )
        return self._result(operation, report)

    # -- files ----------------------------------------------------------------------------------------------

    async def write_file(self, path: str, content: Redacted[bytes], mode: int) -> None:
        operation = f"write {path}"
        try:
            argv = write_file_argv(path, len(content.reveal()), mode)
        except ValueError as e:
            raise HalyardRejected(operation, [Problem(str(e), Severity.FATAL)]) from None
        result = await self._exec(argv, operation, self.command_timeout, stdin=content)
        if result.exit_code != 0:
            raise HalyardUnavailable(
                f"writing the file failed (exit {result.exit_code}): {result.stderr_text.strip()[:300]}",
                operation=operation,
            )

    async def wait_idle(self, time_limit: float) -> None:
        # `hal` offers no task listing, and each `hal` run blocks until its task ends; a task orphaned by a dropped
        # exec connection is not visible from here (docs/halyard.md, "Known limits").
        return None

    async def remove_file(self, path: str) -> None:
        operation = f"remove {path}"
        try:
            argv = remove_file_argv(path)
        except ValueError as e:
            raise HalyardRejected(operation, [Problem(str(e), Severity.FATAL)]) from None
        result = await self._exec(argv, operation, self.command_timeout)
        if result.exit_code != 0:
            raise HalyardUnavailable(
                f"removing the file failed (exit {result.exit_code}): {result.stderr_text.strip()[:300]}",
                operation=operation,
            )
