"""End to end against known truth: the seeded simulator (calendar-time GBM with known sigma, three
virtual hours in half a minute) -> collector -> Kafka -> `tickplant stream` -> bars_1m -> `tickplant gbm`:
every symbol has a run, a forecast for every step and a terminal sample, and its estimated sigma is
within 3 standard errors of the simulator's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from collector.client import CollectorOptions
from collector.simulator import SimulatorConfig, SimulatorThread
from collector.simulator.market import SymbolModel
from core.retry import wait_until as core_wait_until
from gbm_analysis import model
from tests.helpers import run_cli
from tests.helpers_collector import running_collector
from tests.helpers_stream import StreamJob, caught_up, count_trades, read_partitioned, to_ms, wait_until

MODELS = {
    "AAPL": SymbolModel(0.10, 0.28, 230.0),
    "MSFT": SymbolModel(-0.20, 0.45, 420.0),
    "BINANCE:BTCUSDT": SymbolModel(0.20, 0.60, 95_000.0),
    "BINANCE:ETHUSDT": SymbolModel(0.15, 0.90, 3_300.0),
    "BINANCE:DOGEUSDT": SymbolModel(0.10, 1.40, 0.35),
}
TRADES, RATE, TIME_SCALE = 60_000, 2000, 360       # 3 virtual hours of trades in 30 s: ~180 bars a symbol


def test_simulated_gbm_through_the_pipeline_is_estimated_within_3_standard_errors(isolated, cassandra_session,
                                                                                    tmp_path: Path):
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=RATE, seed=8, max_trades=TRADES, time_scale=TIME_SCALE,
                                                models=MODELS, frame_trades=100)).start()
    job = StreamJob(isolated, tmp_path, "--trigger", "2 seconds")
    keyspace = isolated.cassandra.keyspace
    now = datetime.now(UTC)
    days = {(symbol, day) for symbol in MODELS
            for day in {(now - timedelta(hours=4)).date(), now.date(), (now + timedelta(minutes=5)).date()}}
    try:
        options = CollectorOptions(url=simulator.url, symbols=tuple(MODELS), metrics_port=0,
                                   spool_dir=tmp_path / "spool")
        with running_collector(isolated, options) as collector:
            core_wait_until(lambda: simulator.report()["done"], 120, what="the simulator sent every trade")
            assert collector.publisher.wait_idle(30)
        assert simulator.report()["trades"] == TRADES
    finally:
        simulator.stop()
    try:
        wait_until(lambda: count_trades(cassandra_session, keyspace, days) == TRADES and caught_up(isolated, tmp_path),
                   300, "every simulated trade in Cassandra", job)
    finally:
        assert job.stop() == 0

    run_ts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    result = run_cli("gbm", "--paths", "2000", "--lookback", "24h", "--horizon", "1h", "--run-ts", run_ts.isoformat(),
                     env={"CASSANDRA_KEYSPACE": keyspace, "TICKPLANT_SYMBOLS": ",".join(MODELS)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(MODELS)} of {len(MODELS)} symbols forecast" in result.stdout.splitlines()[-1]

    runs = cassandra_session.prepare(f"SELECT * FROM {keyspace}.gbm_runs WHERE symbol = ? AND run_ts = ?")
    forecasts = cassandra_session.prepare(
        f"SELECT COUNT(*) AS n FROM {keyspace}.gbm_forecasts WHERE symbol = ? AND run_ts = ?")
    terminal = cassandra_session.prepare(f"SELECT * FROM {keyspace}.gbm_terminal WHERE symbol = ? AND run_ts = ?")
    bars = [b for b in read_partitioned(cassandra_session, "bars_1m", keyspace, days)
            if to_ms(b["bar_start"]) <= to_ms(run_ts) - 60_000]
    for symbol, truth in MODELS.items():
        mine = sorted((to_ms(b["bar_start"]), b["close"]) for b in bars if b["symbol"] == symbol)
        assert len(mine) >= 150, (symbol, len(mine))
        expected = model.estimate(np.array([t for t, _ in mine]) / 1000.0, np.array([c for _, c in mine]))
        row = cassandra_session.execute(runs, (symbol, run_ts)).one()
        assert row["status"] == "ok" and row["observations"] == len(mine)
        assert abs(row["sigma"] / expected.sigma - 1) < 1e-9 and abs(row["mu"] - expected.mu) < 1e-9 * abs(expected.mu)
        assert abs(row["sigma"] - truth.sigma) < 3 * row["se_sigma"], (symbol, row["sigma"], row["se_sigma"])
        assert cassandra_session.execute(forecasts, (symbol, run_ts)).one()["n"] == 60
        stored = cassandra_session.execute(terminal, (symbol, run_ts)).one()
        assert len(stored["sample"]) == 1000 and sum(stored["bin_counts"]) == 2000
        assert np.all(np.isfinite(stored["sample"]))
