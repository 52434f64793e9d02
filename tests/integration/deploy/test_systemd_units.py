"""deploy/systemd units pass `systemd-analyze verify`, run against a scratch root that holds the
units, the system's own targets and a stand-in for the installed `tickplant` executable (the
units name /opt/tickplant, which a development checkout does not have)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, service_unavailable

UNITS = sorted(p for p in (ROOT / "deploy" / "systemd").iterdir() if p.suffix in (".service", ".timer"))


def scratch_root(tmp_path: Path) -> Path:
    if not shutil.which("systemd-analyze"):
        service_unavailable("systemd-analyze is not installed")
    root = tmp_path / "root"
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for system_dir in (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")):
        if system_dir.is_dir() and not system_dir.is_symlink():
            shutil.copytree(system_dir, root / system_dir.relative_to("/"), symlinks=True, dirs_exist_ok=True)
    executable = root / "opt" / "tickplant" / ".venv" / "bin" / "tickplant"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    return root


def verify(root: Path, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                           *(f"etc/systemd/system/{name}" for name in names)],
                          cwd=root, capture_output=True, text=True, timeout=120)


def test_there_are_units_to_verify():
    assert {"tickplant-services.service", "tickplant-collector.service", "tickplant-stream.service"} <= {
        unit.name for unit in UNITS}


@pytest.mark.parametrize("unit", [unit.name for unit in UNITS])
def test_systemd_analyze_verify_accepts_the_unit(tmp_path, unit):
    result = verify(scratch_root(tmp_path), unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_does_flag_a_broken_unit(tmp_path):
    root = scratch_root(tmp_path)
    (root / "etc" / "systemd" / "system" / "broken.service").write_text(
        "[Service]\nExecStart=/opt/missing/binary\nNoSuchKey=1\n")
    result = verify(root, "broken.service")
    assert result.returncode != 0 and "NoSuchKey" in result.stderr


def test_gbm_timer_starts_the_gbm_service_hourly_and_catches_up_missed_runs():
    names = {u.name for u in UNITS}
    assert {"tickplant-gbm.service", "tickplant-gbm.timer"} <= names
    timer = configparser.ConfigParser(strict=False)
    timer.read(ROOT / "deploy" / "systemd" / "tickplant-gbm.timer")
    assert dict(timer["Timer"]) == {"oncalendar": "hourly", "persistent": "true", "randomizeddelaysec": "60",
                                    "unit": "tickplant-gbm.service"}
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read(ROOT / "deploy" / "systemd" / "tickplant-gbm.service")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"].split()[:2] == ["/opt/tickplant/.venv/bin/tickplant", "gbm"]
