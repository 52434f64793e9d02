"""Exact aggregates against the real Kafka, Spark and Cassandra when records arrive twice (a
producer retry, a journal resend, `tickplant replay` into the live topic), when a trade carries a
bad clock, and when trades share a millisecond across sequence numbers 9 and 10."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd
from cassandra.util import Date

from collector.archive import ArchiveWriter
from collector.encoding import FrameContext
from tests.helpers_stream import (
    TICKPLANT,
    StreamJob,
    assert_tables_match,
    caught_up,
    day_keys,
    expected_trades,
    produce,
    read_partitioned,
    status_of,
    synthetic_records,
    to_ms,
    trade,
    trade_record,
    wait_until,
)

SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]
FAST = ("--trigger", "1 second")


def write_archive(directory: Path, start_ms: int, frames: int) -> pd.DataFrame:
    """A collector archive of `frames` Finnhub frames (two symbols each, producer `arch`) and the
    trades a replay of it must add, with the ids the stream processor derives."""
    writer = ArchiveWriter(directory, "arch")
    rows = []
    t = start_ms
    for seq in range(frames):
        data = []
        for symbol in ("AAPL", "MSFT"):
            for _ in range(2):
                t += 23
                data.append({"s": symbol, "p": round(100 + (seq % 17) * 0.25 + len(data) * 0.01, 2),
                             "v": round(0.5 + seq % 5, 2), "t": t, "c": None})
        writer.write(FrameContext("arch", seq, t + 5, "replay-test"), json.dumps({"type": "trade", "data": data})
                     .encode())
        for symbol in ("AAPL", "MSFT"):
            mine = [item for item in data if item["s"] == symbol]
            rows.extend({"symbol": symbol, "trade_id": f"arch-{seq}-{index}", "price": item["p"],
                         "volume": item["v"], "t_ms": item["t"]} for index, item in enumerate(mine))
    writer.close()
    return pd.DataFrame(rows)


def replay(settings, paths: list[Path], home: Path) -> None:
    env = {**os.environ, "KAFKA_TOPIC": settings.kafka.topic, "TICKPLANT_HOME": str(home),
           "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.servers}
    result = subprocess.run([TICKPLANT, "replay", "--fast", *map(str, paths)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _committed(settings, home: Path) -> dict[str, int]:
    """Per query, the newest batch its checkpoint has committed."""
    return {row["query"]: row["committed_batch"] for row in status_of(settings, home)}


def test_records_delivered_twice_and_a_replay_into_the_live_topic_leave_every_table_exact(
        isolated, cassandra_session, tmp_path: Path):
    now = int(time.time() * 1000)
    # TSLA is not among the job's symbols (TICKPLANT_SYMBOLS): its batches take the grouped summary pass
    records = synthetic_records([*SYMBOLS, "TSLA"], 300, now - 120_000, seed=11)
    archive = write_archive(tmp_path / "archive", records[-1].trades[-1]["t"] + 1, 120)
    paths = sorted((tmp_path / "archive").glob("*.jsonl.gz"))
    # Before the job starts: every record, then a third of them again (duplicates inside one batch),
    # then the archive replayed into the live topic.
    produce(isolated, [*records, *records[:100]])
    replay(isolated, paths, tmp_path / "replay-home")
    job = StreamJob(isolated, tmp_path, *FAST)
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the first copies", job)
        first = _committed(isolated, tmp_path)
        # While it runs: every record again and the archive again. The archive's newest trades are
        # within the watermark, so their second copies meet the dedup state, not only the late rule.
        produce(isolated, records)
        replay(isolated, paths, tmp_path / "replay-home")
        # every query has run a batch since (it read the second copies) and has caught up again
        wait_until(lambda: caught_up(isolated, tmp_path)
                   and all(batch > first[query] for query, batch in _committed(isolated, tmp_path).items()),
                   180, "the second copies", job)
    finally:
        assert job.stop() == 0, job.tail()
    distinct = pd.concat([expected_trades(records), archive], ignore_index=True)
    assert len(distinct) == 900 + 480
    assert not distinct.duplicated(["symbol", "trade_id"]).any()
    assert_tables_match(cassandra_session, isolated.cassandra.keyspace, distinct)


def test_far_future_trade_is_dead_lettered_and_later_windows_and_latest_prices_keep_moving(
        isolated, cassandra_session, tmp_path: Path):
    keyspace = isolated.cassandra.keyspace
    now = int(time.time() * 1000)
    first = synthetic_records(SYMBOLS, 60, now - 90_000, seed=21)
    received = first[-1].trades[-1]["t"] + 10
    # An hour ahead of its receive time: within the old one-day bound, beyond the 5 s tolerance.
    bad_clock = trade_record([trade("AAPL", 101.0, 1.0, received - 5), trade("AAPL", 555.0, 7.0, received + 3_600_000),
                              trade("AAPL", 102.0, 2.0, received - 4)], producer_id="clock", seq=1,
                             received_ms=received)
    # Same millisecond, sequence numbers 9 and 10 ("…-10-0" sorts before "…-9-0" as text).
    tie_ms = received + 1
    tie = [trade_record([trade("ZTIE", 9.0, 1.0, tie_ms)], producer_id="tie", seq=9, received_ms=tie_ms),
           trade_record([trade("ZTIE", 10.0, 1.0, tie_ms)], producer_id="tie", seq=10, received_ms=tie_ms)]
    produce(isolated, [*first, bad_clock, *reversed(tie)])
    job = StreamJob(isolated, tmp_path, *FAST)
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the first wave", job)
        latest_before = {r["symbol"]: to_ms(r["trade_timestamp"])
                         for r in cassandra_session.execute(f"SELECT * FROM {keyspace}.latest_prices")}
        second = synthetic_records(SYMBOLS, 60, received + 20_000, seed=22, first_seq=100)
        produce(isolated, second)
        wait_until(lambda: caught_up(isolated, tmp_path), 120, "the second wave", job)
    finally:
        assert job.stop() == 0, job.tail()
    good = expected_trades([*first, *second, *tie])
    good = pd.concat([good, expected_trades([bad_clock]).iloc[[0, 2]]], ignore_index=True)
    assert_tables_match(cassandra_session, keyspace, good)
    assert latest_before["AAPL"] < received  # the bad stamp never pinned latest_prices
    latest = {r["symbol"]: r for r in cassandra_session.execute(f"SELECT * FROM {keyspace}.latest_prices")}
    assert to_ms(latest["AAPL"]["trade_timestamp"]) == int(good.loc[good["symbol"] == "AAPL", "t_ms"].max())
    assert to_ms(latest["AAPL"]["trade_timestamp"]) > latest_before["AAPL"]
    # later windows than the bad stamp's receive time exist (the watermark did not jump an hour)
    windows = read_partitioned(cassandra_session, "trades_5s", keyspace, day_keys(good))
    assert max(to_ms(w["window_end"]) for w in windows) > received + 20_000
    (tie_window,) = [w for w in windows if w["symbol"] == "ZTIE"]
    assert (tie_window["open"], tie_window["close"], tie_window["trade_count"]) == (9.0, 10.0, 2)
    statement = cassandra_session.prepare(f"SELECT * FROM {keyspace}.dead_letters WHERE day = ?")
    dead = [row for day in {Date(int(received // 86_400_000)), Date(int(time.time() // 86_400))}
            for row in cassandra_session.execute(statement, (day,))]
    assert [(d["id"], d["reason"]) for d in dead] == [
        ("clock-1-AAPL-1", "trade 1: timestamp 3600000 ms after its receive time (limit 5000 ms)")]
