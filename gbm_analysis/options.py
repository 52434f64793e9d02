"""What one GBM run does (`GbmOptions`) and the duration syntax of its flags (`24h`, `5y`, `90m`).
Imports nothing heavy: the CLI validates flags with these before any JVM starts."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.arguments import symbol_list

if TYPE_CHECKING:
    from core.config import Settings

STEP_SECONDS = {"5s": 5, "1m": 60, "1d": 86_400}
DEFAULT_LOOKBACK = {"5s": "1h", "1m": "24h", "1d": "5y"}
DEFAULT_HORIZON = {"5s": "15m", "1m": "1h", "1d": "30d"}
# The GBM loop's runs before enough one-minute bars exist (a fresh start): on the 5 s windows, from
# half a minute of them (six), a short horizon, repeated every EARLY_EVERY_S until the 1 min bars take over.
EARLY_INTERVAL = "5s"
EARLY_MIN_OBSERVATIONS = 6
EARLY_EVERY_S = 600.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365.25 * 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdwy])\s*$")


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `24h`, `30d`, `2w`, `5y` (years of 365.25 days) -> seconds; argparse `type=`."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 24h, 30d, 2w or 5y")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration, in seconds: 3600.0 -> '3600s'."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds:.3f}s"


def parse_run_ts(text: str) -> datetime:
    """An ISO-8601 time (UTC when no offset is given), truncated to the millisecond; argparse `type=`."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time like 2024-05-01T12:00:00Z") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


@dataclass(frozen=True)
class GbmOptions:
    """One GBM run: which bars, how far back, how far ahead, how many paths, and its identity."""

    symbols: tuple[str, ...]
    run_ts: datetime                 # UTC, millisecond precision; the run's key in every gbm_* table
    interval: str = "1m"             # "1m": bars_1m; "1d": daily_bars; "5s": trades_5s (a first start)
    lookback_seconds: float = 86_400.0
    horizon_seconds: float = 3_600.0
    paths: int = 10_000
    seed: int = 1
    antithetic: bool = False
    min_observations: int = 30
    backtest_runs: int = 48          # newest earlier runs per symbol compared with realised closes
    float32: bool = False            # simulate in single precision (faster, ~7 significant digits)
    next_run_ts: datetime | None = None   # when the loop plans the next run (stored for the page to say)

    def __post_init__(self) -> None:
        if self.interval not in STEP_SECONDS:
            raise ValueError(f"interval {self.interval!r} is not one of {sorted(STEP_SECONDS)}")
        if self.run_ts.tzinfo is None:
            raise ValueError("run_ts must carry a time zone (UTC)")
        if self.horizon_seconds < self.step_seconds or self.horizon_seconds % self.step_seconds:
            raise ValueError(f"horizon {self.horizon_seconds:g}s is not a whole number of "
                             f"{self.interval} steps")
        if self.antithetic and self.paths % 2:
            raise ValueError(f"antithetic variates need an even number of paths, not {self.paths}")
        if self.min_observations < 3:
            raise ValueError("min_observations must be at least 3 (two returns)")
        if not self.symbols:
            raise ValueError("no symbols")

    def at(self, run_ts: datetime) -> GbmOptions:
        """The same run at another time (millisecond precision, as the tables keep it)."""
        return replace(self, run_ts=run_ts.replace(microsecond=run_ts.microsecond // 1000 * 1000))

    @property
    def step_seconds(self) -> int:
        return STEP_SECONDS[self.interval]

    @property
    def steps(self) -> int:
        return int(self.horizon_seconds // self.step_seconds)

    @property
    def run_ms(self) -> int:
        return int(round(self.run_ts.timestamp() * 1000))

    @property
    def window_start_ms(self) -> int:
        return self.run_ms - int(round(self.lookback_seconds * 1000))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of one run (shared by `tickplant gbm` and spark-submit); validated by argparse."""
    parser.add_argument("--interval", choices=("1m", "1d", "5s"), default="1m",
                        help="1m: bars_1m (default); 1d: daily_bars (imported history); 5s: trades_5s")
    parser.add_argument("--lookback", type=parse_duration, default=None,
                        help="estimation window, e.g. 24h, 5y (default 1h for 5s, 24h for 1m, 5y for 1d)")
    parser.add_argument("--horizon", type=parse_duration, default=None,
                        help="forecast horizon, a whole number of bars (default 15m for 5s, 1h for 1m, 30d for 1d)")
    parser.add_argument("--paths", type=positive_int, default=10_000, help="Monte Carlo paths (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="base seed; paths use (seed, symbol, run time)")
    parser.add_argument("--antithetic", action="store_true", help="antithetic variates (paths must be even)")
    parser.add_argument("--min-observations", type=positive_int, default=30,
                        help="skip a symbol with fewer closes in the window (default 30)")
    parser.add_argument("--symbols", type=symbol_list, default=None, help="comma-separated (default TICKPLANT_SYMBOLS)")
    parser.add_argument("--run-ts", type=parse_run_ts, default=None,
                        help="the run's time (ISO, UTC; default now): data after it is not used")
    parser.add_argument("--backtest-runs", type=positive_int, default=48,
                        help="earlier runs per symbol to backtest (default 48)")
    parser.add_argument("--float32", action="store_true", help="simulate in single precision")
    parser.add_argument("--next-run-at", type=parse_run_ts, default=None,
                        help="when the next run is planned (ISO, UTC), stored with the run for the dashboard")


def options_from_args(settings: Settings, args: argparse.Namespace) -> GbmOptions:
    """GbmOptions from parsed flags; a ValueError carries the reason they do not fit together."""
    now = datetime.now(UTC)
    run_ts = args.run_ts or now.replace(microsecond=now.microsecond // 1000 * 1000)
    return GbmOptions(
        symbols=args.symbols or settings.feed.symbols,
        run_ts=run_ts, interval=args.interval,
        lookback_seconds=args.lookback or parse_duration(DEFAULT_LOOKBACK[args.interval]),
        horizon_seconds=args.horizon or parse_duration(DEFAULT_HORIZON[args.interval]),
        paths=args.paths, seed=args.seed, antithetic=args.antithetic, min_observations=args.min_observations,
        backtest_runs=args.backtest_runs, float32=args.float32, next_run_ts=args.next_run_at,
    )


def early_options(options: GbmOptions) -> GbmOptions:
    """The loop's run on 5 s windows while too few 1 min bars exist: same symbols, paths and seed."""
    return replace(options, interval=EARLY_INTERVAL, lookback_seconds=parse_duration(DEFAULT_LOOKBACK["5s"]),
                   horizon_seconds=parse_duration(DEFAULT_HORIZON["5s"]), min_observations=EARLY_MIN_OBSERVATIONS)
