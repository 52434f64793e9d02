"""`tickplant up` end to end: services, simulator, collector and stream processor as real processes;
trades reach Cassandra; `tickplant status` reports them; Ctrl-C stops every part cleanly and, with
--keep-services, leaves the services `up` started running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from core import net
from core.config import Settings
from core.retry import wait_until
from tests.helpers import ROOT, close_shared_sessions, private_env, run_cli, shared_session
from tickplant.runtime import stack as runtime


def _own_ports() -> tuple[dict[str, str], int, int]:
    """Simulator, metrics and dashboard ports of this test's own (not 8765/9108/8501), so a second run beside it
    never collides; as environment variables and as numbers."""
    simulator_port, metrics_port = net.free_port(), net.free_port()
    return ({"TICKPLANT_SIMULATOR_PORT": str(simulator_port), "TICKPLANT_METRICS_PORT": str(metrics_port),
             "TICKPLANT_DASHBOARD_PORT": str(net.free_port())},
            simulator_port, metrics_port)


def _trade_rows(settings) -> int:
    session = shared_session(settings)
    statement = session.prepare(f"SELECT COUNT(*) AS n FROM {settings.cassandra.keyspace}.trades "
                                "WHERE symbol = ? AND trade_date = ?")
    day = datetime.now(UTC).date()
    return sum(session.execute(statement, (symbol, day)).one()["n"] for symbol in settings.feed.symbols)


def test_up_starts_the_services_runs_the_pipeline_reports_status_and_keeps_the_services_after_ctrl_c(tmp_path):
    """`up` starts Kafka and Cassandra of its own (a private home and ports: nothing runs there yet), so
    that `--keep-services` has something to keep: after Ctrl-C they still answer, and only then are
    they stopped here."""
    ports, simulator_port, metrics_port = _own_ports()
    symbols = ("AAPL", "MSFT", "BINANCE:BTCUSDT")
    env = {**os.environ, **private_env(tmp_path / "var"), "TICKPLANT_SYMBOLS": ",".join(symbols), **ports}
    env.pop("FINNHUB_API_TOKEN", None)
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    kafka_port, cassandra_port = settings.kafka.port, settings.cassandra.port
    assert not net.port_open("127.0.0.1", kafka_port) and not net.port_open("127.0.0.1", cassandra_port)
    process = subprocess.Popen([sys.executable, "-m", "tickplant", "up", "--rate", "300", "--keep-services",
                                "--no-gbm"],   # the GBM loop under `up`: tests/browser/test_first_start.py
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        def running(condition):
            def check():
                assert process.poll() is None, process.stdout.read()
                return condition()
            return check

        def rows_reached() -> bool:
            if not net.port_open("127.0.0.1", cassandra_port):
                return False
            try:
                return _trade_rows(settings) >= 500
            except Exception:  # noqa: BLE001 - the keyspace is being created: not yet
                return False

        wait_until(running(rows_reached), 300, what="500 trades in Cassandra", initial_s=1.0, maximum_s=3.0)

        # rows become readable before Spark records the batch as committed, and the batch's metrics row
        # (what status sums) is written after the commit: poll the status
        def status_counts() -> dict | None:
            status = run_cli("status", "--json", env={k: env[k] for k in env if k.startswith(("TICKPLANT_",
                                                                                            "KAFKA_", "CASSANDRA_"))})
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            queries = {q["query"]: q for q in report["stream"]["queries"]}
            done = queries["trades"]["committed_batch"] is not None and report["cassandra"]["rows"]["trades"] >= 500
            return (report, queries) if done else None

        report, queries = wait_until(running(status_counts), 90, what="status reporting the trades",
                                     initial_s=1.0, maximum_s=2.0)
        assert report["kafka"][settings.kafka.topic]["records"] > 0
        assert queries["trades"]["lag"] is not None

        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
        assert f"simulator  ws://127.0.0.1:{simulator_port}" in output and "tickplant status" in output
        assert "stopped." in output
        # a quiet start: one line per service as it comes up, no retry of the expected start-up wait, URLs last
        assert "retrying" not in output, output
        lines = output.splitlines()
        assert [line.split()[0] for line in lines if " up in " in line] == ["kafka", "cassandra"]
        assert any(line.startswith("  history    imported in ") and "daily bars of SAMPLE:SP500" in line
                   for line in lines), output
        up_at, ctrl_c_at = lines.index("tickplant is up:"), lines.index("Ctrl-C stops everything cleanly.")
        assert [line.split()[0] for line in lines[up_at + 1:ctrl_c_at]][-2:] == ["collector", "dashboard"]
        assert not [line for line in lines[:ctrl_c_at] if "level=info" in line], output
        assert not net.port_open("127.0.0.1", simulator_port) and not net.port_open("127.0.0.1", metrics_port)
        # --keep-services: the Kafka and Cassandra that `up` started itself still answer
        assert [s.state for s in runtime.status_all(settings)] == ["up", "up"]
        assert _trade_rows(settings) >= 500
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        close_shared_sessions(settings)
        runtime.stop_all(settings)


def test_kill_9_of_up_takes_its_children_down_too(isolated):
    ports, simulator_port, metrics_port = _own_ports()
    env = {**os.environ, "KAFKA_TOPIC": isolated.kafka.topic, "CASSANDRA_KEYSPACE": isolated.cassandra.keyspace,
           **ports}
    env.pop("FINNHUB_API_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "tickplant", "up", "--rate", "50", "--no-stream",
                                "--keep-services"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)

    def both_open() -> bool:
        return net.port_open("127.0.0.1", simulator_port) and net.port_open("127.0.0.1", metrics_port)

    try:
        wait_until(both_open, 60, what="the simulator and the collector's metrics port", initial_s=0.2, maximum_s=0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    wait_until(lambda: not (net.port_open("127.0.0.1", simulator_port) or net.port_open("127.0.0.1", metrics_port)),
               60, what="the children of the killed `up` gone", initial_s=0.2, maximum_s=0.5)
