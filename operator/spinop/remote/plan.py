"""Desired remote objects for an account, and the pure planner: desired + observed → actions.

Every object spinop creates on a remote cluster carries the owning CR's identity (labels for discovery, annotations
for the full name), so drift repair, conflicts and deletion decide from the object itself, never from memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from spinop import GROUP
from spinop.remote.profiles import Profile, Rule, rules_for

MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER_UID = f"{GROUP}/account-uid"  # label: the SpinnakerAccount's uid
OWNER = f"{GROUP}/owner"  # annotation: <mgmt-namespace>/<name> of the SpinnakerAccount
CLUSTER = f"{GROUP}/cluster"  # annotation: the SpinnakerCluster name
ACCOUNT = f"{GROUP}/account-name"  # annotation: the Spinnaker account name
CREATED_NAMESPACE = f"{GROUP}/created-by-account-uid"  # annotation on namespaces spinop created, never on others

Kind = Literal["Namespace", "ServiceAccount", "Role", "RoleBinding"]


@dataclass(frozen=True)
class Owner:
    """The SpinnakerAccount a remote object belongs to."""

    cluster: str
    mgmt_namespace: str
    name: str
    uid: str
    account_name: str

    @property
    def ref(self) -> str:
        return f"{self.mgmt_namespace}/{self.name}"

    def labels(self) -> dict[str, str]:
        return {MANAGED_BY: "spinop", OWNER_UID: self.uid}

    def annotations(self) -> dict[str, str]:
        return {OWNER: self.ref, CLUSTER: self.cluster, ACCOUNT: self.account_name}


@dataclass(frozen=True)
class DesiredRemote:
    owner: Owner
    namespace: str
    profile: Profile
    extra_rules: tuple[Rule, ...] = ()
    namespace_labels: dict[str, str] = field(default_factory=dict)  # guardrail labels (Pod Security, ...)

    @property
    def object_name(self) -> str:
        """Name of the ServiceAccount, Role and RoleBinding: one set per account, so accounts can share a namespace."""
        return f"spinop-{self.owner.account_name}"


@dataclass
class ObservedRemote:
    namespace: dict[str, Any] | None = None
    service_account: dict[str, Any] | None = None
    role: dict[str, Any] | None = None
    role_binding: dict[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    verb: Literal["create", "patch", "delete"]
    kind: Kind
    name: str
    namespace: str | None
    body: dict[str, Any] | None
    why: str

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.kind} {self.name}{where}: {self.why}"


@dataclass(frozen=True)
class Conflict:
    reason: str  # CamelCase, becomes the condition reason
    message: str


@dataclass(frozen=True)
class RemotePlan:
    actions: tuple[Action, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    waiting: str | None = None  # something only time fixes (a namespace still terminating)

    @property
    def converged(self) -> bool:
        return not self.actions and not self.conflicts and self.waiting is None


# ------------------------------------------------------------------------------------------------------ rendering


def _meta(name: str, owner: Owner, namespace: str | None = None, **extra: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": owner.labels(), "annotations": owner.annotations()}
    if namespace:
        meta["namespace"] = namespace
    for key, values in extra.items():
        meta[key] = {**meta.get(key, {}), **values}
    return meta


def render_namespace(desired: DesiredRemote) -> dict[str, Any]:
    meta = _meta(desired.namespace, desired.owner)
    meta["labels"] = {**meta["labels"], **desired.namespace_labels}
    meta["annotations"][CREATED_NAMESPACE] = desired.owner.uid
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def render_service_account(desired: DesiredRemote) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(desired.object_name, desired.owner, desired.namespace),
        # Pods never need this identity; Spinnaker uses it from outside the cluster.
        "automountServiceAccountToken": False,
    }


def render_role(desired: DesiredRemote) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(desired.object_name, desired.owner, desired.namespace),
        "rules": [r.to_k8s() for r in rules_for(desired.profile, desired.namespace, desired.extra_rules)],
    }


def render_role_binding(desired: DesiredRemote) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(desired.object_name, desired.owner, desired.namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": desired.object_name},
        "subjects": [{"kind": "ServiceAccount", "name": desired.object_name, "namespace": desired.namespace}],
    }


# -------------------------------------------------------------------------------------------------------- planning


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _missing_metadata(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch restoring our labels/annotations, or None when they are intact."""
    patch: dict[str, Any] = {}
    for key, current in (("labels", _labels(observed)), ("annotations", _annotations(observed))):
        wanted = desired["metadata"].get(key, {})
        diff = {k: v for k, v in wanted.items() if current.get(k) != v}
        if diff:
            patch[key] = diff
    return {"metadata": patch} if patch else None


def _normalized_rules(rules: list[dict[str, Any]] | None) -> list[tuple[tuple[str, ...], ...]]:
    out = []
    for rule in rules or []:
        out.append(
            tuple(
                tuple(sorted(rule.get(key) or []))
                for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
            )
        )
    return sorted(out)


def _ownership_conflict(obj: dict[str, Any], kind: str, owner: Owner) -> Conflict | None:
    uid = _labels(obj).get(OWNER_UID)
    name = obj["metadata"]["name"]
    if uid is None:
        return Conflict(
            "ObjectNotManaged",
            f"{kind} {name} already exists in the remote namespace and was not created by spinop; "
            f"spinop will not take it over. Remove it, or pick another accountName.",
        )
    if uid != owner.uid:
        other = _annotations(obj).get(OWNER, "another SpinnakerAccount")
        return Conflict(
            "OwnedByAnotherAccount",
            f"{kind} {name} belongs to {other}; two accounts cannot share one Spinnaker account name.",
        )
    return None


def plan_remote(desired: DesiredRemote, observed: ObservedRemote, *, allow_sharing: bool = False) -> RemotePlan:
    """What to do on the remote cluster so it holds exactly the desired objects for this account."""
    owner, ns = desired.owner, desired.namespace
    actions: list[Action] = []
    conflicts: list[Conflict] = []

    if observed.namespace is None:
        actions.append(Action("create", "Namespace", ns, None, render_namespace(desired), "namespace is missing"))
    else:
        if (observed.namespace.get("status") or {}).get("phase") == "Terminating":
            return RemotePlan(waiting=f"namespace {ns} is being deleted on cluster {owner.cluster}; waiting for it")
        created_by = _annotations(observed.namespace).get(CREATED_NAMESPACE)
        if created_by is not None and created_by != owner.uid and not allow_sharing:
            other = _annotations(observed.namespace).get(OWNER, "another SpinnakerAccount")
            conflicts.append(
                Conflict(
                    "NamespaceOwnedByAnotherAccount",
                    f"namespace {ns} on cluster {owner.cluster} belongs to {other}, and cluster {owner.cluster} "
                    f"does not allow accounts to share a namespace. Choose another namespace.",
                )
            )
            return RemotePlan(conflicts=tuple(conflicts))
        if created_by == owner.uid:
            fix = _missing_metadata(observed.namespace, render_namespace(desired))
            if fix:
                actions.append(Action("patch", "Namespace", ns, None, fix, "restore spinop's labels"))

    for kind, current, render in (
        ("ServiceAccount", observed.service_account, render_service_account),
        ("Role", observed.role, render_role),
        ("RoleBinding", observed.role_binding, render_role_binding),
    ):
        wanted = render(desired)
        name = wanted["metadata"]["name"]
        if current is None:
            actions.append(Action("create", kind, name, ns, wanted, f"{kind} is missing"))  # type: ignore[arg-type]
            continue
        conflict = _ownership_conflict(current, kind, owner)
        if conflict:
            conflicts.append(conflict)
            continue
        patch = _missing_metadata(current, wanted) or {}
        if kind == "Role" and _normalized_rules(current.get("rules")) != _normalized_rules(wanted["rules"]):
            patch["rules"] = wanted["rules"]
        if kind == "RoleBinding" and (
            current.get("roleRef") != wanted["roleRef"] or current.get("subjects") != wanted["subjects"]
        ):
            # roleRef is immutable: replace the binding.
            actions.append(Action("delete", "RoleBinding", name, ns, None, "binding was edited"))
            actions.append(Action("create", "RoleBinding", name, ns, wanted, "binding was edited"))
            continue
        if kind == "ServiceAccount" and current.get("automountServiceAccountToken") is not False:
            patch["automountServiceAccountToken"] = False
        if patch:
            why = "rules were edited" if "rules" in patch else "spinop's labels were removed"
            actions.append(Action("patch", kind, name, ns, patch, why))  # type: ignore[arg-type]

    return RemotePlan(actions=tuple(actions), conflicts=tuple(conflicts))


def plan_teardown(
    desired: DesiredRemote, observed: ObservedRemote, *, delete_namespace: bool, namespace_used_by_others: bool
) -> RemotePlan:
    """Remove what this account created. The namespace goes only when asked, created by this account, and unused."""
    owner, ns = desired.owner, desired.namespace
    actions: list[Action] = []
    for kind, current in (
        ("RoleBinding", observed.role_binding),
        ("Role", observed.role),
        ("ServiceAccount", observed.service_account),
    ):
        if current is not None and _labels(current).get(OWNER_UID) == owner.uid:
            name = current["metadata"]["name"]
            actions.append(Action("delete", kind, name, ns, None, "account deleted"))  # type: ignore[arg-type]
    if (
        delete_namespace
        and observed.namespace is not None
        and _annotations(observed.namespace).get(CREATED_NAMESPACE) == owner.uid
        and not namespace_used_by_others
        and (observed.namespace.get("status") or {}).get("phase") != "Terminating"
    ):
        actions.append(Action("delete", "Namespace", ns, None, None, "deletionPolicy is Delete"))
    return RemotePlan(actions=tuple(actions))
