"""The whole pipeline over secured servers: seeded simulator -> `tickplant collect` -> Kafka (SASL_SSL,
SCRAM-SHA-512) -> `tickplant stream` (Spark's Kafka source with a run-time JAAS line, the Cassandra
connector with credentials and a TLS truststore as write options) -> Cassandra (PasswordAuthenticator,
client TLS, NetworkTopologyStrategy keyspace) -> a dashboard-style read with the driver; then no
secret in any log the run wrote, the child processes' included."""

from __future__ import annotations

import math
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from collector.simulator import SimulatorConfig, SimulatorThread
from core import cassandra as cassandra_db
from tests.e2e.test_pipeline_e2e import raw_trades
from tests.helpers import ROOT
from tests.helpers_collector import read_topic
from tests.helpers_secured import files_containing
from tests.helpers_stream import (
    TICKPLANT,
    StreamJob,
    assert_tables_match,
    caught_up,
    count_trades,
    day_keys,
    read_partitioned,
    wait_until,
)

pytestmark = pytest.mark.e2e   # the whole pipeline, run in the secured pair's package

SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT")


def test_trades_flow_collector_to_dashboard_read_over_sasl_ssl_and_cassandra_tls_with_no_secret_logged(
        secured_services, secured_isolated, tmp_path: Path):
    settings = secured_isolated
    env = {**secured_services.env, "KAFKA_TOPIC": settings.kafka.topic,
           "CASSANDRA_KEYSPACE": settings.cassandra.keyspace, "TICKPLANT_HOME": str(tmp_path / "home"),
           "TICKPLANT_SPARK_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    job = StreamJob(settings, tmp_path / "home", "--trigger", "1 second",
                    env=env)
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=2000, seed=5, max_trades=4_000,
                                                frame_trades=40)).start()
    collector_log = tmp_path / "home" / "collector.log"
    try:
        with collector_log.open("ab") as log_handle:
            collector = subprocess.Popen(
                [TICKPLANT, "--log-level", "DEBUG", "collect", "--url", simulator.url, "--metrics-port", "0",
                 "--symbols", ",".join(SYMBOLS), "--spool-dir", str(tmp_path / "spool")],
                cwd=ROOT, env={**subprocess.os.environ, **env}, stdout=log_handle, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: simulator.report()["done"], 120, "the simulator sending every trade")
            report = simulator.report()
            wait_until(lambda: len(raw_trades(read_topic(settings, settings.kafka.topic))) == report["trades"],
                       120, "every trade acknowledged by the SASL_SSL broker")
        finally:
            collector.send_signal(signal.SIGTERM)
            assert collector.wait(90) == 0, collector_log.read_text()[-3000:]
        sent = raw_trades(read_topic(settings, settings.kafka.topic))
        assert len(sent) == report["trades"] == 4_000
        session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
        try:
            wait_until(lambda: count_trades(session, settings.cassandra.keyspace, day_keys(sent)) == len(sent)
                       and caught_up(settings, tmp_path / "home"), 240, "every trade in the secured Cassandra", job)
        finally:
            assert job.stop() == 0
        try:
            # the dashboard's reads: partition-key reads with the driver over TLS with a password
            stored = pd.DataFrame(read_partitioned(session, "trades", settings.cassandra.keyspace, day_keys(sent)))
            for symbol, expected in report["symbols"].items():
                volumes = stored.loc[stored["symbol"] == symbol, "volume"]
                assert len(volumes) == expected["trades"], symbol
                assert math.isclose(math.fsum(volumes), expected["volume"], rel_tol=1e-12), symbol
            assert_tables_match(session, settings.cassandra.keyspace, sent)
            replication = session.execute(
                "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                (settings.cassandra.keyspace,)).one()["replication"]
            assert replication["class"].endswith("NetworkTopologyStrategy") and replication["datacenter1"] == "1"
        finally:
            cassandra_db.close(session)
    finally:
        simulator.stop()
        if job.alive():
            job.kill()
    leaks = files_containing(tmp_path, secured_services.secrets)
    leaks.update(files_containing(secured_services.root / "var" / "logs", secured_services.secrets))
    assert leaks == {}, f"secrets found in {leaks}"
    # the Spark-side Kafka consumers did get the JAAS line, and logged it masked (the log is at INFO)
    assert "sasl.jaas.config = [hidden]" in job.log_path.read_text(errors="replace")
