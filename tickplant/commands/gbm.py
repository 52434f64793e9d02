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
from gbm_analysis.options import (
    EARLY_EVERY_S,
    EARLY_INTERVAL,
    GbmOptions,
    add_arguments,
    early_options,
    format_duration,
    options_from_args,
    parse_duration,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.config import Settings

log = get_logger(__name__)


def register(commands: argparse._SubParsersAction) -> None:
    gbm = commands.add_parser("gbm", help="GBM Monte Carlo forecast per symbol (Spark batch job)")
    add_arguments(gbm)
    gbm.add_argument("--every", type=parse_duration, default=None,
                     help="keep running: one run every interval, e.g. 1h (default: a single run)")
    gbm.add_argument("--wait-for-bars", action="store_true",
                     help="wait until a symbol has --min-observations completed bars (a single run: once its "
                          "Spark session is up); with --every, until there are enough 1 min bars the runs take "
                          "the 5 s windows (half a minute of them) every --early-every")
    gbm.add_argument("--early-every", type=parse_duration, default=EARLY_EVERY_S,
                     help="with --wait-for-bars: the interval of the runs on 5 s windows (default 10m)")
    gbm.add_argument("--no-early-runs", action="store_true",
                     help="with --wait-for-bars: no runs on 5 s windows, wait for the 1 min bars")
    gbm.set_defaults(handler=gbm_command)


def gbm_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        options = options_from_args(settings, args)
    except ValueError as exc:
        raise ConfigError(f"tickplant gbm: {exc}") from None
    if args.wait_for_bars and args.run_ts:
        raise ConfigError("tickplant gbm: --wait-for-bars takes the run time after the wait; leave out --run-ts")
    if args.every:
        return run_every(settings, options, args.every, args.wait_for_bars,
                         None if args.no_early_runs else args.early_every)
    from gbm_analysis import job  # imports pyspark: only when the command runs

    # a single run with --wait-for-bars waits once its Spark session is up: the first run of a fresh
    # start pays for the JVM while the stream job completes its first 5 s windows
    return job.run(settings, options, wait_for_data=(lambda warm: wait_until_bars(
        settings, options, 2.0, while_waiting=warm)) if args.wait_for_bars else None)


def one_run_argv(options: GbmOptions) -> list[str]:
    """The `tickplant gbm` arguments of one run of the loop (the run time is the child's own now)."""
    argv = ["gbm", "--interval", options.interval, "--lookback", format_duration(options.lookback_seconds),
            "--horizon", format_duration(options.horizon_seconds), "--paths", str(options.paths),
            "--seed", str(options.seed),
            "--min-observations", str(options.min_observations), "--backtest-runs", str(options.backtest_runs),
            "--symbols", ",".join(options.symbols)]
    return argv + (["--antithetic"] if options.antithetic else []) + (["--float32"] if options.float32 else [])


def run_every(settings: Settings, options: GbmOptions, every_s: float, wait_for_bars: bool,
              early_every_s: float | None = EARLY_EVERY_S) -> int:
    """Run forever: one `tickplant gbm` child per interval; a failed run is logged and the loop goes on.
    With `wait_for_bars`, each run waits until there is data to run on: 1 min bars once a symbol has
    --min-observations of them, before that (a fresh start) 5 s windows every `early_every_s`. Each child
    waits for its own interval's bars once its Spark session is up (`--wait-for-bars`): on a fresh start
    the first run is started at once."""
    from tickplant.runtime.processes import die_with_parent

    while True:
        run_options = options
        if wait_for_bars:   # a short interval is a short first wait too
            interval = wait_until_bars(settings, options, poll_s=min(15.0, max(1.0, every_s / 4)),
                                       early=early_every_s is not None)
            run_options = options if interval == options.interval else early_options(options)
        pause = every_s if run_options is options else min(every_s, early_every_s or every_s)
        started, planned = time.monotonic(), datetime.now(UTC) + timedelta(seconds=pause)
        argv = [sys.executable, "-m", "tickplant", *one_run_argv(run_options), "--next-run-at", planned.isoformat(),
                *(["--wait-for-bars"] if wait_for_bars else [])]
        log.info("gbm run starting", interval=run_options.interval, every_s=pause)
        try:
            code = subprocess.run(argv, preexec_fn=die_with_parent, timeout=max(pause, 600)).returncode
        except subprocess.TimeoutExpired:
            code = -1
        log.info("gbm run finished", exit_code=code, seconds=round(time.monotonic() - started, 1))
        time.sleep(max(1.0, pause - (time.monotonic() - started)))


def choose_interval(options: GbmOptions, have: int, early: bool) -> str | None:
    """What the next run can use, given the most completed bars of options.interval a symbol has: that
    interval once there are --min-observations; else (`early`, a 1 min run) the 5 s windows at once: the
    run starts its Spark session while the stream job writes its first windows and waits for
    --min-observations of them itself; else None (wait)."""
    if have >= options.min_observations:
        return options.interval
    if early and options.interval == "1m":
        return EARLY_INTERVAL
    return None


# the day-bucketed tables a run waits on: interval -> (table, bar start column, bar length in seconds)
BAR_TABLES = {"1m": ("bars_1m", "bar_start", 60), "5s": ("trades_5s", "window_start", 5)}


def wait_until_bars(settings: Settings, options: GbmOptions, poll_s: float = 15.0, early: bool = False,
                    while_waiting: Callable[[], object] | None = None) -> str:
    """Block until `choose_interval` has an answer (with `early`, as soon as Cassandra answers) and
    return the interval to run on; `while_waiting` is called once, the first time there is a wait."""
    if options.interval not in BAR_TABLES:
        return options.interval
    from core import cassandra as cassandra_db

    name, start, step_s = BAR_TABLES[options.interval]
    said = False
    while True:
        try:
            session = cassandra_db.connect(settings, timeout_s=60)
            try:
                query = session.prepare(f"SELECT {start} FROM {settings.cassandra.keyspace}.{name} "
                                        f"WHERE symbol = ? AND trade_date = ? AND {start} <= ? LIMIT ?")
                while True:
                    have = _most_completed(session, query, options.symbols, step_s, options.lookback_seconds,
                                           options.min_observations)
                    interval = choose_interval(options, have, early)
                    if interval is not None:
                        if said:
                            log.info("bars ready for the gbm run", bars=have, interval=interval)
                        return interval
                    log.info("waiting for bars", have=have, need=options.min_observations, interval=options.interval)
                    if not said and while_waiting is not None:
                        while_waiting()
                    said = True
                    time.sleep(poll_s)
            finally:
                cassandra_db.close(session)
        except Exception as exc:  # Cassandra not up yet or gone: keep waiting, never crash the loop
            log.warning("waiting for Cassandra", error=str(exc)[:200])
            time.sleep(poll_s)


def _most_completed(session, query, symbols: tuple[str, ...], step_s: float, lookback_s: float, need: int) -> int:
    """The most completed bars (up to `need`) any symbol has in the window: `query` takes (symbol, day,
    newest complete start, limit)."""
    now = datetime.now(UTC)
    complete = now - timedelta(seconds=step_s)
    days = {now.date(), (now - timedelta(seconds=lookback_s)).date()}
    return max(sum(len(list(session.execute(query, (symbol, day, complete, need)))) for day in days)
               for symbol in symbols)
