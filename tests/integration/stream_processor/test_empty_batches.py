"""An empty micro-batch, or one holding only refused records, is a normal batch: the job started on
an empty topic commits its empty first batches, keeps running and then processes what arrives;
refused records write only dead letters."""

from __future__ import annotations

import time
from pathlib import Path

from cassandra.util import Date

from tests.helpers_stream import (
    Record,
    StreamJob,
    assert_tables_match,
    caught_up,
    count_trades,
    day_keys,
    expected_trades,
    produce,
    read_partitioned,
    status_of,
    synthetic_records,
    trade,
    trade_record,
    wait_until,
)

FLAGS = ("--trigger", "1 second")


def _batches_committed(settings, home: Path) -> dict[str, int | None]:
    return {row["query"]: row["committed_batch"] for row in status_of(settings, home)}


def test_job_started_on_an_empty_topic_commits_empty_batches_keeps_running_then_processes_what_arrives(
        isolated, cassandra_session, tmp_path: Path):
    job = StreamJob(isolated, tmp_path, *FLAGS)
    try:
        # the first batch of each query reads the empty topic: it runs, reads nothing and commits
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "an empty batch committed by every query", job)
        assert set(_batches_committed(isolated, tmp_path).values()) == {0}, "more than the empty first batch ran"
        assert count_trades(cassandra_session, isolated.cassandra.keyspace,
                            {("AAPL", Date(int(time.time() // 86_400)))}) == 0
        records = synthetic_records(["AAPL", "MSFT"], 40, int(time.time() * 1000) - 120_000, seed=11)
        produce(isolated, records)
        # the next batch of each query reads the records: the job outlived its empty batches
        wait_until(lambda: caught_up(isolated, tmp_path)
                   and all(batch >= 1 for batch in _batches_committed(isolated, tmp_path).values()),
                   180, "the records produced after the empty batches", job)
        assert job.alive()
    finally:
        assert job.stop() == 0
    assert_tables_match(cassandra_session, isolated.cassandra.keyspace, expected_trades(records))


def test_a_batch_of_only_refused_records_writes_only_dead_letters(isolated, cassandra_session, tmp_path: Path):
    now = int(time.time() * 1000)
    garbage = Record(key=b"AAPL", value=b"\x00\xffnot avro at all")
    refused = trade_record([trade("AAPL", -1.0, 1.0, now - 5_000), trade("MSFT", 10.0, -2.0, now - 5_000)],
                           producer_id="p9", seq=1, received_ms=now - 4_990)
    produce(isolated, [garbage, refused], partition=0)
    job = StreamJob(isolated, tmp_path, *FLAGS)
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the refused records", job)
        assert job.alive(), job.tail()
    finally:
        assert job.stop() == 0
    ks = isolated.cassandra.keyspace
    statement = cassandra_session.prepare(f"SELECT id, reason FROM {ks}.dead_letters WHERE day = ?")
    days = {Date(int(now // 86_400_000)), Date(int((now - 5_000) // 86_400_000))}
    dead = {row["id"]: row["reason"] for day in days for row in cassandra_session.execute(statement, (day,))}
    assert dead == {"0-0-AAPL": "undecodable Avro record",
                    "p9-1-AAPL-0": "trade 0: non-positive or non-finite price",
                    "p9-1-AAPL-1": "trade 1: negative or non-finite volume"}
    keys = day_keys(expected_trades([refused]))
    for table in ("trades", "trades_5s", "bars_1m"):
        assert read_partitioned(cassandra_session, table, ks, keys) == [], f"{table} has rows"
    assert list(cassandra_session.execute(f"SELECT * FROM {ks}.latest_prices")) == []
