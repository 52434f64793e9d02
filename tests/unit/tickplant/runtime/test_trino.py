"""The SQL engine's `cassandra` catalog file written from the settings: TLS with the PEM CA, the client
certificate as one owner-only PEM keystore, credentials escaped for Java's .properties format, and
the one-line refusals built from the settings rather than from the server's error text."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import javaproperties

from core.config import Settings
from tickplant.runtime.trino import TrinoService, catalog_refusal


def _settings(tmp_path: Path, **env: str) -> Settings:
    base = {"TICKPLANT_HOME": str(tmp_path / "home"), "CASSANDRA_LOCAL_DC": "dc1", "CASSANDRA_PORT": "9142"}
    return Settings.from_env({**os.environ, **base, **env}, dotenv=Path("/nonexistent"))


def test_catalog_carries_tls_client_certificate_and_escaped_credentials(tmp_path: Path):
    for name, text in (("ca.pem", "CA\n"), ("client.pem", "CERT\n"), ("client.key", "KEY\n")):
        (tmp_path / name).write_text(text)
    settings = _settings(tmp_path, CASSANDRA_USERNAME="reader", CASSANDRA_PASSWORD="pa\\ss word=#1",
                         CASSANDRA_SSL_CAFILE=str(tmp_path / "ca.pem"),
                         CASSANDRA_SSL_CERTFILE=str(tmp_path / "client.pem"),
                         CASSANDRA_SSL_KEYFILE=str(tmp_path / "client.key"))
    engine = TrinoService(settings, settings.sql)
    keystore = engine.dir / "etc" / "cassandra-client.pem"
    assert engine.catalog_properties() == {
        "connector.name": "cassandra", "cassandra.contact-points": "127.0.0.1",
        "cassandra.native-protocol-port": "9142", "cassandra.protocol-version": "V4",
        "cassandra.load-policy.dc-aware.local-dc": "dc1", "cassandra.security": "PASSWORD",
        "cassandra.username": "reader", "cassandra.password": "pa\\ss word=#1", "cassandra.tls.enabled": "true",
        "cassandra.tls.truststore-path": str(tmp_path / "ca.pem"), "cassandra.tls.keystore-path": str(keystore)}
    assert keystore.read_text() == "KEY\nCERT\n" and stat.S_IMODE(keystore.stat().st_mode) == 0o600


def test_catalog_without_credentials_or_tls_names_neither(tmp_path: Path):
    settings = _settings(tmp_path)
    text = str(TrinoService(settings, settings.sql).catalog_properties())
    for name in ("cassandra.security", "cassandra.username", "cassandra.password", "cassandra.tls"):
        assert name not in text


def test_property_values_are_escaped_for_java_properties(tmp_path: Path):
    from tickplant.runtime.base import write_properties

    values = {"plain": "plain", "backslash": "a\\b", "lead": " lead", "lines": "two\nlines", "jaas": 'u="a b";',
              "password": "pa\\ss word=#1"}
    write_properties(tmp_path / "x.properties", values, writer="test", private=True)
    # read back as Java's Properties.load reads it
    assert javaproperties.loads((tmp_path / "x.properties").read_text()) == values
    assert stat.S_IMODE((tmp_path / "x.properties").stat().st_mode) == 0o600


def test_refusals_name_the_cause_in_one_line_without_the_servers_text(tmp_path: Path):
    settings = _settings(tmp_path, CASSANDRA_USERNAME="reader", CASSANDRA_PASSWORD="s3cret-value")
    denied = catalog_refusal(settings, "TrinoQueryError(... AuthenticationException: Authentication error on "
                                       "node /127.0.0.1:9142: Provided username reader and/or password are "
                                       "incorrect s3cret-value ...)")
    assert denied == ("Cassandra at 127.0.0.1:9142 refused the credentials of user 'reader' in the cassandra "
                      "catalog (check CASSANDRA_USERNAME and CASSANDRA_PASSWORD)")
    assert "certificate" in catalog_refusal(settings, "SSLHandshakeException: PKIX path building failed")
    assert catalog_refusal(settings, "Connection refused") is None
