"""requirements.lock, the image's hashed dependency lock, covers pyproject.toml and is installed hash-checked."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")
_HASH = re.compile(r"^    --hash=sha256:[0-9a-f]{64}( \\)?$")


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    lines = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if not line.startswith("#")]
    name = None
    hashes = 0
    for line in [*lines, ""]:
        pin = _PIN.match(line)
        if pin or not line:
            assert name is None or hashes > 0, f"{name} has no hash"
            if pin:
                name, hashes = canonicalize_name(pin.group(1)), 0
                assert name not in pins, f"{name} pinned twice"
                pins[name] = pin.group(2)
            continue
        assert _HASH.match(line), f"not a pin or a sha256 hash: {line!r}"
        hashes += 1
    return pins


def test_every_pin_is_exact_and_hashed_and_covers_pyproject() -> None:
    pins = _locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {requirement}"


def test_the_image_installs_only_the_hashed_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.lock ./" in dockerfile
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in dockerfile
    # spinop itself: nothing fetched, the build backend is the hashed one from the lock.
    assert "pip install --no-cache-dir --no-deps --no-build-isolation --no-index ." in dockerfile
