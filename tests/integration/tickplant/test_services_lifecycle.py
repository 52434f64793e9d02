"""Service life cycle on a private Kafka + Cassandra pair: stop/start keeps data, bad input fails cleanly."""

from __future__ import annotations

import hashlib
import socket
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core import net
from tests.helpers import private_env, private_settings, record_at, run_cli
from tickplant.runtime import stack as runtime


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_stop_then_start_finds_the_kafka_message_and_the_cassandra_row_again(tmp_path):
    settings = private_settings(tmp_path / "var")
    try:
        started = time.monotonic()
        statuses = runtime.start_all(settings)
        first_start_s = time.monotonic() - started
        assert [s.state for s in statuses] == ["up", "up"]
        # a bound a loaded 2-core box passes (typical: 15-30 s), far below the 180 s start timeout
        assert first_start_s < 150, f"services took {first_start_s:.0f}s to start"

        producer = kafka_clients.producer(settings)
        sent = producer.send(settings.kafka.topic, key=b"MSFT", value=b"payload-before-restart").get(timeout=30)
        producer.close()
        session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
        insert = session.prepare("INSERT INTO trades (symbol, trade_date, trade_timestamp, trade_id, price, volume) "
                                 "VALUES (?, ?, ?, ?, ?, ?)")
        traded = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
        session.execute(insert, ("MSFT", date(2026, 11, 20), traded, "restart-1", 410.25, 3.0))
        cassandra_db.close(session)

        assert runtime.stop_all(settings) == {"cassandra": True, "kafka": True}
        assert not net.port_open("127.0.0.1", settings.kafka.port)
        assert not net.port_open("127.0.0.1", settings.cassandra.port)
        assert [s.state for s in runtime.status_all(settings)] == ["down", "down"]

        runtime.start_all(settings)
        record = record_at(settings, settings.kafka.topic, sent.partition, sent.offset)
        assert (record.key, record.value) == (b"MSFT", b"payload-before-restart")

        session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
        select = session.prepare("SELECT trade_id, price, volume FROM trades WHERE symbol = ? AND trade_date = ?")
        rows = list(session.execute(select, ("MSFT", date(2026, 11, 20))))
        cassandra_db.close(session)
        assert rows == [{"trade_id": "restart-1", "price": 410.25, "volume": 3.0}]
    finally:
        runtime.stop_all(settings)


def test_kafka_port_taken_gives_one_line_error_and_deletes_nothing(tmp_path):
    env = private_env(tmp_path / "var")
    host, port = env["KAFKA_BOOTSTRAP_SERVERS"].split(":")
    (tmp_path / "var" / "kafka").mkdir(parents=True)
    (tmp_path / "var" / "kafka" / "keep.txt").write_text("user data")
    before = tree_digest(tmp_path)
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        result = run_cli("services", "start", env=env)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("tickplant: error:")]
    assert errors == [f"tickplant: error: {host}:{port} is already in use by another process, so kafka cannot "
                      "start; stop that process or configure another port"]
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("corruption, fragment", [
    ("cluster_id", "cluster.id is corrupt"),
    ("mismatch", "belongs to cluster"),
    ("pid", "pid file"),
])
def test_corrupt_state_gives_one_line_error_and_deletes_nothing(tmp_path, corruption, fragment):
    env = private_env(tmp_path / "var")
    kafka_dir = tmp_path / "var" / "kafka"
    (kafka_dir / "data").mkdir(parents=True)
    (kafka_dir / "data" / "meta.properties").write_text("version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=1\n")
    (kafka_dir / "data" / "market-0").mkdir()
    (kafka_dir / "data" / "market-0" / "00000000000000000000.log").write_bytes(b"\x00segment bytes")
    if corruption == "cluster_id":
        (kafka_dir / "cluster.id").write_text("not-a-cluster-id!!\n")
    elif corruption == "mismatch":
        (kafka_dir / "cluster.id").write_text("BBBBBBBBBBBBBBBBBBBBBB\n")
    else:
        (tmp_path / "var" / "run").mkdir(parents=True)
        (tmp_path / "var" / "run" / "kafka.pid").write_text("garbage\x00\n")
    before = tree_digest(tmp_path)
    result = run_cli("services", "start", env=env)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("tickplant: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert tree_digest(tmp_path) == before


def test_invalid_variable_gives_one_line_error_and_exit_2(tmp_path):
    env = private_env(tmp_path / "var")
    result = run_cli("services", "start", env={**env, "CASSANDRA_PORT": "abc"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("tickplant: error: CASSANDRA_PORT='abc': Input should be a valid integer, "
                                     "unable to parse string as an integer")
    assert not (tmp_path / "var").exists()


def test_no_secret_in_anything_the_cli_prints_or_logs(services):
    token, password = "fh-token-3f9a1c77e2", "cass-pw-81d0b6"
    env = {"FINNHUB_API_TOKEN": token, "CASSANDRA_USERNAME": "reader", "CASSANDRA_PASSWORD": password}
    outputs = []
    for args in (["--log-level", "DEBUG", "services", "start"], ["services", "status", "--json"], ["config"],
                 ["services", "status"]):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    bad = run_cli("config", env={**env, "CASSANDRA_PORT": token})
    outputs.append(bad.stdout + bad.stderr)
    assert bad.returncode == 2
    joined = "\n".join(outputs)
    assert token not in joined and password not in joined
    assert '"state": "up"' in outputs[1] and "FINNHUB_API_TOKEN = set" in outputs[2]
