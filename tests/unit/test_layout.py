"""tests/unit mirrors operator/spinop: the unit tests of spinop/x/y.py live in tests/unit/x/, so a newcomer finds
them where the code is. Three folders test what is not a package of spinop: deploy/ (the manifests, the chart, the
image lock), upstream_wire/ (facts read from Spinnaker's source) and bench/ (the benchmark harness's pure pieces)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "spinop"
UNIT = ROOT / "tests" / "unit"
NOT_PACKAGES = {"deploy", "upstream_wire", "bench"}


def _folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def test_every_test_folder_is_a_package_of_spinop_or_a_named_exception() -> None:
    assert _folders(UNIT) - NOT_PACKAGES <= _folders(PACKAGE), "tests/unit folders without a spinop package"


def test_every_package_of_spinop_has_its_test_folder() -> None:
    assert _folders(PACKAGE) - _folders(UNIT) == set(), "spinop packages without a tests/unit folder"


def test_every_long_running_module_the_scheduler_orders_exists() -> None:
    """The integration conftest hands these out first under xdist; a renamed module would silently lose its place."""
    from tests.integration.conftest import LONG_RUNNING_MODULES

    missing = [m for m in LONG_RUNNING_MODULES if not (ROOT / "tests" / "integration" / m).is_file()]
    assert missing == [], f"LONG_RUNNING_MODULES names modules that do not exist: {missing}"
