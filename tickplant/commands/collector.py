"""`tickplant simulate`, `tickplant collect`, `tickplant replay`: the collector family."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.feeds import FEEDS, NAMES
from core.arguments import (
    non_negative_float,
    non_negative_int,
    port_or_zero,
    positive_float,
    positive_int,
    probability,
    symbol_list,
    symbol_value,
)
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser("simulate", help="the local Finnhub-compatible websocket server")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    simulate.add_argument("--port", type=port_or_zero,
                          help="0 = any free port (default TICKPLANT_SIMULATOR_PORT, 8765)")
    simulate.add_argument("--protocol", choices=NAMES, default=NAMES[0],
                          help="speak Finnhub's or Alpaca's websocket protocol (default finnhub)")
    simulate.add_argument("--rate", type=positive_float, default=1000.0,
                          help="trades per second per connection, 1 to 10,000,000 (default 1000)")
    simulate.add_argument("--seed", type=int, help="same seed, rate and --start-ms give the same trades")
    simulate.add_argument("--start-ms", type=int, help="virtual clock start, epoch ms (default now, or with "
                                                       "--time-scale so that the clock reaches now at the last trade)")
    simulate.add_argument("--time-scale", type=positive_float, default=1.0,
                          help="virtual seconds per wall second for trade stamps (default 1); above 1 needs "
                               "--max-trades or --start-ms")
    simulate.add_argument("--mu", type=symbol_value, action="append", default=[], metavar="SYMBOL=MU",
                          help="annual drift of SYMBOL's GBM, e.g. AAPL=0.1 (repeatable)")
    simulate.add_argument("--sigma", type=symbol_value, action="append", default=[], metavar="SYMBOL=SIGMA",
                          help="annual volatility of SYMBOL's GBM, e.g. AAPL=0.3 (repeatable)")
    simulate.add_argument("--start-price", type=symbol_value, action="append", default=[],
                          metavar="SYMBOL=PRICE", help="SYMBOL's price at the virtual clock start (repeatable)")
    simulate.add_argument("--market", type=Path, metavar="FILE.yaml",
                          help="per-symbol models, SYMBOL: {mu: .., sigma: .., start_price: ..}; flags win")
    simulate.add_argument("--max-trades", type=positive_int, help="stop streaming after this many valid trades")
    simulate.add_argument("--frame-trades", type=positive_int, default=200, help="at most this many trades per frame")
    simulate.add_argument("--require-token", action="store_true",
                          help="refuse connections without ?token=FINNHUB_API_TOKEN (or, for alpaca, "
                               "auth without ALPACA_API_KEY/ALPACA_API_SECRET)")
    simulate.add_argument("--max-symbols", type=positive_int, default=50,
                          help="symbols one connection may subscribe (default 50, as Finnhub's free tier)")
    simulate.add_argument("--ping-interval", type=positive_float, default=10.0, help="seconds between pings")
    simulate.add_argument("--faults", action="store_true",
                          help="drop connections at random, send malformed frames and trades")
    simulate.add_argument("--fault-rate", type=probability, default=0.02, help="per-frame fault probability")
    simulate.add_argument("--drop-every", type=positive_float, default=5.0,
                          help="with --faults: mean seconds between dropped connections")
    simulate.add_argument("--report", type=Path, help="write the sent-trades report (JSON) here every second")
    simulate.set_defaults(handler=simulate_command)

    collect = commands.add_parser("collect", help="websocket -> Avro -> Kafka")
    collect.add_argument("--url", help="websocket URL (default Finnhub with FINNHUB_API_TOKEN; "
                                       "the token is added to a --url that lacks one)")
    collect.add_argument("--source", choices=NAMES, default=NAMES[0], help="protocol")
    collect.add_argument("--symbols", type=symbol_list, help="comma-separated (default TICKPLANT_SYMBOLS)")
    collect.add_argument("--symbols-file", type=Path,
                         help="symbols file followed while running (comma or newline separated)")
    collect.add_argument("--archive", type=Path, metavar="DIR", help="also archive raw frames (jsonl.gz)")
    collect.add_argument("--archive-retention-hours", type=non_negative_float, metavar="HOURS",
                         help="delete archive files older than this, 0 = keep (default "
                              "TICKPLANT_ARCHIVE_RETENTION_HOURS, else no limit)")
    collect.add_argument("--archive-retention-bytes", type=non_negative_int, metavar="BYTES",
                         help="delete the oldest archive files beyond this total, 0 = no limit (default "
                              "TICKPLANT_ARCHIVE_RETENTION_BYTES, else no limit)")
    collect.add_argument("--metrics-port", type=port_or_zero,
                         help="Prometheus port, 0 = off (default TICKPLANT_METRICS_PORT, 9108)")
    collect.add_argument("--metrics-host", default="127.0.0.1", help="address the metrics endpoint binds")
    collect.add_argument("--spool-dir", type=Path, help="default <TICKPLANT_HOME>/spool")
    collect.add_argument("--queue-frames", type=positive_int, default=200_000,
                         help="frames held in memory (at most 64 MiB); beyond, the sender reads the journal on disk")
    collect.add_argument("--shutdown-timeout", type=positive_float, default=30.0,
                         help="seconds to deliver journaled records on SIGTERM; the rest stays in the journal")
    collect.set_defaults(handler=collect_command)

    replay_parser = commands.add_parser("replay", help="republish archived raw frames")
    replay_parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                               help="archive files written by `collect --archive` (*.jsonl.gz)")
    pace = replay_parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=non_negative_float, default=1.0,
                      help="1 = original pace, N = N times faster, 0 = fast")
    pace.add_argument("--fast", action="store_true", help="as fast as possible (same as --speed 0)")
    replay_parser.add_argument("--spool-dir", type=Path, help="default <TICKPLANT_HOME>/spool-replay")
    replay_parser.add_argument("--timeout", type=positive_float, default=120.0,
                               help="seconds to wait for Kafka to acknowledge at the end")
    replay_parser.set_defaults(handler=replay_command)


def _read_yaml(path: Path) -> object:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--market {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--market {path}: not YAML: {str(exc).splitlines()[0]}") from None


def _on_termination(callback: Any) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: callback())


def simulate_command(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from collector.simulator import Simulator, SimulatorConfig, market

    credentials: dict[str, str] = {}
    if args.require_token:
        feed = FEEDS[args.protocol]
        credentials = feed.credentials(settings)
        if not all(credentials.values()):
            raise ConfigError(f"--require-token needs {' and '.join(feed.credential_variables)}")
    try:
        base = market.models_from_mapping(_read_yaml(args.market)) if args.market else {}
        models = market.override_models(dict(args.mu), dict(args.sigma), dict(args.start_price), base)
    except ValueError as exc:
        raise ConfigError(f"{f'--market {args.market}' if args.market else 'simulate'}: {exc}") from None
    simulator = Simulator(SimulatorConfig(
        host=args.host, port=settings.runtime.simulator_port if args.port is None else args.port,
        protocol=args.protocol, rate=args.rate, seed=args.seed,
        start_ms=args.start_ms, time_scale=args.time_scale, models=models, max_trades=args.max_trades,
        frame_trades=args.frame_trades, credentials=credentials,
        max_symbols=args.max_symbols, ping_interval_s=args.ping_interval,
        faults=args.faults, fault_rate=args.fault_rate, drop_every_s=args.drop_every, report_file=args.report))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await simulator.run(stop)

    asyncio.run(main())
    return 0


def collect_command(settings: Settings, args: argparse.Namespace) -> int:
    from collector.archive import Retention
    from collector.client import Collector, CollectorOptions

    hours = args.archive_retention_hours if args.archive_retention_hours is not None \
        else settings.feed.archive_retention_hours
    size = args.archive_retention_bytes if args.archive_retention_bytes is not None \
        else settings.feed.archive_retention_bytes
    metrics_port = settings.runtime.metrics_port if args.metrics_port is None else args.metrics_port
    options = CollectorOptions(url=args.url, source=args.source, symbols=args.symbols or (),
                               symbols_file=args.symbols_file, archive_dir=args.archive,
                               archive_retention=Retention(hours * 3600 if hours else None, size or None),
                               metrics_port=metrics_port,
                               metrics_host=args.metrics_host,
                               spool_dir=args.spool_dir, queue_frames=args.queue_frames,
                               journal_max_bytes=settings.feed.journal_max_bytes,
                               shutdown_timeout_s=args.shutdown_timeout)
    collector = Collector(settings, options)
    _on_termination(collector.stop)
    return collector.run()


def replay_command(settings: Settings, args: argparse.Namespace) -> int:
    from collector.archive import replay
    from collector.exceptions import CollectorError
    from collector.metrics import CollectorMetrics
    from collector.publisher import Publisher

    speed = 0.0 if args.fast else args.speed
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        raise CollectorError(f"archive file(s) not found: {', '.join(missing)}")
    publisher = Publisher(settings, CollectorMetrics(), args.spool_dir or settings.runtime.home / "spool-replay",
                          journal_max_bytes=settings.feed.journal_max_bytes).start()
    stats = replay(settings, list(args.files), speed, publisher, args.timeout)
    print(f"replayed {stats.frames} frames: {stats.trades} trades, {stats.dead_letters} dead letters"
          + ("" if stats.delivered else " (not all acknowledged; the rest is in the spool)"))
    return 0 if stats.delivered else 1
