"""`python -m bench.run` (or `make bench`): the benchmarks of bench/README.md, from one command.

Starts its own control planes (with audit logs), the Halyard stand-in and the operator, then for each size: a burst
of accounts over dev/staging/prod until Ready, the steady state, deletion; single-account latency; and the seed's
procedure on the same clusters for the ratio. Results go to bench/results/<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.harness import (
    delete_accounts,
    run_latency,
    run_scale,
    run_seed_baseline,
    run_steady,
    say,
    start_env,
    stop_env,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="30,100,300,1000", help="burst sizes (accounts)")
    parser.add_argument("--seed-sizes", default="30,100", help="sizes for the seed-procedure baseline")
    parser.add_argument("--deploy-seconds", type=float, default=5.0, help="Halyard stand-in deploy duration")
    parser.add_argument("--drift-interval", type=float, default=120.0, help="operator periodic pass (seconds)")
    parser.add_argument("--steady-window", type=float, default=600.0, help="steady-state window (seconds)")
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--output", default=None, help="result JSON (default bench/results/<date>.json)")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    seed_sizes = [int(s) for s in args.seed_sizes.split(",") if s]
    results: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": vars(args),
        "scale": [],
    }
    out = Path(args.output) if args.output else Path(__file__).parent / "results" / f"{datetime.date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        # After every phase: a long run that fails late still leaves what it measured.
        out.write_text(json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory(prefix="spinop-bench-") as tmp:
        env = start_env(Path(tmp), deploy_seconds=args.deploy_seconds, drift_interval=args.drift_interval)
        try:
            for n in sizes:
                result = run_scale(env, n, label=f"s{n}")
                say(
                    f"{n} accounts Ready in {result.seconds_to_ready}s, {result.deploys} deploy(s), "
                    f"{result.halyard_config_writes} Halyard config write(s)"
                )
                if n == max(sizes):
                    results["steady"] = asdict(run_steady(env, n, args.steady_window, args.drift_interval))
                    results["latency"] = run_latency(env, args.latency_samples)
                    save()
                delete_accounts(env, f"s{n}", result)
                results["scale"].append(asdict(result))  # type: ignore[attr-defined]
                save()
            results["seed_baseline"] = []
            for n in seed_sizes:
                results["seed_baseline"].append(run_seed_baseline(env, n))  # type: ignore[attr-defined]
                save()
        finally:
            stop_env(env)
    save()
    say(f"results: {out}")


if __name__ == "__main__":
    main()
