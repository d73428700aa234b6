"""`python -m bench.memory --accounts 1000`: where the operator's memory goes (issue 17 item 5; bench/README.md).

Starts the benchmark environment as bench.run does, with the operator under bench/traced_operator.py (tracemalloc
from before spinop's imports, a summary on SIGUSR1), then: a summary after start-up (the import baseline, no account
yet), a burst of N accounts until Ready (bench.harness.run_scale: time, RSS, peak RSS), a summary at N Ready, and one
more after `--idle` seconds. Each summary has VmRSS/VmHWM and the traced Python heap by line and by package; RSS
minus the traced heap is what tracemalloc does not see (the interpreter, C allocations, malloc arenas and
fragmentation). `--frames 0` runs the same without tracing, for untraced RSS. Writes a JSON and prints a digest.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.integration.kube import wait_for

from bench.harness import Env, run_scale, say, start_env, stop_env

ROOT = Path(__file__).resolve().parents[1]


def take_summary(env: Env, k: int) -> dict[str, Any]:
    """Ask the traced operator for its k-th summary and wait until the file is whole."""
    path = env.operator.workdir / f"memory-{k}.json"
    env.operator.proc.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]
    wait_for(path.exists, timeout=300, interval=0.5, what=f"memory summary {path.name}")
    return dict(json.loads(path.read_text()))


def digest(label: str, summary: dict[str, Any], top: int = 12) -> str:
    proc = summary["proc_kib"]
    lines = [
        f"== {label}: VmRSS {proc['VmRSS'] / 1024:.1f} MiB (anon {proc.get('RssAnon', 0) / 1024:.1f}, "
        f"file {proc.get('RssFile', 0) / 1024:.1f}), VmHWM {proc['VmHWM'] / 1024:.1f} MiB, "
        f"{proc.get('Threads', '?')} threads, {summary['gc_objects']} gc objects"
    ]
    if "traced_kib" in summary:
        traced = summary["traced_kib"] / 1024
        lines.append(
            f"   traced Python heap {traced:.1f} MiB (peak {summary['traced_peak_kib'] / 1024:.1f}); "
            f"tracemalloc's own {summary['tracemalloc_overhead_kib'] / 1024:.1f} MiB; "
            f"RSS not traced {proc['VmRSS'] / 1024 - traced:.1f} MiB"
        )
        lines.append(
            "   by package: " + ", ".join(f"{p['package']} {p['kib']:.0f}K" for p in summary["by_package"][:top])
        )
        lines += [f"   {e['kib']:8.0f}K {e['blocks']:8d} {e['where']}" for e in summary["by_line"][:top]]
    for stack in summary.get("by_traceback", [])[:top]:
        lines.append(f"   {stack['kib']:8.0f}K {stack['blocks']:8d} allocated by:")
        lines += [f"      {frame.strip()}" for frame in stack["frames"] if frame.strip().startswith("File")]
    lines.append("   API objects alive as dicts: " + ", ".join(f"{k} {n}" for k, n in summary.get("api_objects", [])))
    lines.append("   types: " + ", ".join(f"{name} {n}" for name, n in summary["top_types"][:top]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc frames per block (0: no tracing)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds after Ready for the last summary")
    parser.add_argument("--drift-interval", type=float, default=120.0)
    parser.add_argument("--deploy-seconds", type=float, default=5.0)
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        help="NAME=VALUE for the operator process (repeatable; NAME= unsets: MALLOC_ARENA_MAX= for glibc's default)",
    )
    parser.add_argument("--output", default=None, help="result JSON (default bench/results/memory-<date>-<N>.json)")
    args = parser.parse_args()
    extra: dict[str, str | None] = {
        "SPINOP_TRACE_FRAMES": str(args.frames),
        # the operator runs in its own working directory: it finds bench/ (the wrapper) through the path
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for item in args.operator_env:
        name, _, value = item.partition("=")
        extra[name] = value or None

    default = Path(__file__).parent / "results" / f"memory-{datetime.date.today()}-{args.accounts}.json"
    out = Path(args.output) if args.output else default
    results: dict[str, Any] = {"settings": vars(args)}
    with tempfile.TemporaryDirectory(prefix="spinop-memory-") as tmp:
        env = start_env(
            Path(tmp),
            deploy_seconds=args.deploy_seconds,
            drift_interval=args.drift_interval,
            operator_module="bench.traced_operator",
            operator_env=extra | {"SPINOP_TRACE_DIR": str(Path(tmp) / "operator")},
            operator_start_timeout=600,
        )
        try:
            time.sleep(10)  # start-up handlers, first lists and watches
            results["after_start"] = take_summary(env, 1)
            say(digest("after start-up, no account", results["after_start"]))
            scale = run_scale(env, args.accounts, label=f"m{args.accounts}")
            results["scale"] = asdict(scale)
            results["ready"] = take_summary(env, 2)
            say(f"{args.accounts} Ready in {scale.seconds_to_ready}s, peak RSS {scale.operator_peak_rss_mib} MiB")
            say(digest(f"{args.accounts} Ready", results["ready"]))
            time.sleep(args.idle)
            results["idle"] = take_summary(env, 3)
            say(digest(f"{args.accounts} Ready, {args.idle:.0f}s later", results["idle"]))
        finally:
            out.write_text(json.dumps(results, indent=1))
            stop_env(env)
    say(f"results: {out}")


if __name__ == "__main__":
    main()
