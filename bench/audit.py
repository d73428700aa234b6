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


def mark(logs: list[Path]) -> AuditMark:
    return AuditMark({log: log.stat().st_size if log.exists() else 0 for log in logs})


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
    response); a log rotated meanwhile is read from its start.
    """
    counts: dict[str, Counts] = {group: Counts() for group in set(who.values())}
    for log, offset in since.offsets.items():
        if not log.exists():
            continue
        size = log.stat().st_size
        with log.open("rb") as handle:
            handle.seek(offset if size >= offset else 0)
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
                group = next(
                    (g for (path, prefix), g in who.items() if path == str(log) and user.startswith(prefix)), None
                )
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
    return counts
