"""`tickplant package`: dist/tickplant.zip and the spark-submit lines for the rehearsal master."""

from __future__ import annotations

import argparse

from core.config import Settings


def test_package_prints_spark_submit_lines_for_the_rehearsal_master(tmp_path, capsys, monkeypatch):
    from tickplant.commands.package import package_command

    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"TICKPLANT_HOME": str(tmp_path / "home"), "TICKPLANT_SPARK_MASTER_PORT": "47077"},
                                 dotenv=tmp_path / "none")
    assert package_command(settings, argparse.Namespace(venv=False, dist=tmp_path / "dist")) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "dist" / "tickplant.zip").exists()
    assert "spark-submit --master spark://127.0.0.1:47077 --deploy-mode client" in out
    assert "--py-files dist/tickplant.zip" in out and "--archives" not in out
    assert "stream_processor/job.py" in out and "gbm_analysis/job.py" in out
