"""Pure pieces of bench/memory.py: group tracemalloc statistics by source line and by package, read /proc memory.

Kept apart from the traced process's wrapper (bench/traced_operator.py) so they can be unit-tested without one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_SITE_PACKAGES = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]lib[/\\]python3\.\d+[/\\]([^/\\]+)")
_SPINOP = re.compile(r"[/\\]spinop[/\\]([^/\\]+)")


def package_of(filename: str) -> str:
    """The top-level package a source file belongs to: `kubernetes`, `kopf`, `spinop.remote`, `stdlib:asyncio`,
    `<frozen importlib._bootstrap>`; spinop is split by subpackage, the part of interest."""
    if filename.startswith("<"):
        return filename
    if match := _SITE_PACKAGES.search(filename):
        return match.group(1).removesuffix(".py")
    if match := _SPINOP.search(filename):
        return "spinop." + match.group(1).removesuffix(".py")
    if match := _STDLIB.search(filename):
        return "stdlib:" + match.group(1).removesuffix(".py")
    return filename


def summarise(stats: Iterable[tuple[str, int, int, int]], top: int = 30) -> dict[str, Any]:
    """(filename, lineno, size in bytes, block count) per traced line → totals, the `top` lines and every package,
    largest first, sizes in KiB."""
    lines = sorted(stats, key=lambda s: -s[2])
    packages: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    for filename, _, size, count in lines:
        package = package_of(filename)
        packages[package] += size
        blocks[package] += count
    return {
        "traced_kib": round(sum(s[2] for s in lines) / 1024, 1),
        "blocks": sum(s[3] for s in lines),
        "by_line": [
            {"where": f"{filename}:{lineno}", "kib": round(size / 1024, 1), "blocks": count}
            for filename, lineno, size, count in lines[:top]
        ],
        "by_package": [
            {"package": package, "kib": round(size / 1024, 1), "blocks": blocks[package]}
            for package, size in packages.most_common()
        ],
    }


def proc_status_kib(text: str) -> dict[str, int]:
    """The memory lines of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile, ...) in KiB, and Threads."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.startswith(("Vm", "Rss")) or key == "Threads":
            values[key] = int(rest.split()[0])
    return values
