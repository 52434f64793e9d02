"""`tickplant bench e2e`: simulator -> collector -> Kafka -> Spark (`tickplant stream`) -> Cassandra.
For each offered rate: does the stream job keep up (lag bounded, backlog drains), and the latency
from the collector's receive time (header) to the row's write in Cassandra (WRITETIME), p50/p99.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.scratch import scratch_pipeline
from core import kafka as kafka_clients
from core.arguments import non_negative_float, positive_float, positive_int
from core.checkpoints import STREAMING_QUERIES
from core.config import Settings
from core.retry import wait_until
from core.schemas import (
    HEADER_FRAMES,
    HEADER_PRODUCER_ID,
    HEADER_RECEIVED_AT,
    HEADER_SEQUENCE,
    HEADER_SOURCE,
    encode_message,
)

SYMBOLS = ("AAPL", "AMZN", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "BINANCE:DOGEUSDT")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class E2eBenchOptions:
    rates: tuple[float, ...] = (5000.0,)
    duration: float = 30.0
    warmup: float = 60.0
    source: str = "collector"                # collector | direct
    frame_trades: int = 200
    drain_timeout: float = 120.0
    stream_flags: tuple[str, ...] = ()
    against: tuple[Path, ...] = ()
    rounds: int = 1
    keep: bool = False
    json: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> E2eBenchOptions:
        return cls(rates=args.rate, duration=args.duration, warmup=args.warmup, source=args.source,
                   frame_trades=args.frame_trades,
                   drain_timeout=args.drain_timeout, stream_flags=tuple(shlex.split(args.stream_flags)),
                   against=tuple(path.resolve() for path in args.against), rounds=args.rounds,
                   keep=args.keep, json=args.json)


def rate_list(text: str) -> tuple[float, ...]:
    """`5000,20000` -> (5000.0, 20000.0): the offered rates of a ramp."""
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of trades/s") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: rates must be positive")
    return rates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=rate_list, default=(5000.0,),
                        help="offered trades/s; comma-separated for a ramp (5000,20000)")
    parser.add_argument("--duration", type=positive_float, default=30.0, help="seconds of load per rate (default 30)")
    parser.add_argument("--warmup", type=non_negative_float, default=60.0,
                        help="seconds of load at the first rate before measuring, not counted: the stream job's "
                        "JIT compiles for its first minute or two (default 60; 0: a 1 s burst only)")
    parser.add_argument("--source", choices=("collector", "direct"), default="collector",
                        help="collector: simulator + collector (default); direct: Avro records produced here")
    parser.add_argument("--frame-trades", type=positive_int, default=200, help="trades per websocket frame at most")
    parser.add_argument("--drain-timeout", type=positive_float, default=120.0, help="seconds to wait for the backlog")
    parser.add_argument("--stream-flags", default="", help="extra flags for `tickplant stream`, e.g. '--trigger 0.5s'")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another tickplant checkout whose stream job runs the same steps, alternated "
                             "(repeatable)")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="times the runs repeat, alternating the checkouts (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the bench topic, keyspace and logs")
    parser.add_argument("--json", type=Path, help="also write the results here")


def direct_load(settings: Settings, rate: float, duration: float, frame_trades: int, producer_id: str) -> None:
    """Finnhub-like frames at `rate` trades/s: one Avro record per symbol per frame, collector headers."""
    import random

    rng = random.Random(7)
    producer = kafka_clients.producer(settings)
    started, sent, seq = time.monotonic(), 0, 0
    while (elapsed := time.monotonic() - started) < duration:
        due = int(rate * elapsed) - sent
        if due <= 0:
            time.sleep(0.005)
            continue
        for _ in range(0, due, frame_trades):
            count = min(frame_trades, due)
            now_ms = int(time.time() * 1000)
            frame: dict[str, list[dict]] = {}
            for _ in range(count):
                symbol = SYMBOLS[rng.randrange(len(SYMBOLS))]
                frame.setdefault(symbol, []).append({"s": symbol, "p": round(rng.uniform(50, 150), 2),
                                                     "v": round(rng.uniform(0.01, 5), 4), "t": now_ms, "c": None})
            headers = [(HEADER_PRODUCER_ID, producer_id.encode()), (HEADER_SEQUENCE, str(seq).encode()),
                       (HEADER_RECEIVED_AT, str(now_ms).encode()), (HEADER_SOURCE, b"bench")]
            for symbol, trades in frame.items():
                producer.send(settings.kafka.topic, key=symbol.encode(), value=encode_message(trades),
                              headers=headers)
            seq += 1
            sent += count
            due -= count
    producer.flush(120)
    producer.close()


class Load:
    """The offered load for one step: simulator + collector, or the direct producer."""

    def __init__(self, settings: Settings, options: E2eBenchOptions, rate: float, workdir: Path) -> None:
        self.source, self._stopped = options.source, False
        if options.source == "direct":
            self._process = multiprocessing.get_context("spawn").Process(
                target=direct_load,
                args=(settings, rate, options.duration, options.frame_trades, f"direct-{rate:.0f}"))
            self._process.start()
            return
        from benchmarks.collector_bench import _SimulatorProcess
        from collector.client import Collector, CollectorOptions, run_in_thread

        self._simulator = _SimulatorProcess(rate, options.frame_trades, workdir)
        self._collector = Collector(settings, CollectorOptions(
            url=self._simulator.url, symbols=SYMBOLS, metrics_port=0,
            spool_dir=Path(tempfile.mkdtemp(prefix="spool-", dir=workdir)), idle_timeout_s=600))
        self._thread = run_in_thread(self._collector)

    def stop(self) -> None:
        if self.source == "direct":
            self._process.join(timeout=180)
            return
        # The collector first: it stops receiving at once and flushes what it holds (the simulator's
        # own shutdown waits for its websocket close, which would count as drain time otherwise).
        self._collector.stop()
        self._thread.join(60)
        self._simulator.stop()


def stream_job_command(checkout: Path, flags: list[str] | tuple[str, ...]) -> list[str]:
    """`tickplant stream` of `checkout` (this one or another, e.g. a previous main): its job.py as a
    script, with this interpreter (the checkout's own code, this environment's packages)."""
    return [sys.executable, str(checkout / "stream_processor" / "job.py"), *flags]


def _stream_job(settings: Settings, home: Path, flags: list[str], checkout: Path) -> Any:
    import subprocess

    env = {**os.environ, "KAFKA_TOPIC": settings.kafka.topic, "CASSANDRA_KEYSPACE": settings.cassandra.keyspace,
           "TICKPLANT_HOME": str(home)}
    log = (home / "stream.log").open("wb")
    return subprocess.Popen(stream_job_command(checkout, flags), cwd=checkout, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _lag(settings: Settings, queries: tuple[str, ...]) -> int | None:
    from core.stream_status import stream_status

    rows = stream_status(settings, queries=queries)
    if any(r["lag"] is None or r["committed_batch"] is None for r in rows):
        return None
    return max(r["lag"] for r in rows)


def _wait_drained(settings: Settings, timeout_s: float, job: Any, queries: tuple[str, ...]) -> float | None:
    """Seconds until the stream job has no lag, or None if it still has after `timeout_s`."""
    def drained() -> bool:
        if job.poll() is not None:
            raise RuntimeError(f"the stream job exited with {job.returncode}")
        return _lag(settings, queries) == 0

    started = time.monotonic()
    try:
        wait_until(drained, timeout_s, what="the backlog drained", initial_s=0.5, maximum_s=0.5)
    except TimeoutError:
        return None
    return time.monotonic() - started


def _received_times(settings: Settings) -> dict[tuple[str, str], int]:
    """(symbol, producer-frame seq) -> collector receive time (ms), from every record's headers; a record
    combining frames (tp-frames) carries the earliest frame's receive time, so each frame counts from it."""
    received = {}
    for message in kafka_clients.read_to_end(settings, settings.kafka.topic, timeout_s=600):
        headers = {k: v.decode() for k, v in message.headers or []}
        if HEADER_RECEIVED_AT in headers:
            runs = headers.get(HEADER_FRAMES)
            seqs = [run.split(":")[0] for run in runs.split(",")] if runs else [headers[HEADER_SEQUENCE]]
            for seq in seqs:
                received[(message.key.decode(), f"{headers[HEADER_PRODUCER_ID]}-{seq}")] = \
                    int(headers[HEADER_RECEIVED_AT])
    return received


def _latencies(settings: Settings, session: Any, received: dict, since_ms: int, until_ms: int) -> list[float]:
    """Receive (header) -> written in Cassandra (WRITETIME) per trade received in [since, until)."""
    from cassandra.util import Date

    statement = session.prepare(f"SELECT trade_id, WRITETIME(price) AS written FROM "
                                f"{settings.cassandra.keyspace}.trades WHERE symbol = ? AND trade_date = ?")
    statement.fetch_size = 10_000
    days = {Date(since_ms // 86_400_000), Date(until_ms // 86_400_000)}
    samples = []
    for symbol in SYMBOLS:
        for day in days:
            for row in session.execute(statement, (symbol, day)):
                start = received.get((symbol, row["trade_id"].rsplit("-", 1)[0]))
                if start is not None and since_ms <= start < until_ms:
                    samples.append(row["written"] / 1000 - start)
    return samples


def _percentile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _batch_profile(settings: Settings, session: Any, since_ms: int) -> dict[str, Any]:
    """Per query: batches, mean/max duration and rows per batch during the step (pipeline_metrics)."""
    from cassandra.util import Date

    statement = session.prepare(f"SELECT * FROM {settings.cassandra.keyspace}.pipeline_metrics "
                                f"WHERE query_name = ? AND day = ? AND batch_time >= ?")
    profile = {}
    for query in ("trades", "trades_5s", "bars_1m"):
        rows = list(session.execute(statement, (query, Date(since_ms // 86_400_000), since_ms)))
        rows = [r for r in rows if r["input_rows"]]
        if rows:
            profile[query] = {"batches": len(rows),
                              "mean_duration_ms": round(statistics.mean(r["duration_ms"] for r in rows)),
                              "max_duration_ms": max(r["duration_ms"] for r in rows),
                              "mean_records_per_batch": round(statistics.mean(r["input_rows"] for r in rows))}
    return profile


def _step(settings: Settings, options: E2eBenchOptions, rate: float, workdir: Path, job: Any,
          session: Any, queries: tuple[str, ...]) -> dict[str, Any]:
    since_ms = int(time.time() * 1000)
    started = time.monotonic()
    load = Load(settings, options, rate, workdir)
    lags: list[tuple[float, int]] = []
    while time.monotonic() - started < options.duration:
        time.sleep(1.0)
        lag = _lag(settings, queries)
        if lag is not None:
            lags.append((time.monotonic() - started, lag))
    stopping = time.monotonic()
    load.stop()  # the collector flushes what it holds: the drain is counted from here
    load_s = time.monotonic() - started
    until_ms = int(time.time() * 1000)
    drained = _wait_drained(settings, options.drain_timeout, job, queries)
    drain_s = None if drained is None else time.monotonic() - stopping
    received = _received_times(settings)
    samples = _latencies(settings, session, received, since_ms, until_ms)
    tail = [lag for t, lag in lags if t >= options.duration / 2]
    second = [lag for t, lag in lags if options.duration / 4 <= t < options.duration / 2]
    last = [lag for t, lag in lags if t >= options.duration * 3 / 4]
    growing = bool(second and last) and statistics.mean(last) > 1.25 * statistics.mean(second) + 1000
    return {
        "offered_trades_per_s": rate, "load_seconds": round(load_s, 1), "trades": len(samples),
        "delivered_trades_per_s": round(len(samples) / options.duration),
        "end_to_end_trades_per_s": round(len(samples) / (load_s + (drain_s or options.drain_timeout))),
        "lag_records_max": max((lag for _, lag in lags), default=None),
        "lag_records_second_half_mean": round(statistics.mean(tail)) if tail else None,
        "drain_seconds": None if drain_s is None else round(drain_s, 1),
        "lag_growing": growing,
        "bounded": drain_s is not None and drain_s <= 10.0 and not growing,
        "latency_p50_ms": _percentile(samples, 0.50), "latency_p99_ms": _percentile(samples, 0.99),
        "latency_max_ms": _percentile(samples, 1.0),
        "batches": _batch_profile(settings, session, since_ms),
    }


def run(settings: Settings, args: argparse.Namespace) -> int:
    options = E2eBenchOptions.from_args(args)
    checkouts = [ROOT, *options.against]
    runs = []
    for _ in range(options.rounds):
        for checkout in checkouts:
            print(f"# stream job of {checkout}", flush=True)
            runs.append(measure(settings, options, checkout))
    if len(runs) > 1:
        print("end to end, trades/s per offered rate (runs in the order they ran):")
        for rate in options.rates:
            line = []
            for checkout in checkouts:
                rates = [step["end_to_end_trades_per_s"] for r in runs if r["checkout"] == str(checkout)
                         for step in r["steps"] if step["offered_trades_per_s"] == rate]
                line.append(f"{checkout.name}: {', '.join(f'{x:,}' for x in rates)}")
            print(f"  {rate:>9,.0f}/s  " + "  |  ".join(line))
    if options.json:
        options.json.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2), encoding="utf-8")
    return 0


def measure(settings: Settings, options: E2eBenchOptions, checkout: Path = ROOT) -> dict[str, Any]:
    rates = list(options.rates)
    with scratch_pipeline(settings, "bench", keep=options.keep) as (settings, session, home):
        job = _stream_job(settings, home, list(options.stream_flags), checkout)
        queries = STREAMING_QUERIES
        results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "source": options.source,
                                   "name": settings.kafka.topic, "checkout": str(checkout), "steps": []}
        try:
            if options.warmup:   # the JIT and the first batches' set-up, at the load measured next
                warming = Load(settings, replace(options, duration=options.warmup), rates[0], home)
                time.sleep(options.warmup)
                warming.stop()
            else:
                direct_load(settings, 2000, 1.0, 100, "warmup")
            if _wait_drained(settings, 180, job, queries) is None:
                raise RuntimeError("the stream job did not process the warm-up within 180 s")
            for rate in rates:
                step = _step(settings, options, rate, home, job, session, queries)
                results["steps"].append(step)
                print(json.dumps(step))
        finally:
            job.terminate()
            job.wait(120)
    bounded = [s["offered_trades_per_s"] for s in results["steps"] if s["bounded"]]
    results["sustained_trades_per_s"] = max(bounded, default=None)
    print(f"machine {results['machine']}, source {options.source}: sustained (lag not growing, backlog drained "
          f"within 10 s of the load stopping) at {results['sustained_trades_per_s']} trades/s offered")
    for s in results["steps"]:
        print(f"  offered {s['offered_trades_per_s']:>9,.0f}/s  delivered {s['delivered_trades_per_s']:>8,}/s  "
              f"drain {s['drain_seconds']} s  lag max {s['lag_records_max']} records"
              f"{' growing' if s['lag_growing'] else ''}  "
              f"latency p50 {s['latency_p50_ms']} ms  p99 {s['latency_p99_ms']} ms")
    return results
