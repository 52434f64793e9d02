"""The Kafka and Cassandra connections as typed data, parsed once from the settings: hosts and ports,
not strings. Each renders itself for the clients that need it (kafka-python, Spark's Kafka source,
the local broker's listener; the Cassandra driver, the Spark Cassandra Connector), the way Quix
Streams' ConnectionConfig renders librdkafka settings.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

KAFKA_PORT = 9092
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}

JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def is_local_host(host: str) -> bool:
    return host.strip().lower() in _LOCAL_HOSTS or host.startswith("127.")


def secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def jaas_quote(value: str | None) -> str:
    """A JAAS option value in double quotes (backslash and quote escaped)."""
    text = (value or "").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


class Address(BaseModel):
    """One `host:port`; an IPv6 host is written in brackets (`[::1]:9092`)."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int) -> Address:
        """`host:port`, `host` (the default port) or `[v6]:port`; raises ValueError naming a bad port."""
        text = text.strip()
        if text.startswith("["):
            host, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{text!r} is not [host]:port")
            return cls(host=host, port=_port(rest[1:]) if rest else default_port)
        host, sep, port_text = text.rpartition(":")
        if not sep:
            return cls(host=text, port=default_port)
        return cls(host=host, port=_port(port_text))

    @property
    def host_text(self) -> str:
        """The host as it is written before `:port` (an IPv6 one in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        return f"{self.host_text}:{self.port}"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a port number (expected 1-65535)") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r} is out of range (expected 1-65535)")
    return port


def parse_addresses(value: str | Iterable[Any], default_port: int) -> tuple[Address, ...]:
    """`a:1,b:2` (or a sequence of strings or Addresses) -> Addresses; empty items are skipped."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item if isinstance(item, Address) else Address.parse(item, default_port)
                 for item in items if isinstance(item, Address) or item.strip())


class KafkaConnection(BaseModel):
    """KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC and KAFKA_SECURITY_PROTOCOL with its SASL and TLS companions."""

    model_config = ConfigDict(frozen=True)

    bootstrap: tuple[Address, ...]
    topic: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def servers(self) -> str:
        """`host:port,host:port`, as every client takes it and messages show it."""
        return ",".join(str(address) for address in self.bootstrap)

    @property
    def first(self) -> Address:
        return self.bootstrap[0]

    @property
    def port(self) -> int:
        return self.first.port

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def has_client_certificate(self) -> bool:
        return bool(self.ssl_certfile and self.ssl_keyfile)

    @property
    def is_local(self) -> bool:
        return all(is_local_host(address.host) for address in self.bootstrap)

    def jaas_config(self) -> str:
        """`sasl.jaas.config` of a Kafka client logging in as KAFKA_SASL_USERNAME (holds the password)."""
        module = JAAS_MODULES[self.sasl_mechanism or "PLAIN"]
        return (f"{module} required username={jaas_quote(self.sasl_username)} "
                f"password={jaas_quote(secret(self.sasl_password))};")

    def tls_context(self) -> ssl.SSLContext:
        """The kafka-python clients' TLS context: the broker's certificate verified against
        KAFKA_SSL_CAFILE (or the system CAs), its host name checked unless KAFKA_SSL_CHECK_HOSTNAME is
        off, and the client certificate presented when one is configured.

        With a client certificate the context stops at TLS 1.2. A broker that verifies client
        certificates sends its TLS 1.3 session ticket only after it has checked the client's, so the
        ticket lands after kafka-python considers the connection open; kafka-python 2.x then sees bytes
        with no request in flight and drops the connection ("Socket EVENT_READ without
        in-flight-requests"), over and over on a busy machine (19 of 30 connections under load here).
        Spark's Java client is not affected and keeps TLS 1.3."""
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile and self.ssl_keyfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_python_config(self, with_servers: bool = True) -> dict[str, Any]:
        """What every kafka-python client shares: servers, security protocol, SASL, TLS context."""
        config: dict[str, Any] = {"bootstrap_servers": [str(a) for a in self.bootstrap]} if with_servers else {}
        config["security_protocol"] = self.security_protocol
        if self.uses_sasl:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.uses_tls:
            config["ssl_context"] = self.tls_context()
        return config

    def spark_options(self, pem_keystore: Path | None = None) -> dict[str, str]:
        """`kafka.*` options of Spark's Kafka source and sink: servers, security protocol, SASL (a JAAS
        line) and TLS. `pem_keystore`: the client key and certificate in one PEM file (Kafka's PEM
        keystore), needed when a client certificate is configured."""
        options = {"kafka.bootstrap.servers": self.servers, "kafka.security.protocol": self.security_protocol}
        if self.uses_sasl:
            options["kafka.sasl.mechanism"] = self.sasl_mechanism or "PLAIN"
            options["kafka.sasl.jaas.config"] = self.jaas_config()
        if self.uses_tls:
            options["kafka.ssl.endpoint.identification.algorithm"] = "https" if self.ssl_check_hostname else ""
            if self.ssl_cafile:
                options["kafka.ssl.truststore.type"] = "PEM"
                options["kafka.ssl.truststore.location"] = str(self.ssl_cafile)
            if pem_keystore is not None:
                options["kafka.ssl.keystore.type"] = "PEM"
                options["kafka.ssl.keystore.location"] = str(pem_keystore)
        return options

    def broker_listeners(self, controller_port: int, host: str | None = None,
                         voters: Sequence[str] = ()) -> dict[str, str]:
        """A local broker's listeners: the first bootstrap address (or `host` with its port) with the
        configured protocol, the KRaft controller on `controller_port` (plain) on the same host. The
        quorum is this node alone, or `voters`: the hosts of nodes 1, 2, ... (the rehearsal cluster's)."""
        host, port, listener = host or self.first.host_text, self.port, self.security_protocol
        quorum = ",".join(f"{node}@{voter}:{controller_port}" for node, voter in enumerate(voters, start=1))
        return {
            "controller.quorum.voters": quorum or f"1@{host}:{controller_port}",
            "listeners": f"{listener}://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"{listener}://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
        }

    def broker_security(self, keystore: Path | None = None, keystore_password: str = "") -> dict[str, str]:
        """The local broker's SASL and TLS properties, from the same variables the clients read: it
        accepts the configured user (PLAIN from the JAAS line, SCRAM from the credentials added when
        the storage is formatted) and serves TLS from `keystore` (PKCS12)."""
        properties: dict[str, str] = {}
        name = self.security_protocol.lower()
        if self.uses_sasl:
            user, password = self.sasl_username, secret(self.sasl_password)
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            properties.update({
                "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                f"listener.name.{name}.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain."
                f"PlainLoginModule required username={jaas_quote(user)} password={jaas_quote(password)} "
                f"user_{user}={jaas_quote(password)};",
                f"listener.name.{name}.scram-sha-256.sasl.jaas.config": scram,
                f"listener.name.{name}.scram-sha-512.sasl.jaas.config": scram,
            })
        if self.uses_tls and keystore is not None:
            properties.update({
                "ssl.keystore.location": str(keystore),
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.password": keystore_password,
                "ssl.key.password": keystore_password,
                # the broker is its own inter-broker client: it checks its certificate like any client
                "ssl.endpoint.identification.algorithm": "https" if self.ssl_check_hostname else "",
            })
            if self.ssl_cafile:
                properties.update({"ssl.truststore.location": str(self.ssl_cafile), "ssl.truststore.type": "PEM"})
            if self.ssl_certfile:
                properties["ssl.client.auth"] = "required"
        return properties

    def scram_arguments(self) -> list[str]:
        """`--add-scram` arguments of Kafka's storage format: the configured user under both SCRAM hashes."""
        if not self.uses_sasl:
            return []
        user, password = self.sasl_username, secret(self.sasl_password)
        return [argument for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for argument in ("--add-scram", f"{mechanism}=[name={user},password={password}]")]


class CassandraConnection(BaseModel):
    """CASSANDRA_HOSTS and CASSANDRA_PORT with the keyspace, credentials, TLS and driver preferences."""

    model_config = ConfigDict(frozen=True)

    hosts: tuple[str, ...]
    port: int = 9042
    keyspace: str = "market"
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    protocol_version: int | None = None
    local_dc: str | None = None
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

    @property
    def address(self) -> str:
        """`host,host:port`, as messages show the cluster."""
        return f"{','.join(self.hosts)}:{self.port}"

    @property
    def is_local(self) -> bool:
        return all(is_local_host(host) for host in self.hosts)

    @property
    def has_client_certificate(self) -> bool:
        return bool(self.ssl_certfile and self.ssl_keyfile)

    def tls_context(self) -> ssl.SSLContext | None:
        """The driver's TLS context: the CA of CASSANDRA_SSL_CAFILE, hostname check, optional client cert."""
        if not self.ssl_cafile:
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile))
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile and self.ssl_keyfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        return context

    def driver_args(self) -> dict[str, Any]:
        """The Python driver's `Cluster` arguments: contact points, port, credentials, TLS and the
        protocol version when one is pinned (else negotiated with the server)."""
        from cassandra.auth import PlainTextAuthProvider  # the driver is a heavy import

        auth = (PlainTextAuthProvider(username=self.username, password=secret(self.password))
                if self.username else None)
        args: dict[str, Any] = {"contact_points": list(self.hosts), "port": self.port, "auth_provider": auth,
                                "ssl_context": self.tls_context()}
        if self.protocol_version:
            args["protocol_version"] = self.protocol_version
        return args

    def spark_conf(self) -> dict[str, str]:
        """The Spark Cassandra Connector's `spark.cassandra.connection.*` conf: where, not who (the
        credentials and TLS stores go into each read's and write's options, never the conf)."""
        conf = {"spark.cassandra.connection.host": ",".join(self.hosts),
                "spark.cassandra.connection.port": str(self.port)}
        if self.local_dc:
            conf["spark.cassandra.connection.localDC"] = self.local_dc
        return conf

    def trino_catalog(self, local_dc: str, pem_keystore: Path | None = None) -> dict[str, str]:
        """Trino's `cassandra` catalog: contact points, the data centre, credentials and TLS (PEM files
        as they are; the connector checks the CA, not host names). Holds the password.
        `pem_keystore`: the client key and certificate in one PEM file, when one is configured."""
        properties = {"connector.name": "cassandra",
                      "cassandra.contact-points": ",".join(self.hosts),
                      "cassandra.native-protocol-port": str(self.port),
                      # V3 (the default) cannot read `date` columns
                      "cassandra.protocol-version": "V4",
                      "cassandra.load-policy.dc-aware.local-dc": local_dc}
        if self.username:
            # without `security=PASSWORD` Trino refuses to start: "cassandra.username was not used"
            properties.update({"cassandra.security": "PASSWORD", "cassandra.username": self.username})
            if self.password:
                properties["cassandra.password"] = self.password.get_secret_value()
        if self.ssl_cafile:
            properties.update({"cassandra.tls.enabled": "true", "cassandra.tls.truststore-path": str(self.ssl_cafile)})
            if pem_keystore is not None:
                properties["cassandra.tls.keystore-path"] = str(pem_keystore)
        return properties

    def spark_auth_options(self) -> dict[str, str]:
        """The connector's credential options (for each read and write, not the Spark conf)."""
        if not self.username:
            return {}
        return {"spark.cassandra.auth.username": self.username,
                "spark.cassandra.auth.password": secret(self.password)}
