"""The whole pipeline: seeded simulator -> collector -> Kafka -> `tickplant stream` -> Cassandra,
checked exactly against the simulator's report and a recomputation from the raw records."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
from cassandra.util import Date

from collector.simulator import SimulatorConfig
from core.schemas import HEADER_FRAMES, HEADER_PRODUCER_ID, HEADER_SEQUENCE
from tests.helpers_collector import ProducedRecord, read_topic
from tests.helpers_stream import (
    StreamJob,
    assert_tables_match,
    caught_up,
    count_trades,
    day_keys,
    frame_positions,
    read_partitioned,
    wait_until,
)

# named as Finnhub names them: a forex venue with a space and an underscore pair among them
SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "OANDA:EUR_USD", "IC MARKETS:1")


def raw_trades(records: list[ProducedRecord]) -> pd.DataFrame:
    """Every trade on the topic with the id the stream processor must derive from its headers
    (a record combining several frames names each trade's own frame in tp-frames)."""
    rows = []
    for record in records:
        trades = record.trades()
        positions = frame_positions(record.headers[HEADER_SEQUENCE], record.headers.get(HEADER_FRAMES), len(trades))
        for item, (seq, index) in zip(trades, positions, strict=True):
            rows.append({"symbol": item["s"], "trade_id": f"{record.headers[HEADER_PRODUCER_ID]}-{seq}-{index}",
                         "price": item["p"], "volume": item["v"], "t_ms": item["t"]})
    return pd.DataFrame(rows)


def test_simulated_trades_reach_cassandra_exactly_as_the_simulator_reports(isolated, cassandra_session, feed,
                                                                           tmp_path: Path):
    job = StreamJob(isolated, tmp_path, "--trigger", "1 second")
    try:
        with feed(SimulatorConfig(port=0, rate=3000, seed=21, max_trades=12_000, frame_trades=50),
                  symbols=SYMBOLS) as running:
            report = running.finish(60)
        sent = raw_trades(read_topic(isolated, isolated.kafka.topic))
        assert len(sent) == report["trades"] == 12_000
        keyspace = isolated.cassandra.keyspace
        wait_until(lambda: count_trades(cassandra_session, keyspace, day_keys(sent)) == len(sent)
                   and caught_up(isolated, tmp_path), 180, "every simulated trade in Cassandra", job)
    finally:
        assert job.stop() == 0
    stored = pd.DataFrame(read_partitioned(cassandra_session, "trades", keyspace, day_keys(sent)))
    for symbol, expected in report["symbols"].items():
        volumes = stored.loc[stored["symbol"] == symbol, "volume"]
        assert len(volumes) == expected["trades"], symbol
        assert math.isclose(math.fsum(volumes), expected["volume"], rel_tol=1e-12), symbol
    assert set(stored["source"]) == {"simulator"}
    assert_tables_match(cassandra_session, keyspace, sent)
    today = Date(int(time.time() // 86_400))
    dead = cassandra_session.execute(
        cassandra_session.prepare(f"SELECT COUNT(*) AS n FROM {keyspace}.dead_letters WHERE day = ?"), (today,))
    assert dead.one()["n"] == 0
