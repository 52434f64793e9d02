"""Cassandra reads and writes of the GBM job through the Spark Cassandra Connector. Every read names
the full partition key (`symbol IN (...)` and, for bars_1m, `trade_date IN (...)`), which the
connector pushes down as partition-key queries: no table is ever scanned. gbm_latest_forecasts is
written from the driver with cassandra-driver (it needs per-statement write times).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from core.config import Settings
from core.security import cassandra_connector_options
from gbm_analysis.analysis import BACKTEST_FIELDS, EARLIER_SCHEMA, FORECAST_FIELDS
from gbm_analysis.options import GbmOptions

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"
# day-bucketed bar tables of the intraday intervals: (table, bar start column)
INTRADAY_TABLES = {"1m": ("bars_1m", "bar_start"), "5s": ("trades_5s", "window_start")}


def table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return (spark.read.format(CASSANDRA_FORMAT)
            .options(**cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace, table=name)
            .load())


def _utc(ms: int) -> datetime:
    # Naive UTC: the session time zone is UTC, so Spark reads the literal as this instant.
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def window_days(options: GbmOptions) -> list[date]:
    """The trade_date buckets (UTC days) the estimation window touches."""
    first = datetime.fromtimestamp(options.window_start_ms / 1000, UTC).date()
    last = options.run_ts.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def read_closes(spark: SparkSession, settings: Settings, options: GbmOptions) -> DataFrame:
    """(symbol, t_ms, close) of the completed bars in [run - lookback, run), from partition keys only."""
    symbols = list(options.symbols)
    if options.interval in INTRADAY_TABLES:
        name, start = INTRADAY_TABLES[options.interval]
        bars = table(spark, settings, name)
        # A bar is complete once its interval has passed; the running bar's close is not a close yet.
        wanted = (F.col("symbol").isin(symbols) & F.col("trade_date").isin(window_days(options))
                  & (F.col(start) >= F.lit(_utc(options.window_start_ms)))
                  & (F.col(start) <= F.lit(_utc(options.run_ms - options.step_seconds * 1000))))
        t_ms: Column = F.unix_millis(start)
    else:
        bars = table(spark, settings, "daily_bars")
        first_day = datetime.fromtimestamp(options.window_start_ms / 1000, UTC).date()
        wanted = (F.col("symbol").isin(symbols) & (F.col("trade_date") >= F.lit(first_day))
                  & (F.col("trade_date") < F.lit(options.run_ts.astimezone(UTC).date())))
        t_ms = F.unix_date("trade_date").cast("long") * 86_400_000
    return (bars.where(wanted)
            .select("symbol", t_ms.alias("t_ms"), F.col("close").cast("double").alias("close"))
            .where(F.col("close").isNotNull()))


def earlier_runs(settings: Settings, options: GbmOptions) -> dict[str, list[datetime]]:
    """Per symbol, the newest earlier comparable runs (ok, same bar interval) whose window can have
    started within this run's data: a few rows of gbm_runs per symbol, read on the driver by partition key."""
    from core import cassandra as cassandra_db

    oldest_useful = _utc(options.window_start_ms - int(options.horizon_seconds * 1000))
    session = cassandra_db.connect(settings)
    try:
        query = session.prepare(
            f"SELECT run_ts, status, bar_interval FROM {settings.cassandra.keyspace}.gbm_runs "
            "WHERE symbol = ? AND run_ts >= ? AND run_ts < ? LIMIT ?")
        newest: dict[str, list[datetime]] = {}
        for symbol in options.symbols:
            # Clustering order is newest first: LIMIT keeps the newest runs.
            rows = session.execute(query, (symbol, oldest_useful, _utc(options.run_ms), options.backtest_runs * 4))
            kept = [row["run_ts"] for row in rows if row["status"] == "ok" and row["bar_interval"] == options.interval]
            if kept:
                newest[symbol] = kept[: options.backtest_runs]
        return newest
    finally:
        cassandra_db.close(session)


def read_earlier_forecasts(spark: SparkSession, settings: Settings, options: GbmOptions) -> DataFrame:
    """The forecasts of the newest earlier runs per symbol whose window has started, for the backtest."""
    newest = earlier_runs(settings, options)
    run_times = sorted({ts for kept in newest.values() for ts in kept})
    if not run_times:
        return spark.createDataFrame([], EARLIER_SCHEMA)
    pairs = {(symbol, ts) for symbol, kept in newest.items() for ts in kept}
    forecasts = (table(spark, settings, "gbm_forecasts")
                 .where(F.col("symbol").isin(sorted(newest)) & F.col("run_ts").isin(run_times))
                 .select("symbol", F.unix_millis("run_ts").alias("run_ms"), F.unix_millis("step_ts").alias("step_ms"),
                         "p05", "p25", "p50", "p75", "p95"))
    # The IN x IN query may name (symbol, run) pairs beyond the newest per symbol; keep only those.
    keep = spark.createDataFrame([(s, int(ts.replace(tzinfo=UTC).timestamp() * 1000)) for s, ts in pairs],
                                 "symbol string, run_ms long")
    return forecasts.join(F.broadcast(keep), ["symbol", "run_ms"])


def _upsert(frame: DataFrame, settings: Settings, name: str) -> None:
    frame.write.format(CASSANDRA_FORMAT).mode("append").options(
        **cassandra_connector_options(settings), keyspace=settings.cassandra.keyspace, table=name).save()


def write_results(results: DataFrame, settings: Settings, options: GbmOptions) -> None:
    """gbm_runs for every symbol (skipped ones with their reason), written last; the rest for the symbols
    that ran."""
    run_ts = F.lit(_utc(options.run_ms)).cast("timestamp")
    ok = results.where(F.col("status") == "ok")
    step_ms = options.step_seconds * 1000
    forecasts = (ok.select("symbol", run_ts.alias("run_ts"), "end_ms",
                           F.posexplode(F.arrays_zip(*FORECAST_FIELDS)).alias("k", "f"))
                 .select("symbol", "run_ts",
                         F.timestamp_millis(F.col("end_ms") + (F.col("k").cast("long") + 1)
                                            * F.lit(step_ms).cast("long")).alias("step_ts"),
                         *(F.col(f"f.{name}").alias(name) for name in FORECAST_FIELDS))).persist()
    _upsert(forecasts, settings, "gbm_forecasts")
    # epoch milliseconds: collect() would turn timestamps into naive local times of this process
    replace_latest_forecasts(settings, options.run_ms, forecasts.select(
        "symbol", F.unix_millis("step_ts").alias("step_ms"), *FORECAST_FIELDS).collect())
    forecasts.unpersist()
    _upsert(ok.select("symbol", run_ts.alias("run_ts"), "sample", "bin_edges", "bin_counts"), settings, "gbm_terminal")
    backtest_columns = ["bt_run_ms", "bt_steps", "bt_points", *(f"bt_{name}" for name in BACKTEST_FIELDS)]
    _upsert(ok.select("symbol", F.explode(F.arrays_zip(*backtest_columns)).alias("b"))
            .select("symbol", F.timestamp_millis("b.bt_run_ms").alias("run_ts"),
                    F.timestamp_millis("b.bt_run_ms").alias("forecast_run_ts"), run_ts.alias("evaluated_at"),
                    F.col("b.bt_steps").alias("forecast_steps"), F.col("b.bt_points").alias("points"),
                    *(F.col(f"b.bt_{name}").alias(name) for name in BACKTEST_FIELDS)),
            settings, "gbm_backtest")
    # the run's row last: a reader (the dashboard, the next run's backtest) that finds a run finds its parts
    _upsert(results.select(
        "symbol", run_ts.alias("run_ts"), "status", "skip_reason", "mu", "sigma", "nu", "se_mu", "se_sigma",
        "se_nu", "s0", "observations", "duration_seconds",
        F.timestamp_millis("start_ms").alias("estimation_start"),
        F.timestamp_millis("end_ms").alias("estimation_end"),
        F.timestamp_millis("end_ms").alias("forecast_start"),
        F.lit(options.paths).alias("paths"), F.lit(options.steps).alias("steps"),
        F.lit(float(options.horizon_seconds)).alias("horizon_seconds"),
        F.lit(float(options.step_seconds)).alias("step_seconds"),
        F.lit(options.seed).cast("long").alias("seed"), F.lit(options.antithetic).alias("antithetic"),
        F.lit(options.interval).alias("bar_interval"),
        F.lit(float(options.lookback_seconds)).alias("lookback_seconds"),
        (F.lit(_utc(int(options.next_run_ts.timestamp() * 1000))) if options.next_run_ts else F.lit(None))
        .cast("timestamp").alias("next_run_ts"),
    ), settings, "gbm_runs")


def replace_latest_forecasts(settings: Settings, run_ms: int, forecasts: list) -> None:
    """gbm_latest_forecasts := this run's steps (rows of symbol, step_ms and the band) for each symbol
    that ran; steps x symbols rows, written from the driver. Each partition is deleted with write time
    run time - 1 us and the steps written at the run time: whatever order two runs land in, only the
    newer run's steps remain (a partition tombstone shadows every older cell)."""
    from cassandra.concurrent import execute_concurrent_with_args

    from core import cassandra as cassandra_db

    if not forecasts:
        return
    written_us = run_ms * 1000
    keyspace = settings.cassandra.keyspace
    session = cassandra_db.connect(settings)
    try:
        delete = session.prepare(f"DELETE FROM {keyspace}.gbm_latest_forecasts USING TIMESTAMP ? WHERE symbol = ?")
        insert = session.prepare(
            f"INSERT INTO {keyspace}.gbm_latest_forecasts (symbol, step_ts, run_ts, {', '.join(FORECAST_FIELDS)}) "
            f"VALUES (?, ?, ?, {', '.join('?' for _ in FORECAST_FIELDS)}) USING TIMESTAMP ?")
        symbols = sorted({row["symbol"] for row in forecasts})
        # the delete first: a reader may see a partition empty for a moment, never two runs mixed
        execute_concurrent_with_args(session, delete, [(written_us - 1, symbol) for symbol in symbols])
        execute_concurrent_with_args(session, insert, [
            (row["symbol"], _utc(row["step_ms"]), _utc(run_ms), *(row[name] for name in FORECAST_FIELDS), written_us)
            for row in forecasts])
    finally:
        cassandra_db.close(session)

