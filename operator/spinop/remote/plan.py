"""Desired remote objects for an account, and the pure planner: desired + observed → actions.

Every object spinop creates on a remote cluster carries the owning CR's identity (labels for discovery, annotations
for the full name), so drift repair, conflicts and deletion decide from the object itself, never from memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from spinop.api.labels import (
    ACCOUNT,
    CLUSTER,
    CREATED_NAMESPACE,
    GRANTED_TENANT,
    MANAGED_BY,
    OWNER,
    OWNER_UID,
    TENANT,
)
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import parse_quantity
from spinop.remote.profiles import Profile, Rule, rules_for

GUARDRAILS = "spinop-guardrails"  # name of the ResourceQuota, LimitRange and NetworkPolicy in a tenant namespace

Kind = Literal["Namespace", "ServiceAccount", "Role", "RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy"]


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
        return {MANAGED_BY: "spinop", OWNER_UID: self.uid, TENANT: self.mgmt_namespace}

    def annotations(self) -> dict[str, str]:
        return {OWNER: self.ref, CLUSTER: self.cluster, ACCOUNT: self.account_name}


@dataclass(frozen=True)
class GuardrailObjects:
    """Specs of the guardrail objects a tenant namespace should hold; None: that object should not exist."""

    resource_quota: dict[str, Any] | None = None
    limit_range: dict[str, Any] | None = None
    network_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class DesiredRemote:
    owner: Owner
    namespace: str
    profile: Profile
    extra_rules: tuple[Rule, ...] = ()
    namespace_labels: dict[str, str] = field(default_factory=dict)  # guardrail labels (Pod Security, ...)
    namespace_annotations: dict[str, str] = field(default_factory=dict)  # guardrail annotations (Ingress hosts)
    # None: spinop does not manage guardrails in this plan (teardown); else what a namespace this account created holds.
    guardrails: GuardrailObjects | None = None
    # The SpinnakerCluster lists this existing namespace for this tenant (tenancy.existingNamespaces).
    namespace_granted: bool = False

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
    resource_quota: dict[str, Any] | None = None
    limit_range: dict[str, Any] | None = None
    network_policy: dict[str, Any] | None = None


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
    reason: Reason  # becomes the condition reason
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
    meta["labels"] = {**meta["labels"], **desired.namespace_labels, TENANT: desired.owner.mgmt_namespace}
    meta["annotations"] = {**meta["annotations"], **desired.namespace_annotations}
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


_GUARDRAIL_KINDS: tuple[tuple[Kind, str, str], ...] = (
    ("ResourceQuota", "v1", "resource_quota"),
    ("LimitRange", "v1", "limit_range"),
    ("NetworkPolicy", "networking.k8s.io/v1", "network_policy"),
)


def render_guardrail(desired: DesiredRemote, kind: str) -> dict[str, Any] | None:
    """The ResourceQuota, LimitRange or NetworkPolicy `spinop-guardrails` of the namespace; None if not wanted."""
    api_version, attribute = next((a, f) for k, a, f in _GUARDRAIL_KINDS if k == kind)
    spec = getattr(desired.guardrails, attribute) if desired.guardrails is not None else None
    if spec is None:
        return None
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _meta(GUARDRAILS, desired.owner, desired.namespace),
        "spec": spec,
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


def _quantities(values: dict[str, Any] | None) -> dict[str, Any]:
    """Resource lists by value: the apiserver stores 1000m as 1 and 1024Mi as 1Gi."""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        try:
            out[key] = parse_quantity(str(value))
        except ValueError:
            out[key] = value
    return out


def _comparable(kind: str, spec: dict[str, Any]) -> Any:
    """A guardrail spec in a form where what the apiserver defaults or canonicalizes compares equal."""
    if kind == "ResourceQuota":
        return {**spec, "hard": _quantities(spec.get("hard"))}
    if kind == "LimitRange":
        return [
            {key: _quantities(value) if isinstance(value, dict) else value for key, value in item.items()}
            for item in spec.get("limits") or []
        ]

    def rules(key: str, peers: str) -> list[Any]:
        return [
            {
                peers: rule.get(peers) or [],
                "ports": [{"protocol": p.get("protocol", "TCP"), **p} for p in rule.get("ports") or []],
            }
            for rule in spec.get(key) or []
        ]

    return {
        "podSelector": spec.get("podSelector") or {},
        "policyTypes": sorted(spec.get("policyTypes") or []),
        "ingress": rules("ingress", "from"),
        "egress": rules("egress", "to"),
        **{k: v for k, v in spec.items() if k not in ("podSelector", "policyTypes", "ingress", "egress")},
    }


def _merge_patch_to(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning `current` into `wanted`: nested maps merged, keys only `current` has set to null."""
    patch: dict[str, Any] = {key: None for key in current if key not in wanted}
    for key, value in wanted.items():
        old = current.get(key)
        patch[key] = _merge_patch_to(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return patch


def plan_guardrails(desired: DesiredRemote, observed: ObservedRemote) -> list[Action]:
    """Create, restore or remove the namespace's guardrail objects (call only for a namespace this account created).

    Removed ones are deleted only when spinop's label says they are spinop's.
    """
    if desired.guardrails is None:
        return []
    ns = desired.namespace
    actions: list[Action] = []
    for kind, _, attribute in _GUARDRAIL_KINDS:
        wanted, current = render_guardrail(desired, kind), getattr(observed, attribute)
        if wanted is None:
            if current is not None and _labels(current).get(MANAGED_BY) == "spinop":
                actions.append(Action("delete", kind, GUARDRAILS, ns, None, "no longer in the cluster's guardrails"))
            continue
        if current is None:
            actions.append(Action("create", kind, GUARDRAILS, ns, wanted, f"{kind} is missing"))
            continue
        patch = _missing_metadata(current, wanted) or {}
        current_spec = current.get("spec") or {}
        if _comparable(kind, current_spec) != _comparable(kind, wanted["spec"]):
            patch["spec"] = _merge_patch_to(current_spec, wanted["spec"])
        if patch:
            why = "guardrails differ from the cluster's policy" if "spec" in patch else "spinop's labels were removed"
            actions.append(Action("patch", kind, GUARDRAILS, ns, patch, why))
    return actions


def plan_namespace_guardrails(desired: DesiredRemote, observed: ObservedRemote) -> RemotePlan:
    """Only the guardrails of one tenant namespace: its labels and the spinop-guardrails objects.

    What a cluster-wide guardrail rollout does per namespace; it never creates a namespace (its account does) nor
    touches a namespace this account did not create.
    """
    ns = observed.namespace
    if ns is None or (ns.get("status") or {}).get("phase") == "Terminating":
        return RemotePlan()
    if not manages_guardrails(desired, observed):
        return RemotePlan()
    actions: list[Action] = []
    fix = _missing_metadata(ns, render_namespace(desired))
    if fix:
        actions.append(Action("patch", "Namespace", desired.namespace, None, fix, "guardrail labels differ"))
    return RemotePlan(actions=(*actions, *plan_guardrails(desired, observed)))


def manages_guardrails(desired: DesiredRemote, observed: ObservedRemote) -> bool:
    """Guardrails are this account's to keep when it created the namespace (or is about to)."""
    if observed.namespace is None:
        return True
    return _annotations(observed.namespace).get(CREATED_NAMESPACE) == desired.owner.uid


def namespace_tenant(namespace: dict[str, Any]) -> str | None:
    """The tenant a namespace spinop created belongs to: its label, or (created before the label) its owner's."""
    labelled = _labels(namespace).get(TENANT)
    if labelled:
        return labelled
    owner = _annotations(namespace).get(OWNER, "")
    return owner.split("/", 1)[0] if "/" in owner else None


def namespace_conflict(desired: DesiredRemote, namespace: dict[str, Any]) -> Conflict | None:
    """An existing namespace is this tenant's to provision into: spinop created it for this tenant, or the
    SpinnakerCluster grants it to this tenant. Anything else may be someone else's (or squatted before its owner)."""
    owner = desired.owner
    if _annotations(namespace).get(CREATED_NAMESPACE) is None:
        if desired.namespace_granted:
            return _grant_label_conflict(desired, namespace)
        return Conflict(
            Reason.NamespaceNotGranted,
            f"namespace {desired.namespace} already exists on cluster {owner.cluster} and spinop did not create it, "
            f"so it may be someone else's; spinop provisions into it only when SpinnakerCluster {owner.cluster} "
            f"lists it for tenant {owner.mgmt_namespace} in spec.tenancy.existingNamespaces. Choose another "
            "namespace, or ask a platform admin to grant it.",
        )
    holder = namespace_tenant(namespace)
    if holder != owner.mgmt_namespace:
        return Conflict(
            Reason.NamespaceOwnedByAnotherTenant,
            f"namespace {desired.namespace} on cluster {owner.cluster} was created by spinop for another tenant, "
            f"not {owner.mgmt_namespace}. Choose another namespace.",
        )
    return None


def _grant_label_conflict(desired: DesiredRemote, namespace: dict[str, Any]) -> Conflict | None:
    """A granted namespace must also carry the remote admin's label for this tenant: without it deploy/remote's
    admission policy refuses every write there, so say so before writing (naming no other tenant)."""
    owner, tenant = desired.owner, desired.owner.mgmt_namespace
    labelled = _labels(namespace).get(GRANTED_TENANT)
    if labelled == tenant:
        return None
    found = "has no such label" if labelled is None else "is labelled for another tenant"
    return Conflict(
        Reason.NamespaceGrantNotLabelled,
        f"SpinnakerCluster {owner.cluster} grants namespace {desired.namespace} to tenant {tenant} "
        f"(spec.tenancy.existingNamespaces), but on cluster {owner.cluster} the namespace {found}: its admin must "
        f"confirm the grant there with `{grant_label_command(desired.namespace, tenant)}` "
        "(deploy/remote refuses spinop's writes in it until then). Nothing was created in it.",
    )


def grant_label_command(namespace: str, tenant: str) -> str:
    """What a remote cluster's admin runs to confirm a tenancy.existingNamespaces grant of `namespace` to `tenant`.

    Without --overwrite: a namespace already labelled for another tenant fails loudly instead of changing hands."""
    return f"kubectl label namespace {namespace} {GRANTED_TENANT}={tenant}"


def _ownership_conflict(obj: dict[str, Any], kind: str, owner: Owner) -> Conflict | None:
    uid = _labels(obj).get(OWNER_UID)
    name = obj["metadata"]["name"]
    if uid is None:
        return Conflict(
            Reason.ObjectNotManaged,
            f"{kind} {name} already exists in the remote namespace and was not created by spinop; "
            f"spinop will not take it over. Remove it, or pick another accountName.",
        )
    if uid != owner.uid:
        other = holder_text(_annotations(obj).get(OWNER), owner)
        return Conflict(
            Reason.OwnedByAnotherAccount,
            f"{kind} {name} belongs to {other}; two accounts cannot share one Spinnaker account name.",
        )
    return None


def holder_text(holder_ref: str | None, owner: Owner) -> str:
    """Who holds an object, as this account's status may say it: a SpinnakerAccount of the same MGMT namespace by
    name, anyone else only as "another tenant's SpinnakerAccount" (other tenants' objects are not its business)."""
    if holder_ref and holder_ref.partition("/")[0] == owner.mgmt_namespace:
        return f"SpinnakerAccount {holder_ref}"
    return "another tenant's SpinnakerAccount" if holder_ref else "another SpinnakerAccount"


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
        foreign = namespace_conflict(desired, observed.namespace)
        if foreign is not None:
            return RemotePlan(conflicts=(foreign,))
        created_by = _annotations(observed.namespace).get(CREATED_NAMESPACE)
        if created_by is not None and created_by != owner.uid and not allow_sharing:
            other = holder_text(_annotations(observed.namespace).get(OWNER), owner)
            conflicts.append(
                Conflict(
                    Reason.NamespaceOwnedByAnotherAccount,
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
            reasons = []
            if "rules" in patch:
                reasons.append("rules were edited")
            if "automountServiceAccountToken" in patch:
                reasons.append("token automounting was turned on")
            if "metadata" in patch:
                reasons.append("spinop's labels were removed")
            why = " and ".join(reasons)
            actions.append(Action("patch", kind, name, ns, patch, why))  # type: ignore[arg-type]

    if manages_guardrails(desired, observed):
        actions.extend(plan_guardrails(desired, observed))
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
