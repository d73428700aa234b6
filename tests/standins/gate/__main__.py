"""Run the Gate stand-in (a test double) as a process.

    python -m tests.standins.gate --port 0 --auth x509 --client-cn spinop --client-cn alice:team-a

Prints one line of JSON on stdout once it listens, e.g.
{"event": "ready", "url": "https://127.0.0.1:40123", "auth": "x509", "ca": "/tmp/.../ca.pem",
 "clients": {"spinop": {"cert": "...", "key": "..."}}, "pid": 1234}
and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from .server import GateStandin, RateLimitSettings, StandinOptions


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep:
            raise SystemExit(f"{what} must look like KEY=VALUE, got {value!r}")
        out[key] = rest
    return out


def parse_args(argv: list[str]) -> StandinOptions:
    p = argparse.ArgumentParser(prog="python -m tests.standins.gate", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--auth", choices=["none", "basic", "bearer", "x509"], default="none")
    p.add_argument("--user", action="append", default=[], help="basic auth USER=PASSWORD (repeatable)")
    p.add_argument("--token", action="append", default=[], help="bearer TOKEN=PRINCIPAL (repeatable)")
    p.add_argument("--roles", action="append", default=[], help="PRINCIPAL=role1,role2 (repeatable)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS (implied by --auth x509)")
    p.add_argument("--cert-dir", type=Path, help="where to write CA and certificates (default: a temp dir)")
    p.add_argument(
        "--client-cn",
        action="append",
        default=[],
        help="x509 client cert to issue: CN[:role1,role2] (repeatable)",
    )
    p.add_argument("--rate-limit-capacity", type=int, help="enable rate limiting with this capacity per window")
    p.add_argument("--rate-limit-window", type=float, default=10.0)
    p.add_argument("--rate-limit-learning", action="store_true")
    p.add_argument("--rate-limit-reset-header", choices=["http-date", "epoch-ms"], default="http-date")
    p.add_argument("--save-polls", type=int, default=32)
    p.add_argument("--save-poll-interval", type=float, default=1.0)
    p.add_argument("--save-duration", type=float, default=0.0)
    p.add_argument("--task-duration", type=float, default=0.02)
    p.add_argument("--credentials-poll-interval", type=float, default=0.2, help="0 = only via the control API")
    a = p.parse_args(argv)
    clients: dict[str, list[str]] = {}
    for spec in a.client_cn or ["spinop"]:
        cn, _, roles = spec.partition(":")
        clients[cn] = [r for r in roles.split(",") if r]
    return StandinOptions(
        host=a.host,
        port=a.port,
        auth=a.auth,
        users=_pairs(a.user, "--user"),
        tokens=_pairs(a.token, "--token"),
        roles={k: [r for r in v.split(",") if r] for k, v in _pairs(a.roles, "--roles").items()},
        tls=a.tls,
        cert_dir=a.cert_dir,
        client_certs=clients,
        rate_limit=(
            RateLimitSettings(
                capacity=a.rate_limit_capacity,
                window_seconds=a.rate_limit_window,
                learning=a.rate_limit_learning,
                reset_header=a.rate_limit_reset_header,
            )
            if a.rate_limit_capacity
            else None
        ),
        save_polls=a.save_polls,
        save_poll_interval=a.save_poll_interval,
        save_duration=a.save_duration,
        task_duration=a.task_duration,
        credentials_poll_interval=a.credentials_poll_interval or None,
    )


async def serve(options: StandinOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with GateStandin(options) as gate:
        ready: dict[str, object] = {
            "event": "ready",
            "url": gate.url,
            "auth": options.auth,
            "pid": os.getpid(),
        }
        if gate.ca_path is not None:
            ready["ca"] = str(gate.ca_path)
            ready["clients"] = {
                cn: {"cert": str(c.cert_path), "key": str(c.key_path)} for cn, c in gate.client_certs.items()
            }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
