"""Mapping account JSON to `hal` command lines, and reading `hal`'s stderr back into problems (contract §1).

What the CLI cannot express (the exec transport raises `HalyardNotSupported` rather than silently dropping it):
- on add and edit: `cluster`, `user`, `kubeconfigContents`, `kubectlPath`, `kubectlRequestTimeoutSeconds`,
  `cachingPolicies`, `debug`, namespaces inside `dockerRegistries`, and EXECUTE/CREATE permissions (edit even
  drops existing EXECUTE/CREATE roles, so any edit of such an account is refused too);
- on edit: renaming, and clearing a scalar back to null (only `context` has `--clear-context`; booleans whose
  null means false — serviceAccount, onlySpinnakerManaged, liveManifestCalls, cacheAllApplicationRelationships —
  are written as `false` instead, where the REST transport would store nothing);
- list values that start with "-" or contain "," (JCommander would read them as flags or split them).
`customResources` have no flag on add: they are added by follow-up `edit --add-custom-resource` calls.
Edit flags take one `--add-X`/`--remove-X` value per call, so a change may need several `edit` rounds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import HalyardNotSupported, HalyardRejected
from .model import ACCOUNT_FIELDS, Problem, Severity, account_to_halyard

# Fields `hal` has no flag for; they must stay as they are (absent on add, unchanged on edit).
INEXPRESSIBLE = ("cluster", "user", "kubeconfigContents", "kubectlPath", "kubectlRequestTimeoutSeconds", "debug")
_KNOWN = set(ACCOUNT_FIELDS) | {"oauthScopes", "oauthServiceAccount"}
_BOOLEANS = (
    ("serviceAccount", "--service-account"),
    ("configureImagePullSecrets", "--configure-image-pull-secrets"),
    ("onlySpinnakerManaged", "--only-spinnaker-managed"),
    ("checkPermissionsOnStartup", "--check-permissions-on-startup"),
    ("liveManifestCalls", "--live-manifest-calls"),
    ("cacheAllApplicationRelationships", "--cache-all-application-relationships"),
)
# Booleans whose null Halyard/clouddriver read as false: "back to null" can be written as false.
_NULL_IS_FALSE = ("serviceAccount", "onlySpinnakerManaged", "liveManifestCalls", "cacheAllApplicationRelationships")
_SCALARS = (
    ("environment", "--environment"),
    ("providerVersion", "--provider-version"),
    ("cacheThreads", "--cache-threads"),
    ("cacheIntervalSeconds", "--cache-interval-seconds"),
    ("oAuthServiceAccount", "--oauth-service-account"),
    ("namingStrategy", "--naming-strategy"),
    ("skin", "--skin"),
)


@dataclass(frozen=True)
class ListFamily:
    """A string list and its flags: the full-list flag, the single add/remove flags, an optional clear flag."""

    get: Callable[[Mapping[str, Any]], list[str]]
    name: str
    set_flag: str
    add_flag: str
    remove_flag: str
    clear_flag: str | None = None
    repeat_set_flag: bool = False  # the edit flag is not variable-arity: one value per occurrence


def _rre(key: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda a: list((a.get("rawResourcesEndpointConfig") or {}).get(key) or [])


def _plain(key: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda a: list(a.get(key) or [])


def _perm(key: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda a: sorted(set((a.get("permissions") or {}).get(key) or []))


def _registries(a: Mapping[str, Any]) -> list[str]:
    return [str(r.get("accountName")) for r in a.get("dockerRegistries") or []]


LIST_FAMILIES = (
    ListFamily(
        _plain("namespaces"), "namespaces", "--namespaces", "--add-namespace", "--remove-namespace", "--all-namespaces"
    ),
    ListFamily(
        _plain("omitNamespaces"),
        "omitNamespaces",
        "--omit-namespaces",
        "--add-omit-namespace",
        "--remove-omit-namespace",
    ),
    ListFamily(_plain("kinds"), "kinds", "--kinds", "--add-kind", "--remove-kind"),
    ListFamily(_plain("omitKinds"), "omitKinds", "--omit-kinds", "--add-omit-kind", "--remove-omit-kind"),
    ListFamily(_plain("oAuthScopes"), "oAuthScopes", "--oauth-scopes", "--add-oauth-scope", "--remove-oauth-scope"),
    ListFamily(
        _plain("requiredGroupMembership"),
        "requiredGroupMembership",
        "--required-group-membership",
        "--add-required-group-membership",
        "--remove-required-group-membership",
    ),
    ListFamily(
        _rre("kindExpressions"),
        "rawResourcesEndpointConfig.kindExpressions",
        "--raw-resource-endpoint-kind-expressions",
        "--add-raw-resource-endpoint-kind-expression",
        "--remove-raw-resource-endpoint-kind-expression",
        repeat_set_flag=True,
    ),
    ListFamily(
        _rre("omitKindExpressions"),
        "rawResourcesEndpointConfig.omitKindExpressions",
        "--raw-resource-endpoint-omit-kind-expressions",
        "--add-raw-resource-endpoint-omit-kind-expression",
        "--remove-raw-resource-endpoint-omit-kind-expression",
    ),
    ListFamily(
        _registries, "dockerRegistries", "--docker-registries", "--add-docker-registry", "--remove-docker-registry"
    ),
    ListFamily(
        _perm("READ"), "permissions.READ", "--read-permissions", "--add-read-permission", "--remove-read-permission"
    ),
    ListFamily(
        _perm("WRITE"),
        "permissions.WRITE",
        "--write-permissions",
        "--add-write-permission",
        "--remove-write-permission",
    ),
)


def _check_value(family: str, value: str) -> str:
    if not value or value.startswith("-") or "," in value:
        raise HalyardNotSupported(
            f"{family} value {value!r} cannot be passed to hal (empty, leading '-' or a ',' that JCommander splits)"
        )
    return value


def check_known_fields(account: Mapping[str, Any], operation: str) -> None:
    """Refuse unknown keys: `hal` has no flag for them, and the daemon would drop them silently anyway."""
    unknown = sorted(k for k in account if k not in _KNOWN)
    if unknown:
        raise HalyardRejected(
            operation,
            [
                Problem(
                    f'Unrecognized field "{unknown[0]}" (class KubernetesAccount), not marked as ignorable',
                    Severity.FATAL,
                    remediation=f"Remove {', '.join(unknown)}; known fields: {', '.join(sorted(_KNOWN))}",
                )
            ],
        )


def _check_expressible(account: Mapping[str, Any], what: str) -> None:
    problems = [k for k in INEXPRESSIBLE if account.get(k) is not None]
    if account.get("cachingPolicies"):
        problems.append("cachingPolicies")
    perms = account.get("permissions") or {}
    problems += [f"permissions.{k}" for k in ("EXECUTE", "CREATE") if perms.get(k)]
    if any(r.get("namespaces") for r in account.get("dockerRegistries") or []):
        problems.append("dockerRegistries[].namespaces")
    if problems:
        raise HalyardNotSupported(
            f"hal cannot express {', '.join(problems)} for {what}; use the REST transport for this account"
        )


def custom_resource_flags(cr: Mapping[str, Any]) -> list[str]:
    flags = [f"--add-custom-resource={cr.get('kubernetesKind') or ''}"]
    if cr.get("spinnakerKind") is not None:
        flags.append(f"--spinnaker-kind={cr['spinnakerKind']}")
    if cr.get("versioned"):
        flags.append("--versioned=true")
    return flags


def add_flags(account: Mapping[str, Any]) -> list[str]:
    """Flags for `hal config provider kubernetes account add NAME` (custom resources excluded)."""
    a = account_to_halyard(account)
    name = str(a.get("name") or "")
    _check_expressible(a, f"account {name}")
    flags: list[str] = []
    if a.get("context"):
        flags.append(f"--context={a['context']}")
    if a.get("kubeconfigFile") is not None:
        flags.append(f"--kubeconfig-file={a['kubeconfigFile']}")
    for key, flag in _BOOLEANS:
        if a.get(key) is not None:
            flags.append(f"{flag}={'true' if a[key] else 'false'}")
    for key, flag in _SCALARS:
        if a.get(key) is not None:
            flags.append(f"{flag}={a[key]}")
    for family in LIST_FAMILIES:
        values = family.get(a)
        if values:
            # On add every list flag is variable-arity (only the edit kind-expressions flag is not).
            flags += [family.set_flag, *(_check_value(family.name, v) for v in values)]
    return flags


@dataclass
class EditPlan:
    """Rounds of `account edit` flags; each round is one `hal` call. Empty means nothing to change."""

    rounds: list[list[str]] = field(default_factory=list)


def _effective_kubeconfig(a: Mapping[str, Any]) -> str | None:
    if a.get("serviceAccount"):
        return None
    return a.get("kubeconfigFile") or "~default"


def plan_edit(current: Mapping[str, Any], desired: Mapping[str, Any], name: str) -> EditPlan:
    """Rounds of `edit` flags turning `current` (as Halyard returns it) into `desired`."""
    cur, want = account_to_halyard(current), account_to_halyard(desired)
    if want.get("name") != name:
        raise HalyardNotSupported(f"hal cannot rename account {name} to {want.get('name')}; use the REST transport")
    _check_expressible(want, f"account {name}")
    perms = cur.get("permissions") or {}
    if any(perms.get(k) for k in ("EXECUTE", "CREATE")):
        raise HalyardNotSupported(
            f"account {name} has EXECUTE/CREATE permissions, which any `hal … account edit` drops; "
            "use the REST transport"
        )
    if any(r.get("namespaces") for r in cur.get("dockerRegistries") or []):
        raise HalyardNotSupported(f"`hal … account edit` would drop dockerRegistries namespaces of {name}")
    for key in INEXPRESSIBLE:
        if cur.get(key) != want.get(key):
            raise HalyardNotSupported(f"hal cannot change {key} of account {name}; use the REST transport")
    if (cur.get("cachingPolicies") or []) != (want.get("cachingPolicies") or []):
        raise HalyardNotSupported(f"hal cannot change cachingPolicies of account {name}; use the REST transport")

    first: list[str] = []
    queues: list[list[list[str]]] = []
    if (cur.get("context") or None) != (want.get("context") or None):
        first.append(f"--context={want['context']}" if want.get("context") else "--clear-context")
    cur_kc, want_kc = _effective_kubeconfig(cur), _effective_kubeconfig(want)
    for key, flag in _BOOLEANS + _SCALARS:
        if cur.get(key) == want.get(key):
            continue
        if want.get(key) is None and key in _NULL_IS_FALSE:
            if cur.get(key):
                first.append(f"{flag}=false")
            continue
        if want.get(key) is None:
            raise HalyardNotSupported(f"hal cannot reset {key} of account {name} to null; use the REST transport")
        value = ("true" if want[key] else "false") if isinstance(want[key], bool) else want[key]
        first.append(f"{flag}={value}")
    if want_kc is not None and cur_kc != want_kc:
        if want_kc == "~default":
            # From serviceAccount: true (no file) the getter fills the default path by itself.
            if cur_kc is not None and not cur_kc.endswith("/.kube/config"):
                raise HalyardNotSupported(
                    f"hal cannot reset kubeconfigFile of account {name} to the default; set it explicitly"
                )
        else:
            first.append(f"--kubeconfig-file={want_kc}")
    for family in LIST_FAMILIES:
        before, after = family.get(cur), family.get(want)
        if before == after:
            continue
        if after:
            values = [_check_value(family.name, v) for v in after]
            if family.repeat_set_flag:
                first += [f"{family.set_flag}={v}" for v in values]
            else:
                first += [family.set_flag, *values]
        elif family.clear_flag:
            first.append(family.clear_flag)
        else:
            queues.append([[f"{family.remove_flag}={v}"] for v in before])
    crs_before = list(cur.get("customResources") or [])
    crs_after = list(want.get("customResources") or [])
    if crs_before != crs_after:
        ops: list[list[str]] = []
        if crs_after[: len(crs_before)] == crs_before:
            ops += [custom_resource_flags(cr) for cr in crs_after[len(crs_before) :]]
        else:
            kinds: list[str] = []
            for cr in crs_before:
                kind = cr.get("kubernetesKind")
                if not kind:
                    raise HalyardNotSupported(f"hal cannot remove a custom resource without a kind from {name}")
                if kind not in kinds:
                    kinds.append(kind)
            ops += [[f"--remove-custom-resource={k}"] for k in kinds]
            ops += [custom_resource_flags(cr) for cr in crs_after]
        queues.append(ops)
    rounds = [first] if first else []
    depth = max((len(q) for q in queues), default=0)
    for i in range(depth):
        step = [flag for q in queues if i < len(q) for flag in q[i]]
        if i == 0 and rounds:
            rounds[0] += step
        else:
            rounds.append(step)
    return EditPlan(rounds)


# -- reading hal's output ---------------------------------------------------------------------------------

_DAEMON_REMEDIATIONS = ("Is your daemon running?", "Try the command again with the --debug flag.")


@dataclass
class CliReport:
    """What `hal` printed on stderr: problems per location, "- …" failure lines, daemon/transport errors."""

    problems: list[Problem] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    daemon_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    daemon_unreachable: bool = False


@dataclass
class _Item:
    kind: str
    text: str
    location: str | None = None
    remediation: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_stderr(text: str) -> CliReport:
    """Parse `AnsiUi` output: "Validation in LOC:", "! ERROR …", "- WARNING …", "? …", "- …", wrapped lines."""
    items: list[_Item] = []
    location: str | None = None
    in_validation = False
    in_options = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("Validation in ") and line.endswith(":"):
            location = line[len("Validation in ") : -1]
            location = None if location == "null" else location
            in_validation, in_options = True, False
            continue
        if line.startswith("! ERROR "):
            items.append(_Item("error" if in_validation else "plain-error", line[8:], location))
            in_options = False
        elif line.startswith("- WARNING "):
            items.append(_Item("warning", line[10:], location))
            in_options = False
        elif line.startswith("- INFO "):
            items.append(_Item("info", line[7:], location))
        elif line.startswith("? "):
            if items:
                if line[2:].strip() == "Options include:":
                    in_options = True
                else:
                    items[-1].remediation.append(line[2:])
            else:
                items.append(_Item("other", line))
        elif line.startswith("  - ") and in_options and items:
            items[-1].options.append(line[4:])
        elif line.startswith("  ") and items:
            target = items[-1]
            if target.remediation:
                target.remediation[-1] += " " + line.strip()
            else:
                target.text += " " + line.strip()
        elif line.startswith("- "):
            items.append(_Item("failure", line[2:]))
            in_validation, location, in_options = False, None, False
        else:
            items.append(_Item("other", line))
    report = CliReport()
    for item in items:
        remediation = " ".join(item.remediation) or None
        if item.kind in ("error", "plain-error") and remediation in _DAEMON_REMEDIATIONS:
            report.daemon_errors.append(item.text)
            report.daemon_unreachable |= remediation == _DAEMON_REMEDIATIONS[0]
        elif item.kind in ("error", "warning", "info"):
            severity = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}[item.kind]
            report.problems.append(Problem(item.text, severity, item.location, remediation, tuple(item.options)))
        elif item.kind == "plain-error":
            report.errors.append(item.text)
        elif item.kind == "failure":
            report.failures.append(item.text)
        else:
            report.other.append(item.text)
    return report


_JSON_START = re.compile(r"^\s*[\[{\"]", re.M)


def first_json(stdout: str) -> Any:
    """The JSON `-o json` printed; `hal` may print other lines before (INFO problems) and after (`get`)."""
    for match in _JSON_START.finditer(stdout):
        try:
            value, _ = json.JSONDecoder().raw_decode(stdout, match.end() - 1)
        except json.JSONDecodeError:
            continue
        return value
    return None
