"""`spinop plan -f DIR`: what a directory of CRs (a GitOps PR) would change, without changing anything.

It runs the operator's own checks and planners: the tenancy rules, the remote planner (desired + observed → actions)
against each remote cluster read with the SpinnakerCluster's admin kubeconfig, the credentials state in MGMT, and
the Spinnaker backend's view (the accounts spinop would add, change or refuse). Every call is a read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.accounts import build_desired_remote, desired_spinnaker_account
from spinop.api.labels import OWNER_UID
from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerCluster, SpinnakerClusterSpec, validate_resource
from spinop.config import OperatorConfig
from spinop.credentials import store
from spinop.errors import SpinopError
from spinop.kube.clients import call
from spinop.redact import Redacted
from spinop.remote import apply as remote_apply
from spinop.remote.cluster import ClusterConnection, RemoteClusters
from spinop.remote.plan import ObservedRemote, Owner, RemotePlan, plan_remote
from spinop.spinnaker.desired import AccountOwner
from spinop.spinnaker.sync import BackendUnavailable, SpinnakerBackend
from spinop.tenancy import AccountClaim, effective_permissions, tenancy_refusal

KINDS = {"SpinnakerCluster", "SpinnakerAccount", "SpinnakerPipeline"}


@dataclass
class AccountPlan:
    ref: str
    cluster: str
    spinnaker_name: str
    refused: str = ""
    remote: list[str] = field(default_factory=list)
    remote_observed: bool = True
    credentials: str = ""
    spinnaker: str = ""

    @property
    def changes(self) -> bool:
        return bool(self.remote) or self.credentials.startswith("would") or self.spinnaker.startswith(("+", "~"))


@dataclass
class Plan:
    accounts: list[AccountPlan] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    ignored: int = 0
    notes: list[str] = field(default_factory=list)
    backend: str = "none"

    @property
    def refused(self) -> int:
        return len(self.invalid) + sum(1 for a in self.accounts if a.refused)

    @property
    def changes(self) -> bool:
        return any(a.changes for a in self.accounts)

    def render(self) -> str:
        lines: list[str] = []
        for problem in self.invalid:
            lines.append(f"! {problem}")
        by_cluster: dict[str, list[AccountPlan]] = {}
        for account in self.accounts:
            by_cluster.setdefault(account.cluster, []).append(account)
        for cluster, accounts in sorted(by_cluster.items()):
            lines.append(f"\nRemote cluster {cluster}:")
            for a in accounts:
                if a.refused:
                    lines.append(f"  ! {a.ref}: refused: {a.refused}")
                    continue
                if not a.remote:
                    lines.append(f"  = {a.ref}: remote objects in place")
                for action in a.remote:
                    lines.append(f"  + {a.ref}: {action}")
                if not a.remote_observed:
                    lines.append(f"    (cluster {cluster} not observed: assuming nothing exists there yet)")
                lines.append(f"    credentials: {a.credentials}")
        lines.append(f"\nSpinnaker ({self.backend}):")
        for a in self.accounts:
            if not a.refused:
                lines.append(f"  {a.spinnaker}")
        for note in self.notes:
            lines.append(f"\nnote: {note}")
        creating = sum(1 for a in self.accounts if a.spinnaker.startswith("+"))
        changing = sum(1 for a in self.accounts if a.spinnaker.startswith("~"))
        lines.append(
            f"\nSummary: {len(self.accounts)} account(s): {creating} to add to Spinnaker, {changing} to change, "
            f"{self.refused} refused"
            + (
                "; all account changes would go in ONE batch (one clouddriver deploy for Halyard)"
                if (creating or changing) and self.backend.startswith("halyard")
                else ""
            )
        )
        return "\n".join(lines).lstrip("\n")


def load_documents(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
    """spinop's objects from YAML/JSON files (directories are searched); returns them and how many others there were."""
    found: list[dict[str, Any]] = []
    others = 0
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}) if path.is_dir() else [path]
        )
        for file in files:
            if file.name in {"kustomization.yaml", "kustomization.yml"}:
                continue
            for doc in yaml.safe_load_all(file.read_text()):
                if not isinstance(doc, dict):
                    continue
                if doc.get("kind") in KINDS and str(doc.get("apiVersion", "")).startswith(f"{GROUP}/"):
                    found.append(doc)
                elif doc.get("kind") == "Namespace":
                    found.append(doc)  # tenant namespaces' labels decide tenancy
                else:
                    others += 1
    return found, others


def _list(api: ApiClient, plural: str) -> list[dict[str, Any]]:
    try:
        listed = call(k8s.CustomObjectsApi(api).list_cluster_custom_object, GROUP, VERSION, plural)
    except ApiException as err:
        if err.status == 404:
            return []
        raise
    return list(listed["items"])


def _namespace_labels(api: ApiClient, docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    labels = {
        d["metadata"]["name"]: dict(d["metadata"].get("labels") or {}) for d in docs if d.get("kind") == "Namespace"
    }
    try:
        for ns in call(k8s.CoreV1Api(api).list_namespace).items:
            labels.setdefault(ns.metadata.name, dict(ns.metadata.labels or {}))
    except ApiException:
        pass
    return labels


async def observe_spinnaker(backend: SpinnakerBackend) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Spinnaker's accounts now (None and the reason when the backend cannot be reached); closes the backend."""
    try:
        return await backend.list_accounts(), ""
    except BackendUnavailable as err:
        return None, err.message
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            await close()


def build_plan(
    docs: list[dict[str, Any]],
    mgmt: ApiClient,
    config: OperatorConfig,
    backend: SpinnakerBackend | None,
    live_spinnaker: dict[str, dict[str, Any]] | None = None,
    spinnaker_problem: str = "",
) -> Plan:
    plan = Plan(backend=backend.name if backend else "none: not registered in Spinnaker")
    clusters: dict[str, SpinnakerClusterSpec] = {}
    for live in _list(mgmt, "spinnakerclusters"):
        with contextlib.suppress(Exception):
            clusters[live["metadata"]["name"]] = SpinnakerClusterSpec.model_validate(live.get("spec") or {})
    accounts: list[SpinnakerAccount] = []
    for doc in docs:
        if doc.get("kind") == "Namespace":
            continue
        model, errors = validate_resource(doc)
        meta = doc.get("metadata") or {}
        ref = f"{doc.get('kind')} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta.get('name')}"
        if model is None:
            plan.invalid.append(f"{ref}: " + "; ".join(f"{e.path}: {e.message}" for e in errors))
            continue
        if isinstance(model, SpinnakerCluster):
            clusters[model.metadata.name or ""] = model.spec
        elif isinstance(model, SpinnakerAccount):
            accounts.append(model)
    namespace_labels = _namespace_labels(mgmt, docs)
    existing = [
        AccountClaim(
            a["metadata"]["namespace"],
            a["metadata"]["name"],
            a["spec"]["cluster"],
            a["spec"]["namespace"],
            a["spec"].get("accountName") or f"{a['spec']['cluster']}-{a['spec']['namespace']}",
        )
        for a in _list(mgmt, "spinnakeraccounts")
    ]
    remotes = RemoteClusters(mgmt, config.credentials_namespace)
    if spinnaker_problem:
        plan.notes.append(f"Spinnaker not observed ({spinnaker_problem}): its column assumes nothing is registered")

    planned: list[AccountClaim] = []
    for account in accounts:
        plan.accounts.append(
            _plan_account(
                account, clusters, namespace_labels, existing, planned, remotes, mgmt, config, backend, live_spinnaker
            )
        )
        spec = account.spec
        planned.append(
            AccountClaim(
                account.metadata.namespace or "",
                account.metadata.name or "",
                spec.cluster,
                spec.namespace,
                spec.effective_account_name,
            )
        )
    return plan


def _plan_account(
    account: SpinnakerAccount,
    clusters: dict[str, SpinnakerClusterSpec],
    namespace_labels: dict[str, dict[str, str]],
    existing: list[AccountClaim],
    planned: list[AccountClaim],
    remotes: RemoteClusters,
    mgmt: ApiClient,
    config: OperatorConfig,
    backend: SpinnakerBackend | None,
    live_spinnaker: dict[str, dict[str, Any]] | None,
) -> AccountPlan:
    spec, meta = account.spec, account.metadata
    tenant, name = meta.namespace or "", meta.name or ""
    result = AccountPlan(f"{tenant}/{name}", spec.cluster, spec.effective_account_name)
    cluster = clusters.get(spec.cluster)
    if cluster is None:
        result.refused = f"SpinnakerCluster {spec.cluster} does not exist (neither in MGMT nor in the files)"
        return result
    # The same rules as admission and the reconcile; accounts already in MGMT win over new ones in the files.
    others = [c for c in existing if (c.tenant, c.name) != (tenant, name)]
    refusal = tenancy_refusal(
        spec,
        tenant=tenant,
        name=name,
        tenant_labels=namespace_labels.get(tenant, {}),
        cluster_name=spec.cluster,
        cluster=cluster,
        winners=[*others, *planned],
        reserved=config.reserved_namespaces,
    )
    if refusal is not None:
        result.refused = f"{refusal.reason}: {refusal.message}"
        return result

    owner = Owner(spec.cluster, tenant, name, "<uid of the new SpinnakerAccount>", spec.effective_account_name)
    desired = build_desired_remote(owner, spec, cluster)
    observed = ObservedRemote()
    try:
        remote = remotes.get(
            ClusterConnection(
                spec.cluster,
                cluster.kubeconfig_secret_ref.name,
                cluster.kubeconfig_secret_ref.key,
                cluster.server,
                cluster.certificate_authority_data,
            )
        )
        observed = remote_apply.observe(remote, desired)
        # An existing SpinnakerAccount's objects carry its uid: plan as that owner, so "in place" means in place.
        uid = ((observed.service_account or {}).get("metadata") or {}).get("labels", {}).get(OWNER_UID)
        if uid:
            owner = Owner(spec.cluster, tenant, name, uid, spec.effective_account_name)
            desired = build_desired_remote(owner, spec, cluster)
    except (SpinopError, ApiException) as err:
        result.remote_observed = False
        reason = err.reason if isinstance(err, SpinopError) else f"HTTP {err.status}"
        result.credentials = f"unknown (cluster not observed: {reason})"
    remote_plan: RemotePlan = plan_remote(desired, observed, allow_sharing=cluster.tenancy.allow_namespace_sharing)
    if remote_plan.conflicts:
        result.refused = "; ".join(f"{c.reason}: {c.message}" for c in remote_plan.conflicts)
        return result
    result.remote = [a.describe() for a in remote_plan.actions]
    if remote_plan.waiting:
        result.remote.append(remote_plan.waiting)

    if not result.credentials:
        try:
            stored = store.read_credentials(
                mgmt, config.credentials_namespace, store.secret_name(spec.effective_account_name)
            )
        except store.CredentialsSecretConflict as err:
            result.refused = f"{err.reason}: {err.message}"
            return result
        if stored is None:
            result.credentials = f"would issue {cluster.credentials.type.value} credentials"
        else:
            expiry = f", valid until {stored.expires_at:%Y-%m-%dT%H:%M:%SZ}" if stored.expires_at else ""
            result.credentials = f"present ({stored.source}{expiry})"

    wanted = desired_spinnaker_account(
        AccountOwner(tenant, name, owner.uid),
        spec,
        cluster.environment,
        Redacted(""),
        "",
        permissions=effective_permissions(spec, tenant=tenant, cluster_name=spec.cluster, cluster=cluster),
    )
    if backend is None:
        result.spinnaker = f"- {wanted.name}: not registered (backend none)"
        return result
    live = (live_spinnaker or {}).get(wanted.name)
    if live is None:
        result.spinnaker = (
            f"+ add account {wanted.name} (namespace {spec.namespace}, environment {cluster.environment})"
        )
    elif not spec.adopt and not _managed_by_spinop(mgmt, config, wanted.name, tenant, name):
        result.refused = (
            f"AccountExistsInSpinnaker: Spinnaker already has an account named {wanted.name} that spinop did not "
            "create; set spec.adopt: true to take it over, or choose another spec.accountName"
        )
    elif backend.needs_write(wanted, live):
        changed = _changed_fields(wanted.managed_fields(), live)
        result.spinnaker = f"~ change account {wanted.name}: {', '.join(changed) or 'credentials file'}"
    else:
        result.spinnaker = f"= account {wanted.name} unchanged"
    return result


def _managed_by_spinop(mgmt: ApiClient, config: OperatorConfig, account: str, tenant: str, name: str) -> bool:
    from spinop.spinnaker.inventory import Inventory

    entries = Inventory(mgmt, config.operator_namespace).load()
    entry = entries.get(account)
    return entry is not None and entry.owner == f"{tenant}/{name}"


def _changed_fields(wanted: dict[str, Any], live: dict[str, Any]) -> list[str]:
    changed = []
    for key, value in wanted.items():
        current = live.get(key)
        if key == "permissions":
            current = {k: v for k, v in (current or {}).items() if k in ("READ", "WRITE") or k in value}
            value = {k: sorted(v) for k, v in value.items()}
            current = {k: sorted(v) for k, v in current.items()}
        if current != value and not (current in (None, [], {}) and value in (None, [], {})):
            changed.append(f"{key} {current!r} → {value!r}")
    return changed
