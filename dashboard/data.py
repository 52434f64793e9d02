"""Every Cassandra read of the dashboard: pure functions over a `Store` (one driver session and its
prepared statements). Each statement names a partition key; day-bucketed tables are read one day
partition at a time over the window. Results are pandas DataFrames with UTC timestamps.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from cassandra import DriverException, OperationTimedOut, ReadTimeout, Unavailable
from cassandra.cluster import NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent_with_args

from core import cassandra as cassandra_db
from core.config import Settings
from core.errors import TickplantError

YEAR_S = 365.25 * 86400
# Any of these means "the database is not answering", never a bug of the page.
DATABASE_ERRORS = (NoHostAvailable, OperationTimedOut, ReadTimeout, Unavailable, DriverException, TickplantError)


class DatabaseUnavailable(Exception):
    """Cassandra did not answer; the message says where and why (never a secret)."""


@dataclass
class Store:
    """A session with the dashboard's prepared statements (prepared on first use)."""

    session: Session
    keyspace: str
    _prepared: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _statement(self, cql: str) -> Any:
        """`cql` prepared once per session ({ks} = keyspace)."""
        with self._lock:
            statement = self._prepared.get(cql)
            if statement is None:
                statement = self.session.prepare(cql.format(ks=self.keyspace))
                self._prepared[cql] = statement
            return statement

    def rows(self, cql: str, params: tuple) -> list[dict[str, Any]]:
        """Run the statement `cql` ({ks} = keyspace) with `params`; DatabaseUnavailable if Cassandra fails."""
        try:
            return list(self.session.execute(self._statement(cql), params, timeout=10))
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailable(_reason(exc)) from None

    def rows_many(self, cql: str, params: list[tuple]) -> list[dict[str, Any]]:
        """The rows of `cql` for every parameter tuple (e.g. one per day partition), read concurrently."""
        if not params:
            return []
        try:
            results = execute_concurrent_with_args(self.session, self._statement(cql), params, concurrency=16,
                                                   raise_on_first_error=True)
            return [row for _, rows in results for row in rows]
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailable(_reason(exc)) from None

    def close(self) -> None:
        try:
            cassandra_db.close(self.session)
        except Exception:  # closing a dead session must not hide the original error
            pass


def open_store(settings: Settings, timeout_s: float = 4.0) -> Store:
    try:
        session = cassandra_db.connect(settings, timeout_s=timeout_s)  # statements name their keyspace
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailable(_reason(exc)) from None
    return Store(session=session, keyspace=settings.cassandra.keyspace)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:240]


def days(start: datetime, end: datetime) -> Iterator[date]:
    """The UTC day partitions a [start, end] window touches, newest first."""
    day, first = end.astimezone(UTC).date(), start.astimezone(UTC).date()
    while day >= first:
        yield day
        day -= timedelta(days=1)


def _utc(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


# --- market tables -------------------------------------------------------------------------

def latest_price(store: Store, symbol: str) -> dict[str, Any] | None:
    rows = store.rows("SELECT symbol, price, volume, trade_timestamp FROM {ks}.latest_prices WHERE symbol = ?",
                      (symbol,))
    if not rows:
        return None
    row = dict(rows[0])
    row["trade_timestamp"] = pd.Timestamp(row["trade_timestamp"], tz="UTC")
    return row


def latest_prices(store: Store, symbols: Iterable[str], change_minutes: int = 5) -> pd.DataFrame:
    """Per symbol with data: price, last trade time and the change against the close `change_minutes`
    before that trade (the newest 5 s window starting at or before that moment, today or the day before)."""
    symbols = list(symbols)
    latest = store.rows_many("SELECT symbol, price, volume, trade_timestamp FROM {ks}.latest_prices WHERE symbol = ?",
                             [(symbol,) for symbol in symbols])
    moments = {row["symbol"]: pd.Timestamp(row["trade_timestamp"], tz="UTC") for row in latest}
    before: dict[str, tuple[datetime, float]] = {}
    params = []
    for symbol, moment in moments.items():
        back = (moment - timedelta(minutes=change_minutes)).to_pydatetime()
        params += [(symbol, day, back) for day in days(back - timedelta(days=1), back)]
    for row in store.rows_many("SELECT symbol, window_start, close FROM {ks}.trades_5s WHERE symbol = ? "
                               "AND trade_date = ? AND window_start <= ? LIMIT 1", params):
        known = before.get(row["symbol"])
        if known is None or row["window_start"] > known[0]:
            before[row["symbol"]] = (row["window_start"], float(row["close"]))
    records = []
    by_symbol = {row["symbol"]: row for row in latest}
    for symbol in symbols:  # in the configured order
        row = by_symbol.get(symbol)
        if row is None:
            continue
        base = before.get(symbol, (None, None))[1]
        change = None if base is None else row["price"] - base
        records.append({"symbol": symbol, "price": row["price"], "trade_timestamp": moments[symbol],
                        "change": change, "change_pct": None if change is None or not base else 100.0 * change / base})
    return pd.DataFrame(records, columns=["symbol", "price", "trade_timestamp", "change", "change_pct"])


_BAR_SELECT = {
    "trades_5s": ("SELECT window_start AS start, open, high, low, close, volume, trade_count, vwap "
                  "FROM {ks}.trades_5s WHERE symbol = ? AND trade_date = ? AND window_start >= ? AND window_start < ?"),
    "bars_1m": ("SELECT bar_start AS start, open, high, low, close, volume, trade_count, vwap "
                "FROM {ks}.bars_1m WHERE symbol = ? AND trade_date = ? AND bar_start >= ? AND bar_start < ?"),
}


def bars(store: Store, table: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """OHLCV rows of `trades_5s` or `bars_1m` with start in [start, end), indexed by start, ascending."""
    rows = store.rows_many(_BAR_SELECT[table], [(symbol, day, start, end) for day in days(start, end)])
    frame = pd.DataFrame(rows, columns=["start", "open", "high", "low", "close", "volume", "trade_count", "vwap"])
    frame = _utc(frame, ["start"]).set_index("start").sort_index()
    return frame


def daily_bars(store: Store, symbol: str) -> pd.DataFrame:
    """The whole imported daily history of a symbol (one partition), indexed by date, ascending."""
    rows = store.rows("SELECT trade_date, open, high, low, close, adj_close, volume FROM {ks}.daily_bars "
                      "WHERE symbol = ?", (symbol,))
    frame = pd.DataFrame(rows, columns=["trade_date", "open", "high", "low", "close", "adj_close", "volume"])
    frame["trade_date"] = pd.to_datetime([str(d) for d in frame["trade_date"]])
    return frame.set_index("trade_date").sort_index()


def history_source(store: Store, symbol: str) -> dict[str, Any] | None:
    """Where a symbol's daily history came from (history_sources, written by import-history), or None."""
    rows = store.rows("SELECT source, imported_at, rows FROM {ks}.history_sources WHERE symbol = ?", (symbol,))
    if not rows:
        return None
    row = dict(rows[0])
    row["imported_at"] = pd.Timestamp(row["imported_at"], tz="UTC") if row["imported_at"] else None
    return row


def has_daily_bars(store: Store, symbol: str) -> bool:
    return bool(store.rows("SELECT trade_date FROM {ks}.daily_bars WHERE symbol = ? LIMIT 1", (symbol,)))


# --- GBM tables ---------------------------------------------------------------------------

def gbm_runs(store: Store, symbol: str, limit: int = 200) -> pd.DataFrame:
    """A symbol's runs, newest first, with μ and σ standard errors (see `standard_errors`)."""
    rows = [dict(r) for r in store.rows("SELECT * FROM {ks}.gbm_runs WHERE symbol = ? LIMIT ?", (symbol, limit))]
    for row in rows:
        row["diagnostics"] = dict(row.get("diagnostics") or {})
        row.update(standard_errors(row))
    frame = pd.DataFrame(rows)
    return _utc(frame, ["run_ts", "estimation_start", "estimation_end", "forecast_start", "next_run_ts"])


def standard_errors(run: dict[str, Any]) -> dict[str, float | None]:
    """μ and σ standard errors: the run's se_mu/se_sigma (migration 002) or diagnostics when stored, else the
    asymptotic MLE ones from n and the window: se(σ) = σ/√(2n), se(μ) = √(σ²/T + σ⁴/(2n))."""
    diagnostics = run.get("diagnostics") or {}
    mu_se = _first(run.get("se_mu"), diagnostics.get("se_mu"), diagnostics.get("mu_se"))
    sigma_se = _first(run.get("se_sigma"), diagnostics.get("se_sigma"), diagnostics.get("sigma_se"))
    n, sigma = run.get("observations"), run.get("sigma")
    start, end = run.get("estimation_start"), run.get("estimation_end")
    if (mu_se is None or sigma_se is None) and n and sigma is not None and start is not None and end is not None:
        years = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / YEAR_S
        if sigma_se is None:
            sigma_se = sigma / math.sqrt(2 * n)
        if mu_se is None and years > 0:
            mu_se = math.sqrt(sigma**2 / years + sigma**4 / (2 * n))
    return {"mu_se": mu_se, "sigma_se": sigma_se}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))), None)


def gbm_forecast(store: Store, symbol: str, run_ts: datetime) -> pd.DataFrame:
    rows = store.rows("SELECT step_ts, mean, p05, p25, p50, p75, p95 FROM {ks}.gbm_forecasts "
                      "WHERE symbol = ? AND run_ts = ?", (symbol, run_ts))
    frame = pd.DataFrame(rows, columns=["step_ts", "mean", "p05", "p25", "p50", "p75", "p95"])
    return _utc(frame, ["step_ts"]).set_index("step_ts").sort_index()


def gbm_terminal(store: Store, symbol: str, run_ts: datetime) -> dict[str, list] | None:
    rows = store.rows("SELECT sample, bin_edges, bin_counts FROM {ks}.gbm_terminal WHERE symbol = ? AND run_ts = ?",
                      (symbol, run_ts))
    if not rows:
        return None
    return {key: list(rows[0][key] or []) for key in ("sample", "bin_edges", "bin_counts")}


def gbm_backtest(store: Store, symbol: str, limit: int = 500) -> pd.DataFrame:
    rows = store.rows("SELECT run_ts, forecast_run_ts, points, coverage_p05_p95, coverage_p25_p75, mae, rmse, mape "
                      "FROM {ks}.gbm_backtest WHERE symbol = ? LIMIT ?", (symbol, limit))
    frame = pd.DataFrame(rows, columns=["run_ts", "forecast_run_ts", "points", "coverage_p05_p95",
                                        "coverage_p25_p75", "mae", "rmse", "mape"])
    return _utc(frame, ["run_ts", "forecast_run_ts"]).sort_values("run_ts")


# --- pipeline tables ----------------------------------------------------------------------

METRIC_COLUMNS = ["query_name", "batch_time", "batch_id", "input_rows", "late_rows", "duration_ms",
                  "input_rows_per_second", "processed_rows_per_second", "latency_p50_ms", "latency_p99_ms"]


def pipeline_metrics(store: Store, query_names: Iterable[str], start: datetime, end: datetime) -> pd.DataFrame:
    cql = ("SELECT " + ", ".join(METRIC_COLUMNS) + " FROM {ks}.pipeline_metrics "
           "WHERE query_name = ? AND day = ? AND batch_time >= ? AND batch_time < ?")
    rows = store.rows_many(cql, [(name, day, start, end) for name in query_names for day in days(start, end)])
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return _utc(frame, ["batch_time"]).sort_values("batch_time")


def dead_letters(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    rows = store.rows_many("SELECT received_at, id, source, reason FROM {ks}.dead_letters "
                           "WHERE day = ? AND received_at >= ? AND received_at < ?",
                           [(day, start, end) for day in days(start, end)])
    frame = pd.DataFrame(rows, columns=["received_at", "id", "source", "reason"])
    return _utc(frame, ["received_at"]).sort_values("received_at")


def dead_letters_per_hour(letters: pd.DataFrame) -> pd.DataFrame:
    """Counts per (hour, reason), hour = received_at floored to the hour (UTC)."""
    if letters.empty:
        return pd.DataFrame(columns=["hour", "reason", "count"])
    hours = letters.assign(hour=letters["received_at"].dt.floor("h"))
    return hours.groupby(["hour", "reason"]).size().rename("count").reset_index()


def ping(store: Store) -> None:
    """A cheap query that proves Cassandra answers."""
    store.rows("SELECT release_version FROM system.local WHERE key = ?", ("local",))
