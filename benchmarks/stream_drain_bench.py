"""`tickplant bench stream-drain`: the stream processor alone on a fixed backlog. N trades are
produced to a fresh topic first; then `stream_processor/job.py --once` of a checkout (this one, or
an older export to compare) processes them all; reported: wall time, the Spark JVM's CPU seconds
and CPU µs per trade, which a busy shared machine distorts far less than a wall-clock rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cpu import tree_cpu_seconds
from benchmarks.scratch import scratch_pipeline
from core import kafka as kafka_clients
from core.arguments import positive_int
from core.config import Settings
from core.schemas import HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE, encode_message

SYMBOLS = ("AAPL", "AMZN", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "BINANCE:DOGEUSDT")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DrainBenchOptions:
    trades: int = 300_000
    record_trades: int = 20
    checkout: Path = ROOT
    stream_flags: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DrainBenchOptions:
        return cls(trades=args.trades, record_trades=args.record_trades, checkout=args.checkout or ROOT,
                   stream_flags=tuple(shlex.split(args.stream_flags)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trades", type=positive_int, default=300_000, help="backlog size (default 300000)")
    parser.add_argument("--record-trades", type=positive_int, default=20, help="trades per Kafka record (default 20)")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="the tickplant tree whose stream_processor/job.py runs (default: this one)")
    parser.add_argument("--stream-flags", default="", help="extra flags for job.py")


def _produce(settings: Settings, trades: int, record_trades: int) -> None:
    rng = random.Random(5)
    producer = kafka_clients.producer(settings)
    start_ms = int(time.time() * 1000) - trades // 10  # 10 trades per ms of event time, ending now
    seq = sent = 0
    while sent < trades:
        symbol = SYMBOLS[seq % len(SYMBOLS)]
        count = min(record_trades, trades - sent)
        data = [{"s": symbol, "p": round(rng.uniform(50, 150), 2), "v": round(rng.uniform(0.01, 5), 4),
                 "t": start_ms + (sent + i) // 10, "c": None} for i in range(count)]
        headers = [(HEADER_PRODUCER_ID, b"drain"), (HEADER_SEQUENCE, str(seq).encode()),
                   (HEADER_RECEIVED_AT, str(data[-1]["t"]).encode()), (HEADER_SOURCE, b"bench")]
        producer.send(settings.kafka.topic, key=symbol.encode(), value=encode_message(data), headers=headers)
        seq += 1
        sent += count
    producer.flush(120)
    producer.close()


def measure(settings: Settings, options: DrainBenchOptions) -> dict:
    with scratch_pipeline(settings, "drain") as (settings, session, home):
        name = settings.kafka.topic
        _produce(settings, options.trades, options.record_trades)
        env = {**os.environ, "KAFKA_TOPIC": name, "CASSANDRA_KEYSPACE": name, "TICKPLANT_HOME": str(home),
               "TICKPLANT_STREAM_METRICS_PORT": "0"}
        started = time.monotonic()
        with (home / "stream.log").open("wb") as log:
            job = subprocess.Popen([sys.executable, str(options.checkout / "stream_processor" / "job.py"), "--once",
                                    *options.stream_flags], cwd=options.checkout, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
            cpu = 0.0
            while job.poll() is None:
                cpu = max(cpu, tree_cpu_seconds(job.pid))
                time.sleep(0.5)
        wall = time.monotonic() - started
        stored = sum(session.execute(f"SELECT COUNT(*) AS n FROM {name}.trades WHERE symbol = %s AND trade_date = %s",
                                     (s, day)).one()["n"]
                     for s in SYMBOLS for day in _days(options.trades))
        return {"checkout": str(options.checkout), "trades": options.trades, "record_trades": options.record_trades,
                "exit": job.returncode, "stored_trades": stored, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                "cpu_us_per_trade": round(cpu / options.trades * 1e6, 1),
                "trades_per_cpu_s": round(options.trades / cpu) if cpu else None,
                "load_average": os.getloadavg()[0]}


def _days(trades: int) -> list:
    from cassandra.util import Date

    now = int(time.time() * 1000)
    return sorted({Date((now - trades // 10 - 1000) // 86_400_000), Date(now // 86_400_000)}, key=str)


def run(settings: Settings, args: argparse.Namespace) -> int:
    result = measure(settings, DrainBenchOptions.from_args(args))
    print(json.dumps(result))
    return 0 if result["exit"] == 0 and result["stored_trades"] == result["trades"] else 1
