"""The Spinnaker account spinop wants for one SpinnakerAccount, independent of how it reaches Spinnaker (pure)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from spinop.redact import Redacted

ALWAYS_MANAGED_PERMISSIONS = frozenset({"READ", "WRITE"})


@dataclass(frozen=True)
class AccountOwner:
    namespace: str
    name: str
    uid: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DesiredSpinnakerAccount:
    owner: AccountOwner
    name: str
    environment: str
    namespace: str
    context: str
    kubeconfig: Redacted[str] = field(compare=False)
    kubeconfig_fingerprint: str
    kinds: tuple[str, ...] = ()
    omit_kinds: tuple[str, ...] = ()
    permissions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (READ|WRITE|EXECUTE, roles), sorted
    only_spinnaker_managed: bool = True
    cache_threads: int = 1
    custom_resources: tuple[tuple[str, str, bool], ...] = ()  # (kubernetesKind, spinnakerKind, versioned)
    adopt: bool = False

    def managed_fields(self) -> dict[str, Any]:
        """The account fields spinop owns, in Spinnaker's (Halyard/clouddriver) JSON shape, without credentials.

        Fields not listed here (e.g. EXECUTE when the spec sets no EXECUTE, cachingPolicies) belong to whoever set
        them in Spinnaker and are kept as they are on update.
        """
        fields: dict[str, Any] = {
            "name": self.name,
            "environment": self.environment,
            "providerVersion": "V2",
            "context": self.context,
            "namespaces": [self.namespace],
            "omitNamespaces": [],
            "kinds": list(self.kinds),
            "omitKinds": list(self.omit_kinds),
            "onlySpinnakerManaged": self.only_spinnaker_managed,
            "cacheThreads": self.cache_threads,
            "customResources": [
                {"kubernetesKind": kind, "spinnakerKind": skind, "versioned": versioned}
                for kind, skind, versioned in self.custom_resources
            ],
            "serviceAccount": False,
        }
        fields["permissions"] = {key: list(roles) for key, roles in self.permissions}
        return fields

    def content_key(self) -> str:
        """Changes whenever anything Spinnaker should see changes, the credentials included (by fingerprint)."""
        payload = json.dumps(
            {"fields": self.managed_fields(), "kubeconfig": self.kubeconfig_fingerprint}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def merge_account(existing: dict[str, Any] | None, desired: DesiredSpinnakerAccount) -> dict[str, Any]:
    """The whole account to write: the live one with spinop's fields laid over it (whole-account PUT semantics)."""
    merged = dict(existing or {})
    managed = desired.managed_fields()
    wanted: dict[str, list[str]] = managed.pop("permissions")
    # READ and WRITE always follow the spec (absent = unrestricted); EXECUTE and CREATE only when the spec sets
    # them, otherwise whatever an admin set in Spinnaker stays.
    permissions = {k: v for k, v in (merged.get("permissions") or {}).items() if k not in ALWAYS_MANAGED_PERMISSIONS}
    permissions.update(wanted)
    merged["permissions"] = permissions
    merged.update(managed)
    return merged
