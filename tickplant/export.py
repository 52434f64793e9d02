"""`tickplant export`: any market table to one Parquet file, read partition by partition with prepared,
paged statements and streamed into a ParquetWriter, so memory stays bounded. Column types come from
the table's CQL types (timestamps as UTC milliseconds, dates as date32)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TickplantError

if TYPE_CHECKING:
    import pyarrow as pa


class ExportError(TickplantError):
    """A table cannot be exported (unknown table, unreadable schema, unwritable file)."""


@dataclass(frozen=True)
class TablePlan:
    """How a table's partitions are reached: `day` = (symbol, trade_date) per day of the range;
    `range` = one partition per symbol with the clustering column in the range; `latest` = one row
    per symbol, kept when its time is in the range; `run` = (symbol, run_ts) for the runs of
    gbm_runs in the range."""

    shape: str
    select: str                      # the table's statement; `{keyspace}` is the only substitution
    time_column: str | None = None   # `latest`: the column the range applies to


_RUNS_IN_RANGE = "SELECT run_ts FROM {keyspace}.gbm_runs WHERE symbol = ? AND run_ts >= ? AND run_ts < ?"
TABLES: dict[str, TablePlan] = {
    "trades": TablePlan("day", "SELECT * FROM {keyspace}.trades WHERE symbol = ? AND trade_date = ?"),
    "trades_5s": TablePlan("day", "SELECT * FROM {keyspace}.trades_5s WHERE symbol = ? AND trade_date = ?"),
    "bars_1m": TablePlan("day", "SELECT * FROM {keyspace}.bars_1m WHERE symbol = ? AND trade_date = ?"),
    "daily_bars": TablePlan("range", "SELECT * FROM {keyspace}.daily_bars WHERE symbol = ? AND trade_date >= ? "
                                     "AND trade_date <= ?"),
    "latest_prices": TablePlan("latest", "SELECT * FROM {keyspace}.latest_prices WHERE symbol = ?",
                               "trade_timestamp"),
    "gbm_runs": TablePlan("range", "SELECT * FROM {keyspace}.gbm_runs WHERE symbol = ? AND run_ts >= ? "
                                   "AND run_ts < ?"),
    "gbm_backtest": TablePlan("range", "SELECT * FROM {keyspace}.gbm_backtest WHERE symbol = ? AND run_ts >= ? "
                                       "AND run_ts < ?"),
    "gbm_forecasts": TablePlan("run", "SELECT * FROM {keyspace}.gbm_forecasts WHERE symbol = ? AND run_ts = ?"),
    "gbm_terminal": TablePlan("run", "SELECT * FROM {keyspace}.gbm_terminal WHERE symbol = ? AND run_ts = ?"),
}
_COLUMNS = ("SELECT column_name, kind, position, type FROM system_schema.columns "
            "WHERE keyspace_name = ? AND table_name = ?")


@dataclass(frozen=True)
class ExportOptions:
    """`tickplant export TABLE --symbol S --from D --to D --out FILE`; the range is inclusive, in UTC days."""

    table: str
    symbols: tuple[str, ...]
    date_from: date
    date_to: date
    out: Path
    fetch_size: int = 5_000          # rows per page from Cassandra
    batch_rows: int = 50_000         # rows per Parquet row group (the most held in memory)

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise ExportError(f"table {self.table!r}: expected one of {', '.join(TABLES)}")
        if self.date_from > self.date_to:
            raise ExportError(f"--from {self.date_from} is after --to {self.date_to}")
        if not self.symbols:
            raise ExportError("no symbol to export")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    partitions: int                  # partitions (or runs) queried


# -- CQL types -> Arrow types and value converters

def _scalar(cql: str) -> tuple[pa.DataType, Callable[[Any], Any] | None]:
    import pyarrow as pa

    identity = None
    types: dict[str, tuple[pa.DataType, Callable[[Any], Any] | None]] = {
        "text": (pa.string(), identity), "ascii": (pa.string(), identity), "varchar": (pa.string(), identity),
        "double": (pa.float64(), identity), "float": (pa.float32(), identity),
        "int": (pa.int32(), identity), "bigint": (pa.int64(), identity), "counter": (pa.int64(), identity),
        "smallint": (pa.int16(), identity), "tinyint": (pa.int8(), identity), "varint": (pa.int64(), identity),
        "boolean": (pa.bool_(), identity), "blob": (pa.binary(), identity),
        # the driver returns naive UTC datetimes; Arrow reads a naive value of a tz-aware type as UTC
        "timestamp": (pa.timestamp("ms", tz="UTC"), identity),
        "date": (pa.date32(), lambda v: v.date() if hasattr(v, "date") else v),
        "time": (pa.time64("ns"), lambda v: getattr(v, "nanosecond_time", v)),
        "uuid": (pa.string(), str), "timeuuid": (pa.string(), str), "inet": (pa.string(), str),
        "decimal": (pa.string(), str), "duration": (pa.string(), str),
    }
    if cql not in types:
        raise ExportError(f"CQL type {cql!r} has no Arrow mapping")
    return types[cql]


def _split_arguments(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += (char == "<") - (char == ">")
        current += char
    parts.append(current.strip())
    return parts


def arrow_type(cql: str) -> tuple[pa.DataType, Callable[[Any], Any] | None]:
    """The Arrow type of a CQL type (`map<text, double>`, `frozen<list<bigint>>`, ...) and the function
    turning a driver value into an Arrow-ready one (None: the value is ready)."""
    import pyarrow as pa

    cql = cql.strip()
    match = re.fullmatch(r"(\w+)<(.*)>", cql)
    if not match:
        return _scalar(cql)
    outer, arguments = match.group(1), _split_arguments(match.group(2))
    if outer == "frozen":
        return arrow_type(arguments[0])
    if outer in ("list", "set"):
        item_type, item = arrow_type(arguments[0])
        return pa.list_(item_type), (lambda v: None if v is None else [_apply(item, x) for x in v])
    if outer == "map":
        (key_type, key), (value_type, value) = arrow_type(arguments[0]), arrow_type(arguments[1])
        return pa.map_(key_type, value_type), (
            lambda v: None if v is None else [(_apply(key, k), _apply(value, x)) for k, x in v.items()])
    raise ExportError(f"CQL type {cql!r} has no Arrow mapping")


def _apply(convert: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if convert is None or value is None else convert(value)


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[str, ...]
    arrow: pa.Schema
    converters: tuple[Callable[[Any], Any] | None, ...]


def table_schema(session: Any, keyspace: str, table: str) -> TableSchema:
    """Columns in key order (partition, clustering, then the rest by name) with their Arrow types."""
    import pyarrow as pa

    rows = list(session.execute(session.prepare(_COLUMNS), (keyspace, table)))
    if not rows:
        raise ExportError(f"table {keyspace}.{table} does not exist (is the keyspace migrated?)")
    rank = {"partition_key": 0, "clustering": 1}
    rows.sort(key=lambda r: (rank.get(r["kind"], 2), r["position"] if r["kind"] in rank else 0, r["column_name"]))
    fields, converters = [], []
    for row in rows:
        kind, convert = arrow_type(row["type"])
        fields.append(pa.field(row["column_name"], kind, nullable=row["kind"] == "regular"))
        converters.append(convert)
    metadata = {"tickplant.keyspace": keyspace, "tickplant.table": table,
                "tickplant.cql_types": ",".join(f"{r['column_name']}:{r['type']}" for r in rows)}
    return TableSchema(tuple(r["column_name"] for r in rows), pa.schema(fields, metadata=metadata), tuple(converters))


# -- reading partition by partition

def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def partition_queries(session: Any, keyspace: str, options: ExportOptions) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """(prepared statement, parameters) for every partition (or partition slice) of the export."""
    plan = TABLES[options.table]
    select = session.prepare(plan.select.format(keyspace=keyspace))
    select.fetch_size = options.fetch_size
    start, end = _day_start(options.date_from), _day_start(options.date_to + timedelta(days=1))
    runs = session.prepare(_RUNS_IN_RANGE.format(keyspace=keyspace)) if plan.shape == "run" else None
    for symbol in options.symbols:
        if plan.shape == "day":
            for day in _days(options.date_from, options.date_to):
                yield select, (symbol, day)
        elif plan.shape == "range":
            yield select, ((symbol, options.date_from, options.date_to) if options.table == "daily_bars"
                           else (symbol, start, end))
        elif plan.shape == "latest":
            yield select, (symbol,)
        else:
            run_times = [row["run_ts"] for row in session.execute(runs, (symbol, start, end))]
            for run_ts in sorted(run_times):
                yield select, (symbol, run_ts)


def _in_range(plan: TablePlan, row: dict[str, Any], options: ExportOptions) -> bool:
    if plan.time_column is None:
        return True
    stamp = row.get(plan.time_column)
    return stamp is not None and options.date_from <= stamp.date() <= options.date_to


def export_table(session: Any, keyspace: str, options: ExportOptions) -> ExportResult:
    """Write the table's rows for the symbols and range to `options.out` (atomically: a temporary file
    renamed at the end); an empty selection gives a valid file with the table's schema and no row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = table_schema(session, keyspace, options.table)
    plan = TABLES[options.table]
    options.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = options.out.with_name(options.out.name + ".tmp")
    rows = partitions = 0
    columns: list[list[Any]] = [[] for _ in schema.columns]

    def flush(writer: pq.ParquetWriter) -> None:
        arrays = [pa.array(values, type=field.type) for values, field in zip(columns, schema.arrow, strict=True)]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema.arrow))
        for values in columns:
            values.clear()

    try:
        with pq.ParquetWriter(temporary, schema.arrow, compression="zstd") as writer:
            for statement, parameters in partition_queries(session, keyspace, options):
                partitions += 1
                for row in session.execute(statement, parameters):     # pages of fetch_size rows
                    if not _in_range(plan, row, options):
                        continue
                    for values, name, convert in zip(columns, schema.columns, schema.converters, strict=True):
                        values.append(_apply(convert, row.get(name)))
                    rows += 1
                    if len(columns[0]) >= options.batch_rows:
                        flush(writer)
            if columns[0] or rows == 0:
                flush(writer)
        os.replace(temporary, options.out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportError(f"cannot write {options.out}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return ExportResult(options.out, rows, partitions)
