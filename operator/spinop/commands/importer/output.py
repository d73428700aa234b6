"""What `spinop import` shows and writes: the report (text or JSON), the objects as YAML or as a directory for
`kubectl apply -k`, and the label scripts the remote admins run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# ------------------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any
    why: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {_short(self.before)} -> {_short(self.after)}" + (f" ({self.why})" if self.why else "")


@dataclass
class AccountResult:
    name: str
    source: str
    tenant: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    problems: list[str] = field(default_factory=list)
    """Why it cannot be imported (empty: it is adopted)."""
    not_carried: list[str] = field(default_factory=list)
    """Fields spinop does not manage: kept in Spinnaker as they are."""
    changes: list[FieldChange] = field(default_factory=list)
    """Fields spinop manages that adoption changes in Spinnaker (the credentials aside)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> bool:
        return not self.problems


@dataclass
class ClusterResult:
    name: str
    environment: str
    grouped_by: str
    server: str | None
    admin_secret: str
    accounts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    granted_namespaces: list[dict[str, str]] = field(default_factory=list)
    """The existing namespaces granted to a tenant (tenancy.existingNamespaces): {namespace, tenant, command}, where
    command is what this cluster's admin runs to confirm the grant (deploy/remote refuses spinop's writes there
    until then)."""


@dataclass
class ImportReport:
    accounts: list[AccountResult] = field(default_factory=list)
    clusters: list[ClusterResult] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.adopted]

    @property
    def skipped(self) -> list[AccountResult]:
        return [a for a in self.accounts if not a.adopted]

    def account(self, name: str) -> AccountResult:
        return next(a for a in self.accounts if a.name == name)

    def render(self) -> str:
        lines = [
            f"spinop import: {len(self.adopted)} of {len(self.accounts)} account(s) adopted on "
            f"{len(self.clusters)} SpinnakerCluster(s) for {len(self.tenants)} tenant(s); "
            f"{len(self.skipped)} not importable."
        ]
        if self.clusters:
            lines += ["", "SpinnakerClusters (create each admin kubeconfig Secret before applying):"]
            for c in self.clusters:
                lines.append(
                    f"  {c.name}: environment {c.environment}, {len(c.accounts)} account(s), grouped by {c.grouped_by}"
                )
                lines.append(
                    f"    admin kubeconfig: Secret {c.admin_secret} in the credentials namespace "
                    f"(deploy/remote/admin-kubeconfig.sh --cluster {c.name} ...)"
                )
                lines += [f"    note: {n}" for n in c.notes]
                if c.granted_namespaces:
                    lines.append("    its admin labels the imported namespaces for their tenants (on that cluster):")
                    lines += [f"      {g['command']}" for g in c.granted_namespaces]
        if self.adopted:
            lines += ["", "Adopted (spec.adopt: true; Spinnaker keeps the name, spinop issues new credentials):"]
            for a in self.adopted:
                lines.append(f"  {a.name} -> SpinnakerAccount {a.tenant}/{a.name} on {a.cluster}/{a.namespace}")
                if a.changes:
                    lines.append("    changes in Spinnaker: " + "; ".join(str(c) for c in a.changes))
                lines += [f"    not carried, kept in Spinnaker as is: {n}" for n in a.not_carried]
                lines += [f"    warning: {w}" for w in a.warnings]
        if self.skipped:
            lines += ["", "Not importable (left alone: spinop never touches an account no SpinnakerAccount adopts):"]
            for a in self.skipped:
                lines.append(f"  {a.name} ({a.source}):")
                lines += [f"    - {p}" for p in a.problems]
        lines += ["", *[f"note: {n}" for n in self.notes]] if self.notes else []
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": [vars(c) for c in self.clusters],
            "tenants": self.tenants,
            "accounts": [
                {**vars(a), "adopted": a.adopted, "changes": [vars(c) for c in a.changes]} for a in self.accounts
            ],
            "notes": self.notes,
        }


@dataclass
class ImportResult:
    objects: list[dict[str, Any]]
    report: ImportReport


def _short(value: Any, limit: int = 120) -> str:
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) <= limit:
        return text
    if isinstance(value, list):
        return text[: limit - 30].rsplit(",", 1)[0] + f", ...] ({len(value)} items)"
    return text[: limit - 3] + "..."


# -------------------------------------------------------------------------------------------------------- files


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(dict(o), sort_keys=False) for o in objects)


def object_file_name(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [str(obj["kind"]).lower(), *([meta["namespace"]] if meta.get("namespace") else []), meta["name"]]
    return "-".join(parts) + ".yaml"


def label_script_name(cluster: str) -> str:
    return f"remote-namespace-labels-{cluster}.sh"


def label_script(cluster: ClusterResult) -> str:
    """The commands the admin of `cluster`'s remote cluster runs to confirm its existingNamespaces grants."""
    where = f" (server {cluster.server})" if cluster.server else ""
    return (
        "#!/bin/sh\n"
        f"# Generated by `spinop import`. Run as the admin of SpinnakerCluster {cluster.name}'s cluster{where}, e.g.\n"
        f"#   KUBECONFIG=<its admin kubeconfig> sh {label_script_name(cluster.name)}\n"
        "# The imported accounts deploy to these namespaces, which spinop did not create: deploy/remote lets spinop\n"
        "# write there only for the tenant the namespace is labelled for (docs/import.md).\n"
        "set -e\n" + "".join(f"{g['command']}\n" for g in cluster.granted_namespaces)
    )


def write_directory(
    directory: Path, objects: Sequence[Mapping[str, Any]], report: ImportReport | None = None
) -> list[Path]:
    """One file per object plus a kustomization.yaml listing them (`kubectl apply -k DIR`), and per remote cluster
    with granted namespaces the script of its admin's labels (not a resource: it runs against the remote cluster)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        path = directory / object_file_name(obj)
        path.write_text(yaml.safe_dump(dict(obj), sort_keys=False))
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.name for p in written],
    }
    scripts = []
    for cluster in report.clusters if report else []:
        if cluster.granted_namespaces:
            script = directory / label_script_name(cluster.name)
            script.write_text(label_script(cluster))
            scripts.append(script)
    path = directory / "kustomization.yaml"
    steps = "create the admin kubeconfig Secrets"
    if scripts:
        steps += ", run each remote-namespace-labels-<cluster>.sh on its cluster"
    path.write_text(
        f"# Generated by `spinop import`: review, {steps}, then `kubectl apply -k .`\n"
        + yaml.safe_dump(kustomization, sort_keys=False)
    )
    return [*written, *scripts, path]
