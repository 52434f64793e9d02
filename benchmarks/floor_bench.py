"""`tickplant bench floor`: what the stream job costs beside what Spark itself needs on this machine.

For each offered rate, and alternated in that order so the host's drift hits all alike, it runs on a
fresh topic and keyspace (a) the floor, `benchmarks/floor_job.py`: one query Kafka -> `from_avro` ->
the connector's Cassandra sink, writing `trades` only; (b) `stream_processor/job.py` of this checkout,
every table and metric; (c) the job of each `--against` checkout (a previous main, to compare). A
producer offers real-layout Avro records (collector headers, `--frame-trades` trades per frame) for
the whole run; after `--warmup` seconds (the JIT compiler is busy for the first minute and more) the
CPU of the job's process tree (Python driver, Spark JVM, reaped children), of Cassandra and of Kafka is
measured over `--measure` seconds. Reported per run: each one's share of a core, the Kafka lag at the
end (0: it kept up), the latency from a record's Kafka time to its trade's write in Cassandra (the same
measure for the floor and the job), the batch latencies the job wrote to pipeline_metrics; and per rate
the job / floor ratio of each round's adjacent pair.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpu import server_pid, tree_cpu_seconds
from benchmarks.e2e_bench import SYMBOLS, direct_load, rate_list, stream_job_command
from benchmarks.scratch import scratch_pipeline
from core.arguments import positive_float, positive_int
from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"cassandra": "org.apache.cassandra.service.CassandraDaemon", "kafka": "kafka.Kafka"}


@dataclass(frozen=True)
class FloorBenchOptions:
    rates: tuple[float, ...] = (10.0, 200.0, 5000.0)
    warmup_s: float = 70.0
    measure_s: float = 60.0
    rounds: int = 1
    frame_trades: int = 5
    against: tuple[Path, ...] = ()
    variants: tuple[str, ...] = ()
    stream_flags: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FloorBenchOptions:
        return cls(rates=args.rate, warmup_s=args.warmup, measure_s=args.measure, rounds=args.rounds,
                   frame_trades=args.frame_trades, against=tuple(args.against), variants=tuple(args.variant),
                   stream_flags=tuple(shlex.split(args.stream_flags)))

    def shapes(self) -> list[str]:
        """What runs, in order: the floor, this checkout's job, each variant of it, each other checkout's."""
        return ["floor", "job", *(f"job {flags}" for flags in self.variants),
                *(f"job@{path.resolve()}" for path in self.against)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=rate_list, default=(10.0, 200.0, 5000.0),
                        help="offered trades/s, comma-separated (default 10,200,5000)")
    parser.add_argument("--warmup", type=positive_float, default=70.0, help="seconds before measuring (default 70)")
    parser.add_argument("--measure", type=positive_float, default=60.0, help="seconds measured (default 60)")
    parser.add_argument("--rounds", type=positive_int, default=1, help="times each rate's runs repeat (default 1)")
    parser.add_argument("--frame-trades", type=positive_int, default=5, help="trades per frame (default 5)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another tickplant checkout whose stream job runs too, alternated (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="FLAGS",
                        help="this checkout's job once more with these flags, e.g. '--driver-trades 0' (repeatable)")
    parser.add_argument("--stream-flags", default="", help="extra flags for the stream jobs")


def _command(shape: str, options: FloorBenchOptions) -> tuple[list[str], Path]:
    if shape == "floor":
        return [sys.executable, "-m", "benchmarks.floor_job"], ROOT
    if shape.startswith("job@"):
        checkout = Path(shape.removeprefix("job@"))
        return stream_job_command(checkout, options.stream_flags), checkout
    return stream_job_command(ROOT, [*shlex.split(shape.removeprefix("job")), *options.stream_flags]), ROOT


def _server_cpu() -> dict[str, float | None]:
    pids = {name: server_pid(marker) for name, marker in SERVERS.items()}
    return {name: tree_cpu_seconds(pid) if pid else None for name, pid in pids.items()}


def _batch_latencies(session: Any, keyspace: str, since_ms: int) -> dict[str, Any]:
    """Per table the job wrote: batches in the measured window, batch latency p50 (median) and the
    largest p99 of a batch (ms)."""
    from cassandra.util import Date

    result = {}
    for name in ("trades", "trades_5s", "bars_1m"):
        rows = [r for r in session.execute(
            f"SELECT batch_time, latency_p50_ms, latency_p99_ms FROM {keyspace}.pipeline_metrics "
            "WHERE query_name = %s AND day = %s", (name, Date(int(time.time() // 86_400))))
            if r["batch_time"].timestamp() * 1000 >= since_ms and r["latency_p99_ms"] is not None]
        if rows:
            result[name] = {"batches": len(rows),
                            "latency_p50_ms": round(statistics.median(r["latency_p50_ms"] for r in rows)),
                            "latency_p99_ms_max": round(max(r["latency_p99_ms"] for r in rows))}
    return result


def _write_latencies(session: Any, keyspace: str, since_ms: int, until_ms: int) -> dict[str, float | None]:
    """Kafka record time (the trade's `ingest_timestamp`) -> written in Cassandra (WRITETIME), p50 and
    p99 in ms, over the trades stamped in [since, until): one measure for the floor and the job alike
    (the floor writes no pipeline_metrics)."""
    from stream_processor.rollup import utc_day

    statement = session.prepare(
        f"SELECT toUnixTimestamp(ingest_timestamp) AS ingest_ms, WRITETIME(price) AS written FROM {keyspace}.trades "
        "WHERE symbol = ? AND trade_date = ? AND trade_timestamp >= ? AND trade_timestamp < ?")
    statement.fetch_size = 10_000
    samples = sorted(row["written"] / 1000 - row["ingest_ms"] for symbol in SYMBOLS
                     for day in sorted({utc_day(since_ms), utc_day(until_ms)})
                     for row in session.execute(statement, (symbol, day, since_ms, until_ms)))
    if not samples:
        return {"write_latency_p50_ms": None, "write_latency_p99_ms": None}
    return {"write_latency_p50_ms": round(samples[len(samples) // 2]),
            "write_latency_p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))])}


def measure_one(settings: Settings, shape: str, rate: float, options: FloorBenchOptions) -> dict[str, Any]:
    from core.stream_status import stream_status

    with scratch_pipeline(settings, "floor") as (settings, session, home):
        env = {**os.environ, "KAFKA_TOPIC": settings.kafka.topic, "CASSANDRA_KEYSPACE": settings.cassandra.keyspace,
               "TICKPLANT_HOME": str(home), "TICKPLANT_STREAM_METRICS_PORT": "0",
               "TICKPLANT_SYMBOLS": ",".join(SYMBOLS)}
        command, cwd = _command(shape, options)
        load = multiprocessing.get_context("spawn").Process(
            target=direct_load, args=(settings, rate, options.warmup_s + options.measure_s + 5,
                                      options.frame_trades, f"floor-{rate:.0f}"))
        with (home / "job.log").open("wb") as log:
            job = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
            load.start()
            try:
                time.sleep(options.warmup_s)
                if job.poll() is not None:
                    raise RuntimeError(f"{shape} exited with {job.returncode}: see {home / 'job.log'}")
                since_ms = int(time.time() * 1000)
                started, job0, servers0 = time.monotonic(), tree_cpu_seconds(job.pid), _server_cpu()
                time.sleep(options.measure_s)
                elapsed = time.monotonic() - started
                job1, servers1 = tree_cpu_seconds(job.pid), _server_cpu()
                until_ms = int(time.time() * 1000)
                status = stream_status(settings, queries=("trades",))
                latencies = _batch_latencies(session, settings.cassandra.keyspace, since_ms)
                written = _write_latencies(session, settings.cassandra.keyspace, since_ms, until_ms - 5_000)
            finally:
                load.join(timeout=120)
                job.terminate()
                job.wait(120)
        result = {"shape": shape, "rate": rate, "job_cpu_share": round((job1 - job0) / elapsed, 3)}
        for name in SERVERS:
            before, after = servers0[name], servers1[name]
            result[f"{name}_cpu_share"] = round((after - before) / elapsed, 3) if before is not None else None
        result.update(written, lag_records_at_end=status[0]["lag"], batches=latencies,
                      load_average=os.getloadavg()[0])
        return result


def summarise(results: list[dict[str, Any]], shapes: list[str]) -> list[str]:
    """Per rate and shape the median share of a core, and per job the median of the paired ratios."""
    lines = []
    for rate in sorted({r["rate"] for r in results}):
        runs = [r for r in results if r["rate"] == rate]
        floors = [r["job_cpu_share"] for r in runs if r["shape"] == "floor"]
        for shape in shapes:
            shares = [r["job_cpu_share"] for r in runs if r["shape"] == shape]
            ratios = [s / f for s, f in zip(shares, floors, strict=False) if f]
            ratio = f", {statistics.median(ratios):.2f}x the floor (pairs {', '.join(f'{x:.2f}' for x in ratios)})" \
                if shape != "floor" and ratios else ""
            p99s = [r["write_latency_p99_ms"] for r in runs if r["shape"] == shape and r.get("write_latency_p99_ms")]
            latency = f"; Kafka -> Cassandra p99 {', '.join(f'{x:,} ms' for x in p99s)}" if p99s else ""
            lines.append(f"{rate:>8,.0f} trades/s  {shape:<30} {statistics.median(shares):6.1%} of a core{ratio}"
                         f"{latency}")
    return lines


def run(settings: Settings, args: argparse.Namespace) -> int:
    options = FloorBenchOptions.from_args(args)
    shapes = options.shapes()
    results = []
    for _ in range(options.rounds):
        for rate in options.rates:
            for shape in shapes:
                results.append(measure_one(settings, shape, rate, options))
                print(json.dumps(results[-1]), flush=True)
    print(f"machine {os.cpu_count()} cores; warm-up {options.warmup_s:.0f} s, measured {options.measure_s:.0f} s")
    for line in summarise(results, shapes):
        print(line)
    return 0
