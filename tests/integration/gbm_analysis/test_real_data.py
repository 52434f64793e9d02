"""Real data: the S&P 500 daily series shipped in the `arch` package, imported with
`tickplant import-history`, then `tickplant gbm --interval 1d`: the stored mu and sigma equal the
formulas computed directly with numpy on the same closes, and a later run backtests the earlier one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from gbm_analysis import model
from tests.helpers import run_cli

YEAR_S = 365.25 * 86400


def _direct_mle(days: np.ndarray, closes: np.ndarray) -> tuple[float, float]:
    """nu = sum r / sum dt; sigma^2 = (1/n) sum (r - nu dt)^2 / dt; mu = nu + sigma^2/2 (dt in years)."""
    r = np.diff(np.log(closes))
    dt = np.diff(days) * 86400 / YEAR_S
    nu = r.sum() / dt.sum()
    sigma2 = np.mean((r - nu * dt) ** 2 / dt)
    return nu + sigma2 / 2, np.sqrt(sigma2)


def test_sp500_history_imported_then_gbm_daily_equals_direct_numpy_and_fills_backtest(
        isolated, cassandra_session, tmp_path):
    from arch.data import sp500

    history = sp500.load()
    csv = tmp_path / "sp500.csv"
    history.to_csv(csv, index_label="Date", date_format="%Y-%m-%d")
    env = {"CASSANDRA_KEYSPACE": isolated.cassandra.keyspace}
    imported = run_cli("import-history", str(csv), "--symbol", "SPX", "--no-progress", env=env)
    assert imported.returncode == 0, imported.stderr[-2000:]

    frame = pd.read_csv(csv, parse_dates=["Date"])
    days = (frame["Date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    closes = frame["Close"].to_numpy(dtype=np.float64)
    runs = [datetime(2018, 6, 1, tzinfo=UTC), datetime(2019, 1, 1, tzinfo=UTC)]
    for run_ts in runs:
        result = run_cli("gbm", "--interval", "1d", "--symbols", "SPX", "--lookback", "30y", "--horizon", "30d",
                         "--paths", "4000", "--run-ts", run_ts.isoformat(), env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.splitlines()[-1].startswith(f"gbm run {run_ts.isoformat()}: 1 of 1 symbols forecast")

    stored = cassandra_session.prepare("SELECT * FROM gbm_runs WHERE symbol = ? AND run_ts = ?")
    for run_ts in runs:
        used = days < (run_ts.date() - date(1970, 1, 1)).days
        mu, sigma = _direct_mle(days[used], closes[used])
        row = cassandra_session.execute(stored, ("SPX", run_ts)).one()
        assert row["status"] == "ok" and row["observations"] == int(used.sum())
        assert abs(row["mu"] / mu - 1) < 1e-6 and abs(row["sigma"] / sigma - 1) < 1e-6
        assert row["s0"] == closes[used][-1]
    assert 0.1 < row["sigma"] < 0.3  # the index's long-run volatility, a sanity bound

    forecast = list(cassandra_session.execute(
        cassandra_session.prepare("SELECT * FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?"), ("SPX", runs[0])))
    assert len(forecast) == 30 and forecast[0]["step_ts"] == datetime(2018, 6, 1)  # last close 2018-05-31
    expected = model.backtest(np.array([f["step_ts"].replace(tzinfo=UTC).timestamp() for f in forecast]),
                              *(np.array([f[q] for f in forecast]) for q in ("p05", "p25", "p50", "p75", "p95")),
                              days * 86400.0, closes)
    backtest = cassandra_session.execute(
        cassandra_session.prepare("SELECT * FROM gbm_backtest WHERE symbol = ? AND run_ts = ?"),
        ("SPX", runs[0])).one()
    trading_days_in_window = int(((days >= 17683) & (days <= 17712)).sum())   # 2018-06-01 .. 2018-06-30
    assert backtest["points"] == expected.points == trading_days_in_window == 21
    assert backtest["evaluated_at"] == datetime(2019, 1, 1) and backtest["forecast_steps"] == 30
    for name in ("coverage_p05_p95", "coverage_p25_p75", "mae", "rmse", "mape"):
        assert backtest[name] == pytest.approx(getattr(expected, name), rel=1e-12), name
