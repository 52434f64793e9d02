"""`tickplant up` end to end: services, simulator, collector and stream processor as real processes;
trades reach Cassandra; `tickplant status` reports them; Ctrl-C stops every part cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from core import cassandra as cassandra_db
from tests.helpers import ROOT, run_cli
from tickplant import procs


def _own_ports() -> tuple[dict[str, str], int, int]:
    """Simulator, metrics and dashboard ports of this test's own (not 8765/9108/8501), so a second run beside it
    never collides; as environment variables and as numbers."""
    simulator_port, metrics_port = procs.free_port(), procs.free_port()
    return ({"TICKPLANT_SIMULATOR_PORT": str(simulator_port), "TICKPLANT_METRICS_PORT": str(metrics_port),
             "TICKPLANT_DASHBOARD_PORT": str(procs.free_port())},
            simulator_port, metrics_port)


def _trade_rows(settings) -> int:
    session = cassandra_db.connect(settings)
    try:
        statement = session.prepare(f"SELECT COUNT(*) AS n FROM {settings.cassandra_keyspace}.trades "
                                    "WHERE symbol = ? AND trade_date = ?")
        day = datetime.now(UTC).date()
        return sum(session.execute(statement, (symbol, day)).one()["n"] for symbol in settings.symbols)
    finally:
        cassandra_db.close(session)


def test_up_runs_the_pipeline_reports_status_and_stops_cleanly_on_ctrl_c(isolated):
    ports, simulator_port, metrics_port = _own_ports()
    env = {**os.environ, "KAFKA_TOPIC": isolated.kafka_topic, "CASSANDRA_KEYSPACE": isolated.cassandra_keyspace,
           "TICKPLANT_SYMBOLS": "AAPL,MSFT,BINANCE:BTCUSDT", **ports}
    env.pop("FINNHUB_API_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "tickplant", "up", "--rate", "300", "--keep-services"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        settings = isolated.replace(symbols=("AAPL", "MSFT", "BINANCE:BTCUSDT"))
        deadline = time.monotonic() + 240
        rows = 0
        while time.monotonic() < deadline and process.poll() is None:
            rows = _trade_rows(settings)
            if rows >= 500:
                break
            time.sleep(3)
        assert process.poll() is None, process.stdout.read()
        assert rows >= 500, f"only {rows} trades reached Cassandra in 240 s"

        # rows become readable before Spark records the batch as committed, and the batch's metrics row
        # (what status sums) is written after the commit: poll the status
        for _ in range(30):
            status = run_cli("status", "--json", env={k: env[k] for k in ("KAFKA_TOPIC", "CASSANDRA_KEYSPACE",
                                                                         "TICKPLANT_SYMBOLS")})
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            queries = {q["query"]: q for q in report["stream"]["queries"]}
            if queries["trades"]["committed_batch"] is not None and report["cassandra"]["rows"]["trades"] >= 500:
                break
            time.sleep(2)
        assert report["kafka"][isolated.kafka_topic]["records"] > 0
        assert report["cassandra"]["rows"]["trades"] >= 500
        assert queries["trades"]["committed_batch"] is not None and queries["trades"]["lag"] is not None

        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert f"simulator  ws://127.0.0.1:{simulator_port}" in output and "tickplant status" in output
    assert "stopped." in output
    assert not procs.port_open("127.0.0.1", simulator_port) and not procs.port_open("127.0.0.1", metrics_port)
    assert procs.port_open("127.0.0.1", 9092) and procs.port_open("127.0.0.1", 9042)  # --keep-services


def test_kill_9_of_up_takes_its_children_down_too(isolated):
    ports, simulator_port, metrics_port = _own_ports()
    env = {**os.environ, "KAFKA_TOPIC": isolated.kafka_topic, "CASSANDRA_KEYSPACE": isolated.cassandra_keyspace,
           **ports}
    env.pop("FINNHUB_API_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "tickplant", "up", "--rate", "50", "--no-stream",
                                "--keep-services"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (procs.port_open("127.0.0.1", simulator_port)
                                                   and procs.port_open("127.0.0.1", metrics_port)):
            time.sleep(0.5)
        assert procs.port_open("127.0.0.1", simulator_port) and procs.port_open("127.0.0.1", metrics_port)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (procs.port_open("127.0.0.1", simulator_port)
                                           or procs.port_open("127.0.0.1", metrics_port)):
        time.sleep(0.5)
    assert not procs.port_open("127.0.0.1", simulator_port) and not procs.port_open("127.0.0.1", metrics_port)
