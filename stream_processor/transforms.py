"""Pure DataFrame -> DataFrame transforms of the stream processor: decode Kafka records, explode
trades with deterministic ids, route invalid input to dead letters, aggregate event-time windows.
No I/O here; the tests call these on static DataFrames shaped like Spark's Kafka source.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from core.schemas import HEADER_FRAMES, HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE

DAY_MS = 86_400_000
MAX_AHEAD_OF_CLOCK_MS = DAY_MS  # a trade stamped more than a day ahead of the job's clock is refused
MAX_FUTURE_MS = 5_000           # TICKPLANT_MAX_FUTURE_MS's default: bound of a trade's stamp over its receive time
MAX_EPOCH_MS = 253_402_300_799_000  # 9999-12-31: beyond it timestamp_millis would overflow
MESSAGE_TYPE = "trade"
WINDOW_MS = 5_000

TRADE_COLUMNS = ["symbol", "trade_date", "trade_timestamp", "trade_id", "price", "volume",
                 "trade_conditions", "ingest_timestamp", "source"]
WINDOW_COLUMNS = ["symbol", "trade_date", "window_start", "window_end", "trade_count", "volume",
                  "vwap", "open", "high", "low", "close"]
# Trades sharing a millisecond are ordered by producer, frame sequence and index as numbers (the
# trade_id string would put "p-10-0" before "p-9-0").
TRADE_ORDER = ("trade_timestamp", "producer_id", "frame_seq", "frame_index")
BAR_COLUMNS = ["symbol", "trade_date", "bar_start", "open", "high", "low", "close", "volume",
               "trade_count", "vwap"]


def header_text(name: str) -> Column:
    """The first Kafka header `name` as UTF-8 text, null when absent. No lambda: where code generation
    is on, a higher-order function keeps its projection (and from_avro) out of whole-stage codegen."""
    position = F.array_position(F.col("headers.key"), name)  # 1-based, 0 when absent
    return F.get(F.col("headers.value"), (position - 1).cast("int")).cast("string")


def epoch_ms_to_timestamp(ms: Column) -> Column:
    """Epoch milliseconds -> timestamp; null (not an overflow error) outside years 1970-9999."""
    return F.when(ms.between(0, MAX_EPOCH_MS), F.timestamp_millis(ms))


def utc_date(ms: Column) -> Column:
    """The UTC calendar day of epoch milliseconds, independent of the session time zone."""
    return F.when(ms.between(0, MAX_EPOCH_MS), F.date_from_unix_date(F.floor(ms / DAY_MS).cast("int")))


def decode_records(records: DataFrame, schema_json: str) -> DataFrame:
    """Kafka source rows -> one row per record: coordinates, headers, the decoded `message`
    (null when the bytes are not Avro of `schema_json`) and `record_reason` when unusable."""
    decoded = records.select(
        "topic", "partition", "offset", "value",
        F.col("key").cast("string").alias("record_key"),
        F.col("timestamp").alias("kafka_timestamp"),
        header_text(HEADER_PRODUCER_ID).alias("producer_id"),
        header_text(HEADER_SEQUENCE).alias("seq"),
        header_text(HEADER_RECEIVED_AT).cast("long").alias("received_ms"),
        header_text(HEADER_SOURCE).alias("source"),
        header_text(HEADER_FRAMES).alias("frames_header"),
        from_avro(F.col("value"), schema_json, {"mode": "PERMISSIVE"}).alias("message"),
    )
    message = F.col("message")
    record_reason = (
        # PERMISSIVE from_avro yields null, or a struct of nulls, for bytes that are not the schema's Avro.
        F.when(message.isNull() | (message["type"].isNull() & message["data"].isNull()),
               F.lit("undecodable Avro record"))
        .when(F.coalesce(message["type"], F.lit("")) != MESSAGE_TYPE,
              F.concat(F.lit("message type is not 'trade': "), F.coalesce(message["type"], F.lit("null"))))
        .when(F.coalesce(F.size(message["data"]), F.lit(0)) <= 0, F.lit("record holds no trades"))
        .when(F.col("frames_header").isNotNull() & ~_frames_valid(F.col("frame_runs"), F.size(message["data"])),
              F.concat(F.lit(f"malformed {HEADER_FRAMES} header: "), F.col("frames_header")))
    )
    record_id = F.coalesce(
        F.when(F.col("producer_id").isNotNull() & F.col("seq").isNotNull(),
               F.concat_ws("-", "producer_id", "seq")),
        F.concat_ws("-", F.col("partition").cast("string"), F.col("offset").cast("string")),
    )
    return (decoded.withColumn("frame_runs", frame_runs(F.col("frames_header")))
            .withColumn("record_reason", record_reason).withColumn("record_id", record_id))


def frame_runs(header: Column) -> Column:
    """`seq:count,seq:count,...` -> array of struct(seq long, count int, start int), where `start` is
    the record position of the run's first trade; null without the header."""
    runs = F.transform(F.split(header, ","), lambda run: F.struct(
        F.split(run, ":")[0].cast("long").alias("seq"), F.split(run, ":")[1].cast("int").alias("count"),
        F.size(F.split(run, ":")).alias("parts")))
    counts = F.transform(runs, lambda run: run["count"])
    return F.when(header.isNotNull(), F.transform(runs, lambda run, i: F.struct(
        run["seq"].alias("seq"), run["count"].alias("count"),
        F.aggregate(F.slice(counts, 1, i), F.lit(0), lambda acc, c: acc + c).alias("start"),
        run["parts"].alias("parts"))))


def _frames_valid(runs: Column, trades: Column) -> Column:
    """Every run is `seq:count` with a non-negative seq and a positive count, and the counts cover
    exactly the record's trades."""
    well_formed = F.forall(runs, lambda run: (run["parts"] == 2) & run["seq"].isNotNull() & (run["seq"] >= 0)
                           & run["count"].isNotNull() & (run["count"] > 0))
    total = F.aggregate(runs, F.lit(0).cast("long"), lambda acc, run: acc + F.coalesce(run["count"], F.lit(0)))
    return F.coalesce(well_formed & (total == trades), F.lit(False))


def trade_reason(now_ms: Column, max_ahead_of_clock_ms: int = MAX_AHEAD_OF_CLOCK_MS,
                 max_future_ms: int = MAX_FUTURE_MS) -> Column:
    """Why a trade row is refused (null when valid): price, volume, symbol or timestamp. A stamp more
    than `max_future_ms` after the record's receive time (tp-received-ms, else the Kafka timestamp) is a
    bad clock: it must never reach the watermark, the windows or latest_prices."""
    price, volume, t = F.col("price"), F.col("volume"), F.col("t_ms")
    received = F.coalesce(F.col("received_ms"), F.unix_millis(F.col("kafka_timestamp")))
    infinity = F.lit(float("inf"))
    return (
        F.when(F.col("symbol").isNull() | (F.trim(F.col("symbol")) == ""), F.lit("empty symbol"))
        .when(price.isNull() | F.isnan(price) | (F.abs(price) == infinity) | (price <= 0),
              F.lit("non-positive or non-finite price"))
        .when(volume.isNull() | F.isnan(volume) | (F.abs(volume) == infinity) | (volume < 0),
              F.lit("negative or non-finite volume"))
        .when(t.isNull() | (t <= 0), F.lit("timestamp missing or before 1970"))
        .when(t > now_ms + F.lit(max_ahead_of_clock_ms), F.lit("timestamp more than a day in the future"))
        .when(t > received + F.lit(max_future_ms),
              F.concat(F.lit("timestamp "), (t - received).cast("string"),
                       F.lit(f" ms after its receive time (limit {max_future_ms} ms)")))
    )


def trade_rows(decoded: DataFrame, now_ms: Column | None = None,
               max_ahead_of_clock_ms: int = MAX_AHEAD_OF_CLOCK_MS, max_future_ms: int = MAX_FUTURE_MS) -> DataFrame:
    """One row per trade (posexplode of `data`) plus one row per unusable record; `reason` is
    null for a valid trade. `trade_id` = producer-frame seq-index in the frame, or partition-offset-index
    without headers; it is unique per symbol (a frame's records, one per symbol, share producer and
    sequence). With a tp-frames header a trade's frame is the run covering its record position.
    `frame_seq`/`frame_index` are the numeric tie-break of trades sharing a millisecond."""
    now_ms = now_ms if now_ms is not None else F.unix_millis(F.current_timestamp())
    exploded = decoded.select(
        "*", F.posexplode_outer(F.when(F.col("record_reason").isNull(), F.col("message")["data"]))
        .alias("trade_index", "trade"))
    trade = F.col("trade")
    rows = exploded.select(
        "topic", "partition", "offset", "value", "record_key", "kafka_timestamp", "received_ms", "source",
        "record_reason", "record_id", "trade_index", "producer_id", "seq", "frame_runs",
        trade["s"].alias("symbol"), trade["p"].alias("price"), trade["v"].alias("volume"),
        trade["t"].alias("t_ms"),
        F.array_compact(trade["c"]).alias("trade_conditions"),
    )
    index = F.col("trade_index")
    run = F.get(F.filter(F.col("frame_runs"), lambda r: (r["start"] <= index) & (index < r["start"] + r["count"])), 0)
    combined = F.col("frame_runs").isNotNull()
    rows = rows.withColumn("frame_run", run).select(
        "*",
        # Without headers the Kafka offset orders records of a partition (a symbol's records share one).
        F.when(combined, F.col("frame_run.seq")).otherwise(F.coalesce(F.col("seq").cast("long"), F.col("offset")))
        .alias("frame_seq"),
        F.when(combined, index - F.col("frame_run.start")).otherwise(index).alias("frame_index"),
        combined.alias("combined"),
    ).drop("frame_run", "frame_runs")
    combined = F.col("combined")
    trade_id = F.when(
        combined & F.col("producer_id").isNotNull(),
        F.concat_ws("-", "producer_id", F.col("frame_seq").cast("string"), F.col("frame_index").cast("string")),
    ).otherwise(F.concat_ws("-", F.col("record_id"), index.cast("string")))
    reason = F.coalesce(
        F.col("record_reason"),
        F.concat(F.lit("trade "), F.col("trade_index").cast("string"), F.lit(": "),
                 trade_reason(now_ms, max_ahead_of_clock_ms, max_future_ms)))
    return rows.select(
        "*",
        F.when(F.col("trade_index").isNotNull(), trade_id).alias("trade_id"),
        epoch_ms_to_timestamp(F.col("t_ms")).alias("trade_timestamp"),
        utc_date(F.col("t_ms")).alias("trade_date"),
        F.col("kafka_timestamp").alias("ingest_timestamp"),
        reason.alias("reason"),
    ).withColumn(
        # Only valid trades move the watermark: a refused far-future stamp must not make later trades late.
        "event_time", F.when(F.col("reason").isNull(), F.col("trade_timestamp"))
    ).withColumn(
        # The raw record bytes are kept for dead letters only: copied onto every valid trade of a
        # record they would dominate the micro-batch cache.
        "value", F.when(F.col("reason").isNotNull(), F.col("value")))


def valid_trades(rows: DataFrame) -> DataFrame:
    return rows.filter(F.col("reason").isNull())


def dead_letters(rows: DataFrame) -> DataFrame:
    """Rows refused by `trade_rows` in the `dead_letters` table's shape; the payload is the record's bytes.
    The id adds the record key (the symbol) to the record id and trade index: one frame's records
    share producer and sequence, and a dead letter must not overwrite its neighbour's."""
    bad = rows.filter(F.col("reason").isNotNull())
    received_at = F.coalesce(epoch_ms_to_timestamp(F.col("received_ms")), F.col("kafka_timestamp"),
                             F.current_timestamp())
    return bad.select(
        utc_date(F.unix_millis(received_at)).alias("day"),
        received_at.alias("received_at"),
        F.concat_ws("-", "record_id", "record_key", F.col("trade_index").cast("string")).alias("id"),
        F.col("source"), F.col("reason"), F.col("value").alias("payload"), F.col("topic"),
        F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
    )


def mark_late(trades: DataFrame, watermark_ms: int, window_ms: int = 5_000) -> DataFrame:
    """Adds `late`: the trade's `window_ms` window had closed (end <= watermark) when it arrived,
    the same rule Spark uses to drop input of a windowed aggregation."""
    return trades.withColumn("late", window_end(window_ms) <= F.lit(watermark_ms))


def window_end(window_ms: int = WINDOW_MS) -> Column:
    return F.floor(F.col("t_ms") / window_ms) * window_ms + window_ms


class BatchPlan:
    """The Columns every `trades` micro-batch applies, built once. A Column is an unresolved
    expression, valid on each batch's DataFrame; building one costs a py4j round trip per function,
    each resolving `functions` through PySpark's imports with class lookups across the classpath
    (the observed summary alone is ~300 round trips; BENCHMARKS.md, issue 19)."""

    def __init__(self, rows: DataFrame, symbols: tuple[str, ...], late_window_ms: int = WINDOW_MS) -> None:
        self._window_end = window_end(late_window_ms)
        self._valid = F.col("reason").isNull()
        self._trade_columns = [F.col(name) for name in TRADE_COLUMNS]
        self.summary = observed_summary(rows.withColumn("late", F.lit(False)), symbols)
        # a small batch collected to the driver: the `trades` row (times as epoch ms, so no time zone
        # conversion on the way to Python) and what `rollup.batch_summary` needs
        self._collected = [F.col(name) for name in (
            "reason", "symbol", "trade_date", "t_ms", "trade_id", "price", "volume", "trade_conditions")] + [
            F.unix_millis(F.col("ingest_timestamp")).alias("ingest_ms"), F.col("source"),
            F.col("received_ms"), F.col("late")]

    def mark_late(self, rows: DataFrame, watermark_ms: int) -> DataFrame:
        """`mark_late` with the prebuilt window end."""
        return rows.withColumn("late", self._window_end <= F.lit(watermark_ms))

    def collected(self, rows: DataFrame) -> list[Row]:
        """Every row of `rows` (marked late) on the driver, in the columns `collected_trades` and
        `rollup.batch_summary` read."""
        return rows.select(*self._collected).collect()

    def valid_trades(self, rows: DataFrame) -> DataFrame:
        """The valid trades of `rows` in the `trades` table's columns."""
        return rows.filter(self._valid).select(*self._trade_columns)


def collected_trades(rows: list[Row]) -> list[tuple]:
    """The valid rows of `BatchPlan.collected` as `TradeWrites.write` takes them (TRADE_COLUMNS order)."""
    return [(row["symbol"], row["trade_date"], row["t_ms"], row["trade_id"], row["price"], row["volume"],
             row["trade_conditions"], row["ingest_ms"], row["source"]) for row in rows if row["reason"] is None]


def window_aggregates(trades: DataFrame, duration: str) -> DataFrame:
    """Tumbling event-time windows per symbol: count, volume, VWAP, OHLC. Open/close are the prices
    of the first/last trade by `TRADE_ORDER` (time, then producer, frame seq and index as numbers); VWAP
    falls back to the mean price when the window's volume is zero. `last_trade_timestamp` is kept for
    latency bookkeeping."""
    ordered = F.struct(*TRADE_ORDER, "price")
    grouped = trades.groupBy("symbol", F.window("trade_timestamp", duration).alias("window")).agg(
        F.count(F.lit(1)).alias("trade_count"),
        F.sum("volume").alias("volume"),
        F.sum(F.col("price") * F.col("volume")).alias("notional"),
        F.sum("price").alias("price_sum"),
        F.min(ordered).alias("first"),
        F.max(ordered).alias("last"),
        F.max("price").alias("high"),
        F.min("price").alias("low"),
    )
    vwap = F.when(F.col("volume") > 0, F.col("notional") / F.col("volume")) \
        .otherwise(F.col("price_sum") / F.col("trade_count"))
    return grouped.select(
        "symbol",
        utc_date(F.unix_millis(F.col("window.start"))).alias("trade_date"),
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        F.col("trade_count"), F.col("volume"), vwap.alias("vwap"),
        F.col("first.price").alias("open"), F.col("high"), F.col("low"),
        F.col("last.price").alias("close"),
        F.col("last.trade_timestamp").alias("last_trade_timestamp"),
    )


def as_bars(windows: DataFrame) -> DataFrame:
    """`window_aggregates` rows in the `bars_1m` table's shape."""
    return windows.withColumnRenamed("window_start", "bar_start").select(*BAR_COLUMNS)


def trades_summary(rows: DataFrame) -> DataFrame:
    """One pass over a micro-batch of `trade_rows` (with `late`): a row per symbol with its newest
    valid trade by `TRADE_ORDER`, and a total row (`is_total` = 1) with the
    `time_summary` columns. The rollup spares a second Spark job per batch."""
    valid = F.col("reason").isNull()
    newest = F.struct(*TRADE_ORDER, "trade_id", "price", "volume", "t_ms")
    return rows.rollup("symbol").agg(
        F.grouping("symbol").alias("is_total"),
        F.max(F.when(valid, newest)).alias("newest"),
        *_time_columns(rows, F.col("t_ms"), F.col("received_ms")),
        touched_windows(valid),
    )


def observed_summary(rows: DataFrame, symbols: tuple[str, ...]) -> Column:
    """`trades_summary` as one aggregate expression for `DataFrame.observe`, so the batch's write
    computes it in the same pass: a JSON object with the `time_summary` columns, the newest valid
    trade of each of `symbols` (`newest_<i>` in their order) and `other_symbols`, the valid rows of
    any other symbol (then the caller falls back to `trades_summary`). JSON, because observed
    metrics reach Python as JVM objects; nulls are left out of it."""
    valid = F.col("reason").isNull()
    newest = F.struct(*TRADE_ORDER, "price", "volume", "t_ms")
    return F.to_json(F.struct(
        *_time_columns(rows, F.col("t_ms"), F.col("received_ms")),
        *(F.max(F.when(valid & (F.col("symbol") == symbol), newest)).alias(f"newest_{i}")
          for i, symbol in enumerate(symbols)),
        F.count_if(valid & ~F.col("symbol").isin(list(symbols))).alias("other_symbols"),
        touched_windows(valid),
    )).alias("summary")


def touched_windows(valid: Column, window_ms: int = WINDOW_MS) -> Column:
    """The distinct (symbol, window start ms) of the batch's valid trades: the 5 s windows (and so
    the 1 min bars) to recompute from the stored trades once the batch's trades are written."""
    start = F.floor(F.col("t_ms") / window_ms) * window_ms
    return F.collect_set(F.when(valid, F.struct(F.col("symbol").alias("symbol"), start.alias("start")))
                         ).alias("windows")


def time_summary(rows: DataFrame, event_ms: Column, received_ms: Column | None = None) -> DataFrame:
    """One row for a micro-batch: valid and refused rows, late trades, and the 1st/50th
    percentiles of the event and receive times of the valid rows (epoch ms)."""
    return rows.agg(*_time_columns(rows, event_ms, received_ms))


def _time_columns(rows: DataFrame, event_ms: Column, received_ms: Column | None) -> list[Column]:
    valid = F.col("reason").isNull() if "reason" in rows.columns else F.lit(True)
    late = F.col("late") if "late" in rows.columns else F.lit(False)
    received = received_ms if received_ms is not None else F.lit(None).cast("long")
    return [
        F.count_if(valid).alias("valid_rows"),
        F.count_if(~valid).alias("refused_rows"),
        F.count_if(valid & late).alias("late_rows"),
        F.percentile_approx(F.when(valid, event_ms), [0.01, 0.5], 10_000).alias("event_ms"),
        F.percentile_approx(F.when(valid, received), [0.01, 0.5], 10_000).alias("received_ms"),
    ]


def latency_from_times(times: Row, written_ms: int) -> dict[str, Any]:
    """p50/p99 of (written_ms - time) from a `time_summary` row: p99 of the difference is
    written_ms minus the 1st percentile of the times."""
    def latency(column: str) -> list[int] | None:
        quantiles = times[column]
        if not quantiles or quantiles[0] is None:
            return None
        return [written_ms - quantiles[1], written_ms - quantiles[0]]

    return {"valid_rows": times["valid_rows"], "refused_rows": times["refused_rows"],
            "late_rows": times["late_rows"], "latency": latency("event_ms"),
            "receive_latency": latency("received_ms")}
