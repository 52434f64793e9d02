"""`tickplant gbm` against the real Cassandra and a real Spark session: bars_1m rows written with
prepared statements into the isolated keyspace -> every table of the run, exact against the model,
skipped symbols with their reasons, reproducible seeds, backtests, and partition-key-only reads.
The first run of the module is the command itself (its own Spark JVM, its output); the others run
the same job (`gbm_analysis.job.run`) in one real Spark session of this process, started once."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.retry import wait_until
from gbm_analysis import model
from tests.helpers import run_cli

RUN_1 = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)       # the window crosses midnight: two trade_date buckets
RUN_2 = RUN_1 + timedelta(hours=1)
PATHS, STEPS = 2000, 60


def _minute_bars(rng: np.random.Generator, start: datetime, minutes: int, s0: float, sigma: float,
                 missing_every: int = 0) -> list[tuple[datetime, float]]:
    """A GBM sampled each minute, with every `missing_every`-th minute absent (gaps in the feed)."""
    bars, price = [], s0
    dt = 60 / model.SECONDS_PER_YEAR
    for k in range(minutes):
        price *= math.exp((0.1 - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * rng.standard_normal())
        if missing_every and k % missing_every == missing_every - 1:
            continue
        bars.append((start + timedelta(minutes=k), round(price, 6)))
    return bars


@pytest.fixture
def market(cassandra_session, isolated):
    """AAA and BBB: 4 h of minute bars around RUN_1 (and an hour after it); TWO: 2 bars; FLAT: constant."""
    rng = np.random.default_rng(42)
    start = RUN_1 - timedelta(hours=3)
    series = {
        "AAA": _minute_bars(rng, start, 240, 180.0, 0.4, missing_every=7),
        "BBB": _minute_bars(rng, start, 240, 0.25, 0.9),
        "TWO": [(RUN_1 - timedelta(minutes=5), 10.0), (RUN_1 - timedelta(minutes=4), 10.5)],
        "FLAT": [(start + timedelta(minutes=k), 42.0) for k in range(120)],
    }
    insert = cassandra_session.prepare(
        "INSERT INTO bars_1m (symbol, trade_date, bar_start, open, high, low, close, volume, trade_count, vwap) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    for symbol, bars in series.items():
        for bar_start, close in bars:
            cassandra_session.execute(insert, (symbol, bar_start.date(), bar_start, close, close, close, close,
                                               1.0, 1, close))
    return series


def _gbm(isolated, *flags: str):
    return run_cli("gbm", "--paths", str(PATHS), "--horizon", "1h", "--lookback", "24h", *flags,
                   env={"CASSANDRA_KEYSPACE": isolated.cassandra.keyspace,
                        "TICKPLANT_SYMBOLS": "AAA,BBB,TWO,FLAT,NONE"})


@pytest.fixture(scope="module")
def module_spark(services):
    from core.spark import build_session

    session = build_session(services, "test-gbm-job")
    yield session
    session.stop()


@pytest.fixture
def spark(module_spark, isolated):
    """The module's session once its connector sees this test's keyspace: the connector's driver
    session outlives a test and learns of a keyspace created after it connected by a schema event,
    within about a second (a fresh `tickplant gbm` process reads the schema when it connects)."""
    from pyspark.errors import AnalysisException

    from gbm_analysis import io

    def visible() -> bool:
        try:
            return bool(io.table(module_spark, isolated, "gbm_runs").schema)
        except AnalysisException:
            return False

    wait_until(visible, 30, what=f"keyspace {isolated.cassandra.keyspace} visible to the Spark session",
               initial_s=0.2, maximum_s=1.0)
    return module_spark


def _gbm_here(spark, settings, *flags: str, symbols: str = "AAA,BBB,TWO,FLAT,NONE") -> int:
    """`tickplant gbm FLAGS` as the job in this process's Spark session: its exit code (output to stdout)."""
    from gbm_analysis import job
    from gbm_analysis.options import options_from_args
    from tickplant.cli import build_parser

    args = build_parser().parse_args(["gbm", "--symbols", symbols, *flags])
    return job.run(settings, options_from_args(settings, args), spark=spark)


def _closes_before(bars, run: datetime) -> tuple[np.ndarray, np.ndarray]:
    used = [(t, c) for t, c in bars if t <= run - timedelta(minutes=1)]
    return np.array([t.timestamp() for t, _ in used]), np.array([c for _, c in used])


def _forecast(session, symbol: str, run: datetime) -> list[dict]:
    query = session.prepare("SELECT * FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?")
    return list(session.execute(query, (symbol, run)))


def test_gbm_job_writes_every_table_exactly_and_skips_bad_symbols_with_reasons(isolated, cassandra_session, market,
                                                                              spark):
    result = _gbm(isolated, "--run-ts", RUN_1.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    runs = cassandra_session.prepare("SELECT * FROM gbm_runs WHERE symbol = ? AND run_ts = ?")
    for symbol in ("AAA", "BBB"):
        times, closes = _closes_before(market[symbol], RUN_1)
        expected = model.estimate(times, closes)
        row = cassandra_session.execute(runs, (symbol, RUN_1)).one()
        assert row["status"] == "ok" and row["skip_reason"] is None
        for name in ("mu", "sigma", "nu", "se_mu", "se_sigma", "se_nu", "s0"):
            assert row[name] == pytest.approx(getattr(expected, name), rel=1e-12), name
        assert row["observations"] == len(closes)
        assert (row["paths"], row["steps"], row["horizon_seconds"], row["step_seconds"]) == (PATHS, STEPS, 3600, 60)
        assert row["estimation_start"] == datetime.fromtimestamp(times[0], UTC).replace(tzinfo=None)
        assert row["estimation_end"] == row["forecast_start"] == RUN_1.replace(tzinfo=None) - timedelta(minutes=1)
        assert row["seed"] == 1 and row["antithetic"] is False and row["bar_interval"] == "1m"
        assert row["duration_seconds"] > 0

        forecast = _forecast(cassandra_session, symbol, RUN_1)
        assert [f["step_ts"] for f in forecast] == [RUN_1.replace(tzinfo=None) + timedelta(minutes=k)
                                                     for k in range(STEPS)]
        values = np.array([[f[q] for q in ("mean", "p05", "p25", "p50", "p75", "p95")] for f in forecast])
        assert np.all(np.isfinite(values)) and np.all(np.diff(values[:, 1:], axis=1) > 0)
        direct = model.forecast(expected.s0, expected.mu, expected.sigma, 60 / model.SECONDS_PER_YEAR, STEPS, PATHS,
                                model.path_rng(1, symbol, int(RUN_1.timestamp() * 1000)))
        np.testing.assert_allclose(values[:, 3], direct.p50, rtol=1e-12)
        np.testing.assert_allclose(values[:, 0], direct.mean, rtol=1e-12)

        terminal = cassandra_session.execute(
            cassandra_session.prepare("SELECT * FROM gbm_terminal WHERE symbol = ? AND run_ts = ?"),
            (symbol, RUN_1)).one()
        assert len(terminal["sample"]) == 1000 and sum(terminal["bin_counts"]) == PATHS
        np.testing.assert_allclose(terminal["sample"], direct.terminal[:1000], rtol=1e-12)
        assert len(terminal["bin_edges"]) == len(terminal["bin_counts"]) + 1

    reasons = {symbol: cassandra_session.execute(runs, (symbol, RUN_1)).one()["skip_reason"]
               for symbol in ("TWO", "FLAT", "NONE")}
    assert reasons == {"TWO": "2 observations in the window, fewer than the minimum 30",
                       "FLAT": "zero variance: the close never changes",
                       "NONE": "no closes in the window"}
    for symbol in ("TWO", "FLAT", "NONE"):
        row = cassandra_session.execute(runs, (symbol, RUN_1)).one()
        assert row["status"] == "skipped" and row["mu"] is None and row["sigma"] is None
        assert _forecast(cassandra_session, symbol, RUN_1) == []
    lines = result.stdout.splitlines()
    assert any(line.startswith("AAA") and "mu=" in line and "p50@60x1m=" in line for line in lines)
    assert "FLAT                 skipped: zero variance: the close never changes" in lines
    assert lines[-1].startswith("gbm run 2026-03-10T01:00:00+00:00: 2 of 5 symbols forecast, 2000 paths x 60 steps")

    # The next hour: the same seed reproduces run 1 exactly, and run 2 backtests run 1 on the closes since.
    first_forecast = _forecast(cassandra_session, "AAA", RUN_1)
    cassandra_session.execute(cassandra_session.prepare("DELETE FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?"),
                              ("AAA", RUN_1))
    same = ("--paths", str(PATHS), "--horizon", "1h", "--lookback", "24h")
    assert _gbm_here(spark, isolated, *same, "--run-ts", RUN_1.isoformat()) == 0
    assert _forecast(cassandra_session, "AAA", RUN_1) == first_forecast
    assert _gbm_here(spark, isolated, *same, "--run-ts", RUN_2.isoformat()) == 0
    backtests = cassandra_session.prepare("SELECT * FROM gbm_backtest WHERE symbol = ? AND run_ts = ?")
    for symbol in ("AAA", "BBB"):
        forecast = _forecast(cassandra_session, symbol, RUN_1)
        times, closes = _closes_before(market[symbol], RUN_2)
        expected = model.backtest(np.array([f["step_ts"].replace(tzinfo=UTC).timestamp() for f in forecast]),
                                  *(np.array([f[q] for f in forecast]) for q in ("p05", "p25", "p50", "p75", "p95")),
                                  times, closes)
        row = cassandra_session.execute(backtests, (symbol, RUN_1)).one()
        assert row["evaluated_at"] == RUN_2.replace(tzinfo=None) and row["forecast_run_ts"] == row["run_ts"]
        assert row["points"] == expected.points == (51 if symbol == "AAA" else 60)
        assert row["forecast_steps"] == STEPS
        for name in ("coverage_p05_p95", "coverage_p25_p75", "mae", "rmse", "mape"):
            assert row[name] == pytest.approx(getattr(expected, name), rel=1e-12), name


def test_gbm_run_in_which_no_symbol_can_run_exits_non_zero(isolated, market, spark, capsys):
    assert _gbm_here(spark, isolated, "--paths", "100", "--run-ts", RUN_1.isoformat(), symbols="TWO,FLAT") == 1
    printed = capsys.readouterr()
    assert "gbm: no symbol could be run" in printed.err
    assert "0 of 2 symbols forecast" in printed.out


def test_gbm_flags_are_refused_before_spark_starts():
    for flags, message in ((["--lookback", "3x"], "'3x' is not a duration"),
                           (["--interval", "5m"], "invalid choice: '5m'"),
                           (["--horizon", "90s"], "horizon 90s is not a whole number of 1m steps"),
                           (["--antithetic", "--paths", "7"], "antithetic variates need an even number of paths"),
                           (["--run-ts", "yesterday"], "'yesterday' is not an ISO time")):
        result = run_cli("gbm", *flags, timeout=60)
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr)
        assert "SparkContext" not in result.stderr


def test_gbm_reads_only_partition_keys(isolated, spark):
    from gbm_analysis import io
    from gbm_analysis.options import GbmOptions

    options = GbmOptions(symbols=("AAA", "BBB"), run_ts=RUN_1)
    plan = io.read_closes(spark, isolated, options)._jdf.queryExecution().executedPlan().toString()
    assert '["symbol" IN (?, ?), (AAA, BBB)]' in plan
    assert '["trade_date" IN (?, ?), (2026-03-09, 2026-03-10)]' in plan
    daily = io.read_closes(spark, isolated, GbmOptions(symbols=("SPX",), run_ts=RUN_1, interval="1d",
                                                       lookback_seconds=5 * 365.25 * 86400, horizon_seconds=86400))
    daily_plan = daily._jdf.queryExecution().executedPlan().toString()
    assert '["symbol" = ?, SPX]' in daily_plan or '["symbol" IN (?), (SPX)]' in daily_plan
    assert '"trade_date" >= ?' in daily_plan


def test_gbm_on_5s_windows_uses_the_completed_windows_and_stores_the_next_run(isolated, cassandra_session, spark,
                                                                              capsys):
    """What the loop runs on a fresh start: trades_5s closes (the running window left out) give the same
    MLE as numpy on those closes; the run records when the next one is planned."""
    rng = np.random.default_rng(5)
    run = datetime(2026, 3, 10, 0, 0, 30, tzinfo=UTC)            # the hour before crosses midnight
    insert = cassandra_session.prepare("INSERT INTO trades_5s (symbol, trade_date, window_start, close) "
                                       "VALUES (?, ?, ?, ?)")
    windows, price = [], 95_000.0
    for k in range(-40, 1):                                      # k = 0 starts at the run: still running
        start = run + timedelta(seconds=5 * k)
        price *= math.exp(0.0004 * rng.standard_normal())
        windows.append((start, round(price, 2)))
        cassandra_session.execute(insert, ("BTC", start.date(), start, round(price, 2)))
    planned = run + timedelta(minutes=10)
    assert _gbm_here(spark, isolated, "--interval", "5s", "--paths", "500", "--min-observations", "12",
                     "--run-ts", run.isoformat(), "--next-run-at", planned.isoformat(), symbols="BTC") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        f"gbm run {run.isoformat()}: 1 of 1 symbols forecast, 500 paths x 180 steps of 5s")
    used = [(t, c) for t, c in windows if t <= run - timedelta(seconds=5)]
    expected = model.estimate(np.array([t.timestamp() for t, _ in used]), np.array([c for _, c in used]))
    row = cassandra_session.execute(cassandra_session.prepare(
        "SELECT * FROM gbm_runs WHERE symbol = ? AND run_ts = ?"), ("BTC", run)).one()
    assert (row["status"], row["bar_interval"], row["observations"], row["steps"]) == ("ok", "5s", 40, 180)
    assert (row["step_seconds"], row["horizon_seconds"], row["lookback_seconds"]) == (5.0, 900.0, 3600.0)
    assert row["mu"] == pytest.approx(expected.mu, rel=1e-9) and row["sigma"] == pytest.approx(expected.sigma, rel=1e-9)
    assert row["s0"] == used[-1][1]
    assert row["next_run_ts"].replace(tzinfo=UTC) == planned
    assert len(_forecast(cassandra_session, "BTC", run)) == 180
