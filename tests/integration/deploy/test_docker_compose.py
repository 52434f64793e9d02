"""docker-compose.yaml without a Docker engine: Debian's docker-compose parses and validates it
(`config -q`, installed with apt when missing), and the checks a parser cannot make — every file,
build context and command it references exists, every service is healthchecked or a one-shot
job, dependants wait for health, state lives in named volumes, no secret is written in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, service_unavailable
from tickplant.cli import build_parser

COMPOSE = ROOT / "docker-compose.yaml"
ONE_SHOT = {"schema"}
# values the file needs from the environment; any value satisfies `config`
REQUIRED_ENV = {"SUPERSET_SECRET_KEY": "x" * 32, "SUPERSET_ADMIN_PASSWORD": "compose-check"}
# tickplant commands built on other branches: checked once their command module is merged
OTHER_BRANCHES = {"gbm": "tickplant/commands/gbm.py", "dashboard": "tickplant/commands/dashboard.py"}


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], env=env, capture_output=True,
                       timeout=900)
    found = shutil.which("docker-compose")
    if not found:
        service_unavailable("docker-compose is not installed and apt-get could not install it")
    return found


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The file as docker-compose resolves it (anchors merged, variables substituted)."""
    result = subprocess.run([docker_compose(), "-f", str(COMPOSE), "config"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, **REQUIRED_ENV})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_accepts_the_file_quietly():
    result = subprocess.run([docker_compose(), "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, **REQUIRED_ENV})
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_a_missing_required_secret_is_refused_by_name():
    env = {key: value for key, value in os.environ.items() if key not in REQUIRED_ENV}
    result = subprocess.run([docker_compose(), "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**env, "SUPERSET_ADMIN_PASSWORD": "x"})
    assert result.returncode != 0 and "SUPERSET_SECRET_KEY" in result.stderr


def test_the_stack_has_every_part_the_issue_names(resolved):
    assert {"kafka", "cassandra", "schema", "spark-master", "spark-worker", "collector", "stream", "gbm",
            "dashboard", "presto", "superset", "prometheus"} <= set(resolved["services"])
    assert resolved["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert resolved["services"]["cassandra"]["image"] == "cassandra:5.0"
    assert "spark://spark-master:7077" in resolved["services"]["stream"]["command"]


def test_every_service_is_healthchecked_or_a_one_shot_job(resolved):
    for name, service in resolved["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") in (None, "no"), name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name} has no restart policy"


def test_dependants_wait_for_health_or_for_the_one_shot_job_to_succeed(resolved):
    for name, service in resolved["services"].items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == wanted, f"{name} -> {dependency}"


def test_stateful_services_keep_their_data_in_named_volumes(resolved):
    named = set(resolved.get("volumes") or {})
    for name, path in {"kafka": "/var/lib/kafka/data", "cassandra": "/var/lib/cassandra",
                       "superset": "/app/superset_home", "prometheus": "/prometheus",
                       "stream": "/opt/tickplant/var"}.items():
        mounts = [_mount(m) for m in resolved["services"][name].get("volumes", [])]
        volume = next((m for m in mounts if m[2] == path), None)
        assert volume is not None and volume[0] == "volume" and volume[1] in named, name


def test_every_referenced_file_build_context_and_command_exists(resolved):
    for name, service in resolved["services"].items():
        build = service.get("build")
        if build:
            context = Path(build["context"])
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for kind, source, _ in map(_mount, service.get("volumes", [])):
            if kind == "bind":
                assert Path(source).exists(), f"{name}: {source} does not exist"
    commands = set(_subcommands())
    for name, service in resolved["services"].items():
        if service.get("image") != "tickplant:local":
            continue
        entry, command = service.get("entrypoint"), service.get("command") or []
        if entry and entry[0] == "spark-submit":
            script = next(arg for arg in command if arg.endswith(".py"))
            assert (ROOT / script).is_file(), f"{name}: {script}"
        elif entry:
            assert entry[0] in ("spark-class",), f"{name}: unexpected entrypoint {entry}"
        else:
            subcommand = command[0]
            if subcommand in OTHER_BRANCHES and not (ROOT / OTHER_BRANCHES[subcommand]).exists():
                continue
            assert subcommand in commands, f"{name}: `tickplant {subcommand}` does not exist"
            build_parser().parse_args(command)   # its flags exist too (argparse exits otherwise)
    superset_start = ROOT / "deploy" / "compose" / "superset" / "superset-start.sh"
    assert superset_start.is_file() and os.access(superset_start, os.X_OK)


def test_no_secret_value_is_written_in_the_file():
    text = COMPOSE.read_text(encoding="utf-8")
    for match in re.finditer(r"^\s*([A-Z_]*(PASSWORD|SECRET|TOKEN|KEY)[A-Z_]*):\s*(.+)$", text, re.M):
        assert match.group(3).strip().startswith("${"), f"{match.group(1)} is written in the file"


def test_dockerfile_builds_python_plus_jre_plus_the_resolved_jars():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "openjdk-17-jre-headless" in dockerfile
    assert "var/jars/spark" in dockerfile and "TICKPLANT_JARS" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"var/", ".venv/", ".git/"} <= set(ignored)


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(action.choices)


def _mount(entry: str | dict) -> tuple[str, str, str]:
    """(type, source, target) of a volume entry in short (`src:dst[:mode]`) or long syntax."""
    if isinstance(entry, dict):
        return entry["type"], entry.get("source", ""), entry["target"]
    source, target = entry.split(":")[:2]
    return ("bind" if source.startswith(("/", ".")) else "volume"), source, target
