"""What the SQL tests share (their fixtures are in tests/integration/sql/conftest.py): the market
their stack reads, GBM rows written as the job writes them, and a small Superset REST client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import requests

from core import cassandra as cassandra_db
from core.config import Settings

SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT")


@dataclass(frozen=True)
class SqlMarket:
    settings: Settings          # own keyspace and topic, symbols = SYMBOLS
    trades: pd.DataFrame        # every trade sent through the pipeline
    gbm_run_ts: datetime        # the run written to gbm_runs / gbm_forecasts
    forecast_steps: int


@dataclass
class SqlStack:
    market: SqlMarket
    settings: Settings          # the market's settings with a private home
    options: object             # tickplant.runtime.sql_options.SqlOptions
    trino: object               # TrinoService
    superset: object            # SupersetService
    first_password: str | None  # what the first start generated (printed once)


def _write_gbm(settings: Settings, run_ts: datetime, first_bar: datetime, steps: int) -> None:
    """One GBM run per symbol and its forecast band, minute by minute from the first bar on, written
    as the GBM job writes it (gbm_latest_forecasts through the job's own function) after an older
    run whose steps start an hour earlier: a reader mixing the two would see twice the steps."""
    from gbm_analysis.io import replace_latest_forecasts

    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    try:
        run = session.prepare("INSERT INTO gbm_runs (symbol, run_ts, mu, sigma, s0, paths, steps, horizon_seconds, "
                              "step_seconds, observations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        band = session.prepare("INSERT INTO gbm_forecasts (symbol, run_ts, step_ts, mean, p05, p25, p50, p75, p95) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for age, level in ((timedelta(hours=1), 50.0), (timedelta(0), 100.0)):
            latest = []
            for n, symbol in enumerate(SYMBOLS):
                session.execute(run, (symbol, run_ts - age, 0.01, 0.2, level + n, 1000, steps, 60.0 * steps, 60.0, 50))
                for step in range(steps):
                    width = 0.5 * (step + 1)
                    step_ts = first_bar - age + timedelta(minutes=step)
                    values = (level + n, level - 2 * width, level - width, level + n, level + width, level + 2 * width)
                    session.execute(band, (symbol, run_ts - age, step_ts, *values))
                    latest.append({"symbol": symbol, "step_ms": int(step_ts.timestamp() * 1000),
                                   **dict(zip(("mean", "p05", "p25", "p50", "p75", "p95"), values, strict=True))})
            replace_latest_forecasts(settings, int((run_ts - age).timestamp() * 1000), latest)
    finally:
        cassandra_db.close(session)


def _bars(settings: Settings) -> int:
    from cassandra.util import Date

    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    try:
        statement = session.prepare("SELECT COUNT(*) AS n FROM bars_1m WHERE symbol = ? AND trade_date = ?")
        today = Date(datetime.now(UTC).date())
        return sum(session.execute(statement, (s, today)).one()["n"] for s in SYMBOLS)
    finally:
        cassandra_db.close(session)


class SupersetClient:
    """Logged-in REST calls (JWT) against one Superset."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.http = requests.Session()
        answer = self.http.post(f"{url}/api/v1/security/login", timeout=30,
                                json={"username": username, "password": password, "provider": "db"})
        if answer.status_code != 200:
            raise PermissionError(f"login refused: HTTP {answer.status_code}")
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: str) -> dict:
        answer = self.http.get(f"{self.url}{path}", params=params, timeout=120)
        answer.raise_for_status()
        return answer.json()

    def listing(self, what: str) -> list[dict]:
        return self.get(f"/api/v1/{what}/", q="(page_size:100)")["result"]

    def chart_data(self, chart_id: int) -> dict:
        answer = self.http.get(f"{self.url}/api/v1/chart/{chart_id}/data/", timeout=120)
        return {"status": answer.status_code, **answer.json()}


def admin_client(stack: SqlStack) -> SupersetClient:
    return SupersetClient(stack.superset.url, stack.options.superset_admin_username,
                          stack.superset.admin_password().get_secret_value())


def cql_rows(stack: SqlStack, statement: str, params: tuple) -> list[dict]:
    """What cassandra-driver returns for `statement` in the stack's keyspace: the reference the SQL
    results are compared with."""
    session = cassandra_db.connect(stack.settings, keyspace=stack.settings.cassandra.keyspace)
    try:
        return list(session.execute(session.prepare(statement), params))
    finally:
        cassandra_db.close(session)
