"""The jobs on the rehearsal cluster's Spark standalone master (issue 21): `services status --nodes 3`
lists every node; `SPARK_MASTER=spark://… tickplant gbm` writes the same estimates as local mode on
the same bars; the stream job, started by docs/deploy.md's own `spark-submit` line with the
`tickplant package` artifacts and restarted from its checkpoint as `SPARK_MASTER=spark://… tickplant
stream`, writes every table exactly; and the GBM job's documented line with
the packed environment (`--archives`) runs on executors that have only that environment."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gbm_analysis import model
from tests.helpers import run_cli
from tests.helpers_stream import ROOT, assert_tables_match, caught_up, expected_trades, produce, synthetic_records
from tests.helpers_stream import wait_until as wait_for_job

RUN = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")
STREAM_SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]
DOCUMENTED_MASTER = "spark://127.0.0.1:7077"
UNPACKED = "spark-worker-*/work/app-*/*/venv/bin/python"   # an executor's copy of dist/venv.tar.gz


def documented_line(comment: str) -> str:
    """The shell command under `# <comment>` in docs/deploy.md, continuation lines joined."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    match = re.search(rf"^# {re.escape(comment)}[^\n]*\n((?:.*\\\n)*.*\S)$", text, re.M)
    assert match, f"docs/deploy.md has no command under '# {comment}'"
    return match.group(1).replace("\\\n", " ")


def master(settings) -> str:
    return f"spark://127.0.0.1:{settings.spark.master_port}"


def applications(settings) -> dict[str, str]:
    """id -> name of every application the master has run or runs."""
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.spark.master_ui_port}/json/", timeout=10) as answer:
        state = json.loads(answer.read())
    return {app["id"]: app["name"] for app in [*state["activeapps"], *state["completedapps"]]}


def cli_env(settings, **extra: str) -> dict[str, str]:
    return {"CASSANDRA_KEYSPACE": settings.cassandra.keyspace, "KAFKA_TOPIC": settings.kafka.topic,
            "TICKPLANT_STREAM_METRICS_PORT": "0", **extra}


def test_status_nodes_3_lists_the_spark_nodes_with_name_address_pid_and_state(spark_cluster):
    # here the Spark nodes run beside the shared single Kafka and Cassandra (the three Kafka and three
    # Cassandra nodes of --nodes 3 are test_cluster_nodes.py's, on ports of their own)
    result = run_cli("services", "status", "--nodes", "3", "--json")
    nodes = {n["name"]: n for n in json.loads(result.stdout)["services"]}
    spark = [nodes[name] for name in ("spark-master", "spark-worker-1", "spark-worker-2")]
    settings = spark_cluster
    assert [n["address"] for n in spark] == [
        f"127.0.0.1:{settings.spark.master_port}", f"127.0.0.1:{settings.spark.worker_port}",
        f"127.0.0.1:{settings.spark.worker_port + 1}"]
    assert all(n["state"] == "up" and n["pid"] for n in spark)
    # without --nodes 3 the single-node view is unchanged
    single = json.loads(run_cli("services", "status", "--json").stdout)["services"]
    assert [n["name"] for n in single] == ["kafka", "cassandra"]


def _minute_bars(rng: np.random.Generator, start: datetime, minutes: int, s0: float, sigma: float):
    bars, price, dt = [], s0, 60 / model.SECONDS_PER_YEAR
    for k in range(minutes):
        price *= math.exp((0.1 - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * rng.standard_normal())
        bars.append((start + timedelta(minutes=k), round(price, 6)))
    return bars


@pytest.fixture
def bars(cassandra_session):
    """AAA and BBB: three hours of minute bars before RUN."""
    rng = np.random.default_rng(21)
    series = {"AAA": _minute_bars(rng, RUN - timedelta(hours=3), 180, 180.0, 0.4),
              "BBB": _minute_bars(rng, RUN - timedelta(hours=3), 180, 0.25, 0.9)}
    insert = cassandra_session.prepare(
        "INSERT INTO bars_1m (symbol, trade_date, bar_start, open, high, low, close, volume, trade_count, vwap) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    for symbol, rows in series.items():
        for bar_start, close in rows:
            cassandra_session.execute(insert, (symbol, bar_start.date(), bar_start, close, close, close, close,
                                               1.0, 1, close))
    return series


GBM_FLAGS = ("--paths", "500", "--horizon", "1h", "--lookback", "24h", "--run-ts", RUN.isoformat(),
             "--symbols", ",".join(SYMBOLS))


def _runs(session) -> dict[str, dict]:
    query = session.prepare("SELECT * FROM gbm_runs WHERE symbol = ? AND run_ts = ?")
    rows = {symbol: session.execute(query, (symbol, RUN)).one() for symbol in SYMBOLS}
    forecast = session.prepare("SELECT p50 FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?")
    return {symbol: {"mu": row["mu"], "sigma": row["sigma"], "s0": row["s0"], "observations": row["observations"],
                     "p50": [r["p50"] for r in session.execute(forecast, (symbol, RUN))]}
            for symbol, row in rows.items() if row is not None}


def test_gbm_on_the_standalone_master_writes_the_same_estimates_as_local_mode(spark_cluster, isolated,
                                                                             cassandra_session, bars):
    before = applications(spark_cluster)
    on_cluster = run_cli("gbm", *GBM_FLAGS, env=cli_env(isolated, SPARK_MASTER=master(spark_cluster)))
    assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    assert "tickplant-gbm" in {name for app, name in applications(spark_cluster).items() if app not in before}
    cluster_runs = _runs(cassandra_session)
    assert set(cluster_runs) == set(SYMBOLS)
    for symbol, series in bars.items():
        closes = np.array([close for _, close in series])
        times = np.array([start.timestamp() for start, _ in series])
        expected = model.estimate(times, closes)
        assert cluster_runs[symbol]["mu"] == pytest.approx(expected.mu, rel=1e-12)
        assert cluster_runs[symbol]["sigma"] == pytest.approx(expected.sigma, rel=1e-12)
    # the same run in local mode rewrites the same rows with the same values
    cassandra_session.execute("TRUNCATE gbm_runs")
    local = run_cli("gbm", *GBM_FLAGS, env=cli_env(isolated, SPARK_MASTER="local[2]"))
    assert local.returncode == 0, local.stderr[-3000:]
    assert _runs(cassandra_session) == cluster_runs


def _launch(argv: list[str], settings, log: Path, **extra_env: str) -> subprocess.Popen:
    # the checkout's virtualenv active, as docs/deploy.md says: spark-submit is pyspark's
    env = {**os.environ, **cli_env(settings, **extra_env),
           "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    with log.open("ab") as handle:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _submit(line: str, settings, log: Path, **extra_env: str) -> subprocess.Popen:
    """A documented shell line, run as bash runs it from the checkout."""
    return _launch(["bash", "-c", f"exec {line}"], settings, log, **extra_env)


class _Submitted:
    """A spark-submit process seen through the StreamJob interface `wait_until` uses."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log_path = process, log

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _package(*flags: str) -> str:
    result = run_cli("package", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _run_until_caught_up(process: subprocess.Popen, log: Path, settings, home: Path, what: str) -> None:
    """Wait until every query of the stream job has caught up, then stop it with SIGTERM."""
    job = _Submitted(process, log)
    try:
        wait_for_job(lambda: caught_up(settings, home), 300, what, job)
    finally:
        if job.alive():
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"{what} ignored SIGTERM; log:\n{job.tail()}") from None


def test_stream_job_by_the_documented_line_then_restarted_by_tickplant_stream_writes_every_table_exactly(
        spark_cluster, isolated, cassandra_session, tmp_path):
    printed = _package()
    assert "--py-files dist/tickplant.zip" in printed and (ROOT / "dist" / "tickplant.zip").exists()
    checkpoints = tmp_path / "checkpoints" / isolated.cassandra.keyspace
    line = documented_line("standalone, client mode").replace(DOCUMENTED_MASTER, master(spark_cluster))
    line = line.replace('"$PWD/var/checkpoints/market"', str(checkpoints)) + " --trigger '1 second'"
    now = int(datetime.now(UTC).timestamp() * 1000)
    first = synthetic_records(STREAM_SYMBOLS, 300, now - 120_000, seed=5)
    second = synthetic_records(STREAM_SYMBOLS, 200, first[-1].trades[-1]["t"] + 1, seed=6, first_seq=1000)
    before = applications(spark_cluster)
    produce(isolated, first)
    _run_until_caught_up(_submit(line, isolated, tmp_path / "submit.log"), tmp_path / "submit.log", isolated,
                         tmp_path, "the stream job by spark-submit on the cluster")
    # the driver restarts from the same checkpoint as `SPARK_MASTER=spark://… tickplant stream`
    produce(isolated, second)
    restart = _launch([str(ROOT / ".venv" / "bin" / "tickplant"), "stream", "--checkpoint-dir", str(checkpoints),
                       "--trigger", "1 second"], isolated, tmp_path / "stream.log", SPARK_MASTER=master(spark_cluster))
    _run_until_caught_up(restart, tmp_path / "stream.log", isolated, tmp_path,
                         "`tickplant stream` on the cluster from the checkpoint")
    ran = [name for app, name in applications(spark_cluster).items() if app not in before]
    assert ran.count("tickplant-stream") == 2, ran
    assert_tables_match(cassandra_session, isolated.cassandra.keyspace, expected_trades([*first, *second]))


def test_gbm_job_by_the_documented_archives_line_runs_on_the_packed_environment(spark_cluster, isolated,
                                                                               cassandra_session, bars, tmp_path):
    printed = _package("--venv")
    assert "--archives dist/venv.tar.gz#venv" in printed and (ROOT / "dist" / "venv.tar.gz").exists()
    line = documented_line("standalone, nodes without a Python environment")
    line = line.replace(DOCUMENTED_MASTER, master(spark_cluster)) + " " + " ".join(
        f"'{flag}'" for flag in GBM_FLAGS)
    log = tmp_path / "gbm.log"
    unpacked = set(spark_cluster.home.glob(UNPACKED))
    process = _submit(line, isolated, log)
    assert process.wait(timeout=600) == 0, log.read_text(errors="replace")[-3000:]
    runs = _runs(cassandra_session)
    for symbol, series in bars.items():
        closes = np.array([close for _, close in series])
        times = np.array([start.timestamp() for start, _ in series])
        assert runs[symbol]["mu"] == pytest.approx(model.estimate(times, closes).mu, rel=1e-12)
    # the executors unpacked the environment into their work directories (and ran ./venv/bin/python)
    assert set(spark_cluster.home.glob(UNPACKED)) - unpacked
