"""Count API requests from kube-apiserver audit logs: what clients really sent, as the servers saw it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
READ_VERBS = {"get", "list", "watch"}
# Access reviews are POSTs the apiserver answers without storing anything: counted apart from writes.
REVIEWS = {"selfsubjectrulesreviews", "selfsubjectaccessreviews", "subjectaccessreviews", "tokenreviews"}


@dataclass
class AuditMark:
    """Where each audit log ended at a moment, so later counts cover only what happened after it."""

    offsets: dict[Path, int] = field(default_factory=dict)
    # Each marked file's first line (audit events carry a unique auditID), to find it should it be rotated meanwhile;
    # not its inode, which a removed backup hands on to the next file.
    heads: dict[Path, bytes] = field(default_factory=dict)


def _first_line(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.readline()


def mark(logs: list[Path]) -> AuditMark:
    existing = [log for log in logs if log.exists()]
    return AuditMark(
        {log: log.stat().st_size if log in existing else 0 for log in logs},
        {log: _first_line(log) for log in existing},
    )


def segments_since(log: Path, offset: int, head: bytes | None) -> list[tuple[Path, int]]:
    """The files holding what `log` received since the mark, oldest first, each with where to start reading.

    The apiserver rotates its audit log at --audit-log-maxsize (100 MB in spinop's dev clusters; a 3,000-account
    burst writes more) by renaming it to `audit-<time>.log`: the marked file may be a backup by now, followed by
    newer backups and the new log. A log empty at the mark has no first line to be found by: it is read from the
    start of its current file.
    """
    if not log.exists():
        return []
    if not head or _first_line(log) == head:
        return [(log, offset if log.stat().st_size >= offset else 0)]
    backups = sorted(log.parent.glob(f"{log.stem}-*{log.suffix}"), key=lambda p: p.stat().st_mtime)
    marked = next((i for i, p in enumerate(backups) if _first_line(p) == head), None)
    if marked is None:  # the marked file is gone (more rotations than kept backups): everything left is newer
        return [*((p, 0) for p in backups), (log, 0)]
    return [(backups[marked], offset), *((p, 0) for p in backups[marked + 1 :]), (log, 0)]


@dataclass
class Counts:
    by_verb: Counter[str] = field(default_factory=Counter)
    by_resource: Counter[str] = field(default_factory=Counter)
    reviews: int = 0

    @property
    def writes(self) -> int:
        return sum(n for verb, n in self.by_verb.items() if verb in WRITE_VERBS)

    @property
    def reads(self) -> int:
        return sum(n for verb, n in self.by_verb.items() if verb in READ_VERBS)

    @property
    def requests_excluding_watches(self) -> int:
        """Every request and access review but the watches (long-lived streams, counted apart)."""
        return sum(n for verb, n in self.by_verb.items() if verb != "watch") + self.reviews

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())


def count_since(since: AuditMark, who: dict[tuple[str, str], str]) -> dict[str, Counts]:
    """Requests per caller group since the mark; `who` maps (audit log path, username prefix) to a group name, so the
    same identity on different apiservers (MGMT vs remote clusters) is counted apart.

    Only ResponseComplete events count (one per request; watches count once when they end or at their first
    response); a log rotated meanwhile is followed into its backups (segments_since).
    """
    counts: dict[str, Counts] = {group: Counts() for group in set(who.values())}
    for log, offset in since.offsets.items():
        for path, start in segments_since(log, offset, since.heads.get(log)):
            _count_file(path, start, str(log), who, counts)
    return counts


def _count_file(path: Path, start: int, log: str, who: dict[tuple[str, str], str], counts: dict[str, Counts]) -> None:
    with path.open("rb") as handle:
        handle.seek(start)
        for raw in handle:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("stage") not in ("ResponseComplete", "ResponseStarted"):
                continue
            if event.get("stage") == "ResponseStarted" and event.get("verb") != "watch":
                continue
            if event.get("stage") == "ResponseComplete" and event.get("verb") == "watch":
                continue  # counted at ResponseStarted
            user = (event.get("user") or {}).get("username", "")
            group = next((g for (where, prefix), g in who.items() if where == log and user.startswith(prefix)), None)
            if group is None:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event.get("requestURI", "?"))
            if resource in REVIEWS:
                counts[group].reviews += 1
                continue
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[group].by_verb[event.get("verb", "?")] += 1
            counts[group].by_resource[f"{event.get('verb')} {resource}"] += 1
