"""Production code does not import the development tooling (spinop.devcluster builds binaries and runs local
control planes; the operator image need not ship what it imports). Before the webhook's certificate code moved to
spinop.certs, spinop.admission.server imported spinop.devcluster.pki."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spinop.config import AdmissionSettings

PRODUCTION_ENTRY_POINTS = ("spinop.main", "spinop.admission.server", "spinop.handlers.admission", "spinop.certs")


@pytest.mark.parametrize("module", PRODUCTION_ENTRY_POINTS)
def test_importing_production_code_loads_no_devcluster_module(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('spinop.devcluster')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


def test_self_signed_mode_needs_the_host_its_certificate_is_for_and_excludes_other_certificate_sources() -> None:
    settings = AdmissionSettings(enabled=True, ca_bundle_for="spinop.io", host="spinop-webhook.spinop-system.svc")
    assert settings.address == "0.0.0.0"  # noqa: S104 (a Pod behind the Service)
    with pytest.raises(ValueError, match=r"needs admission\.host"):
        AdmissionSettings(enabled=True, ca_bundle_for="spinop.io")
    with pytest.raises(ValueError, match=r"excludes admission\.managed"):
        AdmissionSettings(enabled=True, ca_bundle_for="spinop.io", host="h", managed="spinop.io")
    with pytest.raises(ValueError, match=r"excludes admission\.managed"):
        AdmissionSettings(enabled=True, ca_bundle_for="spinop.io", host="h", cert_file="c", key_file="k")
