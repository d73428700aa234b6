"""spinop's remote identity as code (what the cluster probe compares an admin kubeconfig with) equals deploy/remote."""

from __future__ import annotations

import re

import yaml

from spinop.devcluster.paths import project_root
from spinop.remote.access import AccessCheck, ResourceRule, grants_beyond
from spinop.remote.identity import REMOTE_IDENTITY_RULES, allow_extra_rules, extra_rules_expression
from spinop.remote.profiles import Profile, rules_for


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


def _policy() -> dict[str, object]:
    docs = yaml.safe_load_all((project_root() / "deploy" / "remote" / "role-policy.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "ValidatingAdmissionPolicy")


def test_the_role_limits_allow_exactly_the_profiles_rules() -> None:
    variables = {v["name"]: v["expression"] for v in _policy()["spec"]["variables"]}  # type: ignore[index]
    listed = {
        key: set(verbs.split("', '")) for key, verbs in re.findall(r"'([^']+)': \['([^\]]*)'\]", variables["profiles"])
    }
    wanted: dict[str, set[str]] = {}
    for profile in Profile:
        for rule in rules_for(profile, "ns")[:-1]:  # the last rule is `get` on the own Namespace, checked apart
            for group in rule.api_groups:
                for resource in rule.resources:
                    wanted.setdefault(resource if group == "" else f"{resource}.{group}", set()).update(rule.verbs)
    assert listed == wanted
    assert variables["extra"] == "{}", "deploy/remote allows no extra rules until the cluster's admin lists them"


def test_extra_rules_become_the_policys_extra_map() -> None:
    rules = [
        {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["get", "create"]},
        {"apiGroups": ["", "monitoring.coreos.com"], "resources": ["podmonitors"], "verbs": ["list"]},
        {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["list"]},
    ]
    assert extra_rules_expression(rules) == (
        "{'podmonitors': 'list', 'podmonitors.monitoring.coreos.com': 'list', "
        "'servicemonitors.monitoring.coreos.com': 'create get list'}"
    )
    objects = [_policy()]
    allow_extra_rules(objects, rules[:1])
    extra = next(v for v in objects[0]["spec"]["variables"] if v["name"] == "extra")  # type: ignore[index]
    assert extra["expression"] == "{'servicemonitors.monitoring.coreos.com': 'create get'}"
