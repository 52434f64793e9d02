"""Cassandra writes of the stream processor: bulk upserts through the Spark Cassandra Connector,
and the driver-side session (one per process) for `latest_prices`, written `USING TIMESTAMP`
= trade time in microseconds so the newest trade wins whatever the arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType
from pyspark.sql import DataFrame

from core import cassandra as cassandra_db
from core.cassandra import INSERT_TRADE
from core.config import Settings
from core.security import cassandra_connector_options
from stream_processor import rollup

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"
INSERT_LATEST = ("INSERT INTO {keyspace}.latest_prices (symbol, price, volume, trade_timestamp) "
                 "VALUES (?, ?, ?, ?) USING TIMESTAMP ?")

_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Session] = {}


def driver_session(settings: Settings) -> Session:
    """The process's Cassandra session for these settings (created on first use)."""
    key = (settings.cassandra.hosts, settings.cassandra.port, settings.cassandra.username)
    with _lock:
        session = _sessions.get(key)
        if session is None or session.is_shutdown:
            session = cassandra_db.connect(settings)
            _sessions[key] = session
        return session


def close_driver_sessions() -> None:
    with _lock:
        for session in _sessions.values():
            cassandra_db.close(session)
        _sessions.clear()


def upsert(frame: DataFrame, settings: Settings, table: str) -> None:
    """Write every row of `frame` (columns named as the table's) to `table` of CASSANDRA_KEYSPACE;
    INSERT is an upsert by key. Credentials and TLS travel as options of this write only."""
    (frame.write.format(CASSANDRA_FORMAT).mode("append")
     .options(**cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace, table=table).save())


class DriverWrites:
    """Prepared statements of CASSANDRA_KEYSPACE on the process's driver session, prepared once each,
    and executed concurrently for a list of values (the few rows per batch not worth a Spark job)."""

    consistency: Any = None   # the driver's default unless a subclass needs another

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._statements: dict[str, Any] = {}

    def _prepared(self, text: str) -> Any:
        statement = self._statements.get(text)
        if statement is None:
            statement = driver_session(self._settings).prepare(text.format(keyspace=self._settings.cassandra.keyspace))
            if self.consistency is not None:
                statement.consistency_level = self.consistency
            self._statements[text] = statement
        return statement

    def _execute(self, text: str, values: list[tuple]) -> None:
        if values:
            execute_concurrent_with_args(driver_session(self._settings), self._prepared(text), values,
                                         concurrency=32, raise_on_first_error=True)


class LatestPrices(DriverWrites):
    """Upserts the newest trade per symbol of a batch, stamped with the trade's own time."""

    def write(self, newest: Iterable[Any]) -> int:
        # Cassandra takes an int timestamp as epoch ms; the write timestamp is epoch microseconds.
        values = [(row["symbol"], row["price"], row["volume"], row["t_ms"], row["t_ms"] * 1000) for row in newest]
        self._execute(INSERT_LATEST, values)
        return len(values)


# rows per unlogged batch of one partition: ~40 trades rows stay under Cassandra's 5 KiB batch warning
TRADES_PER_BATCH = 40


class TradeWrites(DriverWrites):
    """A small micro-batch's trades through the driver session, as the connector writes them: at
    LOCAL_QUORUM, grouped by partition (symbol, trade_date) into unlogged batches, every batch
    acknowledged before `write` returns (so before the micro-batch commits)."""

    consistency = ConsistencyLevel.LOCAL_QUORUM

    def write(self, trades: list[tuple]) -> int:
        """`trades`: (symbol, trade_date, trade time ms, trade_id, price, volume, conditions, ingest
        time ms, source) tuples. Returns the number of statements sent."""
        statement = self._prepared(INSERT_TRADE)
        partitions: dict[tuple[Any, Any], list[tuple]] = {}
        for values in trades:
            partitions.setdefault((values[0], values[1]), []).append(values)
        batches = []
        for rows in partitions.values():
            for first in range(0, len(rows), TRADES_PER_BATCH):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self.consistency)
                for values in rows[first:first + TRADES_PER_BATCH]:
                    batch.add(statement, values)
                batches.append((batch, None))
        if batches:
            execute_concurrent(driver_session(self._settings), batches, concurrency=32, raise_on_first_error=True)
        return len(batches)


INSERT_WINDOW = ("INSERT INTO {keyspace}.trades_5s (symbol, trade_date, window_start, window_end, trade_count, "
                 "volume, vwap, open, high, low, close) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# A window's totals, aggregated by Cassandra inside the trades' partition: the trades are not shipped
# (a window of a fast feed holds thousands, read back after every batch that touches it).
SELECT_WINDOW_TOTALS = ("SELECT count(*) AS trade_count, sum(volume) AS volume, sum(price * volume) AS notional, "
                        "sum(price) AS price_sum, max(price) AS high, min(price) AS low, "
                        "min(trade_timestamp) AS first_at, max(trade_timestamp) AS last_at FROM {keyspace}.trades "
                        "WHERE symbol = ? AND trade_date = ? AND trade_timestamp >= ? AND trade_timestamp < ?")
# the trades of one millisecond: a window's first or last, ordered in Python by rollup.trade_order
SELECT_TRADES_AT = ("SELECT toUnixTimestamp(trade_timestamp) AS t_ms, trade_id, price FROM {keyspace}.trades "
                    "WHERE symbol = ? AND trade_date = ? AND trade_timestamp = ?")
SELECT_MINUTE = ("SELECT toUnixTimestamp(window_start) AS window_start_ms, trade_count, volume, vwap, open, "
                 "high, low, close FROM {keyspace}.trades_5s "
                 "WHERE symbol = ? AND trade_date = ? AND window_start >= ? AND window_start < ?")
INSERT_BAR = ("INSERT INTO {keyspace}.bars_1m (symbol, trade_date, bar_start, open, high, low, close, volume, "
              "trade_count, vwap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

# (symbol, 5 s window start in epoch ms): a window a batch's trades touched
WindowKey = tuple[str, int]


class WindowStore(DriverWrites):
    """The 5 s windows and 1 min bars a `trades` batch touched (a few rows per symbol), through the
    driver session: each touched window recomputed from its stored trades (one partition, a clustering
    range, aggregated by Cassandra), its row written, and a minute's stored windows read back to roll a
    bar up. Reads and writes at LOCAL_QUORUM, as the connector writes the trades, so a read sees the
    batch's own writes."""

    consistency = ConsistencyLevel.LOCAL_QUORUM

    def windows(self, keys: list[WindowKey], window_ms: int = 5_000) -> list[dict[str, Any]]:
        """The `trades_5s` row of each window in `keys` that holds trades, recomputed from the stored
        trades: its totals aggregated by Cassandra, then the trades of its first and last millisecond
        (for open and close); each of the two rounds reads every window concurrently."""
        session = driver_session(self._settings)
        args = [(symbol, rollup.utc_day(start), start, start + window_ms) for symbol, start in keys]
        totals = [next(iter(result), None) for _, result in execute_concurrent_with_args(
            session, self._prepared(SELECT_WINDOW_TOTALS), args, concurrency=32, raise_on_first_error=True)]
        filled = [(key, day, total) for (key, (_, day, _, _), total) in zip(keys, args, totals, strict=True)
                  if total and total["trade_count"]]
        edge_args = [[(key[0], day, at) for at in dict.fromkeys((total["first_at"], total["last_at"]))]
                     for key, day, total in filled]
        results = iter(execute_concurrent_with_args(session, self._prepared(SELECT_TRADES_AT),
                                                    [a for edge in edge_args for a in edge],
                                                    concurrency=32, raise_on_first_error=True))
        windows = []
        for (key, _, total), edge in zip(filled, edge_args, strict=True):
            edges = [trade for _ in edge for trade in next(results)[1]]
            if (window := rollup.window_from_totals(key[0], key[1], total, edges, window_ms)) is not None:
                windows.append(window)
        return windows

    def write_windows(self, windows: list[dict[str, Any]]) -> None:
        values = [(w["symbol"], w["trade_date"], w["window_start_ms"], w["window_end_ms"], w["trade_count"],
                   w["volume"], w["vwap"], w["open"], w["high"], w["low"], w["close"]) for w in windows]
        self._execute(INSERT_WINDOW, values)

    def minute_windows(self, symbol: str, trade_date: Any, start_ms: int) -> list[dict[str, Any]]:
        return list(driver_session(self._settings).execute(self._prepared(SELECT_MINUTE),
                                                           (symbol, trade_date, start_ms, start_ms + 60_000)))

    def write_bars(self, bars: list[dict[str, Any]]) -> None:
        values = [(b["symbol"], b["trade_date"], b["bar_start"], b["open"], b["high"], b["low"], b["close"],
                   b["volume"], b["trade_count"], b["vwap"]) for b in bars]
        self._execute(INSERT_BAR, values)
