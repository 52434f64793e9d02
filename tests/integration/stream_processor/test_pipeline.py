"""`tickplant stream` against the real Kafka, Spark and Cassandra: every trade and aggregate lands
exactly; SIGTERM stops cleanly; kill -9 mid-stream and a restart lose and duplicate nothing."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd

from tests.helpers_stream import (
    StreamJob,
    assert_tables_match,
    caught_up,
    count_trades,
    day_keys,
    expected_trades,
    metrics_rows,
    produce,
    synthetic_records,
    wait_until,
)

SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
FAST = ("--trigger", "1 second")


def test_every_trade_and_aggregate_lands_exactly_and_sigterm_stops_cleanly(isolated, cassandra_session,
                                                                          tmp_path: Path):
    start_ms = int(time.time() * 1000) - 600_000
    first = synthetic_records(SYMBOLS, 400, start_ms, seed=1)
    produce(isolated, first)
    job = StreamJob(isolated, tmp_path, *FAST)
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the backlog to be committed", job)
        # a second wave while the job runs: streaming, not only a backlog
        second = synthetic_records(SYMBOLS, 300, first[-1].trades[-1]["t"] + 1, seed=2, first_seq=400)
        produce(isolated, second)
        sent = expected_trades(first + second)
        wait_until(lambda: count_trades(cassandra_session, isolated.cassandra.keyspace, day_keys(sent)) == len(sent)
                   and caught_up(isolated, tmp_path), 120, "the second wave", job)
    finally:
        code = job.stop()
    assert code == 0, job.tail()
    assert "stream processor stopped" in job.tail(80)
    assert_tables_match(cassandra_session, isolated.cassandra.keyspace, sent)
    for query in ("trades", "trades_5s", "bars_1m"):
        metrics = metrics_rows(cassandra_session, isolated.cassandra.keyspace, query)
        assert sum(m["input_rows"] for m in metrics) >= 700, f"{query}: {metrics[:3]}"
    trade_metrics = metrics_rows(cassandra_session, isolated.cassandra.keyspace, "trades")
    assert all(m["latency_p99_ms"] is not None and m["receive_latency_p50_ms"] is not None
               for m in trade_metrics if m["input_rows"])
    assert sum(m["late_rows"] for m in trade_metrics) == 0


def test_kill_9_mid_stream_and_restart_write_no_loss_and_no_duplicate(isolated, cassandra_session, tmp_path: Path):
    start_ms = int(time.time() * 1000) - 900_000
    first = synthetic_records(SYMBOLS, 1500, start_ms, seed=3)
    produce(isolated, first)
    keyspace = isolated.cassandra.keyspace
    first_trades = expected_trades(first)
    keys = day_keys(first_trades)
    job = StreamJob(isolated, tmp_path, *FAST, "--max-offsets-per-trigger", "60", log_name="run1.log")
    try:
        # the first batches are estimated large (the connector writes them), the next ones from their
        # trades per record are small (the driver writes them): kill once both paths have run
        wait_until(lambda: "path=driver" in job.log_path.read_text(errors="replace"), 180,
                   "a batch written by the driver", job, interval_s=0.3)
    finally:
        job.kill()
    written_at_kill = count_trades(cassandra_session, keyspace, keys)
    assert 0 < written_at_kill < len(first_trades), "the kill did not land mid-stream"
    paths = set(re.findall(r"query=trades .* path=(\w+)", job.log_path.read_text(errors="replace")))
    assert paths == {"connector", "driver"}, job.tail()
    second = synthetic_records(SYMBOLS, 300, first[-1].trades[-1]["t"] + 1, seed=4, first_seq=1500)
    produce(isolated, second)
    sent = pd.concat([first_trades, expected_trades(second)], ignore_index=True)
    job = StreamJob(isolated, tmp_path, *FAST, "--max-offsets-per-trigger", "500", log_name="run2.log")
    try:
        wait_until(lambda: count_trades(cassandra_session, keyspace, day_keys(sent)) == len(sent)
                   and caught_up(isolated, tmp_path), 240, "everything after the restart", job)
    finally:
        assert job.stop() == 0, job.tail()
    assert_tables_match(cassandra_session, keyspace, sent)
