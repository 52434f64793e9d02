"""Out-of-order and late trades: disorder leaves the aggregates exact; trades later than the
watermark land in `trades`, are counted as late, recompute the windows and bars they fall in
(every aggregate equals the raw trades, late ones included), and do not change the latest price."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.helpers_stream import (
    StreamJob,
    assert_tables_match,
    caught_up,
    count_trades,
    day_keys,
    expected_trades,
    metrics_rows,
    produce,
    trade,
    trade_record,
    wait_until,
)


def shuffled_in_blocks(items: list, block: int, rng: random.Random) -> list:
    """Local disorder: each run of `block` items is permuted (here at most ~2 s of event time)."""
    out = []
    for start in range(0, len(items), block):
        chunk = items[start:start + block]
        rng.shuffle(chunk)
        out.extend(chunk)
    return out


def test_late_trades_are_stored_counted_and_recompute_their_windows(isolated, cassandra_session,
                                                                          tmp_path: Path):
    rng = random.Random(11)
    base = (int(time.time() * 1000) - 600_000) // 60_000 * 60_000
    on_time = [trade(symbol, round(rng.uniform(50, 150), 2), round(rng.uniform(0.1, 3), 3), base + i * 250)
               for i in range(301) for symbol in ("AAPL", "MSFT")]  # event time base .. base+75 s
    ordered = shuffled_in_blocks(on_time, 16, rng)
    phase1 = [trade_record(ordered[i:i + 2], seq=i // 2, received_ms=base + 80_000)
              for i in range(0, len(ordered), 2)]
    produce(isolated, phase1, partition=0)
    keyspace = isolated.cassandra.keyspace
    job = StreamJob(isolated, tmp_path, "--trigger", "1 second",
                    "--watermark", "10 seconds")
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the on-time trades", job)
        # watermark is now base+65 s: windows ending at or before it are closed (5 s and 1 min)
        late = [trade("AAPL", 1.0, 100.0, base + 1_000), trade("AAPL", 2.0, 100.0, base + 4_999),
                trade("MSFT", 3.0, 100.0, base + 30_000), trade("MSFT", 4.0, 100.0, base + 59_999),
                trade("AAPL", 5.0, 100.0, base + 55_000)]
        fresh = [trade("AAPL", 120.0, 1.0, base + 80_000), trade("MSFT", 121.0, 2.0, base + 84_000)]
        fresh_record = trade_record(fresh, seq=1001, received_ms=base + 90_000)
        produce(isolated, [fresh_record], partition=0)
        wait_until(lambda: caught_up(isolated, tmp_path), 120, "the fresh trades", job)
        # the late ones arrive after the newest: latest_prices must keep the newest (USING TIMESTAMP)
        phase2 = [trade_record(late[:3], seq=1000, received_ms=base + 90_000), fresh_record,
                  trade_record(late[3:], seq=1002, received_ms=base + 90_000)]
        produce(isolated, [phase2[0], phase2[2]], partition=0)
        everything = expected_trades(phase1 + phase2)
        wait_until(lambda: count_trades(cassandra_session, keyspace, day_keys(everything)) == len(everything)
                   and caught_up(isolated, tmp_path), 120, "the late trades", job)
        wait_until(lambda: sum(m["late_rows"] for m in metrics_rows(cassandra_session, keyspace, "trades")) >= 5,
                   60, "late trades in pipeline_metrics", job)
    finally:
        assert job.stop() == 0
    late_ids = {f"p1-1000-{i}" for i in range(3)} | {f"p1-1002-{i}" for i in range(2)}
    assert everything["trade_id"].isin(late_ids).sum() == 5
    # trades holds all, and every window and bar equals a recomputation from all of them, late included:
    # the late trades' windows had been written before they arrived, so they were recomputed
    assert_tables_match(cassandra_session, keyspace, everything)
    assert sum(m["late_rows"] for m in metrics_rows(cassandra_session, keyspace, "trades")) == 5
    for query in ("trades_5s", "bars_1m"):  # no aggregate drops a late trade
        assert sum(m["late_rows"] for m in metrics_rows(cassandra_session, keyspace, query)) == 0, query
