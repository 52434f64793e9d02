"""The historical ticker plant: daily OHLCV CSV files (`Date,Open,High,Low,Close[,Adj Close],Volume`,
ISO or US dates) parsed into `DailyBar`s with every bad row reported by line number, and written to
`daily_bars` with one prepared, idempotent upsert per row."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from core.errors import TickplantError
from core.symbols import SAMPLE_HISTORY_SYMBOL

INSERT_SOURCE = ("INSERT INTO {keyspace}.history_sources (symbol, source, imported_at, rows, first_date, last_date) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
SELECT_SOURCE = "SELECT source, imported_at, rows FROM {keyspace}.history_sources WHERE symbol = ?"
# The real daily series `tickplant up` imports on a first start: the S&P 500 index closes that the
# `arch` package ships (arch.data.sp500, from Yahoo Finance ^GSPC, 1999-2018).
SAMPLE_SYMBOL = SAMPLE_HISTORY_SYMBOL
INSERT_DAILY_BAR = ("INSERT INTO {keyspace}.daily_bars (symbol, trade_date, open, high, low, close, adj_close, "
                    "volume) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
REQUIRED = ("date", "open", "high", "low", "close", "volume")
_ALIASES = {"adj close": "adj_close", "adj. close": "adj_close", "adjclose": "adj_close", "adj_close": "adj_close",
            "adjusted close": "adj_close", "close/last": "close"}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_MISSING = {"", "null", "nan", "n/a", "na", "-"}


class HistoryError(TickplantError):
    """A history file cannot be imported at all (unreadable, no header, no usable row)."""


@dataclass(frozen=True, slots=True)
class DailyBar:
    symbol: str
    trade_date: date
    open: float
    high: float
    low: float
    close: float
    adj_close: float
    volume: float

    def values(self) -> tuple[Any, ...]:
        return (self.symbol, self.trade_date, self.open, self.high, self.low, self.close, self.adj_close,
                self.volume)


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int          # the physical line in the file, the header being line 1
    reason: str


@dataclass(frozen=True)
class ParsedHistory:
    bars: tuple[DailyBar, ...]
    bad_rows: tuple[BadRow, ...]


@dataclass(frozen=True)
class ImportOptions:
    """`tickplant import-history FILE --symbol SYM`."""

    path: Path
    symbol: str
    concurrency: int = 64
    chunk_rows: int = 2_000        # rows per concurrent batch: the progress bar's step
    progress: bool = True          # a tqdm bar on a terminal (never in a pipe or a log)
    source: str | None = None      # where the rows come from, for the History page (default: the file)


@dataclass(frozen=True)
class ImportResult:
    symbol: str
    rows_written: int
    bad_rows: tuple[BadRow, ...]
    first_date: date | None
    last_date: date | None


def parse_date(text: str) -> date:
    """`2024-01-31` (optionally followed by a time) or US `01/31/2024`; ValueError otherwise."""
    text = text.strip()
    match = _ISO.match(text)
    if match:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _US.match(text)
    if match:
        return date(int(match.group(3)), int(match.group(1)), int(match.group(2)))
    raise ValueError(f"date {text!r} is neither YYYY-MM-DD nor MM/DD/YYYY")


def parse_number(name: str, text: str) -> float:
    """A finite number; `$` and thousands separators allowed (`$1,234.50`)."""
    cleaned = text.strip().replace(",", "").lstrip("$")
    if cleaned.lower() in _MISSING:
        raise ValueError(f"{name} is missing")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{name} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text.strip()!r} is not finite")
    return value


def header_columns(header: list[str]) -> dict[str, int]:
    """Column name -> index, names normalised (`Adj Close` -> adj_close); HistoryError when one is missing."""
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").strip().lower()
        name = _ALIASES.get(name, name)
        columns.setdefault(name, index)
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise HistoryError(f"header {','.join(h.strip() for h in header)!r} lacks column(s) "
                           f"{', '.join(m.capitalize() for m in missing)} (expected Date,Open,High,Low,Close,"
                           "[Adj Close,]Volume)")
    return columns


def parse_row(symbol: str, fields: list[str], columns: dict[str, int]) -> DailyBar:
    """One CSV row as a DailyBar; ValueError with the reason when the row is unusable."""
    width = max(columns.values()) + 1
    if len(fields) < width:
        raise ValueError(f"missing fields: {len(fields)} of {width}")
    trade_date = parse_date(fields[columns["date"]])
    number = {name: parse_number(name, fields[columns[name]]) for name in ("open", "high", "low", "close", "volume")}
    adj_close = (parse_number("adj_close", fields[columns["adj_close"]]) if "adj_close" in columns
                 else number["close"])
    for name in ("close", "open", "high", "low"):
        if number[name] <= 0:
            raise ValueError(f"{name} {number[name]!r} is not positive")
    if adj_close <= 0:
        raise ValueError(f"adj_close {adj_close!r} is not positive")
    if number["high"] < number["low"]:
        raise ValueError(f"high {number['high']!r} is below low {number['low']!r}")
    if number["volume"] < 0:
        raise ValueError(f"volume {number['volume']!r} is negative")
    return DailyBar(symbol, trade_date, number["open"], number["high"], number["low"], number["close"], adj_close,
                    number["volume"])


def parse_history(symbol: str, lines: Iterable[str] | TextIO) -> ParsedHistory:
    """Every good row of a daily OHLCV CSV, and every bad one with its line number and reason.
    Blank lines are ignored; a date seen twice keeps its first row."""
    reader = csv.reader(lines)
    header: list[str] | None = None
    for fields in reader:
        if any(field.strip() for field in fields):
            header = fields
            break
    if header is None:
        raise HistoryError("the file is empty (expected a header Date,Open,High,Low,Close,[Adj Close,]Volume)")
    columns = header_columns(header)
    bars: list[DailyBar] = []
    bad: list[BadRow] = []
    seen: dict[date, int] = {}
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        line = reader.line_num
        try:
            bar = parse_row(symbol, fields, columns)
        except ValueError as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        if bar.trade_date in seen:
            bad.append(BadRow(line, f"date {bar.trade_date.isoformat()} already on line {seen[bar.trade_date]}"))
            continue
        seen[bar.trade_date] = line
        bars.append(bar)
    return ParsedHistory(tuple(bars), tuple(bad))


def open_text(path: Path) -> TextIO:
    """The file as text; `.gz`, `.bz2` and `.xz` files (e.g. arch's `sp500.csv.bz2`) are decompressed."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower())
    if opener is None:
        return path.open(newline="", encoding="utf-8-sig")
    return opener(path, "rt", newline="", encoding="utf-8-sig")


def read_history(path: Path, symbol: str) -> ParsedHistory:
    import lzma

    try:
        with open_text(path) as handle:
            return parse_history(symbol, handle)
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except (OSError, EOFError, lzma.LZMAError) as exc:   # unreadable, or a corrupt compressed file
        raise HistoryError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def chunks(bars: tuple[DailyBar, ...], size: int) -> Iterator[tuple[DailyBar, ...]]:
    for start in range(0, len(bars), size):
        yield bars[start:start + size]


def write_daily_bars(session: Any, keyspace: str, bars: tuple[DailyBar, ...], options: ImportOptions) -> int:
    """Upsert `bars` into `daily_bars` (prepared statement, concurrent); the same bars again change nothing."""
    from cassandra import DriverException
    from cassandra.cluster import NoHostAvailable
    from cassandra.concurrent import execute_concurrent_with_args
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential
    from tqdm import tqdm

    insert = session.prepare(INSERT_DAILY_BAR.format(keyspace=keyspace))

    @retry(stop=stop_after_attempt(4), wait=wait_exponential(multiplier=0.5, max=5), reraise=True,
           retry=retry_if_exception_type((DriverException, NoHostAvailable)))
    def write_chunk(chunk: tuple[DailyBar, ...]) -> None:   # upserts: a retried chunk writes the same rows
        execute_concurrent_with_args(session, insert, [bar.values() for bar in chunk],
                                     concurrency=options.concurrency, raise_on_first_error=True)

    written = 0
    with tqdm(total=len(bars), unit="row", desc=f"daily_bars {options.symbol}",
              disable=None if options.progress else True) as bar:
        for chunk in chunks(bars, options.chunk_rows):
            write_chunk(chunk)
            written += len(chunk)
            bar.update(len(chunk))
    return written


def import_history(session: Any, keyspace: str, options: ImportOptions) -> ImportResult:
    """Parse `options.path` and upsert its good rows (none written when there is none: see rows_written),
    then record where they came from in history_sources."""
    parsed = read_history(options.path, options.symbol)
    written = write_daily_bars(session, keyspace, parsed.bars, options) if parsed.bars else 0
    dates = [bar.trade_date for bar in parsed.bars]
    result = ImportResult(options.symbol, written, parsed.bad_rows, min(dates, default=None), max(dates, default=None))
    if written:
        from datetime import UTC, datetime

        session.execute(session.prepare(INSERT_SOURCE.format(keyspace=keyspace)), (
            options.symbol, options.source or f"file {options.path.name}", datetime.now(UTC), written,
            result.first_date, result.last_date))
    return result


def sample_history_file() -> tuple[Path, str] | None:
    """The S&P 500 daily CSV inside the installed `arch` package and a description of it, or None when
    arch is not installed. Found without importing arch (its import pulls in scipy and more)."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "sp500" / "sp500.csv.gz"
    if not path.is_file():
        return None
    version = importlib.metadata.version("arch")
    return path, (f"sample: S&P 500 index daily (Yahoo Finance ^GSPC), the arch.data.sp500 series of the "
                  f"Python package arch {version}, loaded by tickplant up on its first start")


def import_sample_history(session: Any, keyspace: str) -> ImportResult | None:
    """The sample series under SAMPLE_SYMBOL, once: None when it was imported before or arch is absent."""
    if list(session.execute(session.prepare(SELECT_SOURCE.format(keyspace=keyspace)), (SAMPLE_SYMBOL,))):
        return None
    found = sample_history_file()
    if found is None:
        return None
    path, source = found
    return import_history(session, keyspace, ImportOptions(path=path, symbol=SAMPLE_SYMBOL, progress=False,
                                                           source=source))


def _describe(bad: BadRow) -> str:
    return f"line {bad.line}: {bad.reason}"


def describe_bad_rows(bad_rows: tuple[BadRow, ...], limit: int = 50) -> list[str]:
    """One line per bad row (at most `limit`, then a count of the rest)."""
    lines = [f"skipped {_describe(bad)}" for bad in bad_rows[:limit]]
    if len(bad_rows) > limit:
        lines.append(f"... and {len(bad_rows) - limit} more bad row(s)")
    return lines
