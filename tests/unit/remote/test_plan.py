"""The remote planner: rendered objects carry their owner, and desired + observed gives the actions to converge.

Other kinds of remote objects (guardrails) may join the plan, so assertions about the account's own objects filter
the actions by kind instead of comparing whole plans.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from spinop.api.labels import ACCOUNT, CLUSTER, CREATED_NAMESPACE, GRANTED_TENANT, MANAGED_BY, OWNER, OWNER_UID, TENANT
from spinop.remote.plan import (
    Action,
    DesiredRemote,
    ObservedRemote,
    Owner,
    RemotePlan,
    plan_remote,
    plan_teardown,
    render_namespace,
    render_role,
    render_role_binding,
    render_service_account,
)
from spinop.remote.profiles import Profile, Rule, rules_for

ME = Owner(cluster="dev", mgmt_namespace="team-a", name="web", uid="uid-web", account_name="dev-web")
OTHER = Owner(cluster="dev", mgmt_namespace="team-b", name="api", uid="uid-api", account_name="dev-api")
SIBLING = Owner(cluster="dev", mgmt_namespace="team-a", name="api", uid="uid-api", account_name="dev-api")
NS = "team-a-dev"
ACCOUNT_KINDS = ("Namespace", "ServiceAccount", "Role", "RoleBinding")
NAMESPACED_KINDS = ("ServiceAccount", "Role", "RoleBinding")
GUARDRAIL_LABELS = {"pod-security.kubernetes.io/enforce": "restricted"}


def desired(owner: Owner = ME, **changes: Any) -> DesiredRemote:
    return DesiredRemote(owner=owner, namespace=NS, profile=changes.pop("profile", Profile.DEPLOYER), **changes)


def live(obj: dict[str, Any], **server_fields: Any) -> dict[str, Any]:
    """The object as the apiserver returns it: server-set metadata, and whatever else others added."""
    out = copy.deepcopy(obj)
    out["metadata"].update({"uid": "server-uid", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z"})
    out.update(server_fields)
    return out


def converged_world(d: DesiredRemote) -> ObservedRemote:
    return ObservedRemote(
        namespace=live(render_namespace(d), status={"phase": "Active"}),
        service_account=live(render_service_account(d)),
        role=live(render_role(d)),
        role_binding=live(render_role_binding(d)),
    )


def of_kinds(plan: RemotePlan, *kinds: str) -> list[Action]:
    return [a for a in plan.actions if a.kind in kinds]


def strip_owner(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("labels", None)
    out["metadata"].pop("annotations", None)
    return out


# ------------------------------------------------------------------------------------------------------ rendering


def test_every_rendered_object_names_its_owner() -> None:
    d = desired()
    for obj in (render_namespace(d), render_service_account(d), render_role(d), render_role_binding(d)):
        meta = obj["metadata"]
        assert meta["labels"][MANAGED_BY] == "spinop"
        assert meta["labels"][OWNER_UID] == "uid-web"
        assert meta["annotations"][OWNER] == "team-a/web"
        assert meta["annotations"][CLUSTER] == "dev"
        assert meta["annotations"][ACCOUNT] == "dev-web"


def test_only_the_namespace_says_who_created_it_and_carries_guardrail_labels() -> None:
    d = desired(namespace_labels=GUARDRAIL_LABELS)
    ns = render_namespace(d)
    assert (ns["apiVersion"], ns["kind"], ns["metadata"]["name"]) == ("v1", "Namespace", NS)
    assert "namespace" not in ns["metadata"]
    assert ns["metadata"]["annotations"][CREATED_NAMESPACE] == "uid-web"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in (render_service_account(d), render_role(d), render_role_binding(d)):
        assert CREATED_NAMESPACE not in obj["metadata"]["annotations"]
        assert "pod-security.kubernetes.io/enforce" not in obj["metadata"]["labels"]


def test_the_service_account_is_per_account_and_never_mounted() -> None:
    sa = render_service_account(desired())
    assert (sa["kind"], sa["metadata"]["name"], sa["metadata"]["namespace"]) == ("ServiceAccount", "spinop-dev-web", NS)
    assert sa["automountServiceAccountToken"] is False


def test_the_role_holds_the_profile_the_namespace_rule_and_the_extra_rules() -> None:
    extra = Rule(("argoproj.io",), ("rollouts",), ("get", "list", "watch", "patch"))
    role = render_role(desired(extra_rules=(extra,)))
    assert (role["apiVersion"], role["kind"]) == ("rbac.authorization.k8s.io/v1", "Role")
    assert (role["metadata"]["name"], role["metadata"]["namespace"]) == ("spinop-dev-web", NS)
    assert role["rules"] == [r.to_k8s() for r in rules_for(Profile.DEPLOYER, NS, (extra,))]
    assert extra.to_k8s() in role["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": [NS]} in role["rules"]


def test_the_binding_ties_the_accounts_role_to_its_service_account() -> None:
    rb = render_role_binding(desired())
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "spinop-dev-web"}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "spinop-dev-web", "namespace": NS}]


def test_two_accounts_in_one_namespace_get_separate_objects() -> None:
    mine, theirs = desired(ME), desired(OTHER)
    assert mine.object_name != theirs.object_name
    assert render_role_binding(theirs)["subjects"][0]["name"] == "spinop-dev-api"


# -------------------------------------------------------------------------------------------------------- planning


def test_an_empty_cluster_gets_the_namespace_first_then_the_account_objects() -> None:
    d = desired(namespace_labels=GUARDRAIL_LABELS)
    plan = plan_remote(d, ObservedRemote())
    mine = of_kinds(plan, *ACCOUNT_KINDS)
    assert [(a.verb, a.kind) for a in mine] == [
        ("create", "Namespace"),
        ("create", "ServiceAccount"),
        ("create", "Role"),
        ("create", "RoleBinding"),
    ]
    assert plan.actions[0].kind == "Namespace"  # everything else lives in it
    assert mine[0].namespace is None and all(a.namespace == NS for a in mine[1:])
    assert [a.body for a in mine] == [
        render_namespace(d),
        render_service_account(d),
        render_role(d),
        render_role_binding(d),
    ]
    assert not plan.conflicts and plan.waiting is None and not plan.converged


def test_nothing_to_do_when_the_cluster_holds_what_is_wanted() -> None:
    d = desired(namespace_labels=GUARDRAIL_LABELS)
    observed = converged_world(d)
    # Other tools' labels and the apiserver's ordering of rules and verbs are not drift.
    observed.role_binding["metadata"]["labels"]["team"] = "a"  # type: ignore[index]
    assert observed.role is not None
    observed.role["rules"] = [
        {**r, "verbs": sorted(r["verbs"], reverse=True)} for r in reversed(observed.role["rules"])
    ]
    plan = plan_remote(d, observed)
    assert of_kinds(plan, *ACCOUNT_KINDS) == []
    assert plan.conflicts == () and plan.waiting is None


def test_a_terminating_namespace_means_wait_and_touch_nothing() -> None:
    observed = converged_world(desired())
    assert observed.namespace is not None
    observed.namespace["status"] = {"phase": "Terminating"}
    observed.service_account = None
    plan = plan_remote(desired(), observed)
    assert plan.actions == () and plan.conflicts == ()
    assert plan.waiting is not None and NS in plan.waiting and "dev" in plan.waiting
    assert not plan.converged


def test_a_namespace_another_account_created_is_refused_unless_the_cluster_allows_sharing() -> None:
    theirs = ObservedRemote(namespace=live(render_namespace(desired(SIBLING)), status={"phase": "Active"}))
    plan = plan_remote(desired(), theirs)
    assert plan.actions == ()
    assert [c.reason for c in plan.conflicts] == ["NamespaceOwnedByAnotherAccount"]
    assert "team-a/api" in plan.conflicts[0].message and NS in plan.conflicts[0].message

    shared = plan_remote(desired(), theirs, allow_sharing=True)
    assert shared.conflicts == ()
    assert of_kinds(shared, "Namespace") == []  # still theirs: not relabelled, not adopted
    assert [(a.verb, a.kind) for a in of_kinds(shared, *NAMESPACED_KINDS)] == [
        ("create", "ServiceAccount"),
        ("create", "Role"),
        ("create", "RoleBinding"),
    ]


def test_a_namespace_another_tenants_account_created_is_refused_even_when_sharing_is_allowed() -> None:
    theirs = ObservedRemote(namespace=live(render_namespace(desired(OTHER)), status={"phase": "Active"}))
    assert theirs.namespace is not None and theirs.namespace["metadata"]["labels"][TENANT] == "team-b"
    for allow_sharing in (False, True):
        plan = plan_remote(desired(), theirs, allow_sharing=allow_sharing)
        assert plan.actions == ()
        assert [c.reason for c in plan.conflicts] == ["NamespaceOwnedByAnotherTenant"]
        assert "another tenant" in plan.conflicts[0].message and "team-b" not in plan.conflicts[0].message


def test_a_namespace_created_before_the_tenant_label_belongs_to_its_owners_tenant() -> None:
    legacy = live(render_namespace(desired(OTHER)), status={"phase": "Active"})
    del legacy["metadata"]["labels"][TENANT]
    plan = plan_remote(desired(), ObservedRemote(namespace=legacy), allow_sharing=True)
    assert [c.reason for c in plan.conflicts] == ["NamespaceOwnedByAnotherTenant"]


def test_a_namespace_spinop_did_not_create_is_refused_unless_the_cluster_grants_it() -> None:
    existing = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"team": "a"}}}
    refused = plan_remote(desired(namespace_labels=GUARDRAIL_LABELS), ObservedRemote(namespace=existing))
    assert refused.actions == ()
    assert [c.reason for c in refused.conflicts] == ["NamespaceNotGranted"]
    message = refused.conflicts[0].message
    assert "spec.tenancy.existingNamespaces" in message and "team-a" in message

    granted = desired(namespace_labels=GUARDRAIL_LABELS, namespace_granted=True)
    # The remote admin's half of the grant: its label for the tenant.
    labelled = {**existing, "metadata": {"name": NS, "labels": {"team": "a", GRANTED_TENANT: "team-a"}}}
    plan = plan_remote(granted, ObservedRemote(namespace=labelled))
    assert of_kinds(plan, "Namespace") == []  # used as it is: never relabelled or adopted
    assert plan.conflicts == ()
    assert {a.kind for a in of_kinds(plan, *NAMESPACED_KINDS) if a.verb == "create"} == set(NAMESPACED_KINDS)
    # What spinop writes there carries the tenant the admin's label must name (deploy/remote admission-policy.yaml).
    assert all(a.body["metadata"]["labels"][TENANT] == "team-a" for a in plan.actions if a.body is not None)


@pytest.mark.parametrize(("label", "found"), [(None, "has no such label"), ("team-b", "labelled for another tenant")])
def test_a_granted_namespace_without_the_remote_admins_label_for_the_tenant_is_refused_before_writing(
    label: str | None, found: str
) -> None:
    labels = {"team": "a"} if label is None else {"team": "a", GRANTED_TENANT: label}
    existing = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}}
    plan = plan_remote(desired(namespace_granted=True), ObservedRemote(namespace=existing))
    assert plan.actions == ()
    assert [c.reason for c in plan.conflicts] == ["NamespaceGrantNotLabelled"]
    message = plan.conflicts[0].message
    assert found in message and f"kubectl label namespace {NS} spinop.io/granted-tenant=team-a" in message
    assert "team-b" not in message  # another tenant's name is not this tenant's business


def test_a_namespace_spinop_creates_records_its_tenant() -> None:
    assert render_namespace(desired())["metadata"]["labels"][TENANT] == "team-a"


def test_our_namespace_gets_back_exactly_the_labels_and_annotations_someone_removed() -> None:
    d = desired(namespace_labels=GUARDRAIL_LABELS)
    observed = converged_world(d)
    assert observed.namespace is not None
    meta = observed.namespace["metadata"]
    meta["labels"] = {"team": "a"}  # ours and the guardrail label gone, someone else's added
    del meta["annotations"][ACCOUNT]
    (action,) = of_kinds(plan_remote(d, observed), "Namespace")
    assert (action.verb, action.name, action.namespace) == ("patch", NS, None)
    assert action.body == {
        "metadata": {
            "labels": {MANAGED_BY: "spinop", OWNER_UID: "uid-web", **GUARDRAIL_LABELS, TENANT: "team-a"},
            "annotations": {ACCOUNT: "dev-web"},
        }
    }


@pytest.mark.parametrize("field", ["service_account", "role", "role_binding"])
def test_an_object_spinop_did_not_create_is_a_conflict_not_a_takeover(field: str) -> None:
    observed = converged_world(desired())
    setattr(observed, field, strip_owner(getattr(observed, field)))
    plan = plan_remote(desired(), observed)
    kind = {"service_account": "ServiceAccount", "role": "Role", "role_binding": "RoleBinding"}[field]
    assert of_kinds(plan, kind) == []
    (conflict,) = plan.conflicts
    assert conflict.reason == "ObjectNotManaged"
    assert kind in conflict.message and "spinop-dev-web" in conflict.message


@pytest.mark.parametrize("field", ["service_account", "role", "role_binding"])
def test_an_object_of_another_account_is_a_conflict_not_naming_another_tenant(field: str) -> None:
    mine, theirs = converged_world(desired()), converged_world(desired(OTHER))
    foreign = copy.deepcopy(getattr(theirs, field))
    foreign["metadata"]["name"] = "spinop-dev-web"  # same name, other owner
    setattr(mine, field, foreign)
    plan = plan_remote(desired(), mine)
    kind = {"service_account": "ServiceAccount", "role": "Role", "role_binding": "RoleBinding"}[field]
    assert of_kinds(plan, kind) == []
    (conflict,) = plan.conflicts
    assert conflict.reason == "OwnedByAnotherAccount"
    assert "team-b" not in conflict.message and "another tenant's SpinnakerAccount" in conflict.message


def test_edited_rules_are_patched_back_whole() -> None:
    d = desired()
    observed = converged_world(d)
    assert observed.role is not None
    observed.role["rules"].append({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]})
    (action,) = of_kinds(plan_remote(d, observed), "Role")
    assert (action.verb, action.name, action.namespace) == ("patch", "spinop-dev-web", NS)
    assert action.body == {"rules": render_role(d)["rules"]}
    assert "rules" in action.why


def test_a_narrowed_rule_is_drift_too() -> None:
    d = desired()
    observed = converged_world(d)
    assert observed.role is not None
    observed.role["rules"][0]["verbs"] = ["get"]
    (action,) = of_kinds(plan_remote(d, observed), "Role")
    assert action.verb == "patch" and action.body is not None and action.body["rules"] == render_role(d)["rules"]


def test_removed_labels_on_a_role_are_restored_without_touching_its_rules() -> None:
    d = desired()
    observed = converged_world(d)
    assert observed.role is not None
    del observed.role["metadata"]["labels"][MANAGED_BY]
    (action,) = of_kinds(plan_remote(d, observed), "Role")
    assert action.verb == "patch"
    assert action.body == {"metadata": {"labels": {MANAGED_BY: "spinop"}}}


@pytest.mark.parametrize(
    "edit",
    [
        {"subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}]},
        {
            "subjects": [
                {"kind": "ServiceAccount", "name": "spinop-dev-web", "namespace": NS},
                {"kind": "Group", "name": "x"},
            ]
        },
        {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}},
    ],
)
def test_an_edited_binding_is_replaced_because_role_ref_is_immutable(edit: dict[str, Any]) -> None:
    d = desired()
    observed = converged_world(d)
    assert observed.role_binding is not None
    observed.role_binding.update(edit)
    actions = of_kinds(plan_remote(d, observed), "RoleBinding")
    assert [(a.verb, a.name) for a in actions] == [("delete", "spinop-dev-web"), ("create", "spinop-dev-web")]
    assert actions[1].body == render_role_binding(d)


@pytest.mark.parametrize("automount", [True, None])
def test_a_service_account_that_would_be_mounted_is_patched(automount: bool | None) -> None:
    d = desired()
    observed = converged_world(d)
    assert observed.service_account is not None
    if automount is None:
        del observed.service_account["automountServiceAccountToken"]
    else:
        observed.service_account["automountServiceAccountToken"] = automount
    (action,) = of_kinds(plan_remote(d, observed), "ServiceAccount")
    assert action.verb == "patch"
    assert action.body == {"automountServiceAccountToken": False}


def test_the_reason_for_an_automount_patch_does_not_blame_removed_labels() -> None:
    # `spinop plan` prints Action.describe(); the labels are intact here, only automountServiceAccountToken changed.
    d = desired()
    observed = converged_world(d)
    assert observed.service_account is not None
    observed.service_account["automountServiceAccountToken"] = True
    (action,) = of_kinds(plan_remote(d, observed), "ServiceAccount")
    assert "labels" not in action.why, action.describe()


def test_describe_says_what_where_and_why() -> None:
    plan = plan_remote(desired(), ObservedRemote())
    described = [a.describe() for a in of_kinds(plan, *ACCOUNT_KINDS)]
    assert described[0] == f"create Namespace {NS}: namespace is missing"
    assert described[1] == f"create ServiceAccount spinop-dev-web in {NS}: ServiceAccount is missing"


# -------------------------------------------------------------------------------------------------------- teardown


def test_teardown_removes_the_binding_before_the_role_and_the_service_account_and_keeps_the_namespace() -> None:
    d = desired()
    plan = plan_teardown(d, converged_world(d), delete_namespace=False, namespace_used_by_others=False)
    assert [(a.verb, a.kind, a.name, a.namespace) for a in of_kinds(plan, *ACCOUNT_KINDS)] == [
        ("delete", "RoleBinding", "spinop-dev-web", NS),
        ("delete", "Role", "spinop-dev-web", NS),
        ("delete", "ServiceAccount", "spinop-dev-web", NS),
    ]
    assert plan.conflicts == ()


def test_teardown_deletes_our_namespace_last_when_asked() -> None:
    d = desired()
    plan = plan_teardown(d, converged_world(d), delete_namespace=True, namespace_used_by_others=False)
    mine = of_kinds(plan, *ACCOUNT_KINDS)
    assert (mine[-1].verb, mine[-1].kind, mine[-1].name) == ("delete", "Namespace", NS)
    assert [a.kind for a in mine].count("Namespace") == 1


def test_teardown_leaves_objects_it_does_not_own() -> None:
    d = desired()
    observed = converged_world(d)
    theirs = converged_world(desired(OTHER))
    observed.service_account = strip_owner(observed.service_account or {})
    observed.role = theirs.role
    plan = plan_teardown(d, observed, delete_namespace=False, namespace_used_by_others=False)
    assert [a.kind for a in of_kinds(plan, *ACCOUNT_KINDS)] == ["RoleBinding"]


def test_teardown_of_nothing_is_nothing() -> None:
    plan = plan_teardown(desired(), ObservedRemote(), delete_namespace=True, namespace_used_by_others=False)
    assert of_kinds(plan, *ACCOUNT_KINDS) == []


@pytest.mark.parametrize(
    ("creator", "phase", "used_by_others"),
    [
        pytest.param(OTHER, "Active", False, id="created-by-another-account"),
        pytest.param(None, "Active", False, id="not-created-by-spinop"),
        pytest.param(ME, "Active", True, id="used-by-another-account"),
        pytest.param(ME, "Terminating", False, id="already-terminating"),
    ],
)
def test_teardown_keeps_a_namespace_it_may_not_delete(creator: Owner | None, phase: str, used_by_others: bool) -> None:
    d = desired()
    observed = converged_world(d)
    namespace = live(render_namespace(desired(creator)), status={"phase": phase}) if creator else None
    observed.namespace = namespace or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    plan = plan_teardown(d, observed, delete_namespace=True, namespace_used_by_others=used_by_others)
    assert of_kinds(plan, "Namespace") == []
    assert len(of_kinds(plan, *NAMESPACED_KINDS)) == 3
