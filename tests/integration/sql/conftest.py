"""The SQL tier's servers for the tests of this package only: `sql_market` — a keyspace and topic of
their own filled by the real stream processor (plus GBM rows written with cassandra-driver) — and
`sql_stack` — Trino and Superset on free ports with a private home. Started before the package's
first test and stopped after its last, so they never run beside the rest of the suite."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from core.config import Settings
from core.errors import TickplantError
from core.net import free_port
from tests.helpers import own_topic_and_keyspace, service_unavailable
from tests.helpers_sql import SYMBOLS, SqlMarket, SqlStack, _bars, _write_gbm
from tests.helpers_stream import StreamJob, caught_up, expected_trades, produce, synthetic_records, wait_until


@pytest.fixture(scope="package")
def sql_market(services: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Trades of three symbols over ~5 minutes ending 2 minutes ago, written by `tickplant stream`."""
    with own_topic_and_keyspace(services, "sql", symbols=SYMBOLS) as settings:
        now_ms = int(time.time() * 1000)
        start_ms = max(now_ms - 420_000, now_ms // 86_400_000 * 86_400_000 + 1)  # stays inside today (UTC)
        records = synthetic_records(SYMBOLS, 240, start_ms, step_ms=1_000, seed=11)
        produce(settings, records)
        home = tmp_path_factory.mktemp("sql-stream")
        job = StreamJob(settings, home, "--trigger", "1 second")
        try:
            wait_until(lambda: caught_up(settings, home) and _bars(settings) > 0, 300, "the pipeline's tables", job)
        finally:
            assert job.stop() == 0, job.tail()
        trades = expected_trades(records)
        first_bar = datetime.fromtimestamp(int(trades["t_ms"].min()) // 60_000 * 60, UTC)
        run_ts = datetime.fromtimestamp(int(trades["t_ms"].max()) // 1000, UTC)
        _write_gbm(settings, run_ts, first_bar, steps=12)
        yield SqlMarket(settings=settings, trades=trades, gbm_run_ts=run_ts, forecast_steps=12)


@pytest.fixture(scope="package")
def sql_stack(sql_market: SqlMarket, tmp_path_factory: pytest.TempPathFactory):
    """Trino and Superset for the market's keyspace, each on a free port, state in a private home."""
    from tickplant.runtime.superset import SupersetService
    from tickplant.runtime.trino import TrinoService

    home = tmp_path_factory.mktemp("sql-home")
    settings = sql_market.settings.replace(home=home)
    options = settings.replace(presto_url=f"http://127.0.0.1:{free_port()}", superset_port=free_port()).sql
    trino, superset = TrinoService(settings, options), SupersetService(settings, options)
    try:
        trino.start()
        superset.start()
    except TickplantError as exc:
        trino.stop()
        superset.stop()
        service_unavailable(f"the SQL services could not start: {exc}")
    generated = superset.new_admin_password.get_secret_value() if superset.new_admin_password else None
    yield SqlStack(market=sql_market, settings=settings, options=options, trino=trino, superset=superset,
                   first_password=generated)
    superset.stop()
    trino.stop()
