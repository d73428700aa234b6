"""`python -m bench.report bench/results/<date>.json`: the result tables of bench/README.md, as Markdown."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MGMT = "operator on MGMT"
REMOTE = "operator on remote clusters"


def _writes(requests: dict[str, dict[str, int]], group: str) -> int:
    return sum(n for verb, n in requests.get(group, {}).items() if verb in ("create", "update", "patch", "delete"))


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    settings = results["settings"]
    lines = [
        f"Run of {results['date']} on {machine['cpus']} CPUs, Python {machine['python']}, {machine['platform']}; "
        f"Halyard stand-in deploy {settings['deploy_seconds']} s, operator drift pass {settings['drift_interval']} s.",
        "",
        "### Scale: a burst of accounts over dev, staging and prod",
        "",
        "| accounts | until all PermissionsVerified | floor | ÷ floor | until all Ready | clouddriver deploys "
        "| Halyard config writes | MGMT writes / account | remote writes / account "
        "| operator CPU s | operator peak RSS MiB | deletion of all | deletion deploys |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results["scale"]:
        if "error" in s:  # the size failed; the run went on (bench/run.py)
            lines.append(f"| {s['accounts']} | failed: {_cell(s['error'])} |" + " |" * 11)
            continue
        # Runs before the floor was measured (2026-11-22) lack its keys.
        floor = f"{s['floor_seconds']} s | {s['ratio_to_floor']}x" if s.get("floor_seconds") else "- | -"
        verified = f"{s['seconds_to_verified']} s" if s.get("seconds_to_verified") else "-"
        lines.append(
            f"| {s['accounts']} | {verified} | {floor} | {s['seconds_to_ready']} s | {s['deploys']} "
            f"| {s.get('halyard_config_writes', '-')} "
            f"| {s['writes_per_account'].get(MGMT, 0)} | {s['writes_per_account'].get(REMOTE, 0)} "
            f"| {s['operator_cpu_seconds']} | {s['operator_peak_rss_mib']} | {s['deletion_seconds']} s "
            f"| {s['deletion_deploys']} |"
        )
    failed_deletions = [s for s in results["scale"] if s.get("deletion_error")]
    for s in failed_deletions:
        lines += ["", f"Deleting the {s['accounts']} accounts failed: {_cell(s['deletion_error'])}"]
    measured = [s for s in results["scale"] if "error" not in s]
    if not measured:
        lines += ["", "No size was measured."]
        return _tail(lines, results)
    lines += ["", "Requests by verb at the largest size (from the apiservers' audit logs):", ""]
    largest = max(measured, key=lambda s: s["accounts"])
    lines += ["| caller | " + " | ".join(["verb", "count"]) + " |", "|---|---|---:|"]
    for group, verbs in sorted(largest["requests"].items()):
        for verb, count in sorted(verbs.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {group} | {verb} | {count} |")
    lines += ["", "Top MGMT writes at the largest size (verb resource):", ""]
    for what, count in largest["top_requests"].get(MGMT, [])[:8]:
        lines.append(f"- `{what}`: {count}")
    return _tail(lines, results)


def _cell(text: str) -> str:
    """An error message fit for one Markdown table cell or line."""
    return " ".join(str(text).split()).replace("|", "\\|")[:300]


def _tail(lines: list[str], results: dict[str, Any]) -> str:
    """The seed baseline, steady state and latency sections, after the scale table."""
    seed = results.get("seed_baseline") or []
    if seed:
        lines += [
            "",
            "### The seed's procedure on the same clusters and stand-in (same run)",
            "",
            "| accounts | total | per account | of which remote objects | deploys | spinop at the same size | ratio |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        by_size = {s["accounts"]: s for s in results["scale"] if "error" not in s}
        for b in seed:
            if "error" in b:
                lines.append(f"| {b['accounts']} | failed: {_cell(b['error'])} |" + " |" * 5)
                continue
            ours = b.get("spinop_seconds") or (by_size.get(b["accounts"]) or {}).get("seconds_to_ready")
            ratio = f"{b['seconds'] / ours:.1f}x faster" if ours else "-"
            lines.append(
                f"| {b['accounts']} | {b['seconds']} s | {b['seconds_per_account']} s | {b['remote_seconds']} s "
                f"| {b['deploys']} | {ours or '-'} s | {ratio} |"
            )
    steady = results.get("steady")
    if steady and "error" in steady:
        lines += ["", f"### Steady state at {steady['accounts']} accounts: failed: {_cell(steady['error'])}"]
    elif steady:
        lines += [
            "",
            f"### Steady state: {steady['accounts']} Ready accounts, nothing changing, "
            f"{steady['window_seconds']:.0f} s window",
            "",
            "| caller | writes / hour | reads / hour | access reviews / hour |",
            "|---|---:|---:|---:|",
        ]
        for group in sorted(set(steady["writes_per_hour"]) | set(steady["reads_per_hour"])):
            lines.append(
                f"| {group} | {steady['writes_per_hour'].get(group, 0)} | {steady['reads_per_hour'].get(group, 0)} "
                f"| {steady['reviews_per_hour'].get(group, 0)} |"
            )
        shown = {"writes_per_hour", "reads_per_hour", "reviews_per_hour", "full_pass"}
        extra = {k: v for k, v in steady.items() if k not in shown}
        lines += ["", "Other steady-state figures: " + ", ".join(f"{k} = {v}" for k, v in extra.items())]
        full = steady.get("full_pass")
        if full:
            lines += [
                "",
                f"The full pass (every account read and proven again, as once per verify interval; measured after an "
                f"operator restart): {full['requests_per_account']} requests per account "
                f"({full['token_reviews_per_account']} access reviews by the account's own token), all "
                f"{full['accounts']} accounts proven in {full['seconds']} s.",
            ]
    latency = results.get("latency")
    if latency:
        lines += [
            "",
            "### Latency: one account, apply to Ready, warm operator",
            "",
            ", ".join(f"{k} = {v}" for k, v in latency.items()),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else max((Path(__file__).parent / "results").glob("*.json"))
    sys.stdout.write(render(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
