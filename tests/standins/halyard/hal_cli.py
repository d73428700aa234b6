"""A `hal` CLI emulator for the test double of the Halyard daemon (contract §1).

It parses argv the way JCommander 1.81 does for Halyard (`=` separator, so `--flag=value` and `--flag value`;
variable-arity lists that run up to the next known option; arity-1 booleans that need `true`/`false`;
presence booleans; one main parameter), then calls the daemon's REST API like `hal`'s Retrofit client: every
call returns a DaemonTask that is polled (`ResponseUnwrapper`), problems go to stderr exactly as `AnsiUi`
prints them ("Validation in <location>:", "! ERROR …", "- WARNING …", "? <remediation>"), and the exit codes
follow `NestableCommand.safeExecuteThis` (1 daemon/expected failure, 3 unexpected, 7 task killed).

Implemented: `hal [--ready|--version]`, `hal config`, `hal config provider kubernetes [enable|disable|edit]`,
`hal config provider kubernetes account add|edit|delete|get|list`, `hal deploy apply`. No ANSI colours.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml

from .halconfig import ACCOUNT_KEYS, HalconfigError, normalize_account, serialize_account

PRESENCE, BOOL1, VALUE, INT, ENUM, LIST, LIST1 = "presence", "bool1", "value", "int", "enum", "list", "list1"
OUTPUT_FORMATS = ("YAML", "JSON", "STRING", "NONE")


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    kind: str
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return max(self.names, key=len)


@dataclass
class Command:
    name: str
    flags: list[Flag]
    subcommands: dict[str, Command] = field(default_factory=dict)
    has_main: bool = False
    action: Callable[[Invocation], Awaitable[None]] | None = None

    def flag(self, name: str) -> Flag | None:
        for f in self.flags:
            if name in f.names:
                return f
        return None

    def is_option(self, arg: str) -> bool:
        """JCommander's `isOption`: a prefix match on known names (the separator is `=`), exact for commands."""
        return any(arg.startswith(n) for f in self.flags for n in f.names) or arg in self.subcommands


class ParameterError(Exception):
    """JCommander's ParameterException: printed bare to stderr, exit 1."""


class IllegalArgument(Exception):
    """An IllegalArgumentException; printed as "! ERROR …", exit code depends on where it is thrown."""


class RetrofitError(Exception):
    def __init__(self, message: str, *, connect: bool = False) -> None:
        super().__init__(message)
        self.connect = connect


class TaskKilled(Exception):
    pass


class ExpectedDaemonFailure(Exception):
    pass


class CliExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


GLOBAL_FLAGS = [
    Flag(("-h", "--help"), PRESENCE),
    Flag(("-o", "--output"), VALUE),
    Flag(("--options",), VALUE),
    Flag(("-d", "--debug"), PRESENCE),
    Flag(("-a", "--alpha"), PRESENCE),
    Flag(("-q", "--quiet"), PRESENCE),
    Flag(("-l", "--log"), VALUE),
    Flag(("-c", "--color"), BOOL1),
    Flag(("--daemon-endpoint",), VALUE),
]
CONFIG_FLAGS = [Flag(("--no-validate",), PRESENCE), Flag(("--deployment",), VALUE)]


def _flags(*spec: tuple[str, str]) -> list[Flag]:
    out = []
    for name, kind in spec:
        out.append(Flag((name,), kind, ("V1", "V2") if kind == ENUM else ()))
    return out


ADD_ACCOUNT_FLAGS = _flags(
    ("--required-group-membership", LIST),
    ("--read-permissions", LIST),
    ("--write-permissions", LIST),
    ("--environment", VALUE),
    ("--context", VALUE),
    ("--kubeconfig-file", VALUE),
    ("--namespaces", LIST),
    ("--omit-namespaces", LIST),
    ("--kinds", LIST),
    ("--omit-kinds", LIST),
    ("--docker-registries", LIST),
    ("--oauth-service-account", VALUE),
    ("--oauth-scopes", LIST),
    ("--naming-strategy", VALUE),
    ("--service-account", BOOL1),
    ("--configure-image-pull-secrets", BOOL1),
    ("--skin", VALUE),
    ("--only-spinnaker-managed", BOOL1),
    ("--check-permissions-on-startup", BOOL1),
    ("--live-manifest-calls", BOOL1),
    ("--cache-threads", INT),
    ("--cache-interval-seconds", INT),
    ("--cache-all-application-relationships", BOOL1),
    ("--raw-resource-endpoint-kind-expressions", LIST),
    ("--raw-resource-endpoint-omit-kind-expressions", LIST),
    ("--provider-version", ENUM),
)
EDIT_ACCOUNT_FLAGS = _flags(
    ("--add-required-group-membership", VALUE),
    ("--remove-required-group-membership", VALUE),
    ("--required-group-membership", LIST),
    ("--add-read-permission", VALUE),
    ("--remove-read-permission", VALUE),
    ("--read-permissions", LIST),
    ("--add-write-permission", VALUE),
    ("--remove-write-permission", VALUE),
    ("--write-permissions", LIST),
    ("--environment", VALUE),
    ("--context", VALUE),
    ("--kubeconfig-file", VALUE),
    ("--clear-context", PRESENCE),
    ("--namespaces", LIST),
    ("--all-namespaces", PRESENCE),
    ("--add-namespace", VALUE),
    ("--remove-namespace", VALUE),
    ("--omit-namespaces", LIST),
    ("--add-omit-namespace", VALUE),
    ("--remove-omit-namespace", VALUE),
    ("--kinds", LIST),
    ("--all-kinds", PRESENCE),
    ("--add-kind", VALUE),
    ("--remove-kind", VALUE),
    ("--omit-kinds", LIST),
    ("--add-omit-kind", VALUE),
    ("--remove-omit-kind", VALUE),
    ("--docker-registries", LIST),
    ("--add-docker-registry", VALUE),
    ("--remove-docker-registry", VALUE),
    ("--oauth-service-account", VALUE),
    ("--oauth-scopes", LIST),
    ("--add-oauth-scope", VALUE),
    ("--remove-oauth-scope", VALUE),
    ("--naming-strategy", VALUE),
    ("--add-custom-resource", VALUE),
    ("--spinnaker-kind", VALUE),
    ("--versioned", BOOL1),
    ("--remove-custom-resource", VALUE),
    ("--service-account", BOOL1),
    ("--configure-image-pull-secrets", BOOL1),
    ("--skin", VALUE),
    ("--only-spinnaker-managed", BOOL1),
    ("--check-permissions-on-startup", BOOL1),
    ("--live-manifest-calls", BOOL1),
    # Not variableArity on edit (a Halyard quirk): one value per occurrence.
    ("--raw-resource-endpoint-kind-expressions", LIST1),
    ("--add-raw-resource-endpoint-kind-expression", VALUE),
    ("--remove-raw-resource-endpoint-kind-expression", VALUE),
    ("--raw-resource-endpoint-omit-kind-expressions", LIST),
    ("--add-raw-resource-endpoint-omit-kind-expression", VALUE),
    ("--remove-raw-resource-endpoint-omit-kind-expression", VALUE),
    ("--cache-threads", INT),
    ("--cache-interval-seconds", INT),
    ("--cache-all-application-relationships", BOOL1),
    ("--provider-version", ENUM),
)
APPLY_FLAGS = _flags(
    ("--auto-run", BOOL1),
    ("--omit-config", PRESENCE),
    ("--flush-infrastructure-caches", PRESENCE),
    ("--prep-only", PRESENCE),
    ("--service-names", LIST),
    ("--exclude-service-names", LIST),
    ("--delete-orphaned-services", PRESENCE),
    ("--wait-for-completion", PRESENCE),
    ("--wait-for-completion-timeout-minutes", INT),
)


@dataclass
class Output:
    """`AnsiUi`/`AnsiPrinter` without colours: 80-column paragraphs, continuation lines indented by 2."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @staticmethod
    def _paragraph(text: str) -> str:
        lines = []
        for line in text.split("\n"):
            wrapped = textwrap.wrap(
                line, width=80, break_long_words=False, break_on_hyphens=False, replace_whitespace=False
            )
            lines.append("\n  ".join(wrapped) if wrapped else "")
        return "\n".join(lines)

    def raw(self, text: str) -> None:
        self.out.append(text)

    def success(self, text: str) -> None:
        self.out.append(self._paragraph("+ " + text))

    def list_item(self, text: str) -> None:
        self.out.append("  - " + text)

    def info(self, text: str) -> None:
        self.out.append(self._paragraph("- INFO " + text))

    def failure(self, text: str) -> None:
        self.err.append(self._paragraph("- " + text))

    def error(self, text: str) -> None:
        self.err.append(self._paragraph("! ERROR " + text))

    def warning(self, text: str) -> None:
        self.err.append(self._paragraph("- WARNING " + text))

    def remediation(self, text: str) -> None:
        self.err.append(self._paragraph("? " + text))

    def list_remediation(self, text: str) -> None:
        self.err.append("  - " + text)

    def problem_location(self, location: str) -> None:
        self.err.append(self._paragraph(f"Validation in {location}:"))

    def text(self) -> tuple[str, str]:
        return (
            "".join(line + "\n" for line in self.out),
            "".join(line + "\n" for line in self.err),
        )


@dataclass
class Invocation:
    path: list[str]
    values: dict[str, Any]
    main: str | None
    out: Output
    daemon: DaemonClient
    home: str

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def quiet(self) -> bool:
        return bool(self.values.get("--quiet"))

    @property
    def validate(self) -> bool:
        return not self.values.get("--no-validate")

    @property
    def output_format(self) -> str | None:
        value = self.values.get("--output")
        return str(value) if value is not None else None


# -- parsing ----------------------------------------------------------------------------------------------


def _convert(flag: Flag, name: str, value: str) -> Any:
    if flag.kind == BOOL1:
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ParameterError(f'"{name}": couldn\'t convert "{value}" to a boolean')
    if flag.kind == INT:
        try:
            return int(value)
        except ValueError:
            raise ParameterError(f'"{name}": couldn\'t convert "{value}" to an integer') from None
    if flag.kind == ENUM:
        for candidate in (value, value.upper()):
            if candidate in flag.choices:
                return candidate
        raise ParameterError(f"Invalid value for {name} parameter. Allowed values:[{', '.join(flag.choices)}]")
    if flag.key == "--output":
        if value.upper() not in OUTPUT_FORMATS:
            raise IllegalArgument(f"Unknown format type: {value} valid arguments are YAML, JSON, STRING, or NONE.")
        return value.upper()
    return value


def _expand(cmd: Command, args: Sequence[str]) -> list[str]:
    out: list[str] = []
    for arg in args:
        if "=" in arg and cmd.is_option(arg) and arg not in cmd.subcommands:
            out.extend(arg.split("=", 1))
        else:
            out.append(arg)
    return out


def parse(root: Command, argv: Sequence[str], values: dict[str, Any]) -> tuple[list[str], str | None]:
    """Parse like nested JCommanders; returns the command path and the main parameter."""
    path = [root.name]
    main: str | None = None
    cmd = root
    args = _expand(cmd, argv)
    assigned: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if cmd.is_option(arg) and arg not in cmd.subcommands:
            flag = cmd.flag(arg)
            if flag is None:
                raise ParameterError(f"Unknown option: {arg}")
            i += _consume(cmd, flag, arg, args, i, values, assigned)
            continue
        if cmd.subcommands:
            sub = cmd.subcommands.get(arg)
            if sub is None:
                raise ParameterError(f"Expected a command, got {arg}")
            cmd = sub
            path.append(sub.name)
            args = _expand(cmd, args[i + 1 :])
            assigned = set()
            i = 0
            continue
        if not cmd.has_main:
            raise ParameterError(
                f"Was passed main parameter '{arg}' but no main parameter was defined in your arg class"
            )
        if main is not None:
            raise ParameterError(f'Only one main parameter allowed but found several: "{main}" and "{arg}"')
        main = arg
        i += 1
    return path, main


def _consume(
    cmd: Command, flag: Flag, name: str, args: list[str], i: int, values: dict[str, Any], assigned: set[str]
) -> int:
    if flag.kind == PRESENCE:
        values[flag.key] = True
        return 1
    if flag.kind in (LIST, LIST1):
        if flag.kind == LIST:
            n = 0
            while i + 1 + n < len(args) and not cmd.is_option(args[i + 1 + n]):
                n += 1
        else:
            n = 1 if i + 1 < len(args) else 0
        if n == 0:
            raise ParameterError(f"Expected a value after parameter {name}")
        items = [v for token in args[i + 1 : i + 1 + n] for v in token.split(",")]  # the default comma splitter
        if flag.key in assigned:
            values[flag.key].extend(items)
        else:
            values[flag.key] = items
            assigned.add(flag.key)
        return n + 1
    if i + 1 >= len(args):
        raise ParameterError(f"Expected a value after parameter {name}")
    if flag.key in assigned:
        raise ParameterError(f"Can only specify option {name} once.")
    values[flag.key] = _convert(flag, name, args[i + 1])
    assigned.add(flag.key)
    return 2


# -- the daemon client (Retrofit + ResponseUnwrapper) --------------------------------------------------------


class DaemonClient:
    def __init__(self, endpoint: str, out: Output, poll_interval: float, request_timeout: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.out = out
        self.poll_interval = poll_interval
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        query: list[tuple[str, str]] = []
        for k, v in (params or {}).items():
            for item in v if isinstance(v, list) else [v]:
                if item is not None:
                    query.append((k, str(item).lower() if isinstance(item, bool) else str(item)))
        url = self.endpoint + path
        data = json.dumps(body if body is not None else "").encode()
        try:
            async with self._session.request(
                method, url, params=query, data=data, headers={"Content-Type": "application/json"}
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise RetrofitError(f"{resp.status} {resp.reason}")
                return json.loads(text) if text else None
        except aiohttp.ClientConnectorError as e:
            raise RetrofitError(f"Failed to connect to {e.host}:{e.port}", connect=True) from None
        except TimeoutError:
            raise RetrofitError("timeout") from None
        except aiohttp.ClientError as e:
            raise RetrofitError(f"unexpected end of stream on {self.endpoint}/...: {e}") from None

    async def unwrap(self, task: Any) -> Any:
        """`ResponseUnwrapper.get`: poll until terminal, print problems, turn the state into the result."""
        uuid = task["uuid"]
        task = await self.request("GET", f"/v1/tasks/{uuid}/")
        while task is not None and task["state"] in ("NOT_STARTED", "RUNNING"):
            await asyncio.sleep(self.poll_interval)
            task = await self.request("GET", f"/v1/tasks/{uuid}/")
        if task is None:
            raise RuntimeError("null")  # the task vanished: Java hits a NullPointerException
        response = task.get("response") or {}
        self._format_problems((response.get("problemSet") or {}).get("problems") or [])
        state = task["state"]
        if state == "TIMED_OUT":
            raise TaskKilled("Task killed because it was taking too long.")
        if state == "INTERRUPTED":
            raise TaskKilled("Task killed by interrupt")
        if state == "FAILED":
            if task.get("fatalError") is None:
                raise RuntimeError("Task failed without reason. This is a bug.")
            raise ExpectedDaemonFailure()
        return response.get("responseBody")

    def _format_problems(self, problems: list[dict[str, Any]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for p in problems:
            location = p.get("location")
            groups.setdefault("null" if location is None else str(location), []).append(p)  # Java's "null"
        for location, group in groups.items():
            self.out.problem_location(location)
            for p in group:
                severity = p.get("severity")
                if severity == "INFO":
                    self.out.info(p.get("message") or "")
                elif severity in ("FATAL", "ERROR"):
                    self.out.error(p.get("message") or "")
                else:
                    self.out.warning(p.get("message") or "")
                if p.get("remediation"):
                    self.out.remediation(p["remediation"])
                if p.get("options"):
                    self.out.remediation("Options include: ")
                    for option in p["options"]:
                        self.out.list_remediation(option)
                self.out.raw("")

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        return await self.unwrap(await self.request(method, path, params, body))


# -- commands -----------------------------------------------------------------------------------------------


def _format(fmt: str, obj: Any) -> str:
    if obj is None or fmt == "NONE":
        return ""
    if fmt == "JSON":
        return json.dumps(_drop_nulls(obj), separators=(",", ":"))
    if fmt == "YAML":
        return yaml.safe_dump(_drop_nulls(obj), sort_keys=False, default_flow_style=False).rstrip("\n")
    return _java_string(obj)


def _drop_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def _java_string(obj: Any) -> str:
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k}={_java_string(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(_java_string(v) for v in obj) + "]"
    if isinstance(obj, bool):
        return str(obj).lower()
    return str(obj)


async def operation(
    inv: Invocation,
    op: Awaitable[Any],
    *,
    failure: str,
    success: str | None = None,
    fmt: str = "NONE",
    user_formatted: bool = False,
) -> Any:
    """`OperationHandler.get`."""
    try:
        result = await op
    except ExpectedDaemonFailure:
        raise ExpectedDaemonFailure(failure) from None
    except TaskKilled as e:
        raise TaskKilled(f"{failure} {e}") from None
    if success is not None and not inv.quiet:
        inv.out.success(success)
    if user_formatted and inv.output_format is not None:
        fmt = inv.output_format
    text = _format(fmt, result)
    if text:
        inv.out.raw(text)
    return result


async def current_deployment(inv: Invocation) -> str:
    deployment = inv.get("--deployment")
    if deployment:
        return str(deployment)
    return str(
        await operation(
            inv, inv.daemon.call("GET", "/v1/config/currentDeployment/"), failure="Failed to get deployment name."
        )
    )


def _account_path(deployment: str, name: str | None = None) -> str:
    base = f"/v1/config/deployments/{deployment}/providers/kubernetes/accounts/"
    return base if name is None else f"{base}account/{name}/"


def _account_name(inv: Invocation) -> str:
    if inv.main is None:
        raise IllegalArgument("No account name supplied")
    return inv.main


def _local_file(inv: Invocation, value: str | None) -> str | None:
    """`LocalFileConverter`: secret and configserver references pass through, other paths become absolute."""
    if value is None or value.startswith(("encrypted:", "encryptedFile:", "configserver:")):
        return value
    return value if value.startswith("/") else posixpath.join(inv.home, value)


def _as_cli_account(inv: Invocation, raw: Any) -> dict[str, Any]:
    """What Jackson makes of the daemon's account JSON on the CLI side (unknown keys ignored)."""
    try:
        return normalize_account({k: v for k, v in (raw or {}).items() if k in ACCOUNT_KEYS}, "account")
    except HalconfigError as e:
        raise RuntimeError(str(e)) from None


def _send(inv: Invocation, account: dict[str, Any]) -> dict[str, Any]:
    """The CLI JVM serializes the account: getters apply (the kubeconfigFile default uses *its* user.home)."""
    return serialize_account(account, inv.home)


def _update_list(old: list[str] | None, set_to: list[str] | None, add: str | None, remove: str | None) -> list[str]:
    """`AbstractConfigCommand.updateStringList`."""
    old = list(old) if old is not None else []
    is_set, is_add, is_remove = bool(set_to), bool(add), bool(remove)
    if is_set and (is_add or is_remove):
        raise ValueError("If set is specified, neither addTo nor removeFrom can be specified")
    if is_set:
        return list(set_to or [])
    if is_add:
        old.append(str(add))
    if is_remove and remove in old:
        old.remove(remove)
    return old


def _update_set(old: list[str] | None, set_to: list[str] | None, add: str | None, remove: str | None) -> list[str]:
    """`updateStringSet` over Java HashSets: order is lost, so the emulator keeps roles sorted."""
    result = set(old or [])
    if set_to and (add or remove):
        raise ValueError("If set is specified, neither addTo nor removeFrom can be specified")
    if set_to:
        return sorted(set(set_to))
    if add:
        result.add(add)
    if remove:
        result.discard(remove)
    return sorted(result)


async def cmd_ready(inv: Invocation) -> None:
    body = await inv.daemon.request("GET", "/health")
    raise CliExit(0 if isinstance(body, dict) and str(body.get("status", "")).lower() == "up" else 255)


async def cmd_hal(inv: Invocation) -> None:
    if inv.get("--version"):
        inv.out.raw("1.70.0")
    if inv.get("--ready"):
        await cmd_ready(inv)
    if not inv.get("--version"):
        _help(inv)


def _help(inv: Invocation) -> None:
    inv.out.raw(" ".join(inv.path).upper())
    inv.out.raw("  (help text of the hal emulator in the Halyard stand-in)")


async def cmd_config(inv: Invocation) -> None:
    target = inv.get("--set-current-deployment")
    if target is not None:
        await operation(
            inv,
            inv.daemon.call("PUT", "/v1/config/currentDeployment/", body={"value": target}),
            failure="Failed to update current deployment.",
            success=f"Updated current deployment to {target}",
        )
        return
    d = await current_deployment(inv)
    await operation(
        inv,
        inv.daemon.call("GET", f"/v1/config/deployments/{d}/", {"validate": inv.validate}),
        failure="Failed to deployment configuration.",
        success="Configured deployment: ",
        fmt="YAML",
        user_formatted=True,
    )


async def cmd_provider(inv: Invocation) -> None:
    d = await current_deployment(inv)
    await operation(
        inv,
        inv.daemon.call("GET", f"/v1/config/deployments/{d}/providers/kubernetes/", {"validate": inv.validate}),
        failure="Failed to get provider kubernetes.",
        success="Successfully got provider kubernetes.",
        fmt="STRING",
        user_formatted=True,
    )


def cmd_enable_disable(enable: bool) -> Callable[[Invocation], Awaitable[None]]:
    async def run(inv: Invocation) -> None:
        d = await current_deployment(inv)
        word = "enable" if enable else "disable"
        await operation(
            inv,
            inv.daemon.call(
                "PUT",
                f"/v1/config/deployments/{d}/providers/kubernetes/enabled/",
                {"validate": inv.validate},
                enable,
            ),
            failure=f"Failed to {word} kubernetes",
            success=f"Successfully {word}d kubernetes",
        )

    return run


async def cmd_provider_edit(inv: Invocation) -> None:
    inv.out.failure("No changes supplied.")


async def cmd_account_add(inv: Invocation) -> None:
    name = _account_name(inv)
    v = inv.get
    account = normalize_account({"name": name}, "account")
    account.update(
        {
            "context": v("--context"),
            "kubeconfigFile": _local_file(inv, v("--kubeconfig-file")),
            "namespaces": v("--namespaces", []),
            "omitNamespaces": v("--omit-namespaces", []),
            "kinds": v("--kinds", []),
            "omitKinds": v("--omit-kinds", []),
            "configureImagePullSecrets": v("--configure-image-pull-secrets", True),
            "serviceAccount": v("--service-account"),
            "dockerRegistries": [{"accountName": r, "namespaces": []} for r in v("--docker-registries", [])],
            "oAuthServiceAccount": v("--oauth-service-account"),
            "oAuthScopes": v("--oauth-scopes", []),
            "namingStrategy": v("--naming-strategy"),
            "skin": v("--skin"),
            "onlySpinnakerManaged": v("--only-spinnaker-managed", False),
            "checkPermissionsOnStartup": v("--check-permissions-on-startup"),
            "liveManifestCalls": v("--live-manifest-calls"),
            "cacheThreads": v("--cache-threads", 1),
            "cacheIntervalSeconds": v("--cache-interval-seconds"),
            "cacheAllApplicationRelationships": v("--cache-all-application-relationships"),
            "rawResourcesEndpointConfig": {
                "kindExpressions": v("--raw-resource-endpoint-kind-expressions", []),
                "omitKindExpressions": v("--raw-resource-endpoint-omit-kind-expressions", []),
            },
            "providerVersion": v("--provider-version", "V2"),
            "requiredGroupMembership": v("--required-group-membership", []),
            "environment": v("--environment"),
        }
    )
    permissions: dict[str, list[str]] = {}
    for key, flag in (("READ", "--read-permissions"), ("WRITE", "--write-permissions")):
        roles = sorted(set(v(flag, [])))  # Set<String>: a HashSet; an empty set adds no key
        if roles:
            permissions[key] = roles
    account["permissions"] = permissions
    d = await current_deployment(inv)
    await operation(
        inv,
        inv.daemon.call("POST", _account_path(d), {"validate": inv.validate}, _send(inv, account)),
        failure=f"Failed to add account {name} for provider kubernetes.",
        success=f"Successfully added account {name} for provider kubernetes.",
    )


def _edit_kubernetes_account(inv: Invocation, a: dict[str, Any]) -> None:
    """`KubernetesEditAccountCommand.editAccount` followed by `AbstractEditAccountCommand`'s common flags."""
    v = inv.get
    context, clear = v("--context"), bool(v("--clear-context"))
    if context and clear:
        raise IllegalArgument("Set either --context or --clear-context")
    if context:
        a["context"] = context
    elif clear:
        a["context"] = None
    if v("--kubeconfig-file") is not None:
        a["kubeconfigFile"] = _local_file(inv, v("--kubeconfig-file"))
    for key, flag in (
        ("configureImagePullSecrets", "--configure-image-pull-secrets"),
        ("serviceAccount", "--service-account"),
    ):
        if v(flag) is not None:
            a[key] = v(flag)

    def lists(field_name: str, set_flag: str, add: str, remove: str, message: str) -> None:
        try:
            a[field_name] = _update_list(a.get(field_name), v(set_flag), v(add), v(remove))
        except ValueError:
            raise IllegalArgument(message) from None

    if v("--all-namespaces"):
        a["namespaces"] = []
    else:
        lists(
            "namespaces",
            "--namespaces",
            "--add-namespace",
            "--remove-namespace",
            "Set either --namespaces or --[add/remove]-namespace",
        )
    lists(
        "omitNamespaces",
        "--omit-namespaces",
        "--add-omit-namespace",
        "--remove-omit-namespace",
        "Set either --omit-namespaces or --[add/remove]-omit-namespace",
    )
    lists("kinds", "--kinds", "--add-kind", "--remove-kind", "Set either --kinds or --[add/remove]-kind")
    # `--all-kinds` is declared but never read by Halyard: it changes nothing.
    lists(
        "omitKinds",
        "--omit-kinds",
        "--add-omit-kind",
        "--remove-omit-kind",
        "Set either --omit-kinds or --[add/remove]-omit-kind",
    )

    crs = list(a.get("customResources") or [])
    if v("--add-custom-resource") is not None:
        crs.append(
            {
                "kubernetesKind": v("--add-custom-resource"),
                "spinnakerKind": v("--spinnaker-kind"),
                "versioned": bool(v("--versioned", False)),
            }
        )
    elif v("--spinnaker-kind") is not None or v("--versioned") is not None:
        raise IllegalArgument(
            '"--spinnaker-kind" and "--versioned" can only be used with "--add-custom-resource" to set the name '
            "for the custom resource."
        )
    if v("--remove-custom-resource") is not None:
        crs = [c for c in crs if c.get("kubernetesKind") != v("--remove-custom-resource")]
    a["customResources"] = crs

    try:
        names = _update_list(
            [r.get("accountName") for r in a.get("dockerRegistries") or []],
            v("--docker-registries"),
            v("--add-docker-registry"),
            v("--remove-docker-registry"),
        )
    except ValueError:
        raise IllegalArgument("Set either --docker-registries or --[add/remove]-docker-registry") from None
    a["dockerRegistries"] = [{"accountName": n, "namespaces": []} for n in names]  # registry namespaces are lost
    lists(
        "oAuthScopes",
        "--oauth-scopes",
        "--add-oauth-scope",
        "--remove-oauth-scope",
        "Set either --oauth-scopes or --[add/remove]-oauth-scope",
    )
    for key, flag in (
        ("oAuthServiceAccount", "--oauth-service-account"),
        ("namingStrategy", "--naming-strategy"),
        ("skin", "--skin"),
        ("onlySpinnakerManaged", "--only-spinnaker-managed"),
        ("checkPermissionsOnStartup", "--check-permissions-on-startup"),
        ("liveManifestCalls", "--live-manifest-calls"),
        ("cacheThreads", "--cache-threads"),
        ("cacheIntervalSeconds", "--cache-interval-seconds"),
        ("cacheAllApplicationRelationships", "--cache-all-application-relationships"),
        ("providerVersion", "--provider-version"),
        ("environment", "--environment"),
    ):
        if v(flag) is not None:
            a[key] = v(flag)
    rre = dict(a.get("rawResourcesEndpointConfig") or {})
    try:
        rre["kindExpressions"] = _update_list(
            rre.get("kindExpressions"),
            v("--raw-resource-endpoint-kind-expressions"),
            v("--add-raw-resource-endpoint-kind-expression"),
            v("--remove-raw-resource-endpoint-kind-expression"),
        )
        rre["omitKindExpressions"] = _update_list(
            rre.get("omitKindExpressions"),
            v("--raw-resource-endpoint-omit-kind-expressions"),
            v("--add-raw-resource-endpoint-omit-kind-expression"),
            v("--remove-raw-resource-endpoint-omit-kind-expression"),
        )
    except ValueError:
        raise IllegalArgument(
            "Set either --raw-resource-endpoint-[omit-]kind-expressions or the --[add/remove] forms"
        ) from None
    a["rawResourcesEndpointConfig"] = rre
    try:
        a["requiredGroupMembership"] = _update_list(
            a.get("requiredGroupMembership"),
            v("--required-group-membership"),
            v("--add-required-group-membership"),
            v("--remove-required-group-membership"),
        )
        perms = a.get("permissions") or {}
        read = _update_set(
            perms.get("READ"), v("--read-permissions"), v("--add-read-permission"), v("--remove-read-permission")
        )
        write = _update_set(
            perms.get("WRITE"), v("--write-permissions"), v("--add-write-permission"), v("--remove-write-permission")
        )
    except ValueError as e:
        raise IllegalArgument(str(e)) from None
    # `updatePermissions` clears the map and rebuilds READ and WRITE only: EXECUTE and CREATE are dropped.
    a["permissions"] = {k: roles for k, roles in (("READ", read), ("WRITE", write)) if roles}


async def cmd_account_edit(inv: Invocation) -> None:
    name = _account_name(inv)
    d = await current_deployment(inv)
    raw = await operation(
        inv,
        inv.daemon.call("GET", _account_path(d, name), {"validate": False}),
        failure=f"Failed to get account {name} for provider kubernetes.",
    )
    account = _as_cli_account(inv, raw)
    before = _send(inv, account)
    _edit_kubernetes_account(inv, account)
    after = _send(inv, account)
    if before == after:
        inv.out.failure("No changes supplied.")
        return
    await operation(
        inv,
        inv.daemon.call("PUT", _account_path(d, name), {"validate": inv.validate}, after),
        failure=f"Failed to edit account {name} for provider kubernetes.",
        success=f"Successfully edited account {name} for provider kubernetes.",
    )


async def cmd_account_delete(inv: Invocation) -> None:
    name = _account_name(inv)
    d = await current_deployment(inv)
    await operation(
        inv,
        inv.daemon.call("DELETE", _account_path(d, name), {"validate": inv.validate}),
        failure=f"Failed to delete account {name} for provider kubernetes.",
        success=f"Successfully deleted account {name} for provider kubernetes.",
    )


async def cmd_account_get(inv: Invocation) -> None:
    name = _account_name(inv)
    d = await current_deployment(inv)
    raw = await operation(
        inv,
        inv.daemon.call("GET", _account_path(d, name), {"validate": inv.validate}),
        failure=f"Failed to get account {name} for provider kubernetes.",
        success=f"Account {name}: ",
        fmt="STRING",
        user_formatted=True,
    )
    account = _send(inv, _as_cli_account(inv, raw))
    # `AnsiUi.success(AnsiFormatUtils.format(account))` runs whatever -q/-o say.
    inv.out.success(f"{name.upper()}\n\nKubernetesAccount({_java_string(account)[1:-1]})")


async def cmd_account_list(inv: Invocation) -> None:
    d = await current_deployment(inv)
    provider = await operation(
        inv,
        inv.daemon.call("GET", f"/v1/config/deployments/{d}/providers/kubernetes/", {"validate": inv.validate}),
        failure="Failed to get provider kubernetes.",
    )
    accounts = (provider or {}).get("accounts") or []
    if not accounts:
        inv.out.success("No configured accounts for kubernetes.")
    else:
        inv.out.success("Accounts for kubernetes:")
        for account in accounts:
            inv.out.list_item(str(account.get("name")))


async def cmd_deploy_apply(inv: Invocation) -> None:
    v = inv.get
    names, excludes = v("--service-names", []), v("--exclude-service-names", [])
    d = await current_deployment(inv)
    prep = await operation(
        inv,
        inv.daemon.call(
            "POST",
            f"/v1/config/deployments/{d}/prep/",
            {"validate": inv.validate, "serviceNames": names, "excludeServiceNames": excludes},
        ),
        failure="Failed to prep Spinnaker deployment",
        success="Preparation complete... deploying Spinnaker",
    )
    _run_remote_action(inv, prep)
    if v("--prep-only"):
        return
    options = [
        option
        for option, flag in (
            ("OMIT_CONFIG", "--omit-config"),
            ("FLUSH_INFRASTRUCTURE_CACHES", "--flush-infrastructure-caches"),
            ("DELETE_ORPHANED_SERVICES", "--delete-orphaned-services"),
            ("WAIT_FOR_COMPLETION", "--wait-for-completion"),
        )
        if v(flag)
    ]
    result = await operation(
        inv,
        inv.daemon.call(
            "POST",
            f"/v1/config/deployments/{d}/deploy/",
            {
                "validate": False,
                "deployOptions": options,
                "serviceNames": names,
                "excludeServiceNames": excludes,
                "waitForCompletionTimeoutMinutes": v("--wait-for-completion-timeout-minutes"),
            },
        ),
        failure="Failed to deploy Spinnaker.",
        success="Run `hal deploy connect` to connect to Spinnaker.",
    )
    _run_remote_action(inv, result)


def _run_remote_action(inv: Invocation, action: Any) -> None:
    if isinstance(action, dict) and action.get("scriptPath"):
        inv.out.raw(
            f"{action.get('scriptDescription') or ''}\n\nPlease run the following script:\n\n{action['scriptPath']}"
        )


async def cmd_help(inv: Invocation) -> None:
    _help(inv)


def build_hal() -> Command:
    g, c = GLOBAL_FLAGS, GLOBAL_FLAGS + CONFIG_FLAGS
    account = Command(
        "account",
        c,
        {
            "add": Command("add", c + ADD_ACCOUNT_FLAGS, has_main=True, action=cmd_account_add),
            "edit": Command("edit", c + EDIT_ACCOUNT_FLAGS, has_main=True, action=cmd_account_edit),
            "delete": Command("delete", c, has_main=True, action=cmd_account_delete),
            "get": Command("get", c, has_main=True, action=cmd_account_get),
            "list": Command("list", c, action=cmd_account_list),
        },
        action=cmd_help,
    )
    kubernetes = Command(
        "kubernetes",
        c,
        {
            "account": account,
            "enable": Command("enable", c, action=cmd_enable_disable(True)),
            "disable": Command("disable", c, action=cmd_enable_disable(False)),
            "edit": Command("edit", c, action=cmd_provider_edit),
        },
        action=cmd_provider,
    )
    provider = Command("provider", c, {"kubernetes": kubernetes}, action=cmd_help)
    config = Command(
        "config", c + _flags(("--set-current-deployment", VALUE)), {"provider": provider}, action=cmd_config
    )
    deploy = Command(
        "deploy", c, {"apply": Command("apply", c + APPLY_FLAGS, action=cmd_deploy_apply)}, action=cmd_help
    )
    top = g + _flags(("--print-bash-completion", PRESENCE), ("--ready", PRESENCE), ("--docs", PRESENCE))
    top.append(Flag(("--version", "-v"), PRESENCE))
    return Command("hal", top, {"config": config, "deploy": deploy}, action=cmd_hal)


def _find(root: Command, path: list[str]) -> Command:
    cmd = root
    for name in path[1:]:
        cmd = cmd.subcommands[name]
    return cmd


async def run_hal(
    argv: Sequence[str],
    *,
    daemon_url: str,
    home: str = "/home/spinnaker",
    poll_interval: float = 0.4,
    request_timeout: float = 10.0,
) -> tuple[int, str, str]:
    """Run one `hal` invocation (argv without the leading "hal"); returns (exit code, stdout, stderr)."""
    out = Output()
    values: dict[str, Any] = {}
    root = build_hal()
    try:
        path, main = parse(root, argv, values)
    except ParameterError as e:
        out.err.append(str(e))
        return (1, *out.text())
    except IllegalArgument as e:
        out.error(f"Illegal argument: {e}")
        return (1, *out.text())
    daemon = DaemonClient(values.get("--daemon-endpoint") or daemon_url, out, poll_interval, request_timeout)
    inv = Invocation(path, values, main, out, daemon, home)
    cmd = _find(root, path)
    code = 0
    try:
        if values.get("--help") or cmd.action is None:
            _help(inv)
        else:
            await cmd.action(inv)
    except CliExit as e:
        code = e.code
    except RetrofitError as e:
        out.error(str(e))
        out.remediation("Is your daemon running?" if e.connect else "Try the command again with the --debug flag.")
        code = 1
    except TaskKilled as e:
        out.failure(str(e))
        code = 7
    except ExpectedDaemonFailure as e:
        out.failure(str(e))
        code = 1
    except Exception as e:
        out.error(str(e))
        code = 3
    finally:
        await daemon.close()
    return (code, *out.text())


def main() -> None:
    """`python -m tests.standins.halyard.hal_cli --daemon-endpoint URL …` for poking at a stand-in by hand."""
    code, stdout, stderr = asyncio.run(run_hal(sys.argv[1:], daemon_url="http://127.0.0.1:8064"))
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
