"""deploy/argocd's health check (Argo CD resource customization in Lua) on the status objects captured from the real
control planes by tests/integration/test_kstatus.py (refresh: SPINOP_CAPTURE_STATUS=1), run with a Lua 5.1
runtime (Argo CD's gopher-lua is 5.1).

Argo CD's contract (argoproj/argo-cd util/lua/lua.go, resource_customizations/*/*/health.lua): the object is the
global `obj`; the script returns a table with `status` (Healthy, Progressing, Degraded, Suspended, Missing, Unknown)
and `message`. argocd-cm keys are `resource.customizations.health.<group>_<kind>`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argocd.lua_health import HEALTH_LUA, argocd_health

CAPTURED = Path(__file__).resolve().parents[2] / "argocd" / "captured"
PATCH = HEALTH_LUA.parent / "argocd-cm-patch.yaml"
KINDS = ("SpinnakerCluster", "SpinnakerAccount", "SpinnakerPipeline")
EXPECTED = {"ready": "Healthy", "provisioning": "Progressing", "refused": "Degraded"}


def captured(kind: str, state: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CAPTURED / f"{kind}-{state}.yaml").read_text()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_captured_objects_get_their_health(kind: str, state: str) -> None:
    obj = captured(kind, state)
    health = argocd_health(obj)
    assert health["status"] == EXPECTED[state], health
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] in health["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_unhandled_spec_change_is_progressing(kind: str) -> None:
    obj = captured(kind, "ready")
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
    assert argocd_health(obj)["status"] == "Progressing"


def test_no_status_yet_and_deleting_are_progressing() -> None:
    obj = captured("SpinnakerAccount", "ready")
    assert argocd_health({k: v for k, v in obj.items() if k != "status"})["status"] == "Progressing"
    deleting = copy.deepcopy(obj)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-04T18:00:00Z"
    assert argocd_health(deleting)["status"] == "Progressing"


def test_odd_shapes_never_break_the_script() -> None:
    shapes: list[dict[str, Any]] = [
        {},
        {"conditions": []},
        {"conditions": [{"type": "Ready"}]},
        {"observedGeneration": 1},
    ]
    for status in shapes:
        health = argocd_health({"metadata": {"generation": 1}, "status": status})
        assert health["status"] == "Progressing", (status, health)


def test_argocd_cm_patch_carries_the_script_for_each_kind() -> None:
    patch = yaml.safe_load(PATCH.read_text())
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert patch["data"] == {f"resource.customizations.health.spinop.io_{k}": HEALTH_LUA.read_text() for k in KINDS}


def test_component_merges_the_checks_into_an_existing_argocd_cm(tmp_path: Path) -> None:
    """What docs/install.md tells an Argo CD admin: `components: [deploy/argocd]` next to Argo CD's own install
    keeps argocd-cm's other settings and adds the three keys (real kubectl kustomize)."""
    from tests.unit.deploy.test_deploy_manifests import _kustomize

    existing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd", "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "data": {"url": "https://argocd.example.com"},
    }
    (tmp_path / "argocd-cm.yaml").write_text(yaml.safe_dump(existing))
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["argocd-cm.yaml"],
        "components": [os.path.relpath(HEALTH_LUA.parent, tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    [rendered] = _kustomize(tmp_path)
    assert rendered["data"]["url"] == "https://argocd.example.com"
    for kind in KINDS:
        assert rendered["data"][f"resource.customizations.health.spinop.io_{kind}"] == HEALTH_LUA.read_text()
