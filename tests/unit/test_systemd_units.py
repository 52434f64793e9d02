"""Every unit in deploy/systemd passes `systemd-analyze verify` (with /opt/tickplant pointed at this
checkout, so ExecStart names the installed `tickplant`), and the GBM timer runs the GBM service hourly."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("tickplant-*.*"))


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    """The systemd-analyze binary; Debian's `systemd` package is installed when it is missing."""
    found = shutil.which("systemd-analyze")
    if found is None:
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "systemd"]):
            subprocess.run(command, check=True, capture_output=True, timeout=600)
        found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is still missing after installing Debian's systemd package"
    return found


def _installed_copy(unit: Path, directory: Path) -> Path:
    copy = directory / unit.name
    copy.write_text(unit.read_text(encoding="utf-8").replace("/opt/tickplant", str(ROOT)), encoding="utf-8")
    return copy


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_unit_passes_systemd_analyze_verify(unit: Path, systemd_analyze: str, tmp_path: Path):
    for other in UNITS:  # units name each other (After=, Unit=): verify them side by side
        _installed_copy(other, tmp_path)
    result = subprocess.run([systemd_analyze, "verify", "--man=no", str(tmp_path / unit.name)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


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
