"""The rehearsal cluster's Kafka and Cassandra (issue 21): `tickplant services start --nodes 3` on ports
of this module's own runs three KRaft Kafka nodes and three Cassandra nodes on 127.0.0.1-3 (and the
Spark master and workers); `status --nodes 3 --json` lists every node; the topics are replicated three
times with min.insync.replicas=2, the keyspace with NetworkTopologyStrategy RF 3; a trade written by
the stream job's writer at LOCAL_QUORUM reads back at LOCAL_QUORUM; and with the collector publishing,
kill -9 of a partition leader loses nothing."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from kafka.admin import ConfigResource, ConfigResourceType

from collector.simulator import SimulatorConfig
from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings
from core.net import free_port
from core.retry import wait_until
from tests.helpers import private_env, run_cli, service_unavailable
from tests.helpers_collector import read_topic, simulated_feed, summarise

NODES = ("kafka-1", "kafka-2", "kafka-3", "cassandra-1", "cassandra-2", "cassandra-3",
         "spark-master", "spark-worker-1", "spark-worker-2")
SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """(settings, env) of a whole `--nodes 3` cluster on free ports, started and stopped by the CLI."""
    env = private_env(tmp_path_factory.mktemp("cluster-home"))
    port = env["KAFKA_BOOTSTRAP_SERVERS"].rpartition(":")[2]
    jmx = next(p for p in iter(free_port, None) if p < 65000)   # nodes 2, 3: the next two ports
    env.update({
        # every node in the bootstrap list: a client starting while node 1 is down still finds the cluster
        "KAFKA_BOOTSTRAP_SERVERS": ",".join(f"127.0.0.{n}:{port}" for n in (1, 2, 3)),
        "TICKPLANT_CASSANDRA_JMX_PORT": str(jmx),
        "TICKPLANT_SPARK_MASTER_PORT": str(free_port()), "TICKPLANT_SPARK_MASTER_UI_PORT": str(free_port()),
        "TICKPLANT_SPARK_WORKER_PORT": str(free_port()), "TICKPLANT_SPARK_WORKER_UI_PORT": str(free_port()),
        "TICKPLANT_STREAM_METRICS_PORT": "0",
        # not the suite's unsafe Cassandra flags: a node killed with -9 here must keep its schema
        "TICKPLANT_CASSANDRA_JVM_OPTIONS": "",
    })
    settings = Settings.from_env({**os.environ, **env}, dotenv=Path("/nonexistent"))
    started = run_cli("services", "start", "--nodes", "3", env=env, timeout=900)
    if started.returncode != 0:
        run_cli("services", "stop", "--nodes", "3", env=env, timeout=300)
        service_unavailable(f"the rehearsal cluster could not start: {started.stdout[-2000:]}{started.stderr[-2000:]}")
    yield settings, env
    stopped = run_cli("services", "stop", "--nodes", "3", env=env, timeout=300)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _status(env: dict[str, str]) -> dict[str, dict]:
    result = run_cli("services", "status", "--nodes", "3", "--json", env=env)
    return {node["name"]: node for node in json.loads(result.stdout)["services"]}


def test_status_lists_every_node_with_name_address_pid_and_state(cluster):
    settings, env = cluster
    result = run_cli("services", "status", "--nodes", "3", "--json", env=env)
    nodes = json.loads(result.stdout)["services"]
    assert result.returncode == 0, [(n["name"], n["state"]) for n in nodes if n["state"] != "up"]
    assert [n["name"] for n in nodes] == list(NODES)
    assert [n["address"] for n in nodes[:6]] == [
        *(f"127.0.0.{n}:{settings.kafka.port}" for n in (1, 2, 3)),
        *(f"127.0.0.{n}:{settings.cassandra.port}" for n in (1, 2, 3))]
    assert all(n["state"] == "up" and n["pid"] for n in nodes)
    assert len({n["pid"] for n in nodes}) == len(NODES)


def test_topics_are_replicated_three_times_with_min_insync_replicas_2(cluster):
    settings, _ = cluster
    client = kafka_clients.admin(settings)
    try:
        topics = client.describe_topics([settings.kafka.topic, settings.kafka.dead_letter_topic])
        configs = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.kafka.topic)])
        cluster_info = client.describe_cluster()
    finally:
        client.close()
    assert sorted(b["node_id"] for b in cluster_info["brokers"]) == [1, 2, 3]
    for topic in topics:
        assert topic["partitions"], topic
        for partition in topic["partitions"]:
            assert sorted(partition["replicas"]) == [1, 2, 3], (topic["topic"], partition)
            assert sorted(partition["isr"]) == [1, 2, 3], (topic["topic"], partition)
    entries = {entry[0]: entry[1] for response in configs for resource in response.resources for entry in resource[4]}
    assert entries["min.insync.replicas"] == "2"


def test_keyspace_is_replicated_to_all_three_nodes(cluster):
    settings, _ = cluster
    session = cassandra_db.connect(settings)
    try:
        row = session.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                              (settings.cassandra.keyspace,)).one()
        peers = {h.address for h in session.cluster.metadata.all_hosts() if h.is_up}
    finally:
        cassandra_db.close(session)
    assert dict(row["replication"]) == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                                        "datacenter1": "3"}
    assert peers == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}


def test_a_trade_written_at_local_quorum_is_read_back_at_local_quorum(cluster):
    from stream_processor.cassandra_io import TradeWrites

    settings, _ = cluster
    day = date(2026, 3, 10)
    TradeWrites(settings).write([("CLUSTER", day, 1_773_104_400_000, "p-1-0", 101.25, 7.0, ["1"],
                                  1_773_104_400_005, "simulator")])
    session = cassandra_db.connect(settings)
    try:
        statement = SimpleStatement(f"SELECT trade_id, price, volume FROM {settings.cassandra.keyspace}.trades "
                                    "WHERE symbol = %s AND trade_date = %s",
                                    consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        rows = list(session.execute(statement, ("CLUSTER", day)))
    finally:
        cassandra_db.close(session)
    assert [(r["trade_id"], r["price"], r["volume"]) for r in rows] == [("p-1-0", 101.25, 7.0)]


def test_kill_9_of_a_partition_leader_loses_no_trade(cluster, tmp_path):
    """The collector publishes (acks=all, idempotent) while the leader of the topic's partition 0 is
    killed: the other two replicas are in sync (min.insync.replicas=2), a new leader is elected, and
    Kafka holds every trade the simulator sent exactly once."""
    settings, env = cluster
    config = SimulatorConfig(port=0, rate=1500, seed=21, max_trades=9000, frame_trades=30)
    with simulated_feed(settings, config, tmp_path / "spool", symbols=SYMBOLS) as running:
        published = running.collector.metrics.snapshot
        wait_until(lambda: published()["tickplant_collector_trades_total"] >= 1500, 60,
                   what="the collector publishing its first trades")
        client = kafka_clients.admin(settings)
        try:
            partitions = client.describe_topics([settings.kafka.topic])[0]["partitions"]
        finally:
            client.close()
        leader = next(p["leader"] for p in partitions if p["partition"] == 0)
        victim = _status(env)[f"kafka-{leader}"]
        os.kill(victim["pid"], signal.SIGKILL)
        sent_before_kill = published()["tickplant_collector_trades_total"]
        report = running.finish(180)
    assert sent_before_kill < report["trades"] == 9000   # the kill fell inside the feed
    states = _status(env)
    assert states[f"kafka-{leader}"]["state"] == "down"
    records = read_topic(settings, settings.kafka.topic, timeout_s=60)
    assert summarise(records) == report["symbols"]       # every trade, none twice
    # the broker back (the other nodes are found already up), so the module ends with the whole cluster
    restarted = run_cli("services", "start", "--nodes", "3", env=env, timeout=600)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert _status(env)[f"kafka-{leader}"]["state"] == "up"


def test_kill_9_of_a_cassandra_node_leaves_local_quorum_writes_and_reads_working(cluster):
    """Two of three replicas are LOCAL_QUORUM: with cassandra-3 killed, the stream job's writer still
    writes and every trade reads back; started again, the node rejoins."""
    from stream_processor.cassandra_io import TradeWrites

    settings, env = cluster
    os.kill(_status(env)["cassandra-3"]["pid"], signal.SIGKILL)
    day = date(2026, 3, 11)
    trades = [("DOWN3", day, 1_773_190_800_000 + k, f"p-2-{k}", 100.0 + k, 1.0, [], 1_773_190_800_100 + k, "simulator")
              for k in range(200)]
    TradeWrites(settings).write(trades)
    session = cassandra_db.connect(settings)
    try:
        statement = SimpleStatement(f"SELECT count(*) AS n FROM {settings.cassandra.keyspace}.trades "
                                    "WHERE symbol = %s AND trade_date = %s",
                                    consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        assert session.execute(statement, ("DOWN3", day)).one()["n"] == 200
    finally:
        cassandra_db.close(session)
    assert _status(env)["cassandra-3"]["state"] == "down"
    restarted = run_cli("services", "start", "--nodes", "3", env=env, timeout=600)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert _status(env)["cassandra-3"]["state"] == "up"


def test_up_nodes_3_runs_the_pipeline_on_the_rehearsal_cluster_and_leaves_its_nodes_up(cluster):
    """`tickplant up --nodes 3` on the running cluster: the stream job runs on the standalone master
    (SPARK_MASTER set for it), trades reach the three-node Cassandra, and the nodes it found up stay up."""
    settings, env = cluster
    run_env = {**env, "TICKPLANT_SIMULATOR_PORT": str(free_port()), "TICKPLANT_METRICS_PORT": str(free_port())}
    result = run_cli("up", "--nodes", "3", "--rate", "50", "--duration", "150", "--no-gbm", "--no-dashboard",
                     "--no-sample-history", env=run_env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.spark.master_ui_port}/json/", timeout=10) as answer:
        master = json.loads(answer.read())
    assert master["completedapps"] or master["activeapps"], "no application ran on the standalone master"
    session = cassandra_db.connect(settings)
    try:
        rows = session.execute(f"SELECT count(*) AS n FROM {settings.cassandra.keyspace}.trades").one()["n"]
    finally:
        cassandra_db.close(session)
    assert rows > 200   # the earlier tests' 201 trades, and the pipeline's
    assert all(node["state"] == "up" for node in _status(env).values())
