"""`python -m bench.traced_operator run ...`: `spinop` under tracemalloc, for bench/memory.py; never in production.

Traces from before spinop's first import (so the imports are counted) with SPINOP_TRACE_FRAMES frames per block
(0: no tracing, to measure the untraced process the same way; more than 1: also the 25 largest call stacks). On
SIGUSR1 it writes `memory-<k>.json` in SPINOP_TRACE_DIR: /proc memory lines, the traced heap grouped by line and by
package, and the most numerous object types; the handler runs in the main thread between bytecodes, so the event
loop pauses while it writes.
"""

from __future__ import annotations

import os
import tracemalloc

FRAMES = int(os.environ.get("SPINOP_TRACE_FRAMES", "1"))
if FRAMES:
    tracemalloc.start(FRAMES)

import gc  # noqa: E402  (tracing starts first)
import json  # noqa: E402
import runpy  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402

from bench.memsummary import proc_status_kib, summarise  # noqa: E402

OUT = Path(os.environ.get("SPINOP_TRACE_DIR", "."))
_taken = 0


def write_snapshot(signum: int = 0, frame: FrameType | None = None) -> None:
    global _taken
    _taken += 1
    started = time.monotonic()
    gc.collect()
    objects = gc.get_objects()
    types = Counter(type(o).__qualname__ for o in objects)
    # Kubernetes objects alive as dicts (kopf's bodies, spinop's observed objects), by apiVersion and kind: who holds
    # the JSON decoder's and the client's allocations that one traced frame cannot tell apart.
    bodies = Counter(
        f"{o.get('apiVersion', '?')} {o.get('kind', '?')}"
        for o in objects
        if type(o) is dict and isinstance(o.get("metadata"), dict) and isinstance(o.get("kind", ""), str)
    )
    del objects
    summary: dict[str, object] = {
        "proc_kib": proc_status_kib(Path("/proc/self/status").read_text()),
        "threads": threading.active_count(),
        "gc_objects": sum(types.values()),
        "top_types": types.most_common(25),
        "api_objects": bodies.most_common(15),
    }
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("lineno")
        current, peak = tracemalloc.get_traced_memory()
        summary |= {
            "traced_current_kib": current // 1024,
            "traced_peak_kib": peak // 1024,
            "tracemalloc_overhead_kib": tracemalloc.get_tracemalloc_memory() // 1024,
            **summarise(
                ((s.traceback[0].filename, s.traceback[0].lineno, s.size, s.count) for s in stats),
                top=40,
            ),
        }
        if FRAMES > 1:  # who allocated the largest blocks: the callers a single frame hides (json, the client)
            summary["by_traceback"] = [
                {
                    "kib": round(stat.size / 1024, 1),
                    "blocks": stat.count,
                    "frames": stat.traceback.format()[-2 * FRAMES :],
                }
                for stat in snapshot.statistics("traceback")[:25]
            ]
    summary["seconds_to_take"] = round(time.monotonic() - started, 2)
    path = OUT / f"memory-{_taken}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.rename(path)  # the bench waits for the file: it appears whole


def main() -> None:
    signal.signal(signal.SIGUSR1, write_snapshot)
    sys.argv = ["spinop", *sys.argv[1:]]
    runpy.run_module("spinop.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
