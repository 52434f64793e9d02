"""A secured private Kafka + Cassandra pair for tests: a throw-away CA and a server certificate made
with openssl, Kafka with a SASL_SSL listener (PLAIN and SCRAM), Cassandra with PasswordAuthenticator
and client TLS, each on free ports under its own TICKPLANT_HOME."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "3", "-subj", f"/CN=tickplant test {name}", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                          "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "3", "-extfile", "server.ext", cwd=directory)
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
             "-subj", "/CN=tickplant-client", cwd=directory)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "client.pem", "-days", "3", "-extfile", "client.ext", cwd=directory)
    password = "ks-" + secrets.token_hex(8)
    _openssl("pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
             "-name", "server", "-out", "server.p12", "-passout", f"pass:{password}", cwd=directory)
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


