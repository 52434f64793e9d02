"""The foundation against the real servers: Kafka and Avro, Cassandra rows, migrations, topics."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kafka.admin import ConfigResource, ConfigResourceType

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.schemas import decode_message, encode_message, migrations
from tests.helpers import record_at
from tickplant.runtime import stack as runtime


def test_trade_message_round_trips_through_kafka_as_avro(isolated):
    message = {"type": "trade", "data": [
        {"c": ["1", "12"], "p": 187.3, "s": "AAPL", "t": 1700000000123, "v": 100.0},
        {"c": None, "p": 187.31, "s": "AAPL", "t": 1700000000999, "v": 5.0},
    ]}
    producer = kafka_clients.producer(isolated)
    metadata = producer.send(isolated.kafka.topic, key=b"AAPL", value=encode_message(message["data"]),
                             headers=[("tp-seq", b"1")]).get(timeout=30)
    producer.close()
    record = record_at(isolated, isolated.kafka.topic, metadata.partition, metadata.offset)
    assert record.key == b"AAPL"
    assert decode_message(record.value) == message
    assert record.headers == [("tp-seq", b"1")]


def test_trade_row_round_trips_through_cassandra_with_prepared_statements(isolated, cassandra_session):
    insert = cassandra_session.prepare(
        "INSERT INTO trades (symbol, trade_date, trade_timestamp, trade_id, price, volume, trade_conditions, "
        "ingest_timestamp, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    traded = datetime(2026, 11, 20, 14, 30, 0, 123000, tzinfo=UTC)
    cassandra_session.execute(insert, ("AAPL", date(2026, 11, 20), traded, "p1-7-0", 187.3, 100.0, ["1", "12"],
                                       traded, "simulator"))
    select = cassandra_session.prepare("SELECT * FROM trades WHERE symbol = ? AND trade_date = ?")
    rows = list(cassandra_session.execute(select, ("AAPL", date(2026, 11, 20))))
    assert len(rows) == 1
    row = rows[0]
    assert (row["trade_id"], row["price"], row["volume"], row["trade_conditions"], row["source"]) == (
        "p1-7-0", 187.3, 100.0, ["1", "12"], "simulator")
    assert row["trade_timestamp"].replace(tzinfo=UTC) == traded


def _schema_snapshot(session, keyspace: str) -> list[tuple]:
    tables = session.prepare("SELECT table_name, column_name, type, kind FROM system_schema.columns "
                             "WHERE keyspace_name = ?")
    return sorted((r["table_name"], r["column_name"], r["type"], r["kind"])
                  for r in session.execute(tables, (keyspace,)))


def test_migrations_applied_twice_change_nothing_the_second_time(isolated, cassandra_session):
    before = _schema_snapshot(cassandra_session, isolated.cassandra.keyspace)
    recorded = list(cassandra_session.execute("SELECT version, name, checksum, applied_at FROM schema_migrations"))
    assert cassandra_db.apply_migrations(cassandra_session, isolated) == []
    assert _schema_snapshot(cassandra_session, isolated.cassandra.keyspace) == before
    assert list(cassandra_session.execute("SELECT version, name, checksum, applied_at FROM schema_migrations")) \
        == recorded
    assert sorted(r["name"] for r in recorded) == [m.name for m in migrations(isolated.cassandra.keyspace, "{}")]
    assert {t for t, *_ in before} >= {"trades", "trades_5s", "bars_1m", "latest_prices", "dead_letters",
                                        "pipeline_metrics", "gbm_runs", "gbm_forecasts", "schema_migrations"}


def test_topics_are_created_with_the_declared_settings(isolated):
    client = kafka_clients.admin(isolated)
    try:
        described = {t["topic"]: t for t in client.describe_topics([isolated.kafka.topic,
                                                                    isolated.kafka.dead_letter_topic])}
        configs = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, isolated.kafka.topic)])
    finally:
        client.close()
    assert len(described[isolated.kafka.topic]["partitions"]) == 3
    assert len(described[isolated.kafka.dead_letter_topic]["partitions"]) == 1
    entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
    assert entries["retention.ms"] == "604800000" and entries["cleanup.policy"] == "delete"
    assert kafka_clients.ensure_topics(isolated) == []


def test_status_reports_both_services_up_with_pid_and_version(services):
    statuses = {s.name: s for s in runtime.status_all(services)}
    assert statuses["kafka"].state == "up" and statuses["cassandra"].state == "up"
    assert statuses["kafka"].version == "3.9.2" and statuses["cassandra"].version.startswith("5.0.")
    assert statuses["kafka"].address == "127.0.0.1:9092" and statuses["cassandra"].address == "127.0.0.1:9042"
    assert statuses["kafka"].pid and statuses["cassandra"].pid
