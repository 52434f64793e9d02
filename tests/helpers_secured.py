"""A secured private Kafka + Cassandra pair for tests: a throw-away CA and a server certificate made
with cryptography, Kafka with a SASL_SSL listener (PLAIN and SCRAM), Cassandra with PasswordAuthenticator
and client TLS, each on free ports under its own TICKPLANT_HOME."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.config import Settings
from tests.helpers import private_env


@dataclass(frozen=True)
class Pki:
    ca: Path            # the CA that signed the servers' certificate
    rogue_ca: Path      # an unrelated CA: a client trusting only it must refuse the servers
    keystore: Path      # PKCS12: the servers' key and certificate (SAN 127.0.0.1, localhost)
    keystore_password: str

    @property
    def client_cert(self) -> Path:
        return self.ca.parent / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.ca.parent / "client.key"


def _certificate(name: str, key: rsa.RSAPrivateKey, *extensions: x509.ExtensionType,
                 issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None) -> x509.Certificate:
    """A certificate of `key` for three days (sha256, SKI and AKI as openssl makes them), signed by
    `issuer` (its certificate and key) or by itself."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3)))
    for extension in (*extensions, x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                      x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())):
        builder = builder.add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """{ca,rogue-ca,server,client}.pem and .key (PEM; keys PKCS#8, unencrypted) and server.p12."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = {name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for name in ("ca", "rogue-ca", "server", "client")}
    authority, usage = x509.BasicConstraints(ca=True, path_length=None), ExtendedKeyUsageOID
    certificates = {name: _certificate(f"tickplant test {name}", keys[name], authority) for name in ("ca", "rogue-ca")}
    ca = (certificates["ca"], keys["ca"])
    certificates["server"] = _certificate("localhost", keys["server"], x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
        x509.ExtendedKeyUsage([usage.SERVER_AUTH, usage.CLIENT_AUTH]), issuer=ca)
    certificates["client"] = _certificate("tickplant-client", keys["client"],
                                          x509.ExtendedKeyUsage([usage.CLIENT_AUTH]), issuer=ca)
    for name, certificate in certificates.items():
        (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / f"{name}.key").write_bytes(keys[name].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    password = "ks-" + secrets.token_hex(8)
    (directory / "server.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"server", keys["server"], certificates["server"], [ca[0]],
        serialization.BestAvailableEncryption(password.encode())))
    return Pki(directory / "ca.pem", directory / "rogue-ca.pem", directory / "server.p12", password)


def secured_env(home: Path, pki: Pki, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    """Variables of a private pair with SASL_SSL Kafka and password + TLS Cassandra (fresh secrets)."""
    return {
        **private_env(home),
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": "tickplant",
        "KAFKA_SASL_PASSWORD": "kafka-SECRET-" + secrets.token_hex(6),
        "KAFKA_SSL_CAFILE": str(pki.ca),
        "CASSANDRA_USERNAME": "tickplant",
        "CASSANDRA_PASSWORD": "cass-SECRET-" + secrets.token_hex(6),
        "CASSANDRA_SSL_CAFILE": str(pki.ca),
        "TICKPLANT_TLS_KEYSTORE": str(pki.keystore),
        "TICKPLANT_TLS_KEYSTORE_PASSWORD": pki.keystore_password,
        "TICKPLANT_SERVICE_TIMEOUT": "240",
        # the keyspace as on a multi-DC cluster: per-DC factors, and the driver pinned to its DC
        "CASSANDRA_REPLICATION": "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}",
        "CASSANDRA_LOCAL_DC": "datacenter1",
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env({**os.environ, **env}, dotenv=Path("/nonexistent"))


def files_containing(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Log-like files under `root` (logs, output) in which any of `needles` appears, with the needles."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix not in (".log", ".out", ".txt", ".json", ".err", "") \
                or path.stat().st_size > 200_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        hits = [needle for needle in needles if needle in text]
        if hits:
            found[str(path)] = hits
    return found


@dataclass(frozen=True)
class SecuredPair:
    """The running secured pair: its settings, the variables that give them, the PKI, its root dir."""

    settings: Settings
    env: dict[str, str]
    pki: Pki
    root: Path

    @property
    def secrets(self) -> list[str]:
        return [self.env["KAFKA_SASL_PASSWORD"], self.env["CASSANDRA_PASSWORD"],
                self.env["TICKPLANT_TLS_KEYSTORE_PASSWORD"]]


