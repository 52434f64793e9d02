"""`tickplant bench cassandra`: what Cassandra alone can take on this machine, the ceiling an end-to-end
run is held against. `--clients` processes, each with its own session and the stream job's prepared
`trades` INSERT, send single-partition UNLOGGED batches of `--batch-rows` trades-shaped rows with
`--in-flight` batches outstanding, for `--duration` seconds, into a scratch keyspace. Reported: rows
acknowledged per second, Cassandra's share of a core over the same window, its CPU-µs per row, the
clients' share, and 0.7x the rate (what the rest of the pipeline on the same cores can hope for).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpu import server_pid, tree_cpu_seconds
from benchmarks.scratch import scratch_pipeline
from core.arguments import positive_float, positive_int
from core.cassandra import INSERT_TRADE
from core.config import Settings

CASSANDRA_MAIN = "org.apache.cassandra.service.CassandraDaemon"


@dataclass(frozen=True)
class CassandraBenchOptions:
    duration: float = 20.0
    clients: int = 2
    in_flight: int = 64
    batch_rows: int = 100
    json: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CassandraBenchOptions:
        return cls(duration=args.duration, clients=args.clients, in_flight=args.in_flight,
                   batch_rows=args.batch_rows, json=args.json)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=positive_float, default=20.0, help="seconds of writing (default 20)")
    parser.add_argument("--clients", type=positive_int, default=2, help="client processes (default 2)")
    parser.add_argument("--in-flight", type=positive_int, default=64,
                        help="batches outstanding per client (default 64)")
    parser.add_argument("--batch-rows", type=positive_int, default=100,
                        help="rows per single-partition UNLOGGED batch; 1 = single-row inserts (default 100)")
    parser.add_argument("--json", type=Path, help="also write the results here")


def _statements(statement: Any, client: int, batch_rows: int) -> Any:
    """Endless statements of trades-shaped rows: one partition (symbol, day) per 100,000 rows."""
    from cassandra import ConsistencyLevel
    from cassandra.query import BatchStatement, BatchType

    day = dt.datetime.now(dt.UTC).date()
    sequence = 0
    while True:
        symbol = f"CEILING{client}:{sequence // 100_000}"
        now_ms = int(time.time() * 1000)
        if batch_rows == 1:
            yield statement.bind((symbol, day, now_ms, f"c{client}-{sequence}", 100.25, 1.5, None, now_ms, "bench"))
        else:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
            for n in range(sequence, sequence + batch_rows):
                batch.add(statement, (symbol, day, now_ms + n % 1000, f"c{client}-{n}", 100.25, 1.5, None, now_ms,
                                      "bench"))
            yield batch
        sequence += batch_rows


def _client(settings: Settings, client: int, options: CassandraBenchOptions, start: Any, results: Any) -> None:
    from cassandra import ConsistencyLevel
    from cassandra.concurrent import execute_concurrent

    from core import cassandra as cassandra_db

    session = cassandra_db.connect(settings)
    statement = session.prepare(INSERT_TRADE.format(keyspace=settings.cassandra.keyspace))
    statement.consistency_level = ConsistencyLevel.LOCAL_QUORUM
    start.wait()
    deadline = time.monotonic() + options.duration
    statements = _statements(statement, client, options.batch_rows)

    def until_deadline() -> Any:
        while time.monotonic() < deadline:
            yield next(statements), None

    cpu0 = time.process_time()
    sent = sum(1 for ok, _ in execute_concurrent(session, until_deadline(), concurrency=options.in_flight,
                                                  raise_on_first_error=True, results_generator=True) if ok)
    results.put((sent * options.batch_rows, time.process_time() - cpu0))
    cassandra_db.close(session)


def measure(settings: Settings, options: CassandraBenchOptions) -> dict[str, Any]:
    pid = server_pid(CASSANDRA_MAIN)
    if pid is None:
        raise RuntimeError("no Cassandra server process on this machine to measure (tickplant services start)")
    context = multiprocessing.get_context("spawn")
    with scratch_pipeline(settings, "ceiling") as (settings, _, _):
        start, results = context.Event(), context.Queue()
        clients = [context.Process(target=_client, args=(settings, n, options, start, results))
                   for n in range(options.clients)]
        for process in clients:
            process.start()
        time.sleep(5.0)  # connected and prepared before the clock starts
        cpu0, began = tree_cpu_seconds(pid), time.monotonic()
        start.set()
        reports = [results.get(timeout=options.duration + 120) for _ in clients]
        elapsed = time.monotonic() - began
        cpu = tree_cpu_seconds(pid) - cpu0
        for process in clients:
            process.join(60)
    rows, client_cpu = sum(r for r, _ in reports), sum(c for _, c in reports)
    rate = rows / elapsed
    return {"machine": f"{os.cpu_count()} cores", "clients": options.clients, "in_flight": options.in_flight,
            "batch_rows": options.batch_rows, "rows": rows, "seconds": round(elapsed, 1),
            "rows_per_s": round(rate), "cassandra_cpu_share": round(cpu / elapsed, 2),
            "cassandra_cpu_us_per_row": round(cpu / rows * 1e6, 1) if rows else None,
            "clients_cpu_share": round(client_cpu / elapsed, 2),
            "pipeline_target_rows_per_s": round(0.7 * rate)}


def run(settings: Settings, args: argparse.Namespace) -> int:
    options = CassandraBenchOptions.from_args(args)
    result = measure(settings, options)
    print(json.dumps(result))
    print(f"machine {result['machine']}: Cassandra took {result['rows_per_s']:,} rows/s ({options.clients} clients, "
          f"{options.in_flight} batches of {options.batch_rows} rows in flight each) at "
          f"{result['cassandra_cpu_share']:.0%} of a core, {result['cassandra_cpu_us_per_row']} CPU-us per row; "
          f"0.7x = {result['pipeline_target_rows_per_s']:,} trades/s")
    if options.json:
        options.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0
