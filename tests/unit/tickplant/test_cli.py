"""The command line: building it imports nothing heavy; a bad flag of any command is one line and
exit 2 before anything starts (no JVM, no service); expected errors are one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

HEAVY = ("pyspark", "cassandra", "numpy", "pandas", "kafka", "pyarrow", "streamlit", "fastavro", "pydantic",
         "websocket", "websockets", "tenacity", "yaml")


def test_building_the_parser_imports_no_heavy_library():
    code = ("import sys; from tickplant.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.fixture
def no_jvm_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `java` only records that it was started (JAVA_HOME unset, so Spark and the
    services would find this one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "java-started"
    fake = bin_dir / "java"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("JAVA_HOME", "SPARK_HOME")}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", TICKPLANT_HOME=str(tmp_path / "home"),
               KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", CASSANDRA_PORT="1")
    return env, marker


BAD_FLAGS = [
    ("services", "start", "--bogus"),
    ("services", "stop", "--bogus"),
    ("services", "status", "--bogus"),
    ("services", "restart"),
    ("status", "--bogus"),
    ("up", "--rate", "-5"),
    ("up", "--duration", "soon"),
    ("config", "--bogus"),
    ("simulate", "--port", "99999"),
    ("simulate", "--protocol", "ftp"),
    ("simulate", "--fault-rate", "2"),
    ("collect", "--queue-frames", "0"),
    ("collect", "--symbols", "AAPL,BAD SYMBOL"),
    ("collect", "--source", "yahoo"),
    ("replay",),
    ("replay", "x.jsonl.gz", "--speed", "-1"),
    ("stream", "--queries", "trades,nope"),
    ("stream", "--starting-offsets", "middle"),
    ("stream", "--trigger", "often"),
    ("stream", "--max-offsets-per-trigger", "-1"),
    ("bench", "nope"),
    ("bench", "e2e", "--bogus"),
    ("bench", "collector", "--duration", "long"),
    ("--log-level", "LOUD", "config"),
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_a_bad_flag_exits_2_with_one_line_and_starts_nothing(argv, no_jvm_env):
    env, marker = no_jvm_env
    result = subprocess.run([sys.executable, "-m", "tickplant", *argv], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "a JVM was started"
    assert not (Path(env["TICKPLANT_HOME"]) / "run").exists()


def test_spark_submit_job_refuses_a_bad_flag_before_spark_starts(no_jvm_env):
    env, marker = no_jvm_env
    result = subprocess.run([sys.executable, "stream_processor/job.py", "--queries", "nope"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--queries" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_an_expected_error_is_one_line_with_its_exit_code(no_jvm_env, tmp_path):
    env, _ = no_jvm_env
    result = subprocess.run([sys.executable, "-m", "tickplant", "replay", str(tmp_path / "missing.jsonl.gz")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tickplant: error: archive file(s) not found: {tmp_path / 'missing.jsonl.gz'}"]

