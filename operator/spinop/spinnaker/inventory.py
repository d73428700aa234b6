"""The inventory of Spinnaker accounts spinop created (or adopted), kept in a ConfigMap in MGMT.

It is what makes "spinop only touches its own accounts" true across restarts and backups: an account name in
Spinnaker that is not in the inventory belongs to someone else and is never edited or deleted, unless a
SpinnakerAccount adopts it explicitly. Entries are written *before* Spinnaker is changed (state `adding` /
`deleting`) and confirmed after, so a crash in between never orphans an account nor makes spinop forget one.
About 300 bytes an entry: one ConfigMap holds thousands of accounts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import MANAGED_BY
from spinop.kube.clients import call, get_or_none

DATA_KEY = "accounts.json"
State = Literal["adding", "present", "deleting"]


@dataclass
class InventoryEntry:
    owner_uid: str
    owner: str  # <mgmt-namespace>/<name> of the SpinnakerAccount
    state: State
    content_key: str = ""
    kubeconfig_fingerprint: str = ""
    applied_at: str = ""
    adopted: bool = False
    deploy_id: str = ""


class Inventory:
    def __init__(self, api: ApiClient, namespace: str, name: str = "spinop-spinnaker-inventory") -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self._resource_version: str | None = None

    def load(self) -> dict[str, InventoryEntry]:
        cm = get_or_none(k8s.CoreV1Api(self.api).read_namespaced_config_map, self.name, self.namespace)
        if cm is None:
            self._resource_version = None
            return {}
        self._resource_version = cm.metadata.resource_version
        raw = json.loads((cm.data or {}).get(DATA_KEY) or "{}")
        return {name: InventoryEntry(**entry) for name, entry in raw.items()}

    def save(self, entries: dict[str, InventoryEntry]) -> None:
        """Write the whole inventory; the sync is its only writer, so a conflict means a second operator: re-read."""
        body = k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={MANAGED_BY: "spinop"},
                resource_version=self._resource_version,
            ),
            data={DATA_KEY: json.dumps({n: asdict(e) for n, e in sorted(entries.items())}, sort_keys=True)},
        )
        core = k8s.CoreV1Api(self.api)
        if self._resource_version is None:
            try:
                created = call(core.create_namespaced_config_map, self.namespace, body)
            except ApiException as err:
                if err.status != 409:
                    raise
                raise InventoryConflict("the inventory was created by someone else meanwhile") from None
        else:
            try:
                created = call(core.replace_namespaced_config_map, self.name, self.namespace, body)
            except ApiException as err:
                if err.status != 409:
                    raise
                raise InventoryConflict("the inventory changed under spinop (a second active operator?)") from None
        self._resource_version = created.metadata.resource_version


class InventoryConflict(RuntimeError):
    pass
