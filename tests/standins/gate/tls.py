"""Throwaway X.509 material for the Gate stand-in (a test double): a CA, a loopback server cert, client certs.

Client certificates can carry Fiat roles the way Gate's x509 support reads them: extension OID
1.2.840.10070.8.1 holding a UTF8String of role names separated by newlines.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROLES_OID = x509.ObjectIdentifier("1.2.840.10070.8.1")


@dataclass(frozen=True)
class IssuedCert:
    common_name: str
    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text()

    @property
    def key_pem(self) -> str:
        return self.key_path.read_text()


def _der_utf8string(text: str) -> bytes:
    raw = text.encode()
    n = len(raw)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return b"\x0c" + length + raw


def _parse_der_utf8string(raw: bytes) -> str:
    if not raw or raw[0] != 0x0C:
        return ""
    first = raw[1]
    if first < 0x80:
        return raw[2 : 2 + first].decode()
    width = first & 0x7F
    n = int.from_bytes(raw[2 : 2 + width], "big")
    return raw[2 + width : 2 + width + n].decode()


def roles_from_certificate(cert: x509.Certificate) -> list[str]:
    """The Fiat roles a client certificate carries (empty when it has no roles extension)."""
    try:
        ext = cert.extensions.get_extension_for_oid(ROLES_OID)
    except x509.ExtensionNotFound:
        return []
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        return []
    return [r for r in _parse_der_utf8string(value.value).splitlines() if r.strip()]


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


class CertificateAuthority:
    """A CA generated on the spot; writes PEM files into `directory`."""

    def __init__(self, directory: Path, name: str = "gate-standin-ca") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @property
    def ca_pem(self) -> str:
        return self.ca_path.read_text()

    def _issue(
        self,
        cn: str,
        filename: str,
        *,
        server_hosts: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_hosts:
            alt: list[x509.GeneralName] = []
            for host in server_hosts:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    alt.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        if roles:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ROLES_OID, _der_utf8string("\n".join(roles))), critical=False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path = self.directory / f"{filename}.pem"
        key_path = self.directory / f"{filename}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return IssuedCert(common_name=cn, cert_path=cert_path, key_path=key_path)

    def issue_server(self, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> IssuedCert:
        return self._issue(hosts[0], "server", server_hosts=hosts)

    def issue_client(self, cn: str, roles: tuple[str, ...] = ()) -> IssuedCert:
        return self._issue(cn, f"client-{cn}", roles=roles)
