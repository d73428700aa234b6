"""What keeps one object from breaking the operator process: every depth the apiserver stores can be decoded
(`allow_apiserver_nesting`), and kopf's diff-base storage keeps an essence too large for an annotation (the
apiserver allows 256 KiB for all of an object's annotations) as its digest, so kopf can always mark an object
handled; others as kopf does.

Read upstream in github:nolar/kopf (60d02aef; installed: 1.45.2): kopf/_cogs/clients/api.py `stream` decodes every
watch event with json.loads and `get` (the initial list, kopf/_cogs/clients/fetching.py) with response.json();
kopf/_kits/webhooks.py decodes each AdmissionReview with json.loads; kopf/_cogs/configs/diffbase.py
AnnotationsDiffBaseStorage.store writes json.dumps(essence) into one annotation, and a refused patch (422) makes kopf
retry the object with "Throttling ... due to an unexpected error" and a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import kopf
import pytest

from spinop import KOPF_PREFIX
from spinop.api.labels import DIGEST_KEY
from spinop.main import DIFFBASE_MAX_BYTES, BoundedDiffBaseStorage

KEY = f"{KOPF_PREFIX}/last-handled-configuration"


def _stored(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    raw: kopf.RawBody = {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerPipeline",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    storage = BoundedDiffBaseStorage(prefix=KOPF_PREFIX, key="last-handled-configuration")
    body, patch = kopf.Body(raw), kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    encoded = patch["metadata"]["annotations"][KEY]
    return encoded, json.loads(encoded)


def test_an_ordinary_essence_is_stored_as_kopf_stores_it() -> None:
    encoded, essence = _stored({"application": "app", "pipeline": {"stages": []}})
    assert essence == {"spec": {"application": "app", "pipeline": {"stages": []}}}
    assert encoded == json.dumps(essence, separators=(",", ":")) + "\n"


def test_an_essence_too_large_for_an_annotation_is_stored_as_its_digest() -> None:
    spec = {"pipeline": {"stages": [{f"k{i}": "v" * 8 for i in range(40_000)}]}}
    encoded, essence = _stored(spec)
    assert len(encoded) < 200 < DIFFBASE_MAX_BYTES
    assert set(essence) == {DIGEST_KEY} and len(essence[DIGEST_KEY]) == 64
    assert _stored(spec)[1] == essence  # stable: storing it again changes nothing


def test_the_operator_process_decodes_the_deepest_object_the_apiserver_stores() -> None:
    """Go's encoding/json (scanner.go, maxNestingDepth) lets the apiserver store 10,000 levels; kopf decodes watch
    events with json.loads. In a fresh interpreter, after `allow_apiserver_nesting`, a watch event of that depth is
    decoded, copied and re-encoded in the event loop's thread and in a worker thread."""
    code = """
import asyncio, copy, json
from spinop.main import allow_apiserver_nesting
event = '{"type":"ADDED","object":' + '{"a":' * 10_000 + '1' + '}' * 10_000 + '}'
def work():
    return json.dumps(copy.deepcopy(json.loads(event)), separators=(',', ':')) == event
allow_apiserver_nesting()
async def main():
    return work() and await asyncio.to_thread(work)
print(asyncio.run(main()))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr[-2000:]


def test_without_the_raised_limit_such_an_event_breaks_json() -> None:
    """What kopf's watch stream meets without spinop's start-up: the failure this guards against."""
    with pytest.raises(RecursionError):
        json.loads('{"a":' * 1_500 + "1" + "}" * 1_500)
