"""Certificates and keys for the local control planes: one CA, serving and client certs, service-account keys.

Everything is generated with `cryptography` on first start and kept in the cluster's directory, so a restarted
cluster keeps its identity (tokens minted before a restart still verify). The CA and leaf certificates come from
the production module `spinop.certs` (production code never imports this development package).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from spinop.certs import VALIDITY, CertPair, ensure_ca, issue_cert, key_pem, write_private

__all__ = ["VALIDITY", "CertPair", "ensure_ca", "ensure_service_account_keys", "issue_cert"]


def ensure_service_account_keys(directory: Path) -> CertPair:
    """The RSA key pair kube-apiserver signs service-account tokens with (and verifies them by)."""
    pair = CertPair(directory / "sa.pub", directory / "sa.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(pair.key, key_pem(key))
    pair.cert.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pair
