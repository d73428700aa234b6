"""kopf's webhook server for spinop, configured from `OperatorConfig.admission`.

Certificates:
- production: `cert_file`/`key_file` are the mounted cert-manager Secret; kopf's WebhookServer re-reads them when
  they change (every `FILE_CHECK_SECONDS`) and restarts its listener with the renewed certificate;
- self-signed (`ca_bundle_for`, deploy/base/components/webhook-self-signed): spinop generates a CA and a serving
  certificate for `host`, writes the CA into the caBundle of the install's ValidatingWebhookConfiguration of that
  name (merged with the other still-valid CAs there, so replicas and rollouts do not lock each other out) and
  rotates both every `ROTATE_AFTER` (new CA published first, then the served files replaced: kopf re-reads them);
- development and tests (managed, no files): a throw-away CA and a serving certificate for the advertised host are
  generated at start-up with `cryptography` (`spinop.certs`) in a private temporary directory that is
  removed when the process exits; the CA goes into the managed configuration's caBundle.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import datetime
import ipaddress
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import kubernetes.client as k8s
from kubernetes.client import ApiClient

from spinop.certs import ensure_ca, issue_cert, unexpired_pems
from spinop.config import AdmissionSettings

log = logging.getLogger("spinop")

FILE_CHECK_SECONDS = 60.0
SELF_SIGNED_VALIDITY = datetime.timedelta(days=90)
ROTATE_AFTER = datetime.timedelta(days=60)
"""Self-signed mode: a new CA and certificate 30 days before the old ones expire."""
KEEP_CAS = 4
"""At most this many CAs in the caBundle (the newest): enough for a few replicas and a rollout."""


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


def publish_ca_bundle(api: ApiClient, name: str, ca_pem: bytes) -> None:
    """Put `ca_pem` into every webhook's caBundle of ValidatingWebhookConfiguration `name`, keeping the other CAs
    there that are still valid (newest last, at most `KEEP_CAS`). Optimistic: the patch carries the resourceVersion
    it read, so a concurrent writer makes it fail (409) and the caller retries."""
    admission = k8s.AdmissionregistrationV1Api(api)
    current = admission.read_validating_webhook_configuration(name, _request_timeout=(2.0, 10.0))
    webhooks: list[dict[str, Any]] = api.sanitize_for_serialization(current.webhooks or [])
    for webhook in webhooks:
        client_config = webhook.setdefault("clientConfig", {})
        old = base64.b64decode(client_config.get("caBundle") or "")
        pems = [pem for pem in unexpired_pems(old) if pem.strip() != ca_pem.strip()] + [ca_pem]
        client_config["caBundle"] = base64.b64encode(b"".join(pems[-KEEP_CAS:])).decode()
    admission.patch_validating_webhook_configuration(
        name,
        {"metadata": {"resourceVersion": current.metadata.resource_version}, "webhooks": webhooks},
        _request_timeout=(2.0, 10.0),
    )


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    os.replace(tmp, path)


class SelfSigned:
    """Self-signed mode: the served files in `directory` (tls.crt, tls.key), their CA published by name."""

    def __init__(self, settings: AdmissionSettings, api: ApiClient, directory: Path) -> None:
        assert settings.ca_bundle_for and settings.host
        self.settings, self.api, self.directory = settings, api, directory
        self.files = ServingFiles(str(directory / "tls.crt"), str(directory / "tls.key"), None)
        self.issued_at = datetime.datetime.now(datetime.UTC)

    def rotate(self) -> None:
        """A new CA and certificate: the CA is published before the served files change (blocking)."""
        fresh = Path(tempfile.mkdtemp(dir=self.directory))
        try:
            hosts = list(dict.fromkeys([advertised_host(self.settings), "localhost"]))
            ca = ensure_ca(fresh, "spinop-webhook-ca", SELF_SIGNED_VALIDITY)
            leaf = issue_cert(ca, fresh, "tls", common_name=hosts[0], server_hosts=hosts, validity=SELF_SIGNED_VALIDITY)
            publish_ca_bundle(self.api, self.settings.ca_bundle_for or "", ca.cert.read_bytes())
            _replace(Path(self.files.key_file), leaf.key.read_bytes())
            _replace(Path(self.files.cert_file), leaf.cert.read_bytes())
            self.issued_at = datetime.datetime.now(datetime.UTC)
            log.info(
                "admission: new self-signed certificate for %s, CA published in %s",
                hosts[0],
                self.settings.ca_bundle_for,
            )
        finally:
            shutil.rmtree(fresh, ignore_errors=True)

    async def keep_rotated(self, rotate_after: datetime.timedelta = ROTATE_AFTER) -> None:
        """Rotate every `rotate_after`, retrying a failed publication every minute (the old files keep serving)."""
        while True:
            due = self.issued_at + rotate_after - datetime.datetime.now(datetime.UTC)
            await asyncio.sleep(max(due.total_seconds(), 0.0))
            try:
                await asyncio.to_thread(self.rotate)
            except Exception as err:  # the old certificate is still valid for a month: retry, never crash
                log.warning("admission: certificate rotation failed, retrying in 60 s: %s", type(err).__name__)
                await asyncio.sleep(60)


def self_signed(settings: AdmissionSettings, api: ApiClient) -> SelfSigned:
    """Generate, publish and serve the first certificate (blocking: call it in a thread)."""
    signer = SelfSigned(settings, api, _private_directory())
    signer.rotate()
    return signer


def serving_files(settings: AdmissionSettings) -> ServingFiles:
    if settings.cert_file and settings.key_file:
        return ServingFiles(settings.cert_file, settings.key_file, settings.ca_file)
    return generate_serving_files(settings, _private_directory())


def webhook_server(settings: AdmissionSettings, files: ServingFiles | None = None) -> kopf.WebhookServer:
    """The HTTPS endpoint; blocking (it may generate keys): call it in a thread."""
    files = files or serving_files(settings)
    return kopf.WebhookServer(
        addr=settings.address,
        port=settings.port or None,  # None: kopf picks a free port
        host=advertised_host(settings),
        certfile=files.cert_file,
        pkeyfile=files.key_file,
        cafile=files.ca_file,
        file_check_interval=FILE_CHECK_SECONDS,
    )


def configure(
    operator_settings: kopf.OperatorSettings, settings: AdmissionSettings, api: ApiClient | None = None
) -> SelfSigned | None:
    """Point kopf at the server and, in managed mode, at the configuration it keeps up to date. In self-signed mode
    the first certificate is published through `api`; the caller runs the returned signer's `keep_rotated`."""
    signer = self_signed(settings, api) if settings.ca_bundle_for and api is not None else None
    operator_settings.admission.server = webhook_server(settings, signer.files if signer else None)
    operator_settings.admission.managed = settings.managed
    return signer
