"""spinop's remote identity as code (what the cluster probe compares an admin kubeconfig with) equals deploy/remote."""

from __future__ import annotations

import yaml

from spinop.devcluster.paths import project_root
from spinop.remote.access import AccessCheck, ResourceRule, grants_beyond
from spinop.remote.identity import REMOTE_IDENTITY_RULES


def _normal(rules: list[ResourceRule] | tuple[ResourceRule, ...]) -> list[tuple[tuple[str, ...], ...]]:
    return sorted(
        (
            tuple(sorted(r.verbs)),
            tuple(sorted(r.api_groups)),
            tuple(sorted(r.resources)),
            tuple(sorted(r.resource_names)),
        )
        for r in rules
    )


def test_the_rules_are_deploy_remotes_cluster_role() -> None:
    role = yaml.safe_load((project_root() / "deploy" / "remote" / "clusterrole.yaml").read_text())
    manifest = [
        ResourceRule(tuple(r["verbs"]), tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r.get("resourceNames", ())))
        for r in role["rules"]
    ]
    assert _normal(manifest) == _normal(REMOTE_IDENTITY_RULES)


def test_the_identity_itself_is_not_too_powerful_and_cluster_admin_is() -> None:
    assert grants_beyond(REMOTE_IDENTITY_RULES, REMOTE_IDENTITY_RULES, "kube-system") == ()
    admin = ResourceRule(("*",), ("*",), ("*",))
    assert grants_beyond([admin], REMOTE_IDENTITY_RULES, "kube-system") == (
        AccessCheck("*", "*", "*", namespace="kube-system"),
    )
    # Reading every Secret is within deploy/remote today; updating them is not.
    wider = ResourceRule(("get", "update"), ("",), ("secrets",))
    assert grants_beyond([wider], REMOTE_IDENTITY_RULES, "kube-system") == (
        AccessCheck("update", "secrets", namespace="kube-system"),
    )
