"""`tickplant export` against the real Cassandra: rows written by the project's code or prepared inserts
of the real schema, exported to Parquet, read back with pyarrow AND DuckDB: exact values and types."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.config import Settings
from gbm_analysis.history import DailyBar, ImportOptions, write_daily_bars
from stream_processor.cassandra_io import LatestPrices, close_driver_sessions
from tests.helpers import run_cli
from tickplant.export import ExportOptions, export_table

UTC_MS = pa.timestamp("ms", tz="UTC")


def at(day: int, hour: int, minute: int = 0, ms: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, 0, ms * 1000, tzinfo=UTC)


def cli(settings: Settings, *args: str):
    return run_cli("export", *args, env={"CASSANDRA_KEYSPACE": settings.cassandra.keyspace})


def duck(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.execute(sql.replace("FILE", f"read_parquet('{path}')")).fetchall()


def insert_trades(settings: Settings, session) -> None:
    insert = session.prepare(
        f"INSERT INTO {settings.cassandra.keyspace}.trades (symbol, trade_date, trade_timestamp, trade_id, price, "
        "volume, trade_conditions, ingest_timestamp, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    rows = [("AAPL", at(1, 14, 30, 125), "p-1-0", 230.125, 10.0, ["1", "12"]),
            ("AAPL", at(1, 14, 30, 126), "p-1-1", 230.5, 5.5, None),
            ("AAPL", at(2, 9, 0, 1), "p-2-0", 231.0, 1.0, ["37"]),
            ("AAPL", at(4, 9, 0, 0), "p-3-0", 240.0, 2.0, None),          # after the range
            ("MSFT", at(1, 23, 59, 999), "p-4-0", 420.25, 3.0, ["1"]),
            ("MSFT", datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC), "p-5-0", 419.0, 1.0, None)]  # before
    for symbol, stamp, trade_id, price, volume, conditions in rows:
        session.execute(insert, (symbol, stamp.date(), stamp, trade_id, price, volume, conditions,
                                 stamp + timedelta(milliseconds=7), "simulator"))


def test_export_trades_reads_back_exactly_with_pyarrow_and_duckdb(isolated, cassandra_session, tmp_path):
    insert_trades(isolated, cassandra_session)
    out = tmp_path / "trades.parquet"
    done = cli(isolated, "trades", "--symbol", "AAPL,MSFT", "--symbol", "AAPL", "--from", "2024-03-01",
               "--to", "2024-03-03", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "exported 4 row(s)" in done.stdout and "6 partition(s) read" in done.stdout
    table = pq.read_table(out)
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types == {"symbol": pa.string(), "trade_date": pa.date32(), "trade_timestamp": UTC_MS,
                     "trade_id": pa.string(), "ingest_timestamp": UTC_MS, "price": pa.float64(),
                     "source": pa.string(), "trade_conditions": pa.list_(pa.string()), "volume": pa.float64()}
    got = sorted((r["symbol"], r["trade_timestamp"], r["trade_id"], r["price"], r["volume"], r["trade_conditions"],
                  r["trade_date"], r["ingest_timestamp"]) for r in table.to_pylist())
    expected = [("AAPL", at(1, 14, 30, 125), "p-1-0", 230.125, 10.0, ["1", "12"]),
                ("AAPL", at(1, 14, 30, 126), "p-1-1", 230.5, 5.5, None),
                ("AAPL", at(2, 9, 0, 1), "p-2-0", 231.0, 1.0, ["37"]),
                ("MSFT", at(1, 23, 59, 999), "p-4-0", 420.25, 3.0, ["1"])]
    assert got == [(*row, row[1].date(), row[1] + timedelta(milliseconds=7)) for row in expected]
    rows = duck(out, "SELECT symbol, trade_timestamp, trade_id, price, volume, trade_conditions, trade_date "
                     "FROM FILE ORDER BY symbol, trade_timestamp")
    assert rows == [(*row, row[1].date()) for row in expected]
    assert duck(out, "SELECT typeof(trade_timestamp), typeof(trade_date), typeof(trade_conditions), "
                     "typeof(price) FROM FILE LIMIT 1") == [("TIMESTAMP WITH TIME ZONE", "DATE", "VARCHAR[]", "DOUBLE")]
    assert duck(out, "SELECT sum(volume), count(*) FROM FILE") == [(19.5, 4)]


def test_export_daily_bars_and_latest_prices_written_by_the_project_code(isolated, cassandra_session, tmp_path):
    bars = tuple(DailyBar("^GSPC", date(2024, 1, 1) + timedelta(days=i), 100.0 + i, 101.5 + i, 99.25 + i,
                          100.5 + i, 100.25 + i, 1e9 + i) for i in range(10))
    write_daily_bars(cassandra_session, isolated.cassandra.keyspace, bars,
                     ImportOptions(path=Path("-"), symbol="^GSPC", progress=False))
    out = tmp_path / "daily.parquet"
    result = export_table(cassandra_session, isolated.cassandra.keyspace, ExportOptions(
        "daily_bars", ("^GSPC",), date(2024, 1, 3), date(2024, 1, 6), out, fetch_size=2, batch_rows=3))
    assert (result.rows, result.partitions) == (4, 1)
    assert pq.ParquetFile(out).metadata.num_row_groups == 2              # 3 + 1: streamed in batches
    assert duck(out, "SELECT symbol, trade_date, open, high, low, close, adj_close, volume FROM FILE "
                     "ORDER BY trade_date") == [(b.symbol, b.trade_date, b.open, b.high, b.low, b.close, b.adj_close,
                                                 b.volume) for b in bars[2:6]]

    latest = LatestPrices(isolated)
    latest.write([{"symbol": "AAPL", "price": 230.5, "volume": 3.0, "t_ms": int(at(2, 10, 0, 5).timestamp() * 1000)},
                  {"symbol": "MSFT", "price": 420.0, "volume": 1.0, "t_ms": int(at(9, 10).timestamp() * 1000)}])
    close_driver_sessions()
    out = tmp_path / "latest.parquet"
    result = export_table(cassandra_session, isolated.cassandra.keyspace, ExportOptions(
        "latest_prices", ("AAPL", "MSFT", "NONE"), date(2024, 3, 1), date(2024, 3, 2), out))
    assert result.rows == 1
    assert pq.read_table(out).to_pylist() == [{"symbol": "AAPL", "price": 230.5, "trade_timestamp": at(2, 10, 0, 5),
                                               "volume": 3.0}]


def insert_runs(settings: Settings, session) -> list[datetime]:
    keyspace = settings.cassandra.keyspace
    run = session.prepare(f"INSERT INTO {keyspace}.gbm_runs (symbol, run_ts, mu, sigma, s0, paths, steps, "
                          "diagnostics, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    forecast = session.prepare(f"INSERT INTO {keyspace}.gbm_forecasts (symbol, run_ts, step_ts, mean, p05, p25, "
                               "p50, p75, p95) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    terminal = session.prepare(f"INSERT INTO {keyspace}.gbm_terminal (symbol, run_ts, sample, bin_edges, "
                               "bin_counts) VALUES (?, ?, ?, ?, ?)")
    runs = [at(1, 10), at(2, 23, 59, 999), at(3, 0)]          # the last is after a --to 2024-03-02
    for k, run_ts in enumerate(runs):
        session.execute(run, ("AAPL", run_ts, 0.1 + k, 0.3, 230.0, 1000, 2, {"se_sigma": 0.01 * (k + 1)}, "ok"))
        for step in (1, 2):
            base = 230.0 + k + step
            session.execute(forecast, ("AAPL", run_ts, run_ts + timedelta(minutes=step), base, base - 2, base - 1,
                                       base, base + 1, base + 2))
        session.execute(terminal, ("AAPL", run_ts, [229.5 + k, 230.5], [229.0, 230.0, 231.0], [3, 4 + k]))
    return runs


def test_export_gbm_tables_by_the_runs_in_range(isolated, cassandra_session, tmp_path):
    runs = insert_runs(isolated, cassandra_session)
    keyspace = isolated.cassandra.keyspace
    options = {"symbols": ("AAPL",), "date_from": date(2024, 3, 1), "date_to": date(2024, 3, 2)}
    forecasts = tmp_path / "forecasts.parquet"
    result = export_table(cassandra_session, keyspace, ExportOptions("gbm_forecasts", out=forecasts, **options))
    assert (result.rows, result.partitions) == (4, 2)
    assert duck(forecasts, "SELECT run_ts, step_ts, mean, p05, p95 FROM FILE ORDER BY run_ts, step_ts") == [
        (run_ts, run_ts + timedelta(minutes=step), 230.0 + k + step, 228.0 + k + step, 232.0 + k + step)
        for k, run_ts in enumerate(runs[:2]) for step in (1, 2)]

    terminal = tmp_path / "terminal.parquet"
    export_table(cassandra_session, keyspace, ExportOptions("gbm_terminal", out=terminal, **options))
    table = pq.read_table(terminal)
    assert table.schema.field("bin_counts").type == pa.list_(pa.int64())
    assert table.schema.field("sample").type == pa.list_(pa.float64())
    assert [(r["run_ts"], r["sample"], r["bin_edges"], r["bin_counts"]) for r in table.to_pylist()] == [
        (runs[0], [229.5, 230.5], [229.0, 230.0, 231.0], [3, 4]),
        (runs[1], [230.5, 230.5], [229.0, 230.0, 231.0], [3, 5])]

    runs_file = tmp_path / "runs.parquet"
    export_table(cassandra_session, keyspace, ExportOptions("gbm_runs", out=runs_file, **options))
    table = pq.read_table(runs_file)
    assert table.schema.field("diagnostics").type == pa.map_(pa.string(), pa.float64())
    assert table.schema.field("paths").type == pa.int32()
    assert sorted((r["run_ts"], r["mu"], r["paths"], r["diagnostics"]) for r in table.to_pylist()) == [
        (runs[0], 0.1, 1000, [("se_sigma", 0.01)]), (runs[1], 1.1, 1000, [("se_sigma", 0.02)])]
    assert duck(runs_file, "SELECT count(*), sum(mu) FROM FILE WHERE status = 'ok'") == [(2, 1.2000000000000002)]


def test_export_of_an_empty_range_is_a_valid_empty_file_with_the_schema(isolated, cassandra_session, tmp_path):
    out = tmp_path / "empty.parquet"
    result = export_table(cassandra_session, isolated.cassandra.keyspace, ExportOptions(
        "bars_1m", ("AAPL", "MSFT"), date(2020, 1, 1), date(2020, 1, 3), out))
    assert (result.rows, result.partitions) == (0, 6)
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert dict(zip(table.schema.names, table.schema.types, strict=True)) == {
        "symbol": pa.string(), "trade_date": pa.date32(), "bar_start": UTC_MS, "close": pa.float64(),
        "high": pa.float64(), "low": pa.float64(), "open": pa.float64(), "trade_count": pa.int64(),
        "volume": pa.float64(), "vwap": pa.float64()}
    assert duck(out, "SELECT count(*) FROM FILE") == [(0,)]


def test_export_refuses_a_reversed_range_and_an_unknown_table_before_connecting(tmp_path):
    env = {"CASSANDRA_HOSTS": "127.0.0.1", "CASSANDRA_PORT": "1"}    # nothing listens: the flags must fail first
    done = run_cli("export", "trades", "--from", "2024-03-02", "--to", "2024-03-01", "--out",
                   str(tmp_path / "x.parquet"), env=env, timeout=60)
    assert done.returncode == 2 and "--from 2024-03-02 is after --to 2024-03-01" in done.stderr
    done = run_cli("export", "orders", "--out", str(tmp_path / "x.parquet"), env=env, timeout=60)
    assert done.returncode == 2 and "invalid choice: 'orders'" in done.stderr
    assert not (tmp_path / "x.parquet").exists()
