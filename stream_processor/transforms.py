"""Pure DataFrame -> DataFrame transforms of the stream processor: decode Kafka records, explode
trades with deterministic ids, route invalid input to dead letters, aggregate event-time windows.
No I/O here; the tests call these on static DataFrames shaped like Spark's Kafka source.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from core.schemas import HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE

DAY_MS = 86_400_000
MAX_FUTURE_MS = DAY_MS             # a trade stamped more than a day ahead is refused
MAX_EPOCH_MS = 253_402_300_799_000  # 9999-12-31: beyond it timestamp_millis would overflow
MESSAGE_TYPE = "trade"

TRADE_COLUMNS = ["symbol", "trade_date", "trade_timestamp", "trade_id", "price", "volume",
                 "trade_conditions", "ingest_timestamp", "source"]
WINDOW_COLUMNS = ["symbol", "trade_date", "window_start", "window_end", "trade_count", "volume",
                  "vwap", "open", "high", "low", "close"]
BAR_COLUMNS = ["symbol", "trade_date", "bar_start", "open", "high", "low", "close", "volume",
               "trade_count", "vwap"]


def header_text(name: str) -> Column:
    """The first Kafka header `name` as UTF-8 text, null when absent."""
    matches = F.filter(F.col("headers"), lambda header: header["key"] == F.lit(name))
    return F.get(matches, 0)["value"].cast("string")


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
    )
    record_id = F.coalesce(
        F.when(F.col("producer_id").isNotNull() & F.col("seq").isNotNull(),
               F.concat_ws("-", "producer_id", "seq")),
        F.concat_ws("-", F.col("partition").cast("string"), F.col("offset").cast("string")),
    )
    return decoded.withColumn("record_reason", record_reason).withColumn("record_id", record_id)


def trade_reason(now_ms: Column, max_future_ms: int = MAX_FUTURE_MS) -> Column:
    """Why a trade row is refused (null when valid): price, volume, symbol or timestamp."""
    price, volume, t = F.col("price"), F.col("volume"), F.col("t_ms")
    infinity = F.lit(float("inf"))
    return (
        F.when(F.col("symbol").isNull() | (F.trim(F.col("symbol")) == ""), F.lit("empty symbol"))
        .when(price.isNull() | F.isnan(price) | (F.abs(price) == infinity) | (price <= 0),
              F.lit("non-positive or non-finite price"))
        .when(volume.isNull() | F.isnan(volume) | (F.abs(volume) == infinity) | (volume < 0),
              F.lit("negative or non-finite volume"))
        .when(t.isNull() | (t <= 0), F.lit("timestamp missing or before 1970"))
        .when(t > now_ms + F.lit(max_future_ms), F.lit("timestamp more than a day in the future"))
    )


def trade_rows(decoded: DataFrame, now_ms: Column | None = None, max_future_ms: int = MAX_FUTURE_MS) -> DataFrame:
    """One row per trade (posexplode of `data`) plus one row per unusable record; `reason` is
    null for a valid trade. `trade_id` = producer-seq-index, or partition-offset-index without headers;
    it is unique per symbol (a frame's records, one per symbol, share producer and sequence)."""
    now_ms = now_ms if now_ms is not None else F.unix_millis(F.current_timestamp())
    exploded = decoded.select(
        "*", F.posexplode_outer(F.when(F.col("record_reason").isNull(), F.col("message")["data"]))
        .alias("trade_index", "trade"))
    trade = F.col("trade")
    rows = exploded.select(
        "topic", "partition", "offset", "value", "record_key", "kafka_timestamp", "received_ms", "source",
        "record_reason", "record_id", "trade_index",
        trade["s"].alias("symbol"), trade["p"].alias("price"), trade["v"].alias("volume"),
        trade["t"].alias("t_ms"),
        F.filter(trade["c"], lambda c: c.isNotNull()).alias("trade_conditions"),
    )
    trade_id = F.concat_ws("-", F.col("record_id"), F.col("trade_index").cast("string"))
    reason = F.coalesce(
        F.col("record_reason"),
        F.concat(F.lit("trade "), F.col("trade_index").cast("string"), F.lit(": "),
                 trade_reason(now_ms, max_future_ms)))
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
    window_end = F.floor(F.col("t_ms") / window_ms) * window_ms + window_ms
    return trades.withColumn("late", window_end <= F.lit(watermark_ms))


def window_aggregates(trades: DataFrame, duration: str) -> DataFrame:
    """Tumbling event-time windows per symbol: count, volume, VWAP, OHLC. Open/close are the prices
    of the first/last trade by (trade_timestamp, trade_id); VWAP falls back to the mean price when
    the window's volume is zero. `last_trade_timestamp` is kept for latency bookkeeping."""
    ordered = F.struct("trade_timestamp", "trade_id", "price")
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
    valid trade by (trade_timestamp, trade_id), and a total row (`is_total` = 1) with the
    `time_summary` columns. The rollup spares a second Spark job per batch."""
    valid = F.col("reason").isNull()
    newest = F.struct("trade_timestamp", "trade_id", "price", "volume", "t_ms")
    return rows.rollup("symbol").agg(
        F.grouping("symbol").alias("is_total"),
        F.max(F.when(valid, newest)).alias("newest"),
        *_time_columns(rows, F.col("t_ms"), F.col("received_ms")),
    )


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
