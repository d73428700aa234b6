"""Clouddriver's account definitions, pure: how spinop's account looks in the account management API, how clouddriver
stores it (to compare only the fields spinop sets), and Gate's answers to one account write as the account's outcome.

Shared by the accounts-api backend and the migration from Halyard; no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinop.api.reasons import Reason
from spinop.gate import (
    GateAccountExists,
    GateAccountRolesExcludeCaller,
    GateAccountsApiDisabled,
    GateError,
    GateNotFound,
    GateRateLimited,
    GateRejected,
    GateUnauthorized,
    GateUnavailable,
)
from spinop.redact import Redacted
from spinop.spinnaker.desired import DesiredSpinnakerAccount, merge_account
from spinop.spinnaker.sync import BackendUnavailable, Outcome

ACCOUNT_TYPE = "kubernetes"
#: Keys of Halyard's KubernetesAccount that clouddriver's ManagedAccount does not have (contract §3.1), and the
#: file path that the inline kubeconfig replaces.
NOT_IN_DEFINITION = (
    "providerVersion",
    "cluster",
    "user",
    "configureImagePullSecrets",
    "dockerRegistries",
    "liveManifestCalls",
    "skin",
    "kubeconfigFile",
)
#: Defaults clouddriver fills into a stored Kubernetes definition, for the fields spinop sets (clouddriver-kubernetes
#: KubernetesAccountProperties.ManagedAccount and CustomKubernetesResource): a listing carries them filled in.
MANAGED_ACCOUNT_DEFAULTS: dict[str, Any] = {
    "namespaces": [],
    "omitNamespaces": [],
    "kinds": [],
    "omitKinds": [],
    "onlySpinnakerManaged": False,
    "cacheThreads": 1,
    "customResources": [],
    "serviceAccount": False,
    "permissions": {},
}
CUSTOM_RESOURCE_DEFAULTS: dict[str, Any] = {
    "spinnakerKind": "unclassified",
    "deployPriority": "100",
    "versioned": False,
    "namespaced": True,
}
STORAGE_SETTINGS = "account.storage.enabled: true and account.storage.kubernetes.enabled: true"


def to_definition(account: Mapping[str, Any], kubeconfig: Redacted[str]) -> dict[str, Any]:
    """An account (Halyard's or clouddriver's JSON shape) as an account-management-API definition.

    Halyard-only keys go, `kubectlPath` becomes clouddriver's `kubectlExecutable`, and the kubeconfig travels inline.
    """
    body = {k: v for k, v in account.items() if k not in NOT_IN_DEFINITION}
    if "kubectlPath" in body:
        body.setdefault("kubectlExecutable", body.pop("kubectlPath"))
    body.pop("@type", None)  # clouddriver refuses a body typed by "@type" (the discriminator is "type")
    body["type"] = ACCOUNT_TYPE
    body["kubeconfigContents"] = Redacted(kubeconfig.reveal())
    return body


def account_definition(desired: DesiredSpinnakerAccount, live: Mapping[str, Any] | None) -> dict[str, Any]:
    """The whole definition to store: the stored one with spinop's fields laid over it (PUT replaces it whole)."""
    return to_definition(merge_account(dict(live) if live is not None else None, desired), desired.kubeconfig)


def as_clouddriver_stores(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The fields spinop sets as clouddriver returns them: defaults filled in, permission roles as sets."""
    out = dict(definition)
    for key, default in MANAGED_ACCOUNT_DEFAULTS.items():
        if out.get(key) is None:
            out[key] = default
    resources = out.get("customResources")
    if isinstance(resources, list):
        out["customResources"] = [{**CUSTOM_RESOURCE_DEFAULTS, **r} if isinstance(r, Mapping) else r for r in resources]
    permissions = out.get("permissions")
    if isinstance(permissions, Mapping):
        # Fiat's Permissions.Builder holds each level as a Set: order and duplicates do not survive storage.
        out["permissions"] = {
            str(k): sorted({str(r) for r in v}) if isinstance(v, list) else v for k, v in permissions.items()
        }
    return out


def definition_differs(desired: DesiredSpinnakerAccount, live: Mapping[str, Any] | None) -> bool:
    """Whether the stored definition is not what spinop would write (never stored, edited, old credentials).

    Only spinop's fields count (the rest of `wanted` is `live` itself), compared the way clouddriver stores them.
    """
    if live is None:
        return True
    wanted = account_definition(desired, live)
    if "kubeconfigContents" not in live:
        # A Spinnaker that hides stored secrets in listings: the inventory's fingerprint speaks for the kubeconfig.
        wanted.pop("kubeconfigContents")
    return as_clouddriver_stores(wanted) != as_clouddriver_stores(live)


def holds_our_kubeconfig(desired: DesiredSpinnakerAccount, stored: Mapping[str, Any] | None) -> bool:
    """Whether a stored definition carries spinop's kubeconfig for this account: only spinop holds that token, so
    this proves a write of spinop's own whose answer was lost."""
    if stored is None:
        return False
    contents = stored.get("kubeconfigContents")
    text = contents.reveal() if isinstance(contents, Redacted) else contents
    return isinstance(text, str) and text == desired.kubeconfig.reveal()


def gate_failure(err: GateError, *, action: str) -> Outcome:
    """Gate's answer to one account write as the account's outcome (Gate's words; the client scrubbed secrets)."""
    if isinstance(err, GateRateLimited):
        return Outcome(False, Reason.GateRateLimited, f"Gate kept answering 429 while spinop {action}: {err.message}")
    if isinstance(err, GateUnavailable):
        return Outcome(False, Reason.GateUnavailable, f"Gate could not be reached while spinop {action}: {err.message}")
    if isinstance(err, GateUnauthorized):
        return Outcome(
            False,
            Reason.GateUnauthorized,
            f"Gate refused spinop's identity while spinop {action}: {err.message}. spinop's Gate identity needs "
            "WRITE on the account (Fiat), or an account-manager role where Fiat restricts the API",
        )
    if isinstance(err, GateAccountsApiDisabled | GateNotFound):
        return Outcome(
            False,
            Reason.AccountsApiNotEnabled,
            f"Spinnaker's account management API is off ({err.message}) while spinop {action}. It needs "
            f"Spinnaker 1.28+ and, in clouddriver's profile, {STORAGE_SETTINGS}",
        )
    if isinstance(err, GateAccountRolesExcludeCaller):
        return Outcome(
            False,
            Reason.SpinnakerAccountRolesExcludeOperator,
            f"Spinnaker refused the account while spinop {action}: {err.message}. Clouddriver lets only a Fiat "
            "admin store an account whose WRITE roles share none of the caller's roles (the account-manager role "
            "does not exempt it). Make spinop's Spinnaker identity a Fiat admin, or include one of its roles in the "
            "account's WRITE permission (spec.permissions or the SpinnakerCluster's tenancy policy)",
        )
    if isinstance(err, GateAccountExists):
        return Outcome(
            False,
            Reason.AccountCreatedConcurrently,
            "someone created a Spinnaker account of this name while spinop was creating it; spinop checks who owns "
            "it again on the next attempt",
        )
    if isinstance(err, GateRejected):
        return Outcome(
            False,
            Reason.AccountsApiRejected,
            f"Spinnaker's account management API refused the account while spinop {action}: {err.message}",
            needs_user=True,
        )
    return Outcome(False, Reason.GateError, f"Gate failed while spinop {action}: {err.message}")


def unavailable(err: GateError, what: str) -> BackendUnavailable:
    outcome = gate_failure(err, action=what)
    return BackendUnavailable(outcome.reason, outcome.message)


def kubernetes_view(accounts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Kubernetes accounts in Gate's `GET /credentials` answer (what clouddriver has loaded), by name."""
    return {
        str(a["name"]): a
        for a in accounts
        if a.get("name") and (a.get("cloudProvider") or a.get("type") or ACCOUNT_TYPE) == ACCOUNT_TYPE
    }
