"""`tickplant bench gbm`: the GBM job on N symbols x paths x steps (default 50 x 10,000 x 720) in an
isolated keyspace, wall time including Spark's start, against a bare numpy loop doing the same
simulation (normals, cumulative sum, exp) in this process, in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
RUN_TS = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", type=int, default=50, help="symbols (default 50)")
    parser.add_argument("--paths", type=int, default=10_000, help="paths per symbol (default 10000)")
    parser.add_argument("--steps", type=int, default=720, help="one-minute steps of the horizon (default 720)")
    parser.add_argument("--bars", type=int, default=1440, help="minute bars per symbol in the window (default 1440)")
    parser.add_argument("--job-flags", default="", help="extra flags for `tickplant gbm`, e.g. '--float32'")
    parser.add_argument("--repeat", type=int, default=1, help="job runs (the best and all are reported)")
    parser.add_argument("--keep", action="store_true", help="keep the bench keyspace")
    parser.add_argument("--json", type=Path, help="also write the results here")


def fill_bars(settings: Settings, symbols: list[str], bars: int) -> int:
    """Minute bars of a GBM per symbol (sigma 20-80 %/year) ending just before RUN_TS, prepared upserts."""
    import numpy as np
    from cassandra.concurrent import execute_concurrent_with_args

    from core import cassandra as cassandra_db
    from gbm_analysis import model

    session = cassandra_db.connect(settings)
    try:
        cassandra_db.apply_migrations(session, settings)
        insert = session.prepare(
            f"INSERT INTO {settings.cassandra.keyspace}.bars_1m (symbol, trade_date, bar_start, open, high, low, "
            "close, volume, trade_count, vwap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        rng = np.random.default_rng(2026)
        dt = 60 / model.SECONDS_PER_YEAR
        rows = []
        for i, symbol in enumerate(symbols):
            sigma = 0.2 + 0.6 * i / max(1, len(symbols) - 1)
            closes = 100.0 * np.exp(np.cumsum((0.05 - sigma**2 / 2) * dt + sigma * math.sqrt(dt)
                                              * rng.standard_normal(bars)))
            first = RUN_TS - timedelta(minutes=bars)
            for k, close in enumerate(closes):
                start = first + timedelta(minutes=k)
                c = float(close)
                rows.append((symbol, start.date(), start, c, c, c, c, 1.0, 1, c))
        execute_concurrent_with_args(session, insert, rows, concurrency=64, raise_on_first_error=True)
        return len(rows)
    finally:
        cassandra_db.close(session)


def bare_numpy(symbols: int, paths: int, steps: int) -> dict[str, float]:
    """The same simulation without Spark: per symbol, normals -> cumulative sum -> exp; then with the
    job's per-step reductions (mean and five quantiles) as well."""
    import numpy as np

    from gbm_analysis import model

    dt = 60 / model.SECONDS_PER_YEAR
    started = time.perf_counter()
    for i in range(symbols):
        rng = np.random.default_rng([1, i])
        log_paths = np.cumsum((0.05 - 0.045) * dt + 0.3 * math.sqrt(dt) * rng.standard_normal((steps, paths)), axis=0)
        prices = 100.0 * np.exp(log_paths)
    simulate_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(symbols):
        prices = model.simulate_paths(100.0, 0.05, 0.3, dt, steps, paths, np.random.default_rng([1, i]))
        prices.mean(axis=1)
        np.quantile(prices, model.QUANTILES, axis=1)
    with_quantiles_s = time.perf_counter() - started
    path_steps = symbols * paths * steps
    return {"simulate_s": simulate_s, "path_steps_per_s": path_steps / simulate_s,
            "with_quantiles_s": with_quantiles_s, "with_quantiles_path_steps_per_s": path_steps / with_quantiles_s}


def run_job(settings: Settings, symbols: list[str], args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tickplant", "gbm", "--symbols", ",".join(symbols), "--paths", str(args.paths),
            "--horizon", f"{args.steps}m", "--lookback", "24h", "--run-ts", RUN_TS.isoformat(),
            *args.job_flags.split()]
    env = {**os.environ, "CASSANDRA_KEYSPACE": settings.cassandra.keyspace}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tickplant gbm failed ({done.returncode}): {done.stderr[-2000:]}")
    phases = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+_s)=([\d.]+)", done.stderr + done.stdout)}
    return {"wall_s": wall_s, "path_steps_per_s": len(symbols) * args.paths * args.steps / wall_s,
            "summary": done.stdout.splitlines()[-1], "phases": phases}


def run(settings: Settings, args: argparse.Namespace) -> int:
    keyspace = f"bench_gbm_{uuid.uuid4().hex[:8]}"
    settings = settings.replace(cassandra_keyspace=keyspace)
    symbols = [f"SYM{i:02d}" for i in range(args.symbols)]
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "keyspace": keyspace, "symbols": args.symbols,
                               "paths": args.paths, "steps": args.steps, "job_flags": args.job_flags}
    try:
        started = time.perf_counter()
        results["bars_written"] = fill_bars(settings, symbols, args.bars)
        results["fill_s"] = time.perf_counter() - started
        results["jobs"] = [run_job(settings, symbols, args) for _ in range(args.repeat)]
        results["numpy"] = bare_numpy(args.symbols, args.paths, args.steps)
    finally:
        if not args.keep:
            from core import cassandra as cassandra_db

            session = cassandra_db.connect(settings)
            try:
                session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
            finally:
                cassandra_db.close(session)
    best = min(results["jobs"], key=lambda j: j["wall_s"])
    bare = results["numpy"]
    results["ratio"] = best["path_steps_per_s"] / bare["path_steps_per_s"]
    print(f"machine {results['machine']}: {args.symbols} symbols x {args.paths:,} paths x {args.steps} steps "
          f"({results['bars_written']:,} bars written in {results['fill_s']:.1f} s)")
    for job in results["jobs"]:
        print(f"  job wall {job['wall_s']:.1f} s (Spark start included)  {job['path_steps_per_s'] / 1e6:.1f} M "
              f"path-steps/s  phases {job['phases']}")
    print(f"  bare numpy loop: {bare['simulate_s']:.1f} s, {bare['path_steps_per_s'] / 1e6:.1f} M path-steps/s; "
          f"with mean+quantiles {bare['with_quantiles_s']:.1f} s, "
          f"{bare['with_quantiles_path_steps_per_s'] / 1e6:.1f} M path-steps/s")
    print(f"  best job / bare numpy: {results['ratio']:.2f}x  (targets: job < 60 s, >= 0.5x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0
