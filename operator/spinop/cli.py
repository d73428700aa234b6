"""The `spinop` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    import kopf

    import spinop.main  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose, debug=args.debug, log_format=kopf.LogFormat[args.log_format.upper()])
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=list(args.namespace),
        standalone=args.standalone,
        priority=args.priority,
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
    )
    return 0


def _cmd_dev_build(args: argparse.Namespace) -> int:
    from spinop.devcluster.build import ensure_binaries

    binaries = ensure_binaries()
    print(f"kube-apiserver, kube-controller-manager, kubectl {binaries.kubernetes_version}: {binaries.kubectl.parent}")
    print(f"etcd {binaries.etcd_version}: {binaries.etcd.parent}")
    return 0


def _control_planes(args: argparse.Namespace) -> object:
    from spinop.devcluster.controlplane import ControlPlanes
    from spinop.devcluster.paths import build_dir

    root = Path(args.dir) if args.dir else build_dir() / "clusters" / "dev"
    return ControlPlanes(root)


def _cmd_cluster_up(args: argparse.Namespace) -> int:
    from spinop.devcluster.controlplane import ControlPlanes

    planes = _control_planes(args)
    assert isinstance(planes, ControlPlanes)
    clusters = planes.up(args.names.split(","))
    for name, cluster in clusters.items():
        print(f"{name:10} {cluster.server:28} kubeconfig={cluster.kubeconfig}")
    print(f"\nexport KUBECONFIG={planes.root / 'kubeconfig'}   # contexts: {', '.join(clusters)}")
    return 0


def _cmd_cluster_down(args: argparse.Namespace) -> int:
    from spinop.devcluster.controlplane import ControlPlanes

    planes = _control_planes(args)
    assert isinstance(planes, ControlPlanes)
    planes.down()
    print("stopped")
    return 0


def _cmd_cluster_status(args: argparse.Namespace) -> int:
    from spinop.devcluster.controlplane import ControlPlanes

    planes = _control_planes(args)
    assert isinstance(planes, ControlPlanes)
    for row in planes.status():
        state = "running" if row["running"] else "stopped"
        extra = (
            f" {row.get('version', '')} controller-manager={'running' if row.get('controller_manager') else 'stopped'}"
        )
        print(f"{row['name']:10} {state:8} {row['endpoint']:28}{extra if 'version' in row else ''}")
    return 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from spinop.api.crdgen import chart_crd_dir, chart_crds, rendered_crds, repo_crd_dir, stale_crds, write_crds

    # The install's kustomize base and Helm chart keep their own copies (neither tool reads files outside its
    # directory): all are written here, and --check fails when any of them is stale.
    generated = rendered_crds()
    directories = (
        {Path(args.output): generated}
        if args.output
        else {
            repo_crd_dir(): generated,
            repo_crd_dir().parent / "deploy/base/crds": generated,
            chart_crd_dir(): chart_crds(),
        }
    )
    if args.check:
        stale = [path for directory, files in directories.items() for path in stale_crds(directory, files)]
        if stale:
            print(
                "spinop: these CRDs differ from the API models: "
                + ", ".join(str(p) for p in stale)
                + "\nRegenerate them with `spinop crds` (or `make crds`) and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"CRDs in {', '.join(str(d) for d in directories)} match the API models")
        return 0
    for directory, files in directories.items():
        for path in write_crds(directory, files):
            print(f"wrote {path}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import asyncio
    import os
    from typing import Any

    from spinop.commands.plan import build_plan, load_documents, observe_spinnaker
    from spinop.config import OperatorConfig
    from spinop.controllers.context import OperatorContext
    from spinop.gate.factory import build_gate
    from spinop.kube.clients import mgmt_client
    from spinop.remote.cluster import RemoteClusters
    from spinop.spinnaker.factory import build_backend
    from spinop.spinnaker.sync import SpinnakerBackend

    env = dict(os.environ)
    if args.config:
        env["SPINOP_CONFIG"] = args.config
    config = OperatorConfig.load(env)
    docs, others = load_documents([Path(p) for p in args.filename])
    mgmt = mgmt_client()

    async def observe() -> tuple[SpinnakerBackend | None, dict[str, dict[str, Any]] | None, str]:
        ctx = OperatorContext(
            config=config, mgmt=mgmt, clusters=RemoteClusters(mgmt, config.credentials_namespace), sync=None
        )
        if config.spinnaker_backend == "accounts-api":
            ctx.gate = await build_gate(config, mgmt)
        backend = build_backend(config, mgmt, ctx.gate)
        if backend is None:
            return None, None, ""
        try:
            live, problem = await observe_spinnaker(backend)
        finally:
            if ctx.gate is not None:
                await ctx.gate.close()
        return backend, live, problem

    backend, live, problem = asyncio.run(observe())
    plan = build_plan(docs, mgmt, config, backend, live, problem)
    if others:
        plan.notes.append(f"{others} object(s) of other kinds were not planned")
    print(plan.render())
    if plan.refused:
        return 1
    return 2 if args.detailed_exitcode and plan.changes else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from spinop.commands.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None, exit_when_ready=args.exit_when_ready, resume=args.resume)


def _cmd_dev_kubectl(args: argparse.Namespace) -> int:
    from spinop.commands.demo import default_root, run_kubectl

    return run_kubectl(Path(args.dir) if args.dir else default_root(), list(args.kubectl_args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinop",
        description="spinop: Spinnaker accounts and pipelines as Kubernetes custom resources.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the operator against the current kubeconfig (or in-cluster config)",
        description="Run the spinop operator. Watches all namespaces unless --namespace is given.",
    )
    run.add_argument("-n", "--namespace", action="append", default=[], help="watch only this namespace (repeatable)")
    run.add_argument("--standalone", action="store_true", help="do not take part in kopf peering (single replica)")
    run.add_argument("--priority", type=int, default=0, help="peering priority (the highest active replica works)")
    run.add_argument("--peering", default=None, help="name of the KopfPeering object used for HA")
    run.add_argument("--liveness", default=None, help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", default="plain", choices=["plain", "full", "json"], help="log line format")
    run.add_argument("-v", "--verbose", action="store_true", help="verbose logging")
    run.add_argument("--debug", action="store_true", help="debug logging")
    run.set_defaults(func=_cmd_run)

    crds = sub.add_parser("crds", help="write the CRD manifests generated from the API models (crds/*.yaml)")
    crds.add_argument("--check", action="store_true", help="fail if the files differ from the models")
    crds.add_argument("--output", default=None, help="directory (default: the repository's crds/)")
    crds.set_defaults(func=_cmd_crds)

    plan = sub.add_parser(
        "plan",
        help="show what a directory of CRs would change in remote clusters and Spinnaker (reads only)",
        description="For a directory of spinop CRs (e.g. a GitOps pull request), print what spinop would do in each "
        "remote cluster and in Spinnaker, using the operator's own checks and planners. Nothing is changed. Uses "
        "the current kubeconfig for the management cluster and the operator settings (--config or SPINOP_CONFIG) "
        "to reach Spinnaker. Exit code 1 when something would be refused.",
    )
    plan.add_argument("-f", "--filename", action="append", required=True, help="file or directory (repeatable)")
    plan.add_argument("--config", default=None, help="operator settings YAML (as mounted in the install)")
    plan.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when there are changes (0: none, 1: refused)"
    )
    plan.set_defaults(func=_cmd_plan)

    demo = sub.add_parser(
        "demo",
        help="the local demo: control planes + operator + sample resources, until Ctrl-C",
        description="Build and start local control planes (mgmt, dev, staging, prod), the Halyard and Gate "
        "stand-ins, run spinop against mgmt, apply deploy/samples and show accounts and pipelines becoming Ready; "
        "Ctrl-C stops everything.",
    )
    demo.add_argument("--dir", default=None, help="where the demo's clusters live (default .build/clusters/demo)")
    demo.add_argument(
        "--exit-when-ready", action="store_true", help="stop everything and exit once all resources are Ready"
    )
    demo.add_argument(
        "--resume",
        action="store_true",
        help="keep the previous demo's clusters and objects (default: start clean)",
    )
    demo.set_defaults(func=_cmd_demo)

    from spinop.commands.importer.cli import add_import_command

    add_import_command(sub)

    dev = sub.add_parser("dev", help="local development: build and run real Kubernetes control planes")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True, metavar="SUBCOMMAND")
    build = dev_sub.add_parser(
        "build", help="build kube-apiserver, kube-controller-manager, kubectl and etcd from Go modules"
    )
    build.set_defaults(func=_cmd_dev_build)
    kubectl = dev_sub.add_parser(
        "kubectl",
        help="the built kubectl with the demo's kubeconfig: spinop dev kubectl [--dir DIR] ARGS",
        description="Run the kubectl spinop built (no kubectl on PATH needed) against the demo's clusters (context "
        "mgmt; --context dev|staging|prod for the others). Everything after the options goes to kubectl.",
    )
    kubectl.add_argument("--dir", default=None, help="cluster set directory (default .build/clusters/demo)")
    kubectl.add_argument("kubectl_args", nargs=argparse.REMAINDER, help="arguments for kubectl")
    kubectl.set_defaults(func=_cmd_dev_kubectl)
    cluster = dev_sub.add_parser("cluster", help="start, stop or inspect the local control planes")
    cluster_sub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    for name, func, text in (
        ("up", _cmd_cluster_up, "start (or reuse) the clusters and print their kubeconfigs"),
        ("down", _cmd_cluster_down, "stop every process of the cluster set"),
        ("status", _cmd_cluster_status, "show which clusters run"),
    ):
        action = cluster_sub.add_parser(name, help=text)
        action.add_argument("--dir", default=None, help="cluster set directory (default .build/clusters/dev)")
        if name == "up":
            action.add_argument(
                "--names",
                default="mgmt,dev,staging,prod",
                help="comma-separated cluster names (default: %(default)s)",
            )
        action.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["dev", "kubectl"]:
        # Everything after `dev kubectl [--dir DIR]` is kubectl's, even options argparse would claim (`-n team-a`).
        head, rest = argv[:2], argv[2:]
        if rest[:1] == ["--dir"] and len(rest) > 1:
            head, rest = [*head, *rest[:2]], rest[2:]
        args = parser.parse_args(head)
        args.kubectl_args = rest[1:] if rest[:1] == ["--"] else rest
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the CLI's last word: say what failed, without a traceback for expected errors
        from spinop.devcluster.build import BuildError
        from spinop.devcluster.controlplane import ControlPlaneError

        if isinstance(err, BuildError | ControlPlaneError):
            print(f"spinop: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
