"""kopf's webhook server for spinop, configured from `OperatorConfig.admission`.

Certificates:
- production: `cert_file`/`key_file` are the mounted cert-manager Secret; kopf's WebhookServer re-reads them when
  they change (every `FILE_CHECK_SECONDS`) and restarts its listener with the renewed certificate;
- development and tests (no files): a throw-away CA and a serving certificate for the advertised host are
  generated at start-up with `cryptography` (`spinop.devcluster.pki`) in a private temporary directory that is
  removed when the process exits; the CA goes into the managed configuration's caBundle.
"""

from __future__ import annotations

import atexit
import ipaddress
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import kopf

from spinop.config import AdmissionSettings
from spinop.devcluster.pki import ensure_ca, issue_cert

FILE_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class ServingFiles:
    cert_file: str
    key_file: str
    ca_file: str | None


def advertised_host(settings: AdmissionSettings) -> str:
    """The host in the webhook URL: `host`, else the listen address (a wildcard address means loopback)."""
    if settings.host:
        return settings.host
    try:
        address = ipaddress.ip_address(settings.address)
    except ValueError:
        return settings.address
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return settings.address


def generate_serving_files(settings: AdmissionSettings, directory: Path) -> ServingFiles:
    """A CA and a serving certificate for the advertised host (and the listen address, and localhost)."""
    hosts = list(dict.fromkeys([advertised_host(settings), settings.address, "localhost"]))
    hosts = [h for h in hosts if h not in ("0.0.0.0", "::")]  # noqa: S104 (excluded, not bound)
    ca = ensure_ca(directory, "spinop-webhook-ca")
    leaf = issue_cert(ca, directory, "webhook", common_name=hosts[0], server_hosts=hosts)
    return ServingFiles(str(leaf.cert), str(leaf.key), str(ca.cert))


def _private_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="spinop-webhook-"))  # mode 0700
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def serving_files(settings: AdmissionSettings) -> ServingFiles:
    if settings.cert_file and settings.key_file:
        return ServingFiles(settings.cert_file, settings.key_file, settings.ca_file)
    return generate_serving_files(settings, _private_directory())


def webhook_server(settings: AdmissionSettings) -> kopf.WebhookServer:
    """The HTTPS endpoint; blocking (it may generate keys): call it in a thread."""
    files = serving_files(settings)
    return kopf.WebhookServer(
        addr=settings.address,
        port=settings.port or None,  # None: kopf picks a free port
        host=advertised_host(settings),
        certfile=files.cert_file,
        pkeyfile=files.key_file,
        cafile=files.ca_file,
        file_check_interval=FILE_CHECK_SECONDS,
    )


def configure(operator_settings: kopf.OperatorSettings, settings: AdmissionSettings) -> None:
    """Point kopf at the server and, in managed mode, at the configuration it keeps up to date."""
    operator_settings.admission.server = webhook_server(settings)
    operator_settings.admission.managed = settings.managed
