"""A websocket frame over the size limit (1 MiB) goes through the real collector into Kafka split
per symbol: exactly its trades, with their ids, and nothing in the dead-letter topic."""

from __future__ import annotations

import json
import threading

from websockets.sync.server import serve

from collector.encoding import MAX_FRAME_BYTES
from core.retry import wait_until
from tests.helpers_collector import identified, read_topic

SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT")


def _large_frame() -> tuple[bytes, list[dict]]:
    trades = [{"s": symbol, "p": 100.0 + n / 64, "t": 1_764_100_000_000 + n, "v": float(n % 50 + 1),
               "c": ["1", "12", "x" * 40]} for n in range(4000) for symbol in SYMBOLS]
    return json.dumps({"type": "trade", "data": trades}).encode(), trades


def test_a_frame_over_the_size_limit_reaches_kafka_split_per_symbol_with_nothing_dead_lettered(isolated,
                                                                                               tmp_path):
    from collector.client import CollectorOptions
    from tests.helpers_collector import running_collector

    frame, trades = _large_frame()
    assert len(frame) > 2 * MAX_FRAME_BYTES - 100_000

    def source(connection) -> None:
        for _ in SYMBOLS:
            connection.recv()           # the subscriptions
        connection.send(frame.decode())
        connection.recv()               # stay open until the collector goes

    with serve(source, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        options = CollectorOptions(url=url, symbols=SYMBOLS, metrics_port=0, spool_dir=tmp_path / "spool")
        with running_collector(isolated, options) as collector:
            wait_until(lambda: collector.trades == len(trades), 30, what="the large frame read",
                       initial_s=0.05, maximum_s=0.2)
            assert collector.publisher.wait_idle(60)
            assert collector.dead_letters == 0
        server.shutdown()

    records = read_topic(isolated, isolated.kafka.topic)
    assert sorted(r.key.decode() for r in records) == sorted(SYMBOLS)
    got = identified(records)
    producer = records[0].headers["tp-producer-id"]
    for symbol in SYMBOLS:
        expected = [t for t in trades if t["s"] == symbol]
        assert [trade for s, _, trade in got if s == symbol] == expected
        assert [trade_id for s, trade_id, _ in got if s == symbol] == [f"{producer}-1-{i}" for i in range(4000)]
    assert read_topic(isolated, isolated.kafka.dead_letter_topic) == []
