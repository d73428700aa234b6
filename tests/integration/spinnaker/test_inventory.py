"""The Spinnaker inventory ConfigMap against a real apiserver, at the size that broke it.

The bench of 2026-12-05 registered 3,000 accounts, then could delete none: the plain-JSON inventory (972 kB at
3,000 entries) passed the apiserver's 1 MiB ConfigMap limit ("Too long: may not be more than 1048576 bytes"), every
write-ahead save failed, and each removal waited for ever. The inventory is now stored compressed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import kubernetes.client as k8s
import pytest

from spinop.spinnaker.inventory import DATA_KEY, Inventory, InventoryEntry, InventoryTooLarge, encode
from tests.integration.kube import Cluster


def realistic(n: int) -> dict[str, InventoryEntry]:
    """Entries shaped like the bench's: long names, random uids and hashes, one deploy id per 1,000 (a burst)."""
    deploys = [str(uuid.uuid4()) for _ in range(n // 1000 + 1)]
    return {
        f"staging-s3000-s3000-t{i % 60}-staging-{i:05d}": InventoryEntry(
            owner_uid=str(uuid.uuid4()),
            owner=f"s3000-t{i % 60}/a{i:05d}",
            state="present",
            content_key=uuid.uuid4().hex,
            kubeconfig_fingerprint=f"sha256:{uuid.uuid4().hex[:16]}",
            applied_at="2026-12-05T16:31:55Z",
            deploy_id=deploys[i // 1000],
        )
        for i in range(n)
    }


def test_ten_thousand_accounts_fit_and_come_back_equal(mgmt: Cluster, fresh_namespace: Callable[..., str]) -> None:
    namespace = fresh_namespace()
    entries = realistic(10_000)
    assert len(json.dumps({n: vars(e) for n, e in entries.items()})) > 3 * 1024 * 1024  # plain JSON could not
    inventory = Inventory(mgmt.api, namespace)
    inventory.save(entries)
    assert Inventory(mgmt.api, namespace).load() == entries
    entries.pop(next(iter(entries)))
    inventory.save(entries)  # a replace, guarded by the resourceVersion of the last save
    assert Inventory(mgmt.api, namespace).load() == entries


def test_an_inventory_an_older_spinop_wrote_as_plain_json_is_read_and_rewritten_compressed(
    mgmt: Cluster,
    fresh_namespace: Callable[..., str],
) -> None:
    namespace = fresh_namespace()
    entries = realistic(3)
    plain = json.dumps({n: vars(e) for n, e in sorted(entries.items())}, sort_keys=True)
    mgmt.core.create_namespaced_config_map(
        namespace,
        k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="spinop-spinnaker-inventory"), data={DATA_KEY: plain}),
    )
    inventory = Inventory(mgmt.api, namespace)
    assert inventory.load() == entries
    inventory.save(entries)
    stored = mgmt.core.read_namespaced_config_map("spinop-spinnaker-inventory", namespace)
    assert not stored.data and set(stored.binary_data) == {"accounts.json.gz"}
    assert Inventory(mgmt.api, namespace).load() == entries


def test_an_inventory_beyond_what_a_config_map_holds_is_refused_before_the_apiserver_is_asked(
    mgmt: Cluster,
    fresh_namespace: Callable[..., str],
) -> None:
    namespace = fresh_namespace()
    entries = realistic(20_000)
    assert len(encode(entries)) > 1_000_000
    with pytest.raises(InventoryTooLarge, match="20000 accounts"):
        Inventory(mgmt.api, namespace).save(entries)
    assert not mgmt.core.list_namespaced_config_map(namespace, label_selector="app.kubernetes.io/managed-by").items
