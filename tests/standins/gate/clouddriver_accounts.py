"""Clouddriver's account management API behind Gate's `/credentials`: definitions, defaults, secrets, Fiat.

Behaviour read from upstream (spinnaker/clouddriver at 2f5e98f, spinnaker/kork at a7b6fde), not copied:
- the type discriminator is the property `type` (clouddriver-core `jackson/mixins/CredentialsDefinitionMixin.java`);
  a body without it fails Jackson's polymorphic read ("missing type id property 'type'");
- a stored Kubernetes definition is a `KubernetesAccountProperties.ManagedAccount` (clouddriver-kubernetes): unknown
  keys are dropped, field defaults are filled in, nulls are not written (CloudDriverConfig: NON_NULL);
- `encrypted:`/`encryptedFile:` values are decrypted whenever a definition is read back from storage
  (clouddriver-core `security/AccountDefinitionMapper.java`) through one long-lived kork `SecretSession`, whose cache
  is never cleared (kork-secrets `SecretSession.java`): the first value read for a reference is kept for the process;
- Fiat (clouddriver-core `security/AccountDefinitionService.java`, `DefaultAccountSecurityPolicy.java`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .errors import Rejected

#: The account types this clouddriver knows (@CredentialsType classes found by classpath scanning).
KNOWN_TYPES = ("kubernetes", "dockerRegistry", "aws", "google", "appengine", "cloudrun", "cloudfoundry", "ecs")
DEFINITION_CLASS = "com.netflix.spinnaker.credentials.definition.CredentialsDefinition"
STORAGE_OFF = "Cannot use AccountDefinitionService endpoints without enabling AccountDefinitionService bean"

#: KubernetesAccountProperties.ManagedAccount: every field with its default (None: no default, left out when unset).
MANAGED_ACCOUNT_FIELDS: dict[str, Any] = {
    "name": None,
    "environment": None,
    "accountType": None,
    "context": None,
    "oAuthServiceAccount": None,
    "oAuthScopes": None,
    "kubeconfigFile": None,
    "kubeconfigContents": None,
    "kubectlExecutable": None,
    "kubectlRequestTimeoutSeconds": None,
    "serviceAccount": False,
    "namespaces": [],
    "omitNamespaces": [],
    "cacheThreads": 1,
    "requiredGroupMembership": [],
    "permissions": {},
    "namingStrategy": "kubernetesAnnotations",
    "debug": False,
    "metrics": True,
    "checkPermissionsOnStartup": True,
    "customResources": [],
    "cachingPolicies": [],
    "kinds": [],
    "omitKinds": [],
    "onlySpinnakerManaged": False,
    "cacheIntervalSeconds": None,
    "cacheAllApplicationRelationships": False,
    "rawResourcesEndpointConfig": {
        "kindExpressions": [],
        "omitKindExpressions": [],
        "kindPatterns": [],
        "omitKindPatterns": [],
    },
}
#: CustomKubernetesResource's defaults.
CUSTOM_RESOURCE_DEFAULTS: dict[str, Any] = {
    "spinnakerKind": "unclassified",
    "deployPriority": "100",
    "versioned": False,
    "namespaced": True,
}
CACHING_POLICY_DEFAULTS: dict[str, Any] = {"maxEntriesPerAgent": 0}


def read_definition(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as clouddriver's Jackson reads it into a CredentialsDefinition (Rejected 400/500 otherwise)."""
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise Rejected(
            f"JSON parse error: Could not resolve subtype of [simple type, class {DEFINITION_CLASS}]: "
            "missing type id property 'type'"
        )
    if kind not in KNOWN_TYPES:
        raise Rejected(
            f"JSON parse error: Could not resolve type id '{kind}' as a subtype of [simple type, class "
            f"{DEFINITION_CLASS}]: known type ids = {list(KNOWN_TYPES)}"
        )
    if not isinstance(body.get("name"), str) or not body["name"]:
        # AccountDefinitionService reads definition.getName() into a lookup that does not take null.
        raise Rejected("java.lang.NullPointerException", 500)
    if kind != "kubernetes":
        return copy.deepcopy(body)
    return kubernetes_definition(body)


def kubernetes_definition(body: dict[str, Any]) -> dict[str, Any]:
    """ManagedAccount as clouddriver serializes it: known fields only, defaults filled, nulls left out."""
    out: dict[str, Any] = {"type": "kubernetes"}
    for key, default in MANAGED_ACCOUNT_FIELDS.items():
        value = body.get(key, copy.deepcopy(default))
        if value is None:
            continue
        if key == "customResources" and isinstance(value, list):
            value = [{**CUSTOM_RESOURCE_DEFAULTS, **r} if isinstance(r, dict) else r for r in value]
        if key == "cachingPolicies" and isinstance(value, list):
            value = [{**CACHING_POLICY_DEFAULTS, **p} if isinstance(p, dict) else p for p in value]
        if key == "rawResourcesEndpointConfig" and isinstance(value, dict):
            value = {**copy.deepcopy(MANAGED_ACCOUNT_FIELDS[key]), **value}
        out[key] = copy.deepcopy(value)
    return out


def is_encrypted_reference(value: str) -> bool:
    """kork's EncryptedSecret.isEncryptedSecret: `encrypted:` (case-sensitive) or `encryptedFile:` (any case)."""
    return value.startswith("encrypted:") or value.lower().startswith("encryptedfile:")


@dataclass
class SecretEngine:
    """A kork secret engine plus the one SecretSession clouddriver's AccountDefinitionMapper keeps for its life."""

    values: dict[str, str] = field(default_factory=dict)  # reference -> what the engine holds now
    session_cache: dict[str, str] = field(default_factory=dict)  # never cleared, as in clouddriver

    def decrypt(self, reference: str) -> str:
        if reference in self.session_cache:
            return self.session_cache[reference]
        if reference not in self.values:
            raise LookupError(reference)
        self.session_cache[reference] = self.values[reference]
        return self.values[reference]

    def deserialize(self, stored: dict[str, Any]) -> dict[str, Any] | None:
        """AccountDefinitionMapper.deserialize: top-level encrypted references decrypted; None when one fails."""
        out = copy.deepcopy(stored)
        for key, value in stored.items():
            if isinstance(value, str) and is_encrypted_reference(value):
                try:
                    out[key] = self.decrypt(value)
                except LookupError:
                    return None  # SqlAccountDefinitionRepository skips the row ("Unable to decrypt secret")
        return out


@dataclass
class FiatPolicy:
    """clouddriver's AccountSecurityPolicy: AllowAll with Fiat off, DefaultAccountSecurityPolicy with Fiat on."""

    enabled: bool = False
    admins: set[str] = field(default_factory=set)
    account_managers: set[str] = field(default_factory=set)

    def is_admin(self, user: str) -> bool:
        return not self.enabled or user in self.admins

    def is_account_manager(self, user: str) -> bool:
        return self.is_admin(user) or user in self.account_managers

    @staticmethod
    def has_write(roles: list[str], account: dict[str, Any] | None) -> bool:
        """Fiat's WRITE on a loaded account: an account without WRITE roles is open to everyone."""
        if account is None:
            return False
        permissions = account.get("permissions") if isinstance(account.get("permissions"), dict) else {}
        write = [str(r) for r in (permissions or {}).get("WRITE") or []]
        return not write or bool(set(write) & set(roles))

    def can_use(self, user: str, roles: list[str], loaded: dict[str, Any] | None) -> bool:
        return self.is_admin(user) or self.has_write(roles, loaded)

    def can_modify(self, user: str, roles: list[str], loaded: dict[str, Any] | None) -> bool:
        return self.is_admin(user) or (user in self.account_managers and self.has_write(roles, loaded))

    def check_write_roles(self, user: str, roles: list[str], definition: dict[str, Any], action: str) -> None:
        """AccountDefinitionService.validateAccountAuthorization: only admins may lock themselves out."""
        if self.is_admin(user):
            return
        permissions = definition.get("permissions") if isinstance(definition.get("permissions"), dict) else {}
        write = {str(r) for r in (permissions or {}).get("WRITE") or []}
        if write and not (write & set(roles)):
            raise Rejected(
                f"Cannot {action} account without granting permissions for current user (name: {definition['name']})"
            )
