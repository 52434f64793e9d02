"""Health of every part for `tickplant status`: services, Kafka offsets, stream progress, rows today.

Every Cassandra read names a partition key (symbol and day), so status never scans a table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings
from core.errors import TickplantError
from tickplant import services as runtime

DAY_TABLES = ("trades", "trades_5s", "bars_1m")


def kafka_offsets(settings: Settings) -> dict[str, Any]:
    """Per topic: partitions with beginning/end offsets and the total number of retained records."""
    consumer = kafka_clients.consumer(settings, request_timeout_ms=15_000)
    try:
        report = {}
        for topic in (settings.kafka_topic, settings.dead_letter_topic):
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            ends = consumer.end_offsets(tps) if tps else {}
            starts = consumer.beginning_offsets(tps) if tps else {}
            report[topic] = {
                "partitions": {str(tp.partition): {"start": starts[tp], "end": ends[tp]} for tp in tps},
                "records": sum(ends[tp] - starts[tp] for tp in tps),
                "end_offsets_total": sum(ends.values()),
            }
        return report
    finally:
        consumer.close()


def rows_today(settings: Settings, day: datetime | None = None) -> dict[str, Any]:
    """Rows of today's partitions per table (summed over the configured symbols) and the last batches."""
    day_value = (day or datetime.now(UTC)).date()
    session = cassandra_db.connect(settings, timeout_s=15)
    ks = settings.cassandra_keyspace
    try:
        counts: dict[str, Any] = {}
        for table in DAY_TABLES:
            statement = session.prepare(f"SELECT COUNT(*) AS n FROM {ks}.{table} WHERE symbol = ? AND trade_date = ?")
            counts[table] = sum(session.execute(statement, (symbol, day_value)).one()["n"]
                                for symbol in settings.symbols)
        latest = session.prepare(f"SELECT price, trade_timestamp FROM {ks}.latest_prices WHERE symbol = ?")
        counts["latest_prices"] = {symbol: _row(session.execute(latest, (symbol,)).one())
                                   for symbol in settings.symbols}
        dead = session.prepare(f"SELECT COUNT(*) AS n FROM {ks}.dead_letters WHERE day = ?")
        counts["dead_letters"] = session.execute(dead, (day_value,)).one()["n"]
        return {"day": day_value.isoformat(), "rows": counts}
    finally:
        cassandra_db.close(session)


def last_batches(settings: Settings, query_names: list[str], day: datetime | None = None) -> dict[str, Any]:
    day_value = (day or datetime.now(UTC)).date()
    session = cassandra_db.connect(settings, timeout_s=15)
    ks = settings.cassandra_keyspace
    try:
        statement = session.prepare(f"SELECT batch_time, input_rows, duration_ms FROM {ks}.pipeline_metrics "
                                    "WHERE query_name = ? AND day = ? LIMIT 1")
        return {name: _row(session.execute(statement, (name, day_value)).one()) for name in query_names}
    finally:
        cassandra_db.close(session)


def _row(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def collect(settings: Settings) -> dict[str, Any]:
    """Everything `tickplant status` shows; a part that cannot be reached reports its error."""
    report: dict[str, Any] = {"services": [s.as_dict() for s in runtime.status_all(settings)]}
    try:  # the SQL engine and Superset, once `--sql` was used (or PRESTO_URL is set)
        from tickplant.sql_services import status_sql_if_used
        report["services"] += [s.as_dict() for s in status_sql_if_used(settings)]
    except TickplantError as exc:
        report["services"].append({"name": "sql", "state": "error", "address": str(exc)})
    for key, probe in (("kafka", lambda: kafka_offsets(settings)), ("cassandra", lambda: rows_today(settings))):
        try:
            report[key] = probe()
        except TickplantError as exc:
            report[key] = {"error": str(exc)}
        except Exception as exc:  # status must report, never crash
            report[key] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        from stream_processor.status import stream_status
        topic = report["kafka"].get(settings.kafka_topic)
        ends = {int(p): o["end"] for p, o in topic["partitions"].items()} if topic else None
        queries = stream_status(settings, end_offsets=ends)
        report["stream"] = {"queries": queries,
                            "last_batches": last_batches(settings, [q["query"] for q in queries])}
    except ImportError:
        report["stream"] = {"error": "stream processor not installed"}
    except Exception as exc:
        report["stream"] = {"error": f"{type(exc).__name__}: {exc}"}
    return report
