"""The halyard-networkpolicy component: Halyard's unauthenticated daemon port is reachable only from spinop's pods.

Rendered through the real `kubectl kustomize` with the base (as tests/unit/deploy/test_deploy_manifests.py does); its
policy must select exactly the Halyard pod spinop is configured for and the pods the base Deployment runs.
"""

from __future__ import annotations

from typing import Any

import yaml

from spinop.config import OperatorConfig
from tests.unit.deploy.test_deploy_manifests import BASE, _render_with_components

COMPONENT = BASE / "components" / "halyard-networkpolicy"


def _policy(objs: list[dict[str, Any]]) -> dict[str, Any]:
    [policy] = [o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] != "spinop-system"]
    return policy


def test_the_component_isolates_halyard_to_spinops_pods() -> None:
    objs = _render_with_components(["halyard-networkpolicy"])
    policy = _policy(objs)
    halyard = OperatorConfig().halyard
    assert policy["metadata"]["namespace"] == halyard.pod_namespace
    assert policy["spec"]["podSelector"] == {"matchLabels": {"statefulset.kubernetes.io/pod-name": halyard.pod_name}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8064, "protocol": "TCP"}]
    [source] = rule["from"]
    deployment = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "spinop")
    assert source["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": deployment["metadata"]["namespace"]}
    }
    assert source["podSelector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert "ipBlock" not in source


def test_the_policy_file_needs_no_render_to_be_read() -> None:
    # The shape without kubectl (the render above skips until the control-plane binaries are built).
    [policy] = list(yaml.safe_load_all((COMPONENT / "networkpolicy.yaml").read_text()))
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 8064, "protocol": "TCP"}]
    assert len(policy["spec"]["ingress"]) == 1
