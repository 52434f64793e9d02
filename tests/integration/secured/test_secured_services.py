"""Every client against the secured private pair (Kafka SASL_SSL, Cassandra PasswordAuthenticator +
client TLS): the Python clients with each SASL mechanism, the driver, Spark's Kafka source and the
Cassandra connector; a wrong password or an untrusted certificate refused in one line; no secret in
the Spark conf, the Spark UI's environment page or the services' logs."""

from __future__ import annotations

import json
import urllib.request

import pytest

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.errors import ServiceError
from core.security import cassandra_connector_options, kafka_source_options
from tests.helpers import run_cli
from tests.helpers_secured import files_containing


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_producer_admin_and_consumer_work_over_sasl_ssl_with_each_mechanism(secured_isolated, mechanism):
    settings = secured_isolated.replace(kafka_sasl_mechanism=mechanism)
    assert kafka_clients.ensure_topics(settings) == []   # the admin client reaches the broker
    producer = kafka_clients.producer(settings)
    sent = producer.send(settings.kafka.topic, key=b"AAPL", value=mechanism.encode()).get(timeout=30)
    producer.close()
    records = kafka_clients.read_to_end(settings, settings.kafka.topic)
    assert [(r.partition, r.offset, r.value) for r in records] == [(sent.partition, sent.offset, mechanism.encode())]


def test_cassandra_driver_needs_tls_and_the_password(secured_isolated):
    session = cassandra_db.connect(secured_isolated, keyspace=secured_isolated.cassandra.keyspace)
    try:
        assert session.cluster.ssl_context is not None
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row["release_version"].startswith("5.")
        assert session.cluster.protocol_version >= 5   # negotiated, not configured
    finally:
        cassandra_db.close(session)
    # the port speaks TLS only: the server answers a plaintext client by dropping the connection (a
    # reset, not a refusal: something listens there, and it is not talking plain CQL)
    with pytest.raises(ServiceError, match="Connection reset by peer"):
        cassandra_db.connect(secured_isolated.replace(cassandra_ssl_cafile=None), timeout_s=5)


def _refusals(pair) -> list[tuple[str, dict[str, str], str]]:
    kafka = str(pair.settings.kafka.first)
    cassandra = f"127.0.0.1:{pair.settings.cassandra.port}"
    rogue = str(pair.pki.rogue_ca)
    return [
        ("kafka password", {"KAFKA_SASL_PASSWORD": "wrong-password-1"},
         f"Kafka at {kafka} refused SASL SCRAM-SHA-512 authentication of user 'tickplant' "
         "(check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)"),
        ("kafka certificate", {"KAFKA_SSL_CAFILE": rogue},
         f"Kafka at {kafka} presented a TLS certificate that KAFKA_SSL_CAFILE={rogue} does not trust "
         "(self-signed certificate in certificate chain)"),
        ("cassandra password", {"CASSANDRA_PASSWORD": "wrong-password-2"},
         f"Cassandra at {cassandra} refused the credentials of user 'tickplant' "
         "(check CASSANDRA_USERNAME and CASSANDRA_PASSWORD)"),
        ("cassandra certificate", {"CASSANDRA_SSL_CAFILE": rogue},
         f"Cassandra at {cassandra} presented a TLS certificate that CASSANDRA_SSL_CAFILE={rogue} does not trust "
         "(self-signed certificate in certificate chain)"),
    ]


@pytest.mark.parametrize("case", ["kafka password", "kafka certificate", "cassandra password",
                                  "cassandra certificate"])
@pytest.mark.parametrize("command", [("services", "status"), ("services", "start")])
def test_wrong_password_or_untrusted_certificate_is_refused_in_one_line(secured_services, case, command):
    _, overrides, expected = next(r for r in _refusals(secured_services) if r[0] == case)
    result = run_cli(*command, env={**secured_services.env, **overrides}, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("tickplant: error:")]
    assert errors == [f"tickplant: error: {expected}"], result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert not any(secret in output for secret in [*secured_services.secrets, *overrides.values()]
                   if "password" in secret or "SECRET" in secret)


def test_spark_reads_secured_kafka_and_cassandra_with_no_secret_in_conf_or_ui(secured_isolated, secured_services):
    from pyspark.sql import SparkSession

    from core.spark import build_session

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    settings = secured_isolated.replace(spark_ui=True, spark_master="local[1]")
    producer = kafka_clients.producer(settings)
    producer.send(settings.kafka.topic, key=b"MSFT", value=b"over-sasl-ssl").get(timeout=30)
    producer.close()
    spark = build_session(settings, "tickplant-secured-check")
    try:
        rows = (spark.read.format("kafka").option("subscribe", settings.kafka.topic)
                .option("startingOffsets", "earliest")
                .options(**kafka_source_options(settings)).load().select("value").collect())
        assert [bytes(row["value"]) for row in rows] == [b"over-sasl-ssl"]
        spark.createDataFrame([("MSFT", "2026-11-20", 410.5, 3.0, "secured")],
                              "symbol string, trade_date string, price double, volume double, trade_id string") \
            .selectExpr("symbol", "cast(trade_date as date) trade_date", "current_timestamp() trade_timestamp",
                        "trade_id", "price", "volume") \
            .write.format("org.apache.spark.sql.cassandra").mode("append") \
            .options(**cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace,
                     table="trades").save()
        read = (spark.read.format("org.apache.spark.sql.cassandra")
                .options(**cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace,
                         table="trades").load().select("trade_id", "price").collect())
        assert [(row["trade_id"], row["price"]) for row in read] == [("secured", 410.5)]

        conf_dump = json.dumps(spark.sparkContext.getConf().getAll()) + json.dumps(
            {key: spark.conf.get(key) for key, _ in spark.sparkContext.getConf().getAll()})
        ui = spark.sparkContext.uiWebUrl
        app = spark.sparkContext.applicationId
        with urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/environment", timeout=30) as response:
            environment = response.read().decode()
        with urllib.request.urlopen(f"{ui}/environment/", timeout=30) as response:
            environment_page = response.read().decode()
        with urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/sql?details=true", timeout=30) as response:
            sql_plans = response.read().decode()
    finally:
        spark.stop()
    assert "spark.cassandra.connection.host" in conf_dump and "spark.cassandra.connection.host" in environment
    for text in (conf_dump, environment, environment_page, sql_plans):
        assert not any(secret in text for secret in secured_services.secrets)
    assert files_containing(secured_services.root / "var" / "logs", secured_services.secrets) == {}


def test_collector_with_a_wrong_password_says_why_in_its_log_and_never_logs_the_password(secured_services,
                                                                                          tmp_path):
    import signal
    import subprocess

    from collector.simulator import SimulatorConfig, SimulatorThread
    from core.retry import wait_until
    from tests.helpers import ROOT
    from tests.helpers_stream import TICKPLANT

    wrong = "wrong-password-3"
    env = {**subprocess.os.environ, **secured_services.env, "KAFKA_SASL_PASSWORD": wrong,
           "TICKPLANT_HOME": str(tmp_path)}
    log_path = tmp_path / "collector.log"
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=200, seed=3, max_trades=500)).start()
    try:
        with log_path.open("ab") as handle:
            collector = subprocess.Popen([TICKPLANT, "collect", "--url", simulator.url, "--metrics-port", "0",
                                          "--symbols", "AAPL", "--spool-dir", str(tmp_path / "spool")],
                                         cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "kafka refused the collector" in log_path.read_text(errors="replace"), 60,
                       what="the collector's refusal line")
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(90)
    finally:
        simulator.stop()
    text = log_path.read_text(errors="replace")
    assert "refused SASL SCRAM-SHA-512 authentication of user 'tickplant'" in text
    assert wrong not in text and not any(secret in text for secret in secured_services.secrets)
