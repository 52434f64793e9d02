"""The GBM batch job: per symbol, closes from Cassandra -> MLE of mu, sigma -> Monte Carlo forecast
and backtest of earlier forecasts -> gbm_runs, gbm_forecasts (+ gbm_latest_forecasts: the newest run's
steps by symbol), gbm_terminal, gbm_backtest.
Runs as `tickplant gbm [flags]` or, with plain Spark, from the checkout:

    spark-submit --jars "$(ls var/jars/spark/*.jar | paste -sd, -)" gbm_analysis/job.py --interval 1m --lookback 24h
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # started as a script (spark-submit): make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402

from core.config import Settings  # noqa: E402
from core.logging import get_logger, setup_logging  # noqa: E402
from core.spark import build_session  # noqa: E402
from gbm_analysis import analysis, io  # noqa: E402
from gbm_analysis.options import GbmOptions, add_arguments, options_from_args  # noqa: E402

log = get_logger(__name__)
SUMMARY_COLUMNS = ("symbol", "status", "skip_reason", "mu", "sigma", "se_mu", "se_sigma", "s0", "observations", "p50")


def run(settings: Settings, options: GbmOptions,
        wait_for_data: Callable[[Callable[[], None]], object] | None = None, spark: SparkSession | None = None) -> int:
    """One GBM run over options.symbols; 0 when at least one symbol ran, 1 when none could. With
    `wait_for_data`, the run calls it once its Spark session is up; the waiter calls the function it is
    given once if it has to wait: the run then takes its run time after the wait, and warms its session
    up with the same reads and analysis on the rows so far (nothing written), so that the run proper,
    a fresh start's first forecast, costs a warm session's seconds. A session given as `spark` (several
    runs in one process) is used and left running; otherwise the run starts its own and stops it."""
    started = time.perf_counter()
    own_session = spark is None
    spark = build_session(settings, "tickplant-gbm") if spark is None else spark
    session_s = time.perf_counter() - started
    try:
        if wait_for_data is not None:
            waited, before = [], time.perf_counter()

            def warm() -> None:
                waited.append(True)
                warm_up(spark, settings, options)

            wait_for_data(warm)
            if waited:   # without a wait the run time stays the start's: the loop's runs stay one interval apart
                options = options.at(datetime.now(UTC))
            started += time.perf_counter() - before   # the wait is no phase of the run
        results, summary = analyse(spark, settings, options)
        analysed_s = time.perf_counter() - started
        # A symbol without a single close in the window never reaches the pandas function.
        absent = sorted(set(options.symbols) - {row["symbol"] for row in summary})
        missing = spark.createDataFrame([analysis.skipped(s, "no closes in the window") for s in absent],
                                        analysis.RESULT_SCHEMA)
        summary += missing.select(*SUMMARY_COLUMNS).collect()
        io.write_results(results.unionByName(missing), settings, options)
        written_s = time.perf_counter() - started
        results.unpersist()
    finally:
        if own_session:
            spark.stop()
    log.info("gbm phases", session_s=round(session_s, 2), read_analyse_s=round(analysed_s - session_s, 2),
             write_s=round(written_s - analysed_s, 2), total_s=round(time.perf_counter() - started, 2))
    return report(summary, options, time.perf_counter() - started)


def warm_up(spark, settings: Settings, options: GbmOptions) -> None:
    """The run's reads and analysis on the rows there are, results dropped: a cold session spends most
    of a small run's time on its first connector reads and Python workers."""
    begun = time.perf_counter()
    analyse(spark, settings, options)[0].unpersist()
    log.info("gbm session warmed up", seconds=round(time.perf_counter() - begun, 1))


def analyse(spark, settings: Settings, options: GbmOptions) -> tuple[DataFrame, list]:
    """Read and analyse every symbol: the results (persisted) and their summary rows."""
    spread_symbols(spark, options)
    closes = io.read_closes(spark, settings, options)
    earlier = io.read_earlier_forecasts(spark, settings, options)
    results = (closes.groupBy("symbol").cogroup(earlier.groupBy("symbol"))
               .applyInPandas(functools.partial(analysis.analyse_symbol, options=options), analysis.RESULT_SCHEMA))
    results = results.persist()
    return results, results.select(*SUMMARY_COLUMNS).collect()


def spread_symbols(spark, options: GbmOptions) -> None:
    """The per-symbol stage is CPU-bound on a few MB of input: without this, adaptive execution
    coalesces it into one partition and one core simulates every symbol."""
    slots = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    spark.conf.set("spark.sql.shuffle.partitions", str(max(1, min(len(options.symbols), 4 * slots))))


def report(summary: list, options: GbmOptions, elapsed_s: float) -> int:
    """One line per symbol and a total; the exit code says whether any symbol ran."""
    ran = 0
    for row in sorted(summary, key=lambda r: r["symbol"]):
        if row["status"] == "ok":
            ran += 1
            print(f"{row['symbol']:<20} mu={row['mu']:+.4f} (se {row['se_mu']:.4f})  "
                  f"sigma={row['sigma']:.4f} (se {row['se_sigma']:.4f})  s0={row['s0']:.6g}  "
                  f"p50@{options.steps}x{options.interval}={row['p50'][-1]:.6g}  n={row['observations']}")
        else:
            log.warning("symbol skipped", symbol=row["symbol"], reason=row["skip_reason"])
            print(f"{row['symbol']:<20} skipped: {row['skip_reason']}")
    print(f"gbm run {options.run_ts.isoformat()}: {ran} of {len(summary)} symbols forecast, "
          f"{options.paths} paths x {options.steps} steps of {options.interval}, {elapsed_s:.1f} s", flush=True)
    if ran == 0:
        print("gbm: no symbol could be run", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="job.py", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO")
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(args.log_level, secrets=settings.secret_values())
    try:
        options = options_from_args(settings, args)
    except ValueError as exc:
        parser.error(str(exc))
    return run(settings, options)


if __name__ == "__main__":
    sys.exit(main())
