"""What the JVM clients (Spark's Kafka source, the Spark Cassandra Connector, the local servers) need
to connect securely, built at run time from Settings: a JAAS line for SASL, a PKCS12 truststore
made from a PEM CA bundle, and the per-source / per-write options that carry them. Nothing here
goes into the Spark configuration, so no secret shows in `spark.conf`, the Spark UI or event logs.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from core.config import Settings
from core.connections import jaas_quote, secret  # noqa: F401 - the JAAS quoting lives with the Kafka model
from core.errors import ConfigError


def jaas_config(settings: Settings) -> str:
    """`sasl.jaas.config` of a Kafka client logging in as KAFKA_SASL_USERNAME (holds the password)."""
    return settings.kafka.jaas_config()


def kafka_source_options(settings: Settings) -> dict[str, str]:
    """`kafka.*` options of Spark's Kafka source and sink (servers, security, SASL, TLS), with the PEM
    keystore written when a client certificate is configured."""
    uses_keystore = settings.kafka.uses_tls and settings.kafka.has_client_certificate
    return settings.kafka.spark_options(pem_keystore(settings) if uses_keystore else None)


def pem_keystore(settings: Settings) -> Path:
    """Kafka's PEM keystore is one file holding the client's key and certificate chain: written
    from KAFKA_SSL_KEYFILE + KAFKA_SSL_CERTFILE under TICKPLANT_HOME, readable by us only."""
    assert settings.kafka.ssl_certfile and settings.kafka.ssl_keyfile
    text = Path(settings.kafka.ssl_keyfile).read_text() + Path(settings.kafka.ssl_certfile).read_text()
    path = _tls_dir(settings) / f"kafka-client-{hashlib.sha256(text.encode()).hexdigest()[:12]}.pem"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cassandra_connector_options(settings: Settings) -> dict[str, str]:
    """Options of the Spark Cassandra Connector given to every read and write (not the Spark conf):
    credentials, and TLS with a truststore built from CASSANDRA_SSL_CAFILE. The connector 3.5.1
    always turns the driver's hostname validation off; it still checks the CA."""
    options = settings.cassandra.spark_auth_options()
    if settings.cassandra.ssl_cafile:
        store, password = connector_truststore(settings)
        options.update({"spark.cassandra.connection.ssl.enabled": "true",
                        "spark.cassandra.connection.ssl.trustStore.path": str(store),
                        "spark.cassandra.connection.ssl.trustStore.password": password,
                        "spark.cassandra.connection.ssl.trustStore.type": "PKCS12"})
        if settings.cassandra.ssl_certfile and settings.cassandra.ssl_keyfile:
            keystore, key_password = connector_keystore(settings)
            options.update({"spark.cassandra.connection.ssl.clientAuth.enabled": "true",
                            "spark.cassandra.connection.ssl.keyStore.path": str(keystore),
                            "spark.cassandra.connection.ssl.keyStore.password": key_password,
                            "spark.cassandra.connection.ssl.keyStore.type": "PKCS12"})
    return options


def connector_keystore(settings: Settings) -> tuple[Path, str]:
    """A PKCS12 keystore of CASSANDRA_SSL_CERTFILE (the client certificate first, then its chain) +
    CASSANDRA_SSL_KEYFILE under TICKPLANT_HOME, with a password made for this process: the client
    certificate the connector presents."""
    cert, key = Path(settings.cassandra.ssl_certfile or ""), Path(settings.cassandra.ssl_keyfile or "")
    try:
        return _keystore(_tls_dir(settings), cert.read_bytes(), key.read_bytes())
    except (ValueError, TypeError) as exc:   # not PEM, an encrypted key, a certificate of another key
        raise ConfigError(f"could not build a keystore from {cert} and {key}: {exc}") from None


@functools.lru_cache   # once per process, directory and certificate + key
def _keystore(directory: Path, cert_pem: bytes, key_pem: bytes) -> tuple[Path, str]:
    own, *chain = x509.load_pem_x509_certificates(cert_pem)
    key, password = serialization.load_pem_private_key(key_pem, password=None), secrets.token_urlsafe(18)
    digest = hashlib.sha256(cert_pem + key_pem).hexdigest()[:12]
    path = directory / f"cassandra-client-{digest}-{secrets.token_hex(4)}.p12"
    path.touch(mode=0o600)
    path.write_bytes(pkcs12.serialize_key_and_certificates(   # encrypted as openssl 3 does: AES-256, SHA-256
        b"client", key, own, chain or None, serialization.BestAvailableEncryption(password.encode())))
    return path, password


def connector_truststore(settings: Settings) -> tuple[Path, str]:
    """A PKCS12 truststore of CASSANDRA_SSL_CAFILE under TICKPLANT_HOME with a password made for this
    process (it protects public certificates only): made once per process and CA file."""
    ca_file = Path(settings.cassandra.ssl_cafile or "")
    return _truststore(_tls_dir(settings), ca_file, ca_file.read_bytes())


@functools.lru_cache
def _truststore(directory: Path, ca_file: Path, ca_pem: bytes) -> tuple[Path, str]:
    password = secrets.token_urlsafe(18)
    path = directory / f"cassandra-ca-{hashlib.sha256(ca_pem).hexdigest()[:12]}-{secrets.token_hex(4)}.p12"
    return pkcs12_truststore(ca_file, path, password), password


def pkcs12_truststore(ca_file: Path | None, path: Path, password: str) -> Path:
    """`path`: a PKCS12 truststore holding every certificate of the PEM bundle `ca_file` as a trusted
    entry for Java (aliases ca0, ca1, ...)."""
    if ca_file is None or not Path(ca_file).is_file():
        raise ConfigError(f"CA bundle {ca_file} does not exist")
    if b"BEGIN CERTIFICATE" not in (pem := Path(ca_file).read_bytes()):
        raise ConfigError(f"{ca_file} holds no PEM certificate")
    try:
        entries = [pkcs12.PKCS12Certificate(certificate, f"ca{index}".encode())
                   for index, certificate in enumerate(x509.load_pem_x509_certificates(pem))]
    except ValueError as exc:
        raise ConfigError(f"could not build a truststore from {ca_file}: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_bytes(pkcs12.serialize_java_truststore(entries, serialization.BestAvailableEncryption(
        password.encode())))
    path.chmod(0o600)
    return path


def _tls_dir(settings: Settings) -> Path:
    directory = settings.runtime.home / "run" / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory
