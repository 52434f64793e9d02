"""The rehearsal cluster's Kafka and Cassandra nodes (`--nodes 3`): addresses, ports, the KRaft quorum and
replication defaults, seeds, tokens, JMX ports and heaps; the single nodes stay as they were."""

from __future__ import annotations

from pathlib import Path

import javaproperties
import yaml

from core.config import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TICKPLANT_HOME": str(tmp_path / "home"), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:49092",
                              "TICKPLANT_KAFKA_CONTROLLER_PORT": "49093", "CASSANDRA_PORT": "49042",
                              "TICKPLANT_CASSANDRA_STORAGE_PORT": "49000", **env}, dotenv=tmp_path / "none")


def test_nodes_3_runs_three_kafka_and_three_cassandra_nodes_on_127_0_0_1_to_3(tmp_path):
    from tickplant.runtime.stack import all_services

    settings = _settings(tmp_path)
    assert [s.name for s in all_services(settings)] == ["kafka", "cassandra"]
    nodes = all_services(settings, nodes=3)[:6]
    assert [s.name for s in nodes] == ["kafka-1", "kafka-2", "kafka-3", "cassandra-1", "cassandra-2", "cassandra-3"]
    assert [s.address for s in nodes] == [*(f"127.0.0.{n}:49092" for n in (1, 2, 3)),
                                          *(f"127.0.0.{n}:49042" for n in (1, 2, 3))]
    assert len({s.dir for s in nodes}) == 6 and len({s.pid_file for s in nodes}) == 6
    jars = settings.runtime.jars_dir
    assert {s.jars for s in nodes} == {jars / "kafka", jars / "cassandra"}


def _kafka_properties(service) -> dict[str, str]:
    service.dir.mkdir(parents=True, exist_ok=True)
    service.cluster_id()
    # prepare() without the storage format (that needs the jars): the properties it writes
    from tickplant.runtime.base import write_properties
    from tickplant.runtime.kafka import WRITER

    write_properties(service.config_file, {**service.listeners(), **service.cluster_properties()}, writer=WRITER)
    return javaproperties.loads(service.config_file.read_text(encoding="utf-8"))


def test_kafka_nodes_form_one_three_voter_quorum_with_replication_3_and_min_isr_2(tmp_path):
    from tickplant.runtime.kafka import KafkaService, kafka_cluster

    settings = _settings(tmp_path, TICKPLANT_CLUSTER_KAFKA_HEAP_MB="300")
    nodes = kafka_cluster(settings)
    voters = "1@127.0.0.1:49093,2@127.0.0.2:49093,3@127.0.0.3:49093"
    for node in nodes:
        properties = _kafka_properties(node)
        assert properties["controller.quorum.voters"] == voters
        assert properties["advertised.listeners"] == f"PLAINTEXT://{node.address}"
        assert properties["default.replication.factor"] == "3" and properties["min.insync.replicas"] == "2"
        assert properties["offsets.topic.replication.factor"] == "3"
        assert "-Xmx300m" in node.command()
    assert len({node.cluster_id() for node in nodes}) == 1   # one cluster id for the three storages
    single = KafkaService(settings)
    assert _kafka_properties(single) == settings.kafka.broker_listeners(49093)
    assert _kafka_properties(single)["controller.quorum.voters"] == "1@127.0.0.1:49093"
    assert f"-Xmx{settings.runtime.kafka_heap_mb}m" in single.command()
    home = settings.runtime.home
    assert single.dir == home / "kafka" and single.id_file == home / "kafka" / "cluster.id"


def test_cassandra_nodes_share_one_seed_list_and_split_the_ring(tmp_path):
    from tickplant.runtime.cassandra import CassandraService, cassandra_cluster

    settings = _settings(tmp_path, TICKPLANT_CASSANDRA_JMX_PORT="47199", TICKPLANT_CLUSTER_CASSANDRA_HEAP_MB="600")
    configs, commands = [], []
    for node in cassandra_cluster(settings):
        node.prepare()
        configs.append(yaml.safe_load(node.config_file.read_text(encoding="utf-8")))
        commands.append(node.command())
    seeds = {c["seed_provider"][0]["parameters"][0]["seeds"] for c in configs}
    assert seeds == {"127.0.0.1:49000,127.0.0.2:49000,127.0.0.3:49000"}
    assert [c["listen_address"] for c in configs] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert [c["initial_token"] for c in configs] == [-(2**63), -(2**63) + 2**64 // 3, -(2**63) + 2 * (2**64 // 3)]
    assert len({c["data_file_directories"][0] for c in configs}) == 3
    assert [[a for a in c if a.startswith("-Dcassandra.jmx.local.port=")] for c in commands] == [
        ["-Dcassandra.jmx.local.port=47199"], ["-Dcassandra.jmx.local.port=47200"],
        ["-Dcassandra.jmx.local.port=47201"]]
    assert all("-Xmx600m" in c for c in commands)
    single = CassandraService(settings)
    single.prepare()
    config = yaml.safe_load(single.config_file.read_text(encoding="utf-8"))
    assert config["initial_token"] == 0 and config["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:49000"
    assert not any(a.startswith("-Dcassandra.jmx") for a in single.command())


def test_the_keyspace_of_the_cluster_is_replicated_three_times_unless_configured(tmp_path):
    from tickplant.runtime.cassandra import CLUSTER_REPLICATION, cluster_settings

    assert cluster_settings(_settings(tmp_path)).cassandra.replication == CLUSTER_REPLICATION
    mine = "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    assert cluster_settings(_settings(tmp_path, CASSANDRA_REPLICATION=mine)).cassandra.replication == mine
