"""`tickplant up --sql` as a real process: besides the pipeline it starts the SQL engine and Superset on
ports of this test's own; the engine answers with the pipeline's rows, Superset holds the provisioned
Market overview dashboard, and Ctrl-C stops the engine and Superset (ports free, exit code 0) while
the shared Kafka and Cassandra, which `up` did not start, keep running."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import requests

from core import cassandra as cassandra_db
from core import net
from core.retry import wait_until
from tests.helpers import ROOT

SYMBOLS = ("AAPL", "MSFT")


def _cql_trades(settings, day) -> int:
    session = cassandra_db.connect(settings)
    try:
        statement = session.prepare(f"SELECT COUNT(*) AS n FROM {settings.cassandra.keyspace}.trades "
                                    "WHERE symbol = ? AND trade_date = ?")
        return sum(session.execute(statement, (symbol, day)).one()["n"] for symbol in SYMBOLS)
    finally:
        cassandra_db.close(session)


def _sql_trades(presto_port: int, keyspace: str, day) -> int:
    import trino

    connection = trino.dbapi.connect(host="127.0.0.1", port=presto_port, user="tickplant", catalog="cassandra",
                                     schema=keyspace, request_timeout=60)
    try:
        cursor = connection.cursor()
        total = 0
        for symbol in SYMBOLS:   # one partition per query, as the datasets read them
            cursor.execute("SELECT count(*) FROM trades WHERE symbol = ? AND trade_date = ?", [symbol, day])
            total += cursor.fetchone()[0]
        return total
    finally:
        connection.close()


def _stop_sql_services(env: dict[str, str]) -> None:
    from core.config import Settings
    from tickplant.runtime.stack import stop_sql

    stop_sql(Settings.from_env(env, dotenv=Path("/nonexistent")))


def _wait(condition, timeout_s: float, what: str, process: subprocess.Popen) -> None:
    def reached() -> bool:
        assert process.poll() is None, f"`tickplant up --sql` exited with {process.returncode} waiting for {what}"
        return condition()

    wait_until(reached, timeout_s, what=what, initial_s=0.5, maximum_s=2.0)


def test_up_with_sql_serves_the_pipeline_through_trino_and_superset_and_stops_them_on_ctrl_c(isolated, tmp_path):
    presto_port, superset_port = net.free_port(), net.free_port()
    simulator_port, metrics_port = net.free_port(), net.free_port()
    password = "up-sql-" + secrets.token_hex(8)
    env = {**os.environ, "KAFKA_TOPIC": isolated.kafka.topic, "CASSANDRA_KEYSPACE": isolated.cassandra.keyspace,
           "TICKPLANT_SYMBOLS": ",".join(SYMBOLS), "TICKPLANT_SIMULATOR_PORT": str(simulator_port),
           "TICKPLANT_METRICS_PORT": str(metrics_port), "TICKPLANT_DASHBOARD_PORT": str(net.free_port()),
           "TICKPLANT_PRESTO_PORT": str(presto_port), "TICKPLANT_SUPERSET_PORT": str(superset_port),
           "SUPERSET_ADMIN_PASSWORD": password}
    for name in ("FINNHUB_API_TOKEN", "PRESTO_URL"):
        env.pop(name, None)
    # `up` keeps the SQL services' state beside the shared Kafka and Cassandra (TICKPLANT_HOME): what
    # this test creates there it removes again, so `tickplant status` of that home is unchanged
    home = isolated.runtime.home
    created = [home / name for name in ("trino", "superset") if not (home / name).exists()]
    output_file = tmp_path / "up.out"
    with output_file.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "tickplant", "up", "--sql", "--rate", "100", "--no-gbm",
                                    "--no-dashboard"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
    settings = isolated.replace(symbols=SYMBOLS)
    try:
        # the SQL services start before the pipeline: both answer once "tickplant is up" is printed
        _wait(lambda: "Ctrl-C stops everything cleanly." in output_file.read_text(), 900, "start-up", process)
        day = datetime.now(UTC).date()
        _wait(lambda: _cql_trades(settings, day) >= 100, 300, "100 trades in Cassandra", process)

        before = _cql_trades(settings, day)
        through_sql = _sql_trades(presto_port, settings.cassandra.keyspace, day)
        after = _cql_trades(settings, day)
        assert before <= through_sql <= after, (before, through_sql, after)

        superset = f"http://127.0.0.1:{superset_port}"
        assert requests.get(f"{superset}/health", timeout=30).text == "OK"
        login = requests.post(f"{superset}/api/v1/security/login", timeout=60,
                              json={"username": "admin", "password": password, "provider": "db"})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        dashboard = requests.get(f"{superset}/api/v1/dashboard/market-overview", headers=headers, timeout=60)
        assert dashboard.status_code == 200 and dashboard.json()["result"]["dashboard_title"] == "Market overview"
        database = requests.get(f"{superset}/api/v1/database/", headers=headers, timeout=60).json()["result"]
        assert [d["database_name"] for d in database] == ["tickplant (Trino over Cassandra)"]

        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if net.port_open("127.0.0.1", presto_port) or net.port_open("127.0.0.1", superset_port):
            _stop_sql_services(env)   # `up` was killed or failed to stop them: the assertions below say so
            leftover = True
        else:
            leftover = False
        for directory in created:
            shutil.rmtree(directory, ignore_errors=True)
    output = output_file.read_text()
    assert process.returncode == 0, output[-3000:]
    assert f"http://127.0.0.1:{superset_port}/superset/dashboard/market-overview/" in output
    assert f"sql engine     http://127.0.0.1:{presto_port}" in output
    assert "stopped." in output and password not in output
    assert not leftover, "Ctrl-C left the SQL engine or Superset running"
    for port in (presto_port, superset_port, simulator_port, metrics_port):
        assert not net.port_open("127.0.0.1", port), f"port {port} still open after Ctrl-C"
    # Kafka and Cassandra were running before `up`: it leaves them running
    assert net.port_open("127.0.0.1", 9092) and net.port_open("127.0.0.1", 9042)
