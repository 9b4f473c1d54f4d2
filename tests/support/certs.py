"""Throw-away TLS material for broker tests: one CA, a broker cert and a client cert (PEM).

The broker reads PEM directly (``ssl.keystore.type=PEM``): ``broker_keystore_pem`` holds the
cert chain followed by the unencrypted PKCS#8 key (``BEGIN PRIVATE KEY``), and
``truststore_pem`` is the CA that signs client certificates. Keys are EC P-256 (fast to make,
accepted by Kafka's PEM loader, OpenSSL and the JDK).
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the generated PEM files."""

    ca_pem: Path  # CA certificate: the clients' cafile and the broker's truststore
    broker_keystore_pem: Path  # broker cert + CA cert + PKCS#8 key, for ssl.keystore.location
    client_cert_pem: Path  # client cert + CA cert
    client_key_pem: Path  # client PKCS#8 key

    @property
    def truststore_pem(self) -> Path:
        """The broker's truststore (``ssl.truststore.location``): the CA certificate."""
        return self.ca_pem

    def client_context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        """Client-side context trusting the CA, optionally presenting the client cert."""
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        if with_client_cert:
            context.load_cert_chain(str(self.client_cert_pem), str(self.client_key_pem))
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kyc-bridge tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tls_files(directory: Path, *, days: int = 2) -> TlsFiles:
    """Write CA, broker (SAN IP:127.0.0.1, DNS:localhost) and client certs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kyc-bridge test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    broker_key, broker_cert = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key, client_cert = leaf("kyc-bridge-client", ExtendedKeyUsageOID.CLIENT_AUTH, None)

    files = TlsFiles(
        ca_pem=directory / "ca.pem",
        broker_keystore_pem=directory / "broker-keystore.pem",
        client_cert_pem=directory / "client.pem",
        client_key_pem=directory / "client-key.pem",
    )
    files.ca_pem.write_bytes(_cert_pem(ca_cert))
    files.broker_keystore_pem.write_bytes(
        _cert_pem(broker_cert) + _cert_pem(ca_cert) + _key_pem(broker_key)
    )
    files.client_cert_pem.write_bytes(_cert_pem(client_cert) + _cert_pem(ca_cert))
    files.client_key_pem.write_bytes(_key_pem(client_key))
    for path in (files.broker_keystore_pem, files.client_key_pem):
        path.chmod(0o600)
    return files
