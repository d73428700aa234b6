"""Run the test double of the Halyard daemon as a process.

    python -m tests.standins.halyard --port 0 --root DIR [--kube-port 0] [--control-port 0]
        [--deploy-seconds S] [--task-latency S] [--exec-token T | --kubeconfig PATH] [--tls]
        [--pod spinnaker/spin-halyard-0] [--container halyard] [--cli-poll-interval S]

When ready it prints exactly one JSON line on stdout:
    {"ready": true, "daemon_url": …, "kube_url": …, "control_url": …, "ca_file": …, "namespace": …, …}
and then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from .daemon import DaemonSettings
from .kube_exec import ExecAuthorizer, KubeAuthorizer
from .standin import HalyardStandin


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.standins.halyard", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="daemon REST port (0: any free port)")
    p.add_argument("--kube-port", type=int, default=0, help="pods/exec endpoint port")
    p.add_argument("--control-port", type=int, default=0, help="/_standin control API port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--root", required=True, type=Path, help="state directory (the pod filesystem lives under it)")
    p.add_argument("--deploy-seconds", type=float, default=0.05)
    p.add_argument("--task-latency", type=float, default=0.02)
    p.add_argument("--exec-token", help="static bearer token accepted by the exec endpoint")
    p.add_argument("--kubeconfig", help="authorize exec with TokenReview/SubjectAccessReview against this API")
    p.add_argument("--tls", action="store_true", help="serve the exec endpoint over TLS (self-signed CA)")
    p.add_argument("--pod", default="spinnaker/spin-halyard-0", help="namespace/pod served by the exec endpoint")
    p.add_argument("--container", default="halyard")
    p.add_argument("--cli-poll-interval", type=float, default=0.4, help="how often the hal emulator polls tasks")
    p.add_argument("--spinnaker-version", default="1.36.1")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    namespace, _, pod = args.pod.partition("/")
    authorizer: ExecAuthorizer | None = KubeAuthorizer(args.kubeconfig) if args.kubeconfig else None
    standin = HalyardStandin(
        args.root,
        host=args.host,
        daemon_port=args.port,
        kube_port=args.kube_port,
        control_port=args.control_port,
        settings=DaemonSettings(
            deploy_seconds=args.deploy_seconds,
            task_latency_s=args.task_latency,
            spinnaker_version=args.spinnaker_version,
        ),
        exec_token=args.exec_token,
        authorizer=authorizer,
        tls=args.tls,
        namespace=namespace or "spinnaker",
        pod=pod or "spin-halyard-0",
        container=args.container,
        cli_poll_interval=args.cli_poll_interval,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with standin:
        sys.stdout.write(json.dumps({"ready": True, **standin.urls().to_json()}) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve(_args(argv)))


if __name__ == "__main__":
    main()
