"""The SQL engine (Trino over Cassandra) returns exactly what cassandra-driver reads, on data the
real stream processor wrote: per-symbol counts, volume sums, latest prices and a partition-key
plus date filter; it is ready only when a real query answers, and is not started for a remote URL."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import ConfigError, ServiceError
from tests.helpers_sql import SYMBOLS, SqlStack, cql_rows


def _sql(stack: SqlStack, statement: str, params: list | None = None) -> list[list]:
    from tickplant.runtime.trino import trino_connection

    connection = trino_connection(stack.options, schema=stack.settings.cassandra.keyspace)
    try:
        cursor = connection.cursor()
        cursor.execute(statement, params)
        return cursor.fetchall()
    finally:
        connection.close()


def _days(stack: SqlStack) -> list:
    t_ms = stack.market.trades["t_ms"]
    first = datetime.fromtimestamp(int(t_ms.min()) / 1000, UTC).date()
    last = datetime.fromtimestamp(int(t_ms.max()) / 1000, UTC).date()
    return sorted({first, last})


def test_per_symbol_counts_and_volume_sums_through_sql_equal_cassandra(sql_stack: SqlStack):
    sent = sql_stack.market.trades
    for symbol in SYMBOLS:
        for day in _days(sql_stack):
            rows = cql_rows(sql_stack, "SELECT volume FROM trades WHERE symbol = ? AND trade_date = ?", (symbol, day))
            (count, volume), = _sql(sql_stack, "SELECT count(*), sum(volume) FROM trades "
                                               "WHERE symbol = ? AND trade_date = ?", [symbol, day])
            assert count == len(rows)
            assert math.isclose(volume or 0.0, sum(r["volume"] for r in rows), rel_tol=1e-12, abs_tol=1e-9)
        assert sum(_sql(sql_stack, "SELECT count(*) FROM trades WHERE symbol = ? AND trade_date = ?",
                        [symbol, day])[0][0] for day in _days(sql_stack)) == int((sent["symbol"] == symbol).sum())
    for table, column in (("trades_5s", "trade_count"), ("bars_1m", "trade_count")):
        for symbol in SYMBOLS:
            day = _days(sql_stack)[-1]
            rows = cql_rows(sql_stack, f"SELECT {column}, volume FROM {table} WHERE symbol = ? AND trade_date = ?",
                        (symbol, day))
            (count, trades, volume), = _sql(sql_stack, f"SELECT count(*), sum({column}), sum(volume) FROM {table} "
                                                       "WHERE symbol = ? AND trade_date = ?", [symbol, day])
            assert rows, f"{table} has no row for {symbol}"
            assert (count, trades) == (len(rows), sum(r[column] for r in rows))
            assert math.isclose(volume, sum(r["volume"] for r in rows), rel_tol=1e-12)


def test_latest_price_per_symbol_through_sql_equals_cassandra_and_the_newest_trade(sql_stack: SqlStack):
    sent = sql_stack.market.trades
    for symbol in SYMBOLS:
        (row,) = cql_rows(sql_stack, "SELECT price, volume, trade_timestamp FROM latest_prices WHERE symbol = ?",
                      (symbol,))
        ((price, volume, stamp),) = _sql(sql_stack, "SELECT price, volume, trade_timestamp FROM latest_prices "
                                                    "WHERE symbol = ?", [symbol])
        assert (price, volume) == (row["price"], row["volume"])
        assert stamp.astimezone(UTC).replace(tzinfo=None) == row["trade_timestamp"]
        newest = sent[sent["symbol"] == symbol]
        newest = newest[newest["t_ms"] == newest["t_ms"].max()]
        assert price in set(newest["price"])


def test_filter_on_partition_key_and_date_returns_the_rows_cql_returns(sql_stack: SqlStack):
    day = _days(sql_stack)[-1]
    for symbol in SYMBOLS:
        cql = cql_rows(sql_stack, "SELECT trade_id, price, volume FROM trades WHERE symbol = ? AND trade_date = ?",
                   (symbol, day))
        sql = _sql(sql_stack, "SELECT trade_id, price, volume FROM trades WHERE symbol = ? AND trade_date = ?",
                   [symbol, day])
        assert len(cql) > 0
        assert sorted(tuple(r) for r in sql) == sorted((r["trade_id"], r["price"], r["volume"]) for r in cql)
        # a clustering-key range inside the partition: the newest 30 s of that symbol's trades
        newest = max(r["trade_timestamp"] for r in cql_rows(
            sql_stack, "SELECT trade_timestamp FROM trades WHERE symbol = ? AND trade_date = ?", (symbol, day)))
        since = newest.replace(tzinfo=UTC) - timedelta(seconds=30)
        cql_recent = cql_rows(sql_stack, "SELECT trade_id FROM trades WHERE symbol = ? AND trade_date = ? "
                                     "AND trade_timestamp >= ?", (symbol, day, since))
        sql_recent = _sql(sql_stack, "SELECT trade_id FROM trades WHERE symbol = ? AND trade_date = ? "
                                     "AND trade_timestamp >= ?", [symbol, day, since])
        assert 0 < len(cql_recent) < len(cql)
        assert sorted(r[0] for r in sql_recent) == sorted(r["trade_id"] for r in cql_recent)
    # a day without data: no rows either way
    empty = day - timedelta(days=30)
    assert _sql(sql_stack, "SELECT count(*) FROM trades WHERE symbol = ? AND trade_date = ?", ["AAPL", empty]) == [[0]]


def test_partition_key_queries_are_pushed_down_to_cassandra(sql_stack: SqlStack):
    plan = "\n".join(r[0] for r in _sql(sql_stack, "EXPLAIN SELECT count(*) FROM trades "
                                                   "WHERE symbol = 'AAPL' AND trade_date = current_date"))
    assert "1 partitions [<UNPARTITIONED>]" not in plan and "partitions [" in plan


def _dataset_sql(stack: SqlStack, name: str) -> str:
    """A provisioned dataset's SQL as Superset runs it (the bundle's markers filled in)."""
    import yaml

    from tickplant.runtime.superset import BUNDLE_DIR

    text = (BUNDLE_DIR / "bundle" / "datasets" / "tickplant" / f"{name}.yaml").read_text(encoding="utf-8")
    symbols = ", ".join(f"'{s}'" for s in stack.settings.feed.symbols)
    return yaml.safe_load(text.replace("@KEYSPACE@", stack.settings.cassandra.keyspace)
                          .replace("@SYMBOLS@", symbols))["sql"]


def test_every_superset_dataset_reads_cassandra_by_partition_key_only(sql_stack: SqlStack):
    from tickplant.runtime.superset import BUNDLE_DIR

    names = sorted(p.stem for p in (BUNDLE_DIR / "bundle" / "datasets" / "tickplant").glob("*.yaml"))
    assert "gbm_latest_forecasts" in names and "gbm_forecasts" not in names
    expected_tables = {"bars_1m": ["bars_1m"] * 2, "trades": ["trades"] * 2, "trades_5s": ["trades_5s"] * 2,
                       "latest_prices": ["latest_prices"], "gbm_runs": ["gbm_runs"],
                       "gbm_latest_forecasts": ["bars_1m", "bars_1m", "gbm_latest_forecasts"]}
    assert sorted(expected_tables) == names
    for name in names:
        plan = "\n".join(r[0] for r in _sql(sql_stack, f"EXPLAIN {_dataset_sql(sql_stack, name)}"))
        # each scan: `CassandraTableHandle[relationHandle=<keyspace>:<table> <n> partitions [<keys>]]`; one the
        # connector could not key on is `1 partitions [<UNPARTITIONED>]` (a whole-table read) or has none
        scans = re.findall(r"CassandraTableHandle\[relationHandle=\w+:(\w+)( \d+ partitions \[[^\]]*\])?", plan)
        assert sorted(table for table, _ in scans) == expected_tables[name], (name, plan)
        assert all(keys and "<UNPARTITIONED>" not in keys for _, keys in scans), (name, plan)


def test_gbm_band_dataset_returns_exactly_the_newest_runs_steps(sql_stack: SqlStack):
    market = sql_stack.market
    rows = _sql(sql_stack, f"SELECT symbol, ts, p50, run_ts FROM ({_dataset_sql(sql_stack, 'gbm_latest_forecasts')}) "
                           "WHERE kind = 'forecast'")
    assert len(rows) == len(SYMBOLS) * market.forecast_steps
    assert {r[3].replace(tzinfo=None) for r in rows} == {market.gbm_run_ts.replace(tzinfo=None)}
    stored = sorted((s, r["step_ts"], r["p50"]) for s in SYMBOLS for r in cql_rows(
        sql_stack, "SELECT step_ts, p50 FROM gbm_latest_forecasts WHERE symbol = ?", (s,)))
    assert sorted((r[0], r[1].replace(tzinfo=None), r[2]) for r in rows) == stored


def test_engine_reports_its_version_and_a_remote_presto_url_is_never_started(sql_stack: SqlStack, tmp_path):
    from tickplant.runtime.trino import TrinoService

    status = sql_stack.trino.status()
    assert (status.state, status.version, status.managed) == ("up", "Trino 476", True)
    home = tmp_path / "home"
    settings = sql_stack.settings.replace(home=home, presto_url="http://presto.example.invalid:8080",
                                          service_timeout_s=5)
    remote = settings.sql
    service = TrinoService(settings, remote)
    assert remote.presto_external and not service.is_local
    with pytest.raises(ServiceError, match=r"presto\.example\.invalid"):
        service.start()     # a remote engine is asked, and it does not answer: nothing is run instead
    assert not home.exists(), "a start against a remote engine wrote a local engine's files"
    assert service.running_pid() is None
    assert service.stop() is True and service.status().state == "external-down"


def test_bad_sql_settings_are_refused_with_one_line():
    for env, message in (({"PRESTO_URL": "ftp://x:1"}, "PRESTO_URL"),
                         ({"TICKPLANT_SUPERSET_PORT": "99999"}, "TICKPLANT_SUPERSET_PORT"),
                         ({"SUPERSET_ADMIN_PASSWORD": "short"}, "SUPERSET_ADMIN_PASSWORD"),
                         ({"TICKPLANT_PRESTO_HEAP_MB": "lots"}, "TICKPLANT_PRESTO_HEAP_MB")):
        try:
            Settings.from_env(env, dotenv=Path("/nonexistent"))
        except ConfigError as exc:
            assert message in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError(f"{env} was accepted")
