"""Test helpers for the stream processor: Avro trade records with collector headers, Kafka-source
shaped rows for unit tests, producing to the isolated topic, running `tickplant stream` as a
subprocess, and exact recomputation of the expected Cassandra tables with pandas.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core import kafka as kafka_clients
from core import retry
from core.config import Settings
from core.schemas import (
    HEADER_FRAMES,
    HEADER_PRODUCER_ID,
    HEADER_RECEIVED_AT,
    HEADER_SEQUENCE,
    HEADER_SOURCE,
    encode_message,
)

ROOT = Path(__file__).resolve().parents[1]
TICKPLANT = str(ROOT / ".venv" / "bin" / "tickplant")


def trade(symbol: str, price: float, volume: float, t_ms: int, conditions: list[str] | None = None) -> dict:
    return {"s": symbol, "p": price, "v": volume, "t": t_ms, "c": conditions}


def headers(producer_id: str, seq: int, received_ms: int, source: str = "test") -> list[tuple[str, bytes]]:
    return [(HEADER_PRODUCER_ID, producer_id.encode()), (HEADER_SEQUENCE, str(seq).encode()),
            (HEADER_RECEIVED_AT, str(received_ms).encode()), (HEADER_SOURCE, source.encode())]


@dataclass
class Record:
    """One Kafka record of the test: its value bytes, headers and the trades it carries."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    producer_id: str | None = None
    seq: int | None = None
    frames: str | None = None       # the tp-frames header of a record combining several frames


def frame_positions(seq: object, frames: str | None, count: int) -> list[tuple[int, int]]:
    """(frame seq, index in the frame) of each of a record's `count` trades: from the tp-frames
    run-lengths `seq:count,...` when present, else (seq, position). Pure Python, the reference
    the stream processor's Spark SQL parsing is checked against."""
    if not frames:
        return [(int(seq) if seq is not None else None, index) for index in range(count)]  # type: ignore[misc]
    positions = []
    for run in frames.split(","):
        run_seq, run_count = run.split(":")
        positions.extend((int(run_seq), index) for index in range(int(run_count)))
    assert len(positions) == count, f"tp-frames {frames!r} covers {len(positions)} trades, not {count}"
    return positions


def combined_record(frames: list[tuple[int, list[dict]]], producer_id: str = "p1",
                    received_ms: int | None = None) -> Record:
    """One record carrying the trades of several frames of one symbol, with a tp-frames header."""
    trades = [item for _, frame_trades in frames for item in frame_trades]
    header = ",".join(f"{seq}:{len(frame_trades)}" for seq, frame_trades in frames)
    record = trade_record(trades, producer_id=producer_id, seq=frames[0][0], received_ms=received_ms)
    record.headers.append((HEADER_FRAMES, header.encode()))
    record.frames = header
    return record


def trade_record(trades: list[dict], producer_id: str = "p1", seq: int = 0,
                 received_ms: int | None = None, with_headers: bool = True) -> Record:
    received = received_ms if received_ms is not None else int(time.time() * 1000)
    return Record(key=trades[0]["s"].encode() if trades else None, value=encode_message(trades),
                  headers=headers(producer_id, seq, received) if with_headers else [],
                  trades=trades, producer_id=producer_id if with_headers else None,
                  seq=seq if with_headers else None)


def kafka_row(record: Record, partition: int = 0, offset: int = 0, topic: str = "market",
              timestamp: datetime | None = None) -> tuple:
    """A row shaped like Spark's Kafka source (key, value, topic, partition, offset, timestamp,
    timestampType, headers) for static-DataFrame tests."""
    return (record.key, bytearray(record.value), topic, partition, offset,
            timestamp or datetime(2024, 1, 2, 3, 4, 5), 0,
            [(k, bytearray(v)) for k, v in record.headers])


KAFKA_SOURCE_SCHEMA = ("key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
                       "timestampType int, headers array<struct<key: string, value: binary>>")


def synthetic_records(symbols: Iterable[str], records: int, start_ms: int, step_ms: int = 37,
                      trades_per_record: int = 3, producer_id: str = "p1", seed: int = 7,
                      first_seq: int = 0) -> list[Record]:
    """Deterministic valid records: per record one symbol, several trades with increasing times."""
    rng = random.Random(seed)
    symbols = list(symbols)
    out = []
    t = start_ms
    for i in range(records):
        symbol = symbols[i % len(symbols)]
        trades = []
        for _ in range(trades_per_record):
            t += rng.randint(0, step_ms)
            trades.append(trade(symbol, round(rng.uniform(90, 110), 2), round(rng.uniform(0.01, 5), 4), t,
                                ["1"] if rng.random() < 0.3 else None))
        out.append(trade_record(trades, producer_id=producer_id, seq=first_seq + i, received_ms=t + 5))
    return out


def produce(settings: Settings, records: Iterable[Record], partition: int | None = None) -> int:
    """Send the records to settings.kafka.topic and wait for every acknowledgement."""
    producer = kafka_clients.producer(settings)
    count = 0
    try:
        for record in records:
            producer.send(settings.kafka.topic, key=record.key, value=record.value,
                          headers=record.headers, partition=partition)
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return count


def expected_trades(records: Iterable[Record]) -> pd.DataFrame:
    """The trade rows the job must write, one per valid trade, with their deterministic ids."""
    rows = []
    for record in records:
        positions = frame_positions(record.seq, record.frames, len(record.trades))
        for item, (seq, index) in zip(record.trades, positions, strict=True):
            rows.append({"symbol": item["s"], "trade_id": f"{record.producer_id}-{seq}-{index}",
                         "price": item["p"], "volume": item["v"], "t_ms": item["t"]})
    return pd.DataFrame(rows, columns=["symbol", "trade_id", "price", "volume", "t_ms"])


def trade_order(trade_ids: Iterable[str]) -> pd.DataFrame:
    """The numeric tie-break of trades sharing a millisecond, from `producer-seq-index` ids:
    producer, then frame sequence and index as numbers ("p-9-0" before "p-10-0")."""
    parts = [trade_id.rsplit("-", 2) for trade_id in trade_ids]
    return pd.DataFrame({"order_producer": [p[0] for p in parts], "order_seq": [int(p[1]) for p in parts],
                         "order_index": [int(p[2]) for p in parts]})


def recompute_windows(trades: pd.DataFrame, window_ms: int) -> pd.DataFrame:
    """OHLCV/VWAP per (symbol, window) recomputed from raw trades: the reference for the tables."""
    frame = trades.reset_index(drop=True)
    frame = pd.concat([frame, trade_order(frame["trade_id"])], axis=1)
    frame["window_ms"] = frame["t_ms"] // window_ms * window_ms
    frame = frame.sort_values(["t_ms", "order_producer", "order_seq", "order_index"], kind="stable")
    frame["notional"] = frame["price"] * frame["volume"]
    grouped = frame.groupby(["symbol", "window_ms"], sort=True)
    result = grouped.agg(trade_count=("price", "size"), volume=("volume", "sum"), notional=("notional", "sum"),
                         open=("price", "first"), close=("price", "last"), high=("price", "max"),
                         low=("price", "min"), mean_price=("price", "mean")).reset_index()
    result["vwap"] = [n / v if v > 0 else m for n, v, m in zip(result["notional"], result["volume"],
                                                                result["mean_price"], strict=True)]
    return result.drop(columns=["notional", "mean_price"])


def to_ms(value: datetime) -> int:
    """A timestamp the Cassandra driver returned (naive UTC) as epoch ms."""
    return int(value.replace(tzinfo=UTC).timestamp() * 1000) if value.tzinfo is None else int(value.timestamp() * 1000)


def read_partitioned(session, table: str, keyspace: str, keys: Iterable[tuple[str, object]]) -> list[dict]:
    """All rows of `table` in the given (symbol, trade_date) partitions (prepared, partition-key reads)."""
    statement = session.prepare(f"SELECT * FROM {keyspace}.{table} WHERE symbol = ? AND trade_date = ?")
    rows = []
    for symbol, day in keys:
        rows.extend(session.execute(statement, (symbol, day)))
    return rows


def day_keys(trades: pd.DataFrame) -> set[tuple[str, object]]:
    from cassandra.util import Date

    return {(s, Date(int(t // 86_400_000))) for s, t in zip(trades["symbol"], trades["t_ms"], strict=True)}


def stream_env(settings: Settings, home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env.update({"KAFKA_TOPIC": settings.kafka.topic, "CASSANDRA_KEYSPACE": settings.cassandra.keyspace,
                "TICKPLANT_HOME": str(home), "SPARK_MASTER": "local[2]", "PYTHONUNBUFFERED": "1"})
    return env


class StreamJob:
    """`tickplant stream` as a subprocess with its log in a file; stop with SIGTERM or kill -9."""

    def __init__(self, settings: Settings, home: Path, *flags: str, log_name: str = "stream.log",
                 env: dict[str, str] | None = None) -> None:
        self.log_path = home / log_name
        home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen([TICKPLANT, "stream", *flags], cwd=ROOT, env=stream_env(settings, home, env),
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 90) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"stream job ignored SIGTERM for {timeout_s}s; log: {self.tail()}") from None
        finally:
            self._log.close()

    def kill(self) -> None:
        """kill -9 the whole process group (the Python driver and its JVM)."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # a JVM child may outlive its parent
        except ProcessLookupError:
            pass
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, job: StreamJob | None = None,
               interval_s: float = 1.0) -> None:
    """`core.retry.wait_until` that also fails as soon as the stream job has died; the failure
    carries `what` and the job's log."""
    def reached() -> bool:
        if condition():
            return True
        if job is not None and not job.alive():
            raise AssertionError(f"stream job exited ({job.process.returncode}) while waiting for {what}:\n"
                                 f"{job.tail()}")
        return False

    try:
        retry.wait_until(reached, timeout_s, what=what, initial_s=interval_s, maximum_s=interval_s)
    except TimeoutError:
        detail = f"\n{job.tail()}" if job is not None else ""
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}{detail}") from None


def python() -> str:
    return sys.executable


def status_of(settings: Settings, home: Path) -> list[dict]:
    from core.stream_status import stream_status

    return stream_status(settings.replace(home=home))


def caught_up(settings: Settings, home: Path) -> bool:
    """Every query has committed up to the topic's end offsets."""
    report = status_of(settings, home)
    return all(row["lag"] == 0 and row["pending_batch"] is None and row["committed_batch"] is not None
               for row in report)


def count_trades(session, keyspace: str, keys: Iterable[tuple[str, object]]) -> int:
    statement = session.prepare(f"SELECT COUNT(*) AS n FROM {keyspace}.trades WHERE symbol = ? AND trade_date = ?")
    return sum(session.execute(statement, key).one()["n"] for key in keys)


def newest_per_symbol(trades: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per symbol, the trades sharing the newest trade time (any of them may win a same-ms tie)."""
    result = {}
    for symbol, group in trades.groupby("symbol"):
        result[symbol] = group[group["t_ms"] == group["t_ms"].max()]
    return result


def assert_tables_match(session, keyspace: str, sent: pd.DataFrame, aggregated: pd.DataFrame | None = None) -> None:
    """The exact checks: `trades` holds every sent trade once; per-symbol volume sums agree;
    every trades_5s / bars_1m row equals a pandas recomputation from `aggregated` (default: all
    sent trades) and no other row exists; latest_prices holds the newest trade per symbol."""
    aggregated = sent if aggregated is None else aggregated
    keys = day_keys(sent)
    stored = pd.DataFrame(read_partitioned(session, "trades", keyspace, keys))
    assert len(stored) == len(sent), f"trades: {len(stored)} rows stored, {len(sent)} sent"
    stored["t_ms"] = [to_ms(t) for t in stored["trade_timestamp"]]
    # trade ids are unique per symbol: the records of one frame share producer and sequence
    stored["symbol_stored"] = stored["symbol"]
    merged = sent.merge(stored, on=["symbol", "trade_id"], suffixes=("", "_stored"), validate="one_to_one")
    assert len(merged) == len(sent), "trade ids differ between sent and stored"
    for column in ("symbol", "price", "volume", "t_ms"):
        assert (merged[column] == merged[f"{column}_stored"]).all(), f"trades.{column} differs"
    for symbol, group in sent.groupby("symbol"):
        stored_volume = math.fsum(stored.loc[stored["symbol"] == symbol, "volume"])
        assert stored_volume == math.fsum(group["volume"]), f"volume sum of {symbol} differs"
    for table, window_ms, start in (("trades_5s", 5_000, "window_start"), ("bars_1m", 60_000, "bar_start")):
        _assert_windows(session, keyspace, table, window_ms, start, aggregated, keys)
    latest = {row["symbol"]: row for row in session.execute(f"SELECT * FROM {keyspace}.latest_prices")}
    newest = newest_per_symbol(sent)
    assert set(latest) == set(newest)
    for symbol, candidates in newest.items():
        row = latest[symbol]
        assert to_ms(row["trade_timestamp"]) == int(candidates["t_ms"].iloc[0]), f"latest {symbol} not newest"
        assert (row["price"], row["volume"]) in set(zip(candidates["price"], candidates["volume"], strict=True))


def _assert_windows(session, keyspace: str, table: str, window_ms: int, start: str, trades: pd.DataFrame,
                    keys: set) -> None:
    expected = recompute_windows(trades, window_ms)
    rows = {(r["symbol"], to_ms(r[start])): r for r in read_partitioned(session, table, keyspace, keys)}
    wanted = {(s, int(w)) for s, w in zip(expected["symbol"], expected["window_ms"], strict=True)}
    assert set(rows) == wanted, f"{table}: windows differ: missing {sorted(wanted - set(rows))[:5]}, " \
                                f"extra {sorted(set(rows) - wanted)[:5]}"
    for item in expected.itertuples():
        row = rows[(item.symbol, int(item.window_ms))]
        assert row["trade_count"] == item.trade_count, f"{table} {item.symbol}@{item.window_ms} count"
        assert (row["open"], row["high"], row["low"], row["close"]) == (item.open, item.high, item.low, item.close), \
            f"{table} {item.symbol}@{item.window_ms} OHLC"
        assert math.isclose(row["volume"], item.volume, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(row["vwap"], item.vwap, rel_tol=1e-12), f"{table} {item.symbol}@{item.window_ms} vwap"
        if table == "trades_5s":
            assert to_ms(row["window_end"]) == int(item.window_ms) + window_ms


def metrics_rows(session, keyspace: str, query: str) -> list[dict]:
    from cassandra.util import Date

    today = Date(int(time.time() // 86_400))
    statement = session.prepare(f"SELECT * FROM {keyspace}.pipeline_metrics WHERE query_name = ? AND day = ?")
    return list(session.execute(statement, (query, today)))
