"""The audit-log reader follows the apiserver's rotation, so a 3,000-account burst (more than the 100 MB
--audit-log-maxsize) is counted whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.audit import count_since, mark, segments_since

USER = "system:serviceaccount:spinop-system:spinop"


def _line(verb: str) -> str:
    event = {
        "auditID": verb,
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": USER},
        "objectRef": {"resource": "secrets"},
    }
    return json.dumps(event) + "\n"


def _rotate(log: Path, stamp: str, mtime: float) -> Path:
    backup = log.with_name(f"audit-{stamp}.log")
    log.rename(backup)
    os.utime(backup, (mtime, mtime))
    return backup


def test_an_unrotated_log_is_read_from_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(_line("get"))
    since = mark([log])
    with log.open("a") as f:
        f.write(_line("create"))
    assert segments_since(log, since.offsets[log], since.heads[log]) == [(log, len(_line("get")))]
    counts = count_since(since, {(str(log), USER): "operator"})
    assert dict(counts["operator"].by_verb) == {"create": 1}


def test_a_rotated_log_is_followed_through_its_backups(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    old = log.with_name("audit-2026-01-01T00-00-00.000.log")
    old.write_text(_line("delete"))  # rotated before the mark: not counted
    os.utime(old, (1000, 1000))
    log.write_text(_line("get"))
    since = mark([log])
    with log.open("a") as f:
        f.write(_line("create"))
    first = _rotate(log, "2026-01-02T00-00-00.000", 2000)
    log.write_text(_line("patch"))
    second = _rotate(log, "2026-01-03T00-00-00.000", 3000)
    log.write_text(_line("update"))
    assert segments_since(log, since.offsets[log], since.heads[log]) == [
        (first, len(_line("get"))),
        (second, 0),
        (log, 0),
    ]
    counts = count_since(since, {(str(log), USER): "operator"})
    assert dict(counts["operator"].by_verb) == {"create": 1, "patch": 1, "update": 1}


def test_when_the_marked_file_was_removed_every_backup_left_is_newer(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(_line("get"))
    since = mark([log])
    _rotate(log, "2026-01-02T00-00-00.000", 2000).unlink()
    log.write_text(_line("patch"))
    kept = _rotate(log, "2026-01-03T00-00-00.000", 3000)
    log.write_text(_line("update"))
    assert segments_since(log, since.offsets[log], since.heads[log]) == [(kept, 0), (log, 0)]


def test_a_log_missing_at_the_mark_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    since = mark([log])
    log.write_text(_line("get"))
    assert segments_since(log, since.offsets[log], since.heads.get(log)) == [(log, 0)]
