"""`spinop demo` (issue 19 item 5): any stored object renders, a second demo starts clean unless --resume, and its
hints run as printed (the end-to-end run of each printed hint is tests/integration/test_demo.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spinop.cli import build_parser, main
from spinop.commands import demo

ODD_SHAPES: list[object] = [
    {},
    {"metadata": None, "spec": None, "status": None},
    {"metadata": {"name": ["x"], "namespace": {"a": 1}}, "spec": {"cluster": 7, "namespace": None}},
    {"metadata": {"name": "n", "namespace": "t"}, "spec": {"application": "a" * 5000}, "status": {"conditions": "x"}},
    {"metadata": {"name": "n", "namespace": "t"}, "status": {"conditions": [None, 3, {"type": "Ready"}]}},
    {"metadata": {"name": "n", "namespace": "t"}, "status": {"pipelineId": 12345678901, "conditions": [[]]}},
]


@pytest.mark.parametrize("obj", ODD_SHAPES)
def test_any_stored_object_renders(obj: dict[str, object]) -> None:
    table = demo.render_table([obj], [obj])
    assert "ACCOUNT" in table and "PIPELINE" in table
    assert max(len(line) for line in table.splitlines()) < 6 * (demo.MAX_CELL + 2)


def test_hints_use_spinop_dev_kubectl_never_a_bare_kubectl(tmp_path: Path) -> None:
    for root in (demo.default_root(), tmp_path / "elsewhere"):
        for hint in demo.hints(root):
            words = hint.split()
            assert words[0].endswith("spinop") and words[1:3] == ["dev", "kubectl"], hint
            assert ("--dir" in words) == (root != demo.default_root()), hint
            parsed = build_parser().parse_args(words[1:5] if "--dir" in words else words[1:3])
            assert parsed.func.__name__ == "_cmd_dev_kubectl"


def test_second_demo_starts_clean_unless_resumed(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "state.json").write_text(json.dumps({}))
    (root / "mgmt").mkdir()
    (root / "mgmt" / "etcd-data").write_text("a broken object the operator cannot handle")
    demo.prepare_root(root, resume=True)
    assert (root / "mgmt" / "etcd-data").exists()
    demo.prepare_root(root, resume=False)
    assert not root.exists()


def test_a_directory_that_is_not_a_demo_is_never_removed(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="holds no demo"):
        demo.prepare_root(tmp_path, resume=False)
    assert (tmp_path / "notes.txt").exists()


def test_dev_kubectl_passes_every_argument_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No clusters there: the passthrough says how to start them instead of failing obscurely.
    assert main(["dev", "kubectl", "--dir", str(tmp_path), "-n", "team-a", "get", "sa"]) == 1
    assert "demo" in capsys.readouterr().err
