"""Where the project checkout and its build outputs are."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout that holds tools/controlplane (the dev tooling only works from a source checkout)."""
    env = os.environ.get("SPINOP_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "tools" / "controlplane").is_dir():
            return parent
    raise RuntimeError(
        "spinop's local control planes are built from a source checkout: run from the spinop repository "
        "(or set SPINOP_PROJECT_ROOT to it)."
    )


def build_dir() -> Path:
    """Git-ignored build outputs: binaries, cluster state, logs."""
    env = os.environ.get("SPINOP_BUILD_DIR")
    return Path(env).resolve() if env else project_root() / ".build"
