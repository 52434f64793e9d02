"""`tickplant up --nodes 3`: the Spark jobs it supervises run on the rehearsal cluster's master."""

from __future__ import annotations

from pathlib import Path

from core.config import Settings


def _children(tmp_path: Path, nodes: int, **env: str) -> dict:
    from tickplant.cli import build_parser
    from tickplant.commands.services import pipeline_children

    settings = Settings.from_env({"TICKPLANT_HOME": str(tmp_path), "TICKPLANT_SPARK_MASTER_PORT": "47077", **env},
                                 dotenv=tmp_path / "none")
    args = build_parser().parse_args(["up", "--nodes", str(nodes), "--no-dashboard"])
    return {child.name: child.env for child in pipeline_children(settings, args)}


def test_up_nodes_3_gives_the_spark_jobs_the_standalone_master(tmp_path):
    assert _children(tmp_path, 3) == {"collector": {}, "simulator": {}, "stream": {"SPARK_MASTER": "spark://127.0.0.1:47077"},
                                      "gbm": {"SPARK_MASTER": "spark://127.0.0.1:47077"}}
    assert all(env == {} for env in _children(tmp_path, 1).values())
    # a spark:// master the user set is theirs
    assert all(env == {} for env in _children(tmp_path, 3, SPARK_MASTER="spark://10.0.0.5:7077").values())
