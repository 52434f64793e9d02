"""`tickplant gbm` and `tickplant up --gbm-every` flags: validated by argparse into GbmOptions, the
loop's per-run arguments reproduce the options, and `up` supervises the GBM loop as a child."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import ConfigError
from gbm_analysis.options import GbmOptions, early_options, options_from_args, parse_duration
from tickplant.cli import build_parser
from tickplant.commands.gbm import choose_interval, gbm_command, one_run_argv
from tickplant.commands.services import pipeline_children

SETTINGS = Settings.from_env({"TICKPLANT_SYMBOLS": "AAPL,MSFT"}, dotenv=Path("/nonexistent"))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86_400), ("30d", 2_592_000),
                                               ("2w", 1_209_600), ("5y", 5 * 365.25 * 86_400), ("1.5h", 5400)])
def test_durations_parse_to_seconds_with_years_of_365_25_days(text, seconds):
    assert parse_duration(text) == seconds


def test_defaults_depend_on_the_interval():
    minute = options_from_args(SETTINGS, build_parser().parse_args(["gbm", "--run-ts", "2024-05-01T12:00:00Z"]))
    assert minute == GbmOptions(symbols=("AAPL", "MSFT"), run_ts=datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert (minute.steps, minute.step_seconds, minute.lookback_seconds) == (60, 60, 86_400)
    daily = options_from_args(SETTINGS, build_parser().parse_args(["gbm", "--interval", "1d", "--symbols", "SPX"]))
    assert (daily.symbols, daily.steps, daily.lookback_seconds) == (("SPX",), 30, 5 * 365.25 * 86_400)


def test_loop_arguments_reproduce_the_options_of_each_run():
    args = build_parser().parse_args(["gbm", "--interval", "1d", "--lookback", "3y", "--horizon", "10d",
                                      "--paths", "500", "--seed", "9", "--antithetic", "--float32",
                                      "--min-observations", "40", "--backtest-runs", "3", "--symbols", "A,B"])
    options = options_from_args(SETTINGS, args)
    again = options_from_args(SETTINGS, build_parser().parse_args(one_run_argv(options)))
    assert dataclasses.replace(again, run_ts=options.run_ts) == options


def test_up_supervises_the_gbm_loop_every_interval_once_bars_exist():
    args = build_parser().parse_args(["up", "--gbm-every", "30m"])
    children = {child.name: child.args for child in pipeline_children(SETTINGS, args)}
    assert children["gbm"] == ["gbm", "--every", "1800s", "--wait-for-bars"]
    default = build_parser().parse_args(["up"])
    assert {c.name: c.args for c in pipeline_children(SETTINGS, default)}["gbm"][2] == "3600s"
    assert "gbm" not in {c.name for c in pipeline_children(SETTINGS, build_parser().parse_args(["up", "--no-gbm"]))}


def test_up_refuses_a_bad_gbm_interval(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--gbm-every", "hourly"])
    assert exited.value.code == 2
    assert "'hourly' is not a duration" in capsys.readouterr().err


def test_the_loop_runs_on_5s_windows_until_enough_1m_bars_exist_then_on_the_bars():
    options = options_from_args(SETTINGS, build_parser().parse_args(["gbm"]))
    assert choose_interval(options, have=3, early=True) == "5s"     # at once: the run waits for its windows
    assert choose_interval(options, have=3, early=False) is None
    assert choose_interval(options, have=30, early=True) == "1m"
    early = early_options(options)
    assert choose_interval(early, have=5, early=True) is None        # a 5 s run: six windows or wait
    assert choose_interval(early, have=6, early=False) == "5s"
    at = early.at(datetime(2026, 12, 2, 13, 0, 0, 123456, tzinfo=UTC))
    assert (at.run_ts.microsecond, at.interval, at.paths) == (123000, "5s", early.paths)
    assert (early.interval, early.step_seconds, early.lookback_seconds, early.horizon_seconds, early.steps,
            early.min_observations) == ("5s", 5, 3600, 900, 180, 6)
    assert (early.symbols, early.paths, early.seed) == (options.symbols, options.paths, options.seed)
    again = options_from_args(SETTINGS, build_parser().parse_args(one_run_argv(early)))
    assert dataclasses.replace(again, run_ts=early.run_ts) == early


def test_a_run_records_when_the_next_one_is_planned():
    args = build_parser().parse_args(["gbm", "--next-run-at", "2026-12-02T05:10:00Z"])
    assert options_from_args(SETTINGS, args).next_run_ts == datetime(2026, 12, 2, 5, 10, tzinfo=UTC)
    loop = build_parser().parse_args(["gbm", "--every", "1h", "--wait-for-bars"])
    assert (loop.early_every, loop.no_early_runs) == (600.0, False)
    assert build_parser().parse_args(["gbm", "--every", "1h", "--wait-for-bars", "--no-early-runs"]).no_early_runs


def test_wait_for_bars_with_a_fixed_run_time_is_refused():
    args = build_parser().parse_args(["gbm", "--wait-for-bars", "--run-ts", "2026-03-10T00:00:00Z"])
    with pytest.raises(ConfigError, match="--wait-for-bars takes the run time after the wait; leave out --run-ts"):
        gbm_command(SETTINGS, args)
