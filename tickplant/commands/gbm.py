"""`tickplant gbm`: one GBM forecast run (what the systemd timer calls), or with `--every` a loop
that runs one every interval as a child process (what `tickplant up` supervises)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.logging import get_logger
from gbm_analysis.options import GbmOptions, add_arguments, format_duration, options_from_args, parse_duration

if TYPE_CHECKING:
    from core.config import Settings

log = get_logger(__name__)


def register(commands: argparse._SubParsersAction) -> None:
    gbm = commands.add_parser("gbm", help="GBM Monte Carlo forecast per symbol (Spark batch job)")
    add_arguments(gbm)
    gbm.add_argument("--every", type=parse_duration, default=None,
                     help="keep running: one run every interval, e.g. 1h (default: a single run)")
    gbm.add_argument("--wait-for-bars", action="store_true",
                     help="with --every: start once a symbol has --min-observations completed bars")
    gbm.set_defaults(handler=gbm_command)


def gbm_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        options = options_from_args(settings, args)
    except ValueError as exc:
        raise ConfigError(f"tickplant gbm: {exc}") from None
    if args.every:
        return run_every(settings, options, args.every, args.wait_for_bars)
    from gbm_analysis import job  # imports pyspark: only when the command runs

    return job.run(settings, options)


def one_run_argv(options: GbmOptions) -> list[str]:
    """The `tickplant gbm` arguments of one run of the loop (the run time is the child's own now)."""
    argv = ["gbm", "--interval", options.interval, "--lookback", format_duration(options.lookback_seconds),
            "--horizon", format_duration(options.horizon_seconds), "--paths", str(options.paths),
            "--seed", str(options.seed),
            "--min-observations", str(options.min_observations), "--backtest-runs", str(options.backtest_runs),
            "--symbols", ",".join(options.symbols)]
    return argv + (["--antithetic"] if options.antithetic else []) + (["--float32"] if options.float32 else [])


def run_every(settings: Settings, options: GbmOptions, every_s: float, wait_for_bars: bool) -> int:
    """Run forever: one `tickplant gbm` child per interval; a failed run is logged and the loop goes on."""
    from tickplant.supervisor import _die_with_parent

    if wait_for_bars:   # a short interval is a short first wait too
        wait_until_bars(settings, options, poll_s=min(15.0, max(1.0, every_s / 4)))
    argv = [sys.executable, "-m", "tickplant", *one_run_argv(options)]
    while True:
        started = time.monotonic()
        log.info("gbm run starting", every_s=every_s)
        try:
            code = subprocess.run(argv, preexec_fn=_die_with_parent, timeout=max(every_s, 600)).returncode
        except subprocess.TimeoutExpired:
            code = -1
        log.info("gbm run finished", exit_code=code, seconds=round(time.monotonic() - started, 1))
        time.sleep(max(1.0, every_s - (time.monotonic() - started)))


def wait_until_bars(settings: Settings, options: GbmOptions, poll_s: float = 15.0) -> None:
    """Block until some symbol has options.min_observations completed bars in the window (1m only)."""
    if options.interval != "1m":
        return
    from core import cassandra as cassandra_db

    keyspace = settings.cassandra_keyspace
    while True:
        try:
            session = cassandra_db.connect(settings, timeout_s=60)
            try:
                query = session.prepare(f"SELECT bar_start FROM {keyspace}.bars_1m WHERE symbol = ? AND trade_date = ? "
                                        "AND bar_start <= ? LIMIT ?")
                while True:
                    now = datetime.now(UTC)
                    complete = now - timedelta(seconds=60)
                    days = {now.date(), (now - timedelta(seconds=options.lookback_seconds)).date()}
                    best = max(sum(len(list(session.execute(query, (symbol, day, complete, options.min_observations))))
                                   for day in days) for symbol in options.symbols)
                    if best >= options.min_observations:
                        log.info("bars ready for the first gbm run", bars=best)
                        return
                    log.info("waiting for bars", have=best, need=options.min_observations)
                    time.sleep(poll_s)
            finally:
                cassandra_db.close(session)
        except Exception as exc:  # Cassandra not up yet or gone: keep waiting, never crash the loop
            log.warning("waiting for Cassandra", error=str(exc)[:200])
            time.sleep(poll_s)
