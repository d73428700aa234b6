"""`spinop import`'s command line: reads the sources, plans, writes the objects and the report (docs/import.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spinop.commands.importer.output import to_yaml, write_directory
from spinop.commands.importer.plan import DEFAULT_ADMIN_SECRET, DEFAULT_TENANT_PATTERN, ImportOptions, plan_import
from spinop.commands.importer.sources import (
    SourceAccount,
    SourceError,
    file_reader,
    load_source,
    read_halyard,
    resolve_targets,
)


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.rpartition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_import_command(sub: Any) -> None:
    """Register `spinop import` on the top-level subparsers."""
    parser = sub.add_parser(
        "import",
        help="turn existing Spinnaker Kubernetes accounts into SpinnakerCluster/SpinnakerAccount YAML that adopts them",
        description="Read existing Spinnaker Kubernetes accounts (a halconfig, a live Halyard, or a Terraform-style "
        "account list) and write SpinnakerClusters, SpinnakerAccounts (spec.adopt: true, spec.accountName = the "
        "existing name) and tenant Namespaces as YAML; a report of what was carried over, what adoption changes "
        "and what cannot be imported goes to stderr. Nothing is changed anywhere. See docs/import.md.",
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a halconfig (~/.hal/config), a Halyard kubernetes provider JSON, or an account list (.tfvars, "
        ".json, .yaml)",
    )
    parser.add_argument("--halyard-url", default=None, help="read a live Halyard daemon, e.g. http://localhost:8064")
    parser.add_argument("--deployment", default=None, help="Halyard deployment (default: the current one)")
    parser.add_argument(
        "--path-map",
        action="append",
        type=_pair,
        default=[],
        metavar="FROM=TO",
        help="read kubeconfig files under FROM (on the Halyard host) from TO here (repeatable)",
    )
    parser.add_argument(
        "--cluster-map",
        action="append",
        type=_pair,
        default=[],
        metavar="KEY=CLUSTER",
        help="put accounts in SpinnakerCluster CLUSTER by account name, kubeconfig context, kubeconfig cluster "
        "name or server URL (repeatable)",
    )
    parser.add_argument(
        "--tenant-pattern",
        default=DEFAULT_TENANT_PATTERN,
        help="derive each account's tenant (MGMT namespace) from its namespace; also the clusters' "
        "tenancy.namespacePattern (default: %(default)s)",
    )
    parser.add_argument("--tenant", default=None, help="put every account in this tenant (MGMT namespace)")
    parser.add_argument(
        "--tenant-map",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=TENANT",
        help="the tenant of one account (by account name or namespace) (repeatable)",
    )
    parser.add_argument("--default-environment", default=None, help="environment of accounts that have none")
    parser.add_argument(
        "--admin-secret-name",
        default=DEFAULT_ADMIN_SECRET,
        help="each cluster's admin kubeconfig Secret; {cluster} and {environment} are filled in (default: %(default)s)",
    )
    parser.add_argument("-o", "--output", default=None, help="write one file per object and a kustomization.yaml here")
    parser.add_argument(
        "--report-format", choices=["text", "json"], default="text", help="the report on stderr (default: text)"
    )
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    import asyncio

    if not args.sources and not args.halyard_url:
        print("spinop import: give a SOURCE file or --halyard-url", file=sys.stderr)
        return 2
    if "{tenant}" not in args.tenant_pattern:
        print("spinop import: --tenant-pattern must contain {tenant}", file=sys.stderr)
        return 2
    try:
        args.admin_secret_name.format(cluster="c", environment="e")
    except (KeyError, IndexError, ValueError):
        print("spinop import: --admin-secret-name may only use {cluster} and {environment}", file=sys.stderr)
        return 2
    try:
        accounts: list[SourceAccount] = []
        if args.halyard_url:
            accounts += asyncio.run(read_halyard(args.halyard_url, deployment=args.deployment))
        for source in args.sources:
            accounts += load_source(Path(source), deployment=args.deployment)
    except SourceError as err:
        print(f"spinop import: {err}", file=sys.stderr)
        return 1
    accounts = resolve_targets(accounts, file_reader(args.path_map))
    options = ImportOptions(
        cluster_map=dict(args.cluster_map),
        tenant_pattern=args.tenant_pattern,
        tenant=args.tenant,
        tenant_map=dict(args.tenant_map),
        default_environment=args.default_environment,
        admin_secret_name=args.admin_secret_name,
    )
    result = plan_import(accounts, options)
    if args.output:
        written = write_directory(Path(args.output), result.objects, result.report)
        grants = any(c.granted_namespaces for c in result.report.clusters)
        labels = ", run each remote-namespace-labels-<cluster>.sh on its cluster" if grants else ""
        result.report.notes.append(
            f"wrote {len(written)} files to {args.output}: review{labels}, then kubectl apply -k"
        )
    elif result.objects:
        sys.stdout.write(to_yaml(result.objects))
    if args.report_format == "json":
        sys.stderr.write(json.dumps(result.report.to_json(), indent=2, default=str) + "\n")
    else:
        sys.stderr.write(result.report.render())
    return 0
