"""`tickplant export TABLE --symbol S --from D --to D --out FILE.parquet`: a market table to Parquet
(tickplant.export); flags are checked before Cassandra is contacted."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.arguments import symbol_list

if TYPE_CHECKING:
    from core.config import Settings
from core.errors import ConfigError

# the keys of tickplant.export.TABLES (kept here so the CLI does not import pyarrow to build its parser)
EXPORT_TABLES = ("trades", "trades_5s", "bars_1m", "daily_bars", "latest_prices", "gbm_runs", "gbm_backtest",
                 "gbm_forecasts", "gbm_terminal")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-05-01") from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive whole number")
    return int(text)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="a market table to a Parquet file (DuckDB, Polars, pandas)")
    parser.add_argument("table", choices=EXPORT_TABLES, metavar="TABLE", help=f"one of {', '.join(EXPORT_TABLES)}")
    parser.add_argument("--symbol", type=symbol_list, action="append", default=[], metavar="S",
                        help="symbol(s), repeatable or comma-separated (default TICKPLANT_SYMBOLS)")
    parser.add_argument("--from", dest="date_from", type=_day, metavar="D",
                        help="first UTC day, YYYY-MM-DD (default: --to)")
    parser.add_argument("--to", dest="date_to", type=_day, metavar="D", help="last UTC day, inclusive (default today)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the Parquet file to write")
    parser.add_argument("--fetch-size", type=_positive_int, default=5_000, help="rows per Cassandra page")
    parser.add_argument("--batch-rows", type=_positive_int, default=50_000,
                        help="rows per Parquet row group: the most held in memory (default 50,000)")
    parser.set_defaults(handler=export_command)


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    date_to = args.date_to or datetime.now(UTC).date()
    date_from = args.date_from or date_to
    if date_from > date_to:
        raise ConfigError(f"--from {date_from} is after --to {date_to}")
    symbols = tuple(dict.fromkeys(s for group in args.symbol for s in group)) or settings.feed.symbols

    from core import cassandra as cassandra_db
    from tickplant.export import ExportOptions, export_table

    options = ExportOptions(table=args.table, symbols=symbols, date_from=date_from, date_to=date_to, out=args.out,
                            fetch_size=args.fetch_size, batch_rows=args.batch_rows)
    session = cassandra_db.connect(settings)
    try:
        result = export_table(session, settings.cassandra.keyspace, options)
    finally:
        cassandra_db.close(session)
    print(f"exported {result.rows} row(s) of {settings.cassandra.keyspace}.{args.table} for {','.join(symbols)} "
          f"({date_from} to {date_to}, {result.partitions} partition(s) read) to {result.path}")
    return 0
