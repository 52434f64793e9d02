"""Cassandra writes of the stream processor: bulk upserts through the Spark Cassandra Connector,
and the driver-side session (one per process) for `latest_prices`, written `USING TIMESTAMP`
= trade time in microseconds so the newest trade wins whatever the arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import DataFrame

from core import cassandra as cassandra_db
from core.config import Settings
from core.security import cassandra_connector_options

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"
INSERT_LATEST = ("INSERT INTO {keyspace}.latest_prices (symbol, price, volume, trade_timestamp) "
                 "VALUES (?, ?, ?, ?) USING TIMESTAMP ?")

_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Session] = {}


def driver_session(settings: Settings) -> Session:
    """The process's Cassandra session for these settings (created on first use)."""
    key = (settings.cassandra_hosts, settings.cassandra_port, settings.cassandra_username)
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
     .options(**cassandra_connector_options(settings), keyspace=settings.cassandra_keyspace, table=table).save())


class LatestPrices:
    """Upserts the newest trade per symbol of a batch, stamped with the trade's own time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._insert: Any = None

    def write(self, newest: Iterable[Any]) -> int:
        session = driver_session(self._settings)
        if self._insert is None:
            self._insert = session.prepare(INSERT_LATEST.format(keyspace=self._settings.cassandra_keyspace))
        # Cassandra takes an int timestamp as epoch ms; the write timestamp is epoch microseconds.
        values = [(row["symbol"], row["price"], row["volume"], row["t_ms"], row["t_ms"] * 1000) for row in newest]
        if values:
            execute_concurrent_with_args(session, self._insert, values, concurrency=32, raise_on_first_error=True)
        return len(values)
