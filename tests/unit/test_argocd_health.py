"""deploy/argocd's health check (Argo CD resource customization in Lua) on the status objects captured from the real
control planes by tests/integration/test_kstatus.py, run with a Lua 5.1 runtime (Argo CD's gopher-lua is 5.1).

Argo CD's contract (argoproj/argo-cd util/lua/lua.go, resource_customizations/*/*/health.lua): the object is the
global `obj`; the script returns a table with `status` (Healthy, Progressing, Degraded, Suspended, Missing, Unknown)
and `message`. argocd-cm keys are `resource.customizations.health.<group>_<kind>`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argocd.lua_health import HEALTH_LUA, argocd_health

CAPTURED = Path(__file__).resolve().parents[1] / "argocd" / "captured"
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
    for status in ({}, {"conditions": []}, {"conditions": [{"type": "Ready"}]}, {"observedGeneration": 1}):
        health = argocd_health({"metadata": {"generation": 1}, "status": status})
        assert health["status"] == "Progressing", (status, health)


def test_argocd_cm_patch_carries_the_script_for_each_kind() -> None:
    patch = yaml.safe_load(PATCH.read_text())
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert patch["data"] == {f"resource.customizations.health.spinop.io_{k}": HEALTH_LUA.read_text() for k in KINDS}
