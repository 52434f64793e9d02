"""Health of every part for `tickplant status`: services, Kafka offsets, stream progress, rows today.

Every Cassandra read names a partition key (symbol and day), so status never scans a table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings
from core.errors import TickplantError
from core.stream_status import stream_status
from tickplant.runtime import stack

WINDOWS_PER_DAY_BOUND = 17_280  # 5-second windows in a day: the most a trades_5s partition holds


def kafka_offsets(settings: Settings) -> dict[str, Any]:
    """Per topic: partitions with beginning/end offsets and the total number of retained records."""
    report = {}
    for topic in (settings.kafka.topic, settings.kafka.dead_letter_topic):
        offsets = kafka_clients.topic_offsets(settings, topic, timeout_s=15)
        report[topic] = {
            "partitions": {str(p): {"start": start, "end": end} for p, (start, end) in offsets.items()},
            "records": sum(end - start for start, end in offsets.values()),
            "end_offsets_total": sum(end for _, end in offsets.values()),
        }
    return report


def rows_today(settings: Settings, day: datetime | None = None) -> dict[str, Any]:
    """Today's rows, read without counting whole partitions: trades written and records refused as
    the sums of the stream processor's per-batch figures in pipeline_metrics (one small partition
    per query and day), the windows of trades_5s and bars_1m (at most 17,280 and 1,440 per symbol
    and day) by key, and the newest price per symbol."""
    day_value = (day or datetime.now(UTC)).date()
    session = cassandra_db.connect(settings, timeout_s=15)
    ks = settings.cassandra.keyspace
    try:
        batches = session.prepare(f"SELECT valid_rows, refused_rows FROM {ks}.pipeline_metrics "
                                  "WHERE query_name = ? AND day = ?")
        written = list(session.execute(batches, ("trades", day_value)))
        counts: dict[str, Any] = {"trades": sum(row["valid_rows"] or 0 for row in written)}
        for table, key in (("trades_5s", "window_start"), ("bars_1m", "bar_start")):
            windows = session.prepare(f"SELECT {key} FROM {ks}.{table} WHERE symbol = ? AND trade_date = ? "
                                      f"LIMIT {WINDOWS_PER_DAY_BOUND}")
            counts[table] = sum(len(list(session.execute(windows, (symbol, day_value))))
                                for symbol in settings.feed.symbols)
        latest = session.prepare(f"SELECT price, trade_timestamp FROM {ks}.latest_prices WHERE symbol = ?")
        counts["latest_prices"] = {symbol: _row(session.execute(latest, (symbol,)).one())
                                   for symbol in settings.feed.symbols}
        counts["dead_letters"] = sum(row["refused_rows"] or 0 for row in written)
        return {"day": day_value.isoformat(), "rows": counts}
    finally:
        cassandra_db.close(session)


def last_batches(settings: Settings, query_names: list[str], day: datetime | None = None) -> dict[str, Any]:
    day_value = (day or datetime.now(UTC)).date()
    session = cassandra_db.connect(settings, timeout_s=15)
    ks = settings.cassandra.keyspace
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
    report: dict[str, Any] = {"services": [s.as_dict() for s in stack.status_all(settings)]}
    try:  # the SQL engine and Superset, once `--sql` was used (or PRESTO_URL is set)
        report["services"] += [s.as_dict() for s in stack.status_sql_if_used(settings)]
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
        topic = report["kafka"].get(settings.kafka.topic)
        ends = {int(p): o["end"] for p, o in topic["partitions"].items()} if topic else None
        queries = stream_status(settings, end_offsets=ends)
        report["stream"] = {"queries": queries,
                            "last_batches": last_batches(settings, [q["query"] for q in queries])}
    except Exception as exc:
        report["stream"] = {"error": f"{type(exc).__name__}: {exc}"}
    return report
