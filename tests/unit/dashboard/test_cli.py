"""`tickplant dashboard` and the dashboard child of `tickplant up`: flags validated before anything
starts, the Streamlit command line, the port from TICKPLANT_DASHBOARD_PORT."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.errors import ConfigError
from tickplant.cli import build_parser
from tickplant.commands import dashboard
from tickplant.commands.services import pipeline_children

SETTINGS = Settings.from_env({"TICKPLANT_SYMBOLS": "AAPL,MSFT"}, dotenv=Path("/nonexistent"))


def test_up_supervises_the_dashboard_on_the_configured_port():
    children = {c.name: c.args for c in pipeline_children(SETTINGS, build_parser().parse_args(["up"]))}
    assert children["dashboard"] == ["dashboard", "--port", "8501"]
    configured = SETTINGS.replace(dashboard_port=8600)
    children = {c.name: c.args for c in pipeline_children(configured, build_parser().parse_args(["up"]))}
    assert children["dashboard"] == ["dashboard", "--port", "8600"]
    args = build_parser().parse_args(["up", "--dashboard-port", "9001"])
    assert {c.name: c.args for c in pipeline_children(SETTINGS, args)}["dashboard"][2] == "9001"
    no_dashboard = build_parser().parse_args(["up", "--no-dashboard"])
    assert "dashboard" not in {c.name for c in pipeline_children(SETTINGS, no_dashboard)}


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_dashboard_refuses_a_bad_port_before_starting(port, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["dashboard", "--port", port])
    assert exited.value.code == 2
    assert "argument --port" in capsys.readouterr().err


def test_streamlit_command_line_serves_the_app_headless_on_the_address():
    argv = dashboard.streamlit_argv(8502, "127.0.0.1")
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(argv[4]) == Path(dashboard.__file__).resolve().parents[2] / "dashboard" / "app.py"
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert flags["--server.port"] == "8502" and flags["--server.address"] == "127.0.0.1"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"


def test_a_bad_dashboard_port_variable_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"^TICKPLANT_DASHBOARD_PORT='not-a-port': Input should be a valid integer"):
        Settings.from_env({"TICKPLANT_DASHBOARD_PORT": "not-a-port"}, dotenv=Path("/nonexistent"))
