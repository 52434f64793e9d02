"""What the JVM clients get for secured clusters: the JAAS line per SASL mechanism, Spark's Kafka
source options, the Cassandra connector's per-write options, and a Spark conf without secrets."""

from pathlib import Path

import pytest

from core.config import Settings
from core.security import cassandra_connector_options, jaas_config, jaas_quote, kafka_source_options
from core.spark import spark_conf
from tickplant.runtime.cassandra import CassandraService
from tickplant.runtime.kafka import KafkaService

SECURED = dict(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="alice", KAFKA_SASL_PASSWORD='pa"ss-SECRET',
               KAFKA_SSL_CAFILE="/etc/ca.pem", CASSANDRA_USERNAME="bob", CASSANDRA_PASSWORD="cass-SECRET")


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=Path("/nonexistent/.env"))


@pytest.mark.parametrize("mechanism, module", [
    ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule"),
    ("SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule"),
    ("SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule"),
])
def test_jaas_line_names_the_login_module_of_the_mechanism_and_quotes_the_password(mechanism, module):
    line = jaas_config(settings(**SECURED, KAFKA_SASL_MECHANISM=mechanism))
    assert line == f'{module} required username="alice" password="pa\\"ss-SECRET";'


def test_jaas_quote_escapes_backslashes_and_quotes():
    assert jaas_quote('a\\b"c') == '"a\\\\b\\"c"'


def test_kafka_source_options_carry_protocol_mechanism_jaas_and_pem_truststore():
    options = kafka_source_options(settings(**SECURED, KAFKA_SASL_MECHANISM="SCRAM-SHA-256"))
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-256"
    assert "ScramLoginModule" in options["kafka.sasl.jaas.config"]
    assert (options["kafka.ssl.truststore.type"], options["kafka.ssl.truststore.location"]) == ("PEM", "/etc/ca.pem")
    assert options["kafka.ssl.endpoint.identification.algorithm"] == "https"
    relaxed = kafka_source_options(settings(**SECURED, KAFKA_SASL_MECHANISM="PLAIN", KAFKA_SSL_CHECK_HOSTNAME="false"))
    assert relaxed["kafka.ssl.endpoint.identification.algorithm"] == ""


def test_plaintext_kafka_source_gets_only_the_servers_and_the_protocol():
    assert kafka_source_options(settings()) == {"kafka.bootstrap.servers": "127.0.0.1:9092",
                                                "kafka.security.protocol": "PLAINTEXT"}


def test_spark_conf_holds_no_credential_the_connector_options_do():
    s = settings(**SECURED, KAFKA_SASL_MECHANISM="PLAIN", CASSANDRA_LOCAL_DC="dc1")
    conf = spark_conf(s, "t", with_jars=False)
    assert not any("SECRET" in value or "auth" in key for key, value in conf.items())
    assert conf["spark.cassandra.connection.localDC"] == "dc1"
    options = cassandra_connector_options(s)
    assert options == {"spark.cassandra.auth.username": "bob", "spark.cassandra.auth.password": "cass-SECRET"}


def test_local_kafka_listener_follows_the_client_protocol(tmp_path):
    s = settings(**SECURED, KAFKA_SASL_MECHANISM="SCRAM-SHA-512", TICKPLANT_TLS_KEYSTORE="/ks.p12",
                 TICKPLANT_TLS_KEYSTORE_PASSWORD="ks-SECRET", TICKPLANT_HOME=str(tmp_path))
    properties = KafkaService(s).security_properties()
    assert properties["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert properties["ssl.keystore.location"] == "/ks.p12" and properties["ssl.truststore.type"] == "PEM"
    assert KafkaService(s).scram_arguments()[1] == 'SCRAM-SHA-256=[name=alice,password=pa"ss-SECRET]'
    assert KafkaService(settings()).security_properties() == {}


def test_local_cassandra_gets_password_authenticator_and_client_tls_only_when_configured(tmp_path):
    plain = CassandraService(settings(TICKPLANT_HOME=str(tmp_path)))
    assert plain.security_config() == {}
    secured = CassandraService(settings(CASSANDRA_USERNAME="bob", CASSANDRA_PASSWORD="x", TICKPLANT_HOME=str(tmp_path),
                                        CASSANDRA_SSL_CAFILE="/ca.pem", TICKPLANT_TLS_KEYSTORE="/ks.p12",
                                        TICKPLANT_TLS_KEYSTORE_PASSWORD="ks"))
    config = secured.security_config()
    assert config["authenticator"] == "PasswordAuthenticator"
    assert config["client_encryption_options"]["enabled"] is True
    assert config["client_encryption_options"]["optional"] is False
