"""`tickplant import-history FILE --symbol SYM`: a daily OHLCV CSV into `daily_bars` (gbm_analysis.history);
bad rows are reported by line number and skipped, and the exit code is non-zero only when no row was good."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.arguments import one_symbol

if TYPE_CHECKING:
    from core.config import Settings


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive whole number")
    return int(text)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("import-history", help="load a daily OHLCV CSV into daily_bars (idempotent)")
    parser.add_argument("file", type=Path, metavar="FILE",
                        help="CSV with Date,Open,High,Low,Close[,Adj Close],Volume; YYYY-MM-DD or MM/DD/YYYY dates")
    parser.add_argument("--symbol", required=True, type=one_symbol, help="the symbol the rows belong to")
    parser.add_argument("--concurrency", type=_positive_int, default=64, help="concurrent writes (default 64)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (none is drawn off a terminal)")
    parser.set_defaults(handler=import_history_command)


def import_history_command(settings: Settings, args: argparse.Namespace) -> int:
    from core import cassandra as cassandra_db
    from gbm_analysis.history import HistoryError, ImportOptions, describe_bad_rows, import_history

    options = ImportOptions(path=args.file, symbol=args.symbol, concurrency=args.concurrency,
                            progress=not args.no_progress, source=f"file {args.file.resolve()}")
    if not options.path.is_file():
        raise HistoryError(f"{options.path}: no such file")
    session = cassandra_db.connect(settings)
    try:
        result = import_history(session, settings.cassandra.keyspace, options)
    finally:
        cassandra_db.close(session)
    for line in describe_bad_rows(result.bad_rows):
        print(f"{options.path}: {line}", file=sys.stderr)
    if not result.rows_written:
        raise HistoryError(f"{options.path}: no usable row ({len(result.bad_rows)} bad row(s)); nothing imported")
    print(f"imported {result.rows_written} daily bar(s) of {result.symbol} ({result.first_date} to "
          f"{result.last_date}) into {settings.cassandra.keyspace}.daily_bars; "
          f"{len(result.bad_rows)} bad row(s) skipped")
    return 0
