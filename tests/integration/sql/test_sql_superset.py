"""Superset provisioned by `--sql`: the Trino database, the six datasets and the Market overview
dashboard exist exactly once, every chart's data endpoint returns the pipeline's rows, a second
start duplicates nothing, a wrong password is refused, and an engine outage shows as a query
error and as `down` in `tickplant status` until the engine is started again."""

from __future__ import annotations

import json
import math
import stat
from datetime import UTC, datetime, timedelta

import pytest

from core.retry import wait_until
from tests.helpers import run_cli
from tests.helpers_sql import SYMBOLS, SqlStack, SupersetClient, admin_client, cql_rows

DATASETS = ["bars_1m", "gbm_latest_forecasts", "gbm_runs", "latest_prices", "trades", "trades_5s"]
CHARTS = ["GBM forecast bands vs actual close", "Latest prices", "Price by symbol", "Trades per interval",
          "Volume by symbol"]


def _contents(client: SupersetClient) -> dict[str, list[str]]:
    return {"database": sorted(d["database_name"] for d in client.listing("database")),
            "dataset": sorted(d["table_name"] for d in client.listing("dataset")),
            "chart": sorted(c["slice_name"] for c in client.listing("chart")),
            "dashboard": sorted(d["dashboard_title"] for d in client.listing("dashboard"))}


def _epoch_ms(value) -> int:
    """A chart's time value: epoch milliseconds in JSON results (an ISO string in some versions)."""
    if isinstance(value, (int, float)):
        return int(value)
    return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() * 1000)


def _chart_ids(client: SupersetClient) -> dict[str, int]:
    return {c["slice_name"]: c["id"] for c in client.listing("chart")}


def test_after_start_the_database_every_dataset_and_the_dashboard_exist_once(sql_stack: SqlStack):
    client = admin_client(sql_stack)
    assert _contents(client) == {"database": ["tickplant (Trino over Cassandra)"], "dataset": DATASETS,
                                 "chart": CHARTS, "dashboard": ["Market overview"]}
    database = client.listing("database")[0]
    detail = client.get(f"/api/v1/database/{database['id']}/connection")["result"]
    assert detail["sqlalchemy_uri"] == f"trino://tickplant@127.0.0.1:{sql_stack.options.presto_port}/cassandra"
    for dataset in client.listing("dataset"):
        assert dataset["schema"] == sql_stack.settings.cassandra.keyspace
    dashboard = client.get("/api/v1/dashboard/market-overview")["result"]
    metadata = json.loads(dashboard["json_metadata"])
    assert metadata["refresh_frequency"] == 60
    assert [f["name"] for f in metadata["native_filter_configuration"]] == ["Symbol"]
    charts = client.get("/api/v1/dashboard/market-overview/charts")["result"]
    assert sorted(c["slice_name"] for c in charts) == CHARTS


def test_each_chart_data_endpoint_returns_the_pipelines_rows(sql_stack: SqlStack):
    client = admin_client(sql_stack)
    data = {name: client.chart_data(chart_id) for name, chart_id in _chart_ids(client).items()}
    for name, answer in data.items():
        assert answer["status"] == 200, (name, answer)
        assert answer["result"][0]["rowcount"] > 0, name
    latest = {row["symbol"]: row["price"] for row in data["Latest prices"]["result"][0]["data"]}
    assert latest == {s: cql_rows(sql_stack, "SELECT price FROM latest_prices WHERE symbol = ?", (s,))[0]["price"]
                      for s in SYMBOLS}
    today = datetime.now(UTC).date()
    volume = {row["symbol"]: row["total_volume"] for row in data["Volume by symbol"]["result"][0]["data"]}
    for symbol in SYMBOLS:
        bars = [r for day in (today, today - timedelta(days=1)) for r in cql_rows(
            sql_stack, "SELECT volume FROM bars_1m WHERE symbol = ? AND trade_date = ?", (symbol, day))]
        assert math.isclose(volume[symbol], sum(r["volume"] for r in bars), rel_tol=1e-9)
    trades = sum(row["n_trades"] for row in data["Trades per interval"]["result"][0]["data"])
    assert trades == sum(r["trade_count"] for s in SYMBOLS for day in (today, today - timedelta(days=1))
                         for r in cql_rows(sql_stack, "SELECT trade_count FROM trades_5s WHERE symbol = ? "
                                                  "AND trade_date = ?", (s, day)))
    bands = data["GBM forecast bands vs actual close"]["result"][0]["data"]
    assert any(row["actual"] is not None for row in bands)
    # exactly the newest run's band (the older run's steps, an hour earlier, are not there)
    charted = sorted((row["symbol"], _epoch_ms(row["ts"]), row["forecast_p05"], row["forecast_p50"],
                      row["forecast_p95"]) for row in bands if row["forecast_p50"] is not None)
    stored = sorted((s, int(r["step_ts"].replace(tzinfo=UTC).timestamp() * 1000), r["p05"], r["p50"], r["p95"])
                    for s in SYMBOLS for r in cql_rows(sql_stack, "SELECT step_ts, run_ts, p05, p50, p95 FROM "
                                                                  "gbm_latest_forecasts WHERE symbol = ?", (s,))
                    if r["run_ts"] == sql_stack.market.gbm_run_ts.replace(tzinfo=None))
    assert len(stored) == len(SYMBOLS) * sql_stack.market.forecast_steps
    assert charted == stored
    assert {row["symbol"] for row in data["Price by symbol"]["result"][0]["data"]} == set(SYMBOLS)


def test_starting_twice_creates_no_duplicates_and_keeps_the_generated_secrets(sql_stack: SqlStack):
    from tickplant.runtime.superset import SupersetService

    assert sql_stack.first_password is not None, "the first start did not generate an admin password"
    superset = sql_stack.superset
    for secret_file in (superset.password_file, superset.dir / "secret-key", superset.config_file):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600, secret_file
    assert superset.password_file.read_text().strip() == sql_stack.first_password
    again = SupersetService(sql_stack.settings, sql_stack.options)
    status = again.start()
    assert status.state == "up" and again.new_admin_password is None
    assert superset.password_file.read_text().strip() == sql_stack.first_password
    client = admin_client(sql_stack)
    assert _contents(client) == {"database": ["tickplant (Trino over Cassandra)"], "dataset": DATASETS,
                                 "chart": CHARTS, "dashboard": ["Market overview"]}
    assert sql_stack.first_password not in superset.log_file.read_text(errors="replace")


def test_a_wrong_admin_password_is_refused(sql_stack: SqlStack):
    with pytest.raises(PermissionError, match="HTTP 401"):
        SupersetClient(sql_stack.superset.url, sql_stack.options.superset_admin_username, "not-the-password")
    with pytest.raises(PermissionError, match="HTTP 401"):
        SupersetClient(sql_stack.superset.url, "nobody", sql_stack.first_password or "x")


def _status_of(stack: SqlStack, name: str) -> dict:
    env = {"TICKPLANT_HOME": str(stack.settings.runtime.home), "CASSANDRA_KEYSPACE": stack.settings.cassandra.keyspace,
           "KAFKA_TOPIC": stack.settings.kafka.topic, "PRESTO_URL": stack.options.presto_url,
           "TICKPLANT_SUPERSET_PORT": str(stack.options.superset_port)}
    done = run_cli("status", "--json", env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    services = {s["name"]: s for s in json.loads(done.stdout)["services"]}
    return services[name]


def test_engine_stopped_shows_a_query_error_and_status_down_until_started_again(sql_stack: SqlStack):
    client = admin_client(sql_stack)
    chart = _chart_ids(client)["Latest prices"]
    assert _status_of(sql_stack, "trino")["state"] == "up"
    assert sql_stack.trino.stop() is True
    try:
        answer = client.chart_data(chart)
        assert answer["status"] != 200, answer
        assert answer.get("message") or answer.get("errors"), answer
        assert _status_of(sql_stack, "trino")["state"] == "down"
        assert _status_of(sql_stack, "superset")["state"] == "up"
    finally:
        sql_stack.trino.start()

    # Trino answers its first query before it has every catalog, and Superset's pool may hold a connection
    # to the engine that was stopped: the chart recovers within seconds of the start, not at once
    def recovered() -> dict | None:
        answer = client.chart_data(chart)
        return answer if answer["status"] == 200 else None

    answer = wait_until(recovered, 60, what="the chart answering after the engine's start", initial_s=0.5,
                        maximum_s=2.0)
    assert answer["result"][0]["rowcount"] == len(SYMBOLS)
    assert _status_of(sql_stack, "trino")["state"] == "up"
