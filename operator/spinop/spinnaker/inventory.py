"""The inventory of Spinnaker accounts spinop created (or adopted), kept in a ConfigMap in MGMT.

It is what makes "spinop only touches its own accounts" true across restarts and backups: an account name in
Spinnaker that is not in the inventory belongs to someone else and is never edited or deleted, unless a
SpinnakerAccount adopts it explicitly. Entries are written *before* Spinnaker is changed (state `adding` /
`deleting`) and confirmed after, so a crash in between never orphans an account nor makes spinop forget one.
Stored gzip-compressed in `binaryData` (about 60 bytes an account; the plain JSON, about 325 bytes an account,
passed the apiserver's 1 MiB object limit near 3,000 accounts), so one ConfigMap holds about 15,000 accounts; an
inventory written as plain JSON by an older spinop is read and rewritten compressed on the next save.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import asdict, dataclass
from typing import Literal

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.api.labels import MANAGED_BY
from spinop.kube.clients import call, get_or_none

DATA_KEY = "accounts.json"  # plain JSON, as older spinops wrote it: still read
COMPRESSED_KEY = "accounts.json.gz"
#: The apiserver refuses a ConfigMap over 1 MiB (data, binaryData and metadata together); keep room for metadata.
MAX_STORED_BYTES = 1_000_000
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
        compressed = (cm.binary_data or {}).get(COMPRESSED_KEY)
        if compressed:
            # The client hands binaryData over as base64 text, as the API serves it.
            text = gzip.decompress(base64.b64decode(compressed)).decode()
        else:
            text = (cm.data or {}).get(DATA_KEY) or "{}"
        return {name: InventoryEntry(**entry) for name, entry in json.loads(text).items()}

    def save(self, entries: dict[str, InventoryEntry]) -> None:
        """Write the whole inventory; the sync is its only writer, so a conflict means a second operator: re-read."""
        compressed = encode(entries)
        if len(compressed) > MAX_STORED_BYTES:
            raise InventoryTooLarge(
                f"the Spinnaker inventory of {len(entries)} accounts is {len(compressed)} bytes compressed, over the "
                f"{MAX_STORED_BYTES} a ConfigMap can hold: spinop cannot record more accounts in this installation"
            )
        body = k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={MANAGED_BY: "spinop"},
                resource_version=self._resource_version,
            ),
            binary_data={COMPRESSED_KEY: base64.b64encode(compressed).decode()},
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


def encode(entries: dict[str, InventoryEntry]) -> bytes:
    """The entries as gzip-compressed JSON (sorted, fixed mtime: equal inventories give equal bytes)."""
    text = json.dumps({n: asdict(e) for n, e in sorted(entries.items())}, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


class InventoryConflict(RuntimeError):
    pass


class InventoryTooLarge(RuntimeError):
    pass
