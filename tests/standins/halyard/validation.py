"""Halyard's offline validators for Kubernetes accounts, as the test double of the Halyard daemon runs them.

Contract §3: `ProvidersValidator` (FATAL duplicate names across providers), `ProviderValidator` (WARNING enabled
provider without accounts), `AccountValidator` (FATAL missing name, WARNING requiredGroupMembership),
`KubernetesAccountValidator` (ERROR kinds+omitKinds, ERROR custom resource without kind, ERROR cacheThreads < 0,
WARNINGs for unreachable custom resources) and `FieldValidator` (WARNING for version-gated fields such as
`providerVersion` on Spinnaker >= 1.21). Each problem's location is the validated node's dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .halconfig import find_deployment
from .problems import Problem, ProblemCollector, Severity


@dataclass(frozen=True)
class VersionGate:
    field: str
    lower: str
    too_low: str
    upper: str = ""
    too_high: str = ""


KUBERNETES_ACCOUNT_GATES = (
    VersionGate(
        "providerVersion",
        "",
        "",
        "1.21.0",
        "The legacy (V1) Kubernetes provider is now deprecated. All accounts will now be wired as standard (V2) "
        "accounts, and providerVersion can be removed from all configured accounts.",
    ),
    VersionGate(
        "configureImagePullSecrets",
        "1.5.0",
        "Spinnaker does not support configuring this behavior before that version.",
    ),
    VersionGate("kinds", "1.7.0", "Configuring kind caching behavior is not supported yet."),
    VersionGate("omitKinds", "1.7.0", "Configuring kind caching behavior is not supported yet."),
    VersionGate("customResources", "1.6.0", "Custom kinds and resources are not supported yet."),
    VersionGate("cachingPolicies", "1.8.0", "Caching policies are not supported yet."),
    VersionGate(
        "liveManifestCalls",
        "1.12.0",
        "Live manifest mode not available prior to 1.12.0.",
        "1.23.0",
        "Live manifest mode no longer necessary as of 1.23.0.",
    ),
)


def _version(v: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in v.split("-")[0].split("."))
    except ValueError:
        return None  # nightly builds carry no version information


@dataclass(frozen=True)
class Scope:
    """Which nodes a validation visits (Halyard's NodeFilter)."""

    provider: str | None = None  # None: every provider
    account: str | None = None
    any_account: bool = True  # False: only accounts named `account`


def _validate_fields(p: ProblemCollector, account: dict[str, Any], version: str | None, location: str) -> None:
    if version is None:
        return
    current = _version(version)
    if current is None:
        return
    for gate in KUBERNETES_ACCOUNT_GATES:
        value = account.get(gate.field)
        if value is None or value is False or (isinstance(value, list) and not value):
            continue
        lower = _version(gate.lower) if gate.lower else None
        upper = _version(gate.upper) if gate.upper else None
        if lower is not None and current < lower:
            message, remediation = gate.too_low, f"Use at least {gate.lower} (It may not have been released yet)."
        elif upper is not None and current >= upper:
            message, remediation = gate.too_high, "You no longer need this."
        else:
            continue
        p.add(
            Severity.WARNING,
            f"Field KubernetesAccount.{gate.field} not supported for Spinnaker version {version}: {message}",
            location,
            remediation,
        )


def _custom_resource_repr(crs: list[dict[str, Any]]) -> str:
    inner = ", ".join(
        f"KubernetesAccount.CustomKubernetesResource(kubernetesKind={c.get('kubernetesKind')}, "
        f"spinnakerKind={c.get('spinnakerKind')}, versioned={str(bool(c.get('versioned'))).lower()})"
        for c in crs
    )
    return f"[{inner}]"


def _validate_kubernetes_account(p: ProblemCollector, a: dict[str, Any], location: str) -> None:
    version = a.get("providerVersion")
    if version is None:
        return  # the switch on a null enum throws and ValidatorCollection swallows it
    kinds, omit = a.get("kinds") or [], a.get("omitKinds") or []
    crs = a.get("customResources") or []
    if version == "V1":
        p.add(
            Severity.WARNING,
            f"Account {a.get('name')} is using Spinnaker's legacy Kubernetes provider (V1), which is scheduled for "
            "removal in Spinnaker 1.21. Please migrate to the manifest-based provider (V2).",
            location,
        )
        if kinds or omit or crs:
            p.add(
                Severity.WARNING,
                "Kubernetes accounts at V1 do no support configuring caching behavior for kinds or custom resources.",
                location,
            )
    if kinds and omit:
        p.add(Severity.ERROR, 'At most one of "kinds" and "omitKinds" may be specified.', location)
    if crs and any(not c.get("kubernetesKind") for c in crs):
        p.add(Severity.ERROR, "Missing custom resource name (Kubernetes Kind).", location)
    if kinds and crs and any(c.get("kubernetesKind") not in kinds for c in crs):
        p.add(
            Severity.WARNING,
            f'The following custom resources "{_custom_resource_repr(crs)}" will not be cached since they aren\'t '
            f'listed in your existing resource kinds configuration: "[{", ".join(kinds)}]".',
            location,
        )
    if omit and crs and any(c.get("kubernetesKind") in omit for c in crs):
        p.add(
            Severity.WARNING,
            f'The following custom resources "{_custom_resource_repr(crs)}" will not be cached since they are '
            f'listed in you\'ve omitted them in you omitKinds configuration: "[{", ".join(omit)}]".',
            location,
        )
    if int(a.get("cacheThreads") or 0) < 0:
        p.add(Severity.ERROR, '"cacheThreads" should be greater or equal to 0.', location)


def _validate_account(p: ProblemCollector, a: dict[str, Any], version: str | None, location: str) -> None:
    if a.get("name") is None:
        p.add(Severity.FATAL, "Account name must be specified", location)
    if a.get("requiredGroupMembership"):
        p.add(
            Severity.WARNING,
            "requiredGroupMembership has been deprecated. Please consider moving to using permissions with the "
            "flags --read-permissions and --write-permissions instead. Read more at "
            "https://spinnaker.io/setup/security/authorization.",
            location,
        )
    _validate_kubernetes_account(p, a, location)
    _validate_fields(p, a, version, location)


def validate(hc: dict[str, Any], deployment: str, scope: Scope) -> list[Problem]:
    dep = find_deployment(hc, deployment)
    p = ProblemCollector()
    providers_location = f"{dep['name']}.provider"
    seen: set[Any] = set()
    for pname, provider in dep["providers"].items():
        for account in provider.get("accounts", []):
            name = account.get("name")
            if name in seen:
                p.add(
                    Severity.FATAL,
                    f'Account "{name}" appears more than once',
                    providers_location,
                    f"Change the name of the account in {pname}",
                )
            seen.add(name)
    for pname, provider in dep["providers"].items():
        if scope.provider is not None and pname != scope.provider:
            continue
        provider_location = f"{providers_location}.{pname}"
        if provider.get("enabled") and not provider.get("accounts"):
            p.add(
                Severity.WARNING,
                f"Provider {pname} is enabled, but no accounts have been configured.",
                provider_location,
            )
        if pname != "kubernetes":
            continue
        for account in provider["accounts"]:
            if not scope.any_account and account.get("name") != scope.account:
                continue
            location = f"{provider_location}.{account.get('name')}"  # Java renders a null name as "null"
            _validate_account(p, account, dep.get("version"), location)
    return p.problems


def validate_account(hc: dict[str, Any], deployment: str, provider: str, account: str | None) -> list[Problem]:
    return validate(hc, deployment, Scope(provider=provider, account=account, any_account=False))


def validate_provider(hc: dict[str, Any], deployment: str, provider: str) -> list[Problem]:
    return validate(hc, deployment, Scope(provider=provider))


def validate_deployment(hc: dict[str, Any], deployment: str) -> list[Problem]:
    return validate(hc, deployment, Scope())
