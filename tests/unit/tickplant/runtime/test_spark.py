"""The rehearsal cluster's Spark nodes (names, ports, command lines, executors' pins) and `--nodes 3`
in the stack."""

from __future__ import annotations

from pathlib import Path

from core.config import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TICKPLANT_HOME": str(tmp_path / "home"), **env}, dotenv=tmp_path / "none")


def test_nodes_3_adds_the_spark_master_and_two_workers_on_their_own_ports(tmp_path):
    from tickplant.runtime.stack import all_services

    settings = _settings(tmp_path, TICKPLANT_SPARK_MASTER_PORT="47077", TICKPLANT_SPARK_MASTER_UI_PORT="48080",
                         TICKPLANT_SPARK_WORKER_PORT="47078", TICKPLANT_SPARK_WORKER_UI_PORT="48081",
                         TICKPLANT_SPARK_EXECUTOR_VENV=str(tmp_path / "executor"))
    assert [s.name for s in all_services(settings)] == ["kafka", "cassandra"]
    nodes = all_services(settings, nodes=3)[-3:]   # after the three Kafka and three Cassandra nodes
    assert [s.name for s in nodes] == ["spark-master", "spark-worker-1", "spark-worker-2"]
    assert [s.ports for s in nodes] == [[47077, 48080], [47078, 48081], [47079, 48082]]
    ports = [port for node in nodes for port in node.ports]
    assert len(set(ports)) == len(ports)
    worker = nodes[1]
    command = worker.command()
    assert command[0].endswith("pyspark/bin/spark-class") and command[-1] == "spark://127.0.0.1:47077"
    assert command[command.index("--cores") + 1] == "1" and command[command.index("--memory") + 1] == "1g"
    assert worker.environment()["PYSPARK_PYTHON"] == str(tmp_path / "executor" / "bin" / "python")


def test_the_default_ui_ports_stay_off_the_sql_engines_8080(tmp_path):
    from tickplant.runtime.spark import spark_cluster

    settings = _settings(tmp_path)
    used = [port for node in spark_cluster(settings) for port in node.ports]
    assert settings.sql.presto_port not in used and settings.sql.superset_port not in used
    assert used == [7077, 8380, 7078, 8381, 7079, 8382]


def test_the_executors_venv_takes_its_pins_from_constraints():
    from tickplant.runtime.spark import EXECUTOR_REQUIREMENTS, _pins

    pins = _pins()
    assert [pin.split("==")[0] for pin in pins] == list(EXECUTOR_REQUIREMENTS)
    assert all("==" in pin for pin in pins) and "tickplant" not in " ".join(pins)
