"""Mutual TLS with a private Kafka whose SSL listener requires client certificates: the Python
clients and Spark's Kafka source (a PEM keystore written at run time from KAFKA_SSL_CERTFILE and
KAFKA_SSL_KEYFILE) present the client certificate; without one the broker refuses the client."""

from __future__ import annotations

import ssl

import pytest

from core import kafka as kafka_clients
from core.errors import AccessError
from core.security import kafka_source_options
from tests.helpers import private_env, service_unavailable
from tests.helpers_secured import make_pki, settings_of
from tickplant.runtime.kafka import KafkaService


@pytest.fixture(scope="module")
def mtls_kafka(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtls")
    pki = make_pki(root / "pki")
    env = {**private_env(root / "var"), "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(pki.ca),
           "KAFKA_SSL_CERTFILE": str(pki.client_cert), "KAFKA_SSL_KEYFILE": str(pki.client_key),
           "TICKPLANT_TLS_KEYSTORE": str(pki.keystore), "TICKPLANT_TLS_KEYSTORE_PASSWORD": pki.keystore_password}
    settings = settings_of(env)
    kafka = KafkaService(settings)
    try:
        kafka.start()
        kafka_clients.ensure_topics(settings)
    except Exception as exc:
        kafka.stop()
        service_unavailable(f"the mutual-TLS Kafka could not start: {exc}")
    yield settings
    kafka.stop()


def test_python_clients_present_the_client_certificate(mtls_kafka):
    producer = kafka_clients.producer(mtls_kafka)
    sent = producer.send(mtls_kafka.kafka.topic, key=b"AAPL", value=b"mtls").get(timeout=30)
    producer.close()
    records = kafka_clients.read_to_end(mtls_kafka, mtls_kafka.kafka.topic)
    assert [(r.partition, r.offset, r.value) for r in records] == [(sent.partition, sent.offset, b"mtls")]


def test_every_new_connection_with_a_client_certificate_is_kept(mtls_kafka):
    """The broker's TLS 1.3 session ticket, sent after it checked the client certificate, made
    kafka-python drop fresh connections ("EVENT_READ without in-flight-requests"), 19 of 30 on a
    busy machine; the clients' context stops at TLS 1.2 when they present a certificate."""
    assert mtls_kafka.kafka.tls_context().maximum_version == ssl.TLSVersion.TLSv1_2
    assert (mtls_kafka.replace(kafka_ssl_certfile=None, kafka_ssl_keyfile=None).kafka.tls_context()
            .maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED)
    topics = []
    for _ in range(20):
        admin = kafka_clients.admin(mtls_kafka)
        try:
            topics.append(mtls_kafka.kafka.topic in admin.list_topics())
        finally:
            admin.close()
    assert topics == [True] * 20


def test_a_client_without_a_certificate_is_refused(mtls_kafka):
    # refused at once, and for the certificate: not a server that simply does not answer in time
    with pytest.raises(AccessError, match="requires a client certificate"):
        kafka_clients.wait_for_kafka(mtls_kafka.replace(kafka_ssl_certfile=None, kafka_ssl_keyfile=None), 10)


def test_spark_kafka_source_presents_the_client_certificate_from_a_run_time_pem_keystore(mtls_kafka):
    from pyspark.sql import SparkSession

    from core.spark import build_session

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    producer = kafka_clients.producer(mtls_kafka)
    producer.send(mtls_kafka.kafka.topic, key=b"MSFT", value=b"mtls-spark").get(timeout=30)
    producer.close()
    options = kafka_source_options(mtls_kafka)
    assert options["kafka.ssl.keystore.type"] == "PEM"
    spark = build_session(mtls_kafka.replace(spark_master="local[1]"), "tickplant-mtls-check")
    try:
        rows = (spark.read.format("kafka").option("subscribe", mtls_kafka.kafka.topic)
                .option("startingOffsets", "earliest")
                .options(**options).load().select("value").collect())
    finally:
        spark.stop()
    assert b"mtls-spark" in [bytes(row["value"]) for row in rows]
