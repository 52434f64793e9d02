"""What the JVM clients (Spark's Kafka source, the Spark Cassandra Connector, the local servers) need
to connect securely, built at run time from Settings: a JAAS line for SASL, a PKCS12 truststore
made from a PEM CA bundle, and the per-source / per-write options that carry them. Nothing here
goes into the Spark configuration, so no secret shows in `spark.conf`, the Spark UI or event logs.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from pathlib import Path

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


_keystores: dict[str, tuple[Path, str]] = {}


def connector_keystore(settings: Settings) -> tuple[Path, str]:
    """A PKCS12 keystore of CASSANDRA_SSL_CERTFILE + CASSANDRA_SSL_KEYFILE (openssl) under TICKPLANT_HOME,
    with a password made for this process: the client certificate the connector presents."""
    cert, key = Path(settings.cassandra.ssl_certfile or ""), Path(settings.cassandra.ssl_keyfile or "")
    digest = hashlib.sha256(cert.read_bytes() + key.read_bytes()).hexdigest()[:12]
    if digest not in _keystores:
        password = secrets.token_urlsafe(18)
        path = _tls_dir(settings) / f"cassandra-client-{digest}-{secrets.token_hex(4)}.p12"
        path.touch(mode=0o600)
        result = subprocess.run(["openssl", "pkcs12", "-export", "-in", str(cert), "-inkey", str(key),
                                 "-name", "client", "-out", str(path), "-passout", "env:TICKPLANT_STOREPASS"],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "TICKPLANT_STOREPASS": password})
        if result.returncode != 0:
            raise ConfigError(f"could not build a keystore from {cert} and {key}: "
                              f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
        _keystores[digest] = (path, password)
    return _keystores[digest]


_truststores: dict[str, tuple[Path, str]] = {}


def connector_truststore(settings: Settings) -> tuple[Path, str]:
    """A PKCS12 truststore of CASSANDRA_SSL_CAFILE under TICKPLANT_HOME with a password made for this
    process (it protects public certificates only): made once per process and CA file."""
    ca_file = Path(settings.cassandra.ssl_cafile or "")
    digest = hashlib.sha256(ca_file.read_bytes()).hexdigest()[:12]
    if digest not in _truststores:
        password = secrets.token_urlsafe(18)
        path = _tls_dir(settings) / f"cassandra-ca-{digest}-{secrets.token_hex(4)}.p12"
        _truststores[digest] = (pkcs12_truststore(ca_file, path, password), password)
    return _truststores[digest]


def pkcs12_truststore(ca_file: Path | None, path: Path, password: str) -> Path:
    """`path`: a PKCS12 truststore holding every certificate of the PEM bundle `ca_file` (keytool)."""
    if ca_file is None or not Path(ca_file).is_file():
        raise ConfigError(f"CA bundle {ca_file} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    blocks = Path(ca_file).read_text(encoding="utf-8").split("-----END CERTIFICATE-----")
    pems = [block.strip() + "\n-----END CERTIFICATE-----\n" for block in blocks if "BEGIN CERTIFICATE" in block]
    if not pems:
        raise ConfigError(f"{ca_file} holds no PEM certificate")
    for index, pem in enumerate(pems):
        result = subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", f"ca{index}", "-storetype",
                                 "PKCS12", "-keystore", str(path), "-storepass:env", "TICKPLANT_STOREPASS"],
                                input=pem, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "TICKPLANT_STOREPASS": password})
        if result.returncode != 0:
            raise ConfigError(f"could not build a truststore from {ca_file}: "
                              f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    path.chmod(0o600)
    return path


def _tls_dir(settings: Settings) -> Path:
    directory = settings.runtime.home / "run" / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory
