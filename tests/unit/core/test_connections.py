"""The Kafka and Cassandra connections parsed once from the variables and rendered for each client:
kafka-python, Spark's Kafka source, the local broker, the Cassandra driver, the Spark connector, Trino."""

import re
import ssl
from pathlib import Path

import pytest

from core.config import Settings
from core.connections import Address, parse_addresses
from core.errors import ConfigError

SASL_SSL = dict(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                KAFKA_SASL_USERNAME="alice", KAFKA_SASL_PASSWORD="pw-SECRET")


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=Path("/nonexistent/.env"))


@pytest.mark.parametrize("text, host, port", [
    ("k1:19092", "k1", 19092),
    ("k1", "k1", 9092),
    ("[::1]:29092", "::1", 29092),
    ("[::1]", "::1", 9092),
    (" 10.0.0.5:9093 ", "10.0.0.5", 9093),
])
def test_an_address_is_parsed_into_host_and_port(text, host, port):
    address = Address.parse(text, 9092)
    assert (address.host, address.port) == (host, port)


def test_an_ipv6_address_is_written_back_in_brackets():
    assert str(Address.parse("[::1]:29092", 9092)) == "[::1]:29092"
    s = settings(KAFKA_BOOTSTRAP_SERVERS="[::1]:29092,k2:9093")
    assert s.kafka.servers == "[::1]:29092,k2:9093" and s.kafka.first.host == "::1"
    assert s.kafka.broker_listeners(29093)["listeners"] == "PLAINTEXT://[::1]:29092,CONTROLLER://[::1]:29093"
    assert s.describe()["KAFKA_BOOTSTRAP_SERVERS"] == "[::1]:29092,k2:9093"


@pytest.mark.parametrize("value, message", [
    ("k1:port", "KAFKA_BOOTSTRAP_SERVERS='k1:port': 'port' is not a port number (expected 1-65535)"),
    ("k1:0", "KAFKA_BOOTSTRAP_SERVERS='k1:0': '0' is out of range (expected 1-65535)"),
    ("k1:9092,k2:70000", "KAFKA_BOOTSTRAP_SERVERS='k1:9092,k2:70000': '70000' is out of range"),
    ("[::1", "KAFKA_BOOTSTRAP_SERVERS='[::1': '[::1' is not [host]:port"),
    (",", "KAFKA_BOOTSTRAP_SERVERS=',': no address given"),
])
def test_a_bad_bootstrap_address_names_the_variable(value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(KAFKA_BOOTSTRAP_SERVERS=value)


def test_parsed_addresses_pass_through_replace_unchanged():
    s = settings(KAFKA_BOOTSTRAP_SERVERS="k1:1,k2:2")
    assert s.replace(kafka_topic="other").kafka.bootstrap == s.kafka.bootstrap
    assert parse_addresses(s.kafka.bootstrap, 9092) == s.kafka.bootstrap


def test_plaintext_kafka_renders_servers_and_protocol_only():
    kafka = settings(KAFKA_BOOTSTRAP_SERVERS="k1:1,k2:2").kafka
    assert kafka.kafka_python_config() == {"bootstrap_servers": ["k1:1", "k2:2"], "security_protocol": "PLAINTEXT"}
    assert kafka.spark_options() == {"kafka.bootstrap.servers": "k1:1,k2:2", "kafka.security.protocol": "PLAINTEXT"}
    assert kafka.broker_security() == {} and kafka.scram_arguments() == []
    assert kafka.broker_listeners(9093)["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"


def test_a_cluster_node_listens_on_its_own_host_in_a_quorum_of_all_voters():
    kafka = settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:29092").kafka
    node = kafka.broker_listeners(29093, host="127.0.0.2", voters=["127.0.0.1", "127.0.0.2", "127.0.0.3"])
    assert node == {**kafka.broker_listeners(29093),
                    "controller.quorum.voters": "1@127.0.0.1:29093,2@127.0.0.2:29093,3@127.0.0.3:29093",
                    "listeners": "PLAINTEXT://127.0.0.2:29092,CONTROLLER://127.0.0.2:29093",
                    "advertised.listeners": "PLAINTEXT://127.0.0.2:29092"}


def test_sasl_ssl_kafka_renders_credentials_for_every_client(tmp_path):
    ca = tmp_path / "ca.pem"
    kafka = settings(**SASL_SSL, KAFKA_SSL_CAFILE=str(ca)).kafka
    python = settings(**SASL_SSL).kafka.kafka_python_config(with_servers=False)
    assert isinstance(python.pop("ssl_context"), ssl.SSLContext)
    assert python == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "alice", "sasl_plain_password": "pw-SECRET"}
    spark = kafka.spark_options()
    assert spark["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert spark["kafka.sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                               'username="alice" password="pw-SECRET";')
    assert (spark["kafka.ssl.truststore.type"], spark["kafka.ssl.truststore.location"]) == ("PEM", str(ca))
    assert "kafka.ssl.keystore.location" not in spark
    broker = kafka.broker_security(Path("/ks.p12"), "ks-pw")
    assert broker["ssl.keystore.location"] == "/ks.p12" and broker["ssl.key.password"] == "ks-pw"
    assert 'user_alice="pw-SECRET"' in broker["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert "ssl.client.auth" not in broker
    assert kafka.scram_arguments()[1] == "SCRAM-SHA-256=[name=alice,password=pw-SECRET]"


def test_mutual_tls_kafka_presents_the_client_certificate(tmp_path):
    kafka = settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CERTFILE="/c.pem", KAFKA_SSL_KEYFILE="/c.key",
                     KAFKA_SSL_CHECK_HOSTNAME="false").kafka
    assert kafka.has_client_certificate and kafka.uses_tls and not kafka.uses_sasl
    spark = kafka.spark_options(pem_keystore=tmp_path / "client.pem")
    assert spark["kafka.ssl.keystore.type"] == "PEM"
    assert spark["kafka.ssl.keystore.location"] == str(tmp_path / "client.pem")
    assert spark["kafka.ssl.endpoint.identification.algorithm"] == ""
    assert kafka.broker_security(Path("/ks.p12"))["ssl.client.auth"] == "required"


def test_kafka_python_tls_context_follows_the_hostname_setting():
    kafka = settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CHECK_HOSTNAME="false").kafka
    context = kafka.kafka_python_config()["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and not context.check_hostname


def test_cassandra_renders_the_driver_arguments_and_the_connector_conf():
    cassandra = settings(CASSANDRA_HOSTS="c1,c2", CASSANDRA_PORT="19042", CASSANDRA_LOCAL_DC="dc1",
                         CASSANDRA_USERNAME="bob", CASSANDRA_PASSWORD="cass-SECRET",
                         CASSANDRA_PROTOCOL_VERSION="4").cassandra
    assert cassandra.address == "c1,c2:19042" and not cassandra.is_local
    args = cassandra.driver_args()
    assert (args["contact_points"], args["port"], args["protocol_version"], args["ssl_context"]) == (
        ["c1", "c2"], 19042, 4, None)
    assert args["auth_provider"].username == "bob"
    assert cassandra.spark_conf() == {"spark.cassandra.connection.host": "c1,c2",
                                      "spark.cassandra.connection.port": "19042",
                                      "spark.cassandra.connection.localDC": "dc1"}
    assert cassandra.spark_auth_options() == {"spark.cassandra.auth.username": "bob",
                                              "spark.cassandra.auth.password": "cass-SECRET"}


def test_cassandra_without_credentials_or_tls_renders_none():
    cassandra = settings().cassandra
    args = cassandra.driver_args()
    assert args["auth_provider"] is None and args["ssl_context"] is None and "protocol_version" not in args
    assert cassandra.spark_auth_options() == {}
    assert "spark.cassandra.connection.localDC" not in cassandra.spark_conf()


def test_cassandra_trino_catalog_carries_credentials_and_mutual_tls():
    cassandra = settings(CASSANDRA_USERNAME="bob", CASSANDRA_PASSWORD="pw", CASSANDRA_SSL_CAFILE="/ca.pem",
                         CASSANDRA_SSL_CERTFILE="/c.pem", CASSANDRA_SSL_KEYFILE="/c.key").cassandra
    catalog = cassandra.trino_catalog("dc1", Path("/client.pem"))
    assert (catalog["cassandra.security"], catalog["cassandra.username"], catalog["cassandra.password"]) == (
        "PASSWORD", "bob", "pw")
    assert catalog["cassandra.tls.truststore-path"] == "/ca.pem"
    assert catalog["cassandra.tls.keystore-path"] == "/client.pem"
    assert catalog["cassandra.load-policy.dc-aware.local-dc"] == "dc1"


def test_views_are_frozen_and_built_once():
    s = settings()
    assert s.kafka is s.kafka
    with pytest.raises(ValueError):
        s.kafka.topic = "other"  # type: ignore[misc]


def test_the_sql_view_resolves_the_engine_address():
    assert settings(TICKPLANT_PRESTO_PORT="18080").sql.presto_url == "http://127.0.0.1:18080"
    remote = settings(PRESTO_URL="https://trino.example:8443").sql
    assert (remote.presto_external, remote.presto_host, remote.presto_port, remote.presto_scheme) == (
        True, "trino.example", 8443, "https")
