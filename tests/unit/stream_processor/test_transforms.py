"""The stream processor's DataFrame transforms on static DataFrames shaped like Spark's Kafka
source: explode, deterministic trade ids, validation routing, window boundaries, VWAP and OHLC."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from pyspark.sql import functions as F

from core.config import Settings
from core.schemas import encode_message, trade_schema_json
from core.spark import build_session
from stream_processor import transforms
from tests.helpers_stream import (
    KAFKA_SOURCE_SCHEMA,
    combined_record,
    expected_trades,
    kafka_row,
    recompute_windows,
    trade,
    trade_record,
)

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, a multiple of 5 s
MINUTE = 1_700_000_040_000  # 2023-11-14T22:14:00Z, a multiple of 1 min


@pytest.fixture(scope="session")
def spark():
    session = build_session(Settings.from_env(), "tickplant-unit-tests",
                            {"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


def rows_of(spark, records, partition: int = 0):
    frame = spark.createDataFrame([kafka_row(r, partition=partition, offset=i) for i, r in enumerate(records)],
                                  KAFKA_SOURCE_SCHEMA)
    return transforms.trade_rows(transforms.decode_records(frame, trade_schema_json()),
                                 now_ms=F.lit(T0 + 3_600_000))


def test_explode_gives_one_row_per_trade_with_its_index(spark):
    record = trade_record([trade("AAPL", 10.0, 1.0, T0), trade("AAPL", 11.0, 2.0, T0 + 1),
                           trade("AAPL", 12.0, 3.0, T0 + 2, ["1", "12"])], producer_id="col-a", seq=41)
    rows = rows_of(spark, [record]).orderBy("trade_index").collect()
    assert [(r.trade_index, r.price, r.volume, r.t_ms) for r in rows] == [
        (0, 10.0, 1.0, T0), (1, 11.0, 2.0, T0 + 1), (2, 12.0, 3.0, T0 + 2)]
    assert [r.reason for r in rows] == [None, None, None]
    assert rows[2].trade_conditions == ["1", "12"]
    assert rows[0].source == "test"


def test_trade_id_is_producer_seq_index_and_the_same_on_every_run(spark):
    record = trade_record([trade("MSFT", 1.0, 1.0, T0), trade("MSFT", 2.0, 1.0, T0)], producer_id="col-a", seq=7)
    first = [r.trade_id for r in rows_of(spark, [record]).orderBy("trade_index").collect()]
    again = [r.trade_id for r in rows_of(spark, [record]).orderBy("trade_index").collect()]
    assert first == again == ["col-a-7-0", "col-a-7-1"]


def test_trade_id_falls_back_to_partition_offset_index_without_headers(spark):
    records = [trade_record([trade("MSFT", 1.0, 1.0, T0)], with_headers=False),
               trade_record([trade("MSFT", 1.0, 1.0, T0), trade("MSFT", 2.0, 1.0, T0)], with_headers=False)]
    ids = sorted(r.trade_id for r in rows_of(spark, records, partition=2).collect())
    assert ids == ["2-0-0", "2-1-0", "2-1-1"]


def test_a_header_named_twice_counts_by_its_first_value_and_null_conditions_are_dropped(spark):
    import dataclasses

    record = trade_record([trade("AAPL", 1.0, 1.0, T0, ["1", None, "12"]), trade("AAPL", 2.0, 1.0, T0)],
                          producer_id="col-a", seq=5)
    twice = dataclasses.replace(record, headers=[*record.headers, ("tp-producer-id", b"col-b")])
    no_source = dataclasses.replace(record, headers=[h for h in record.headers if h[0] != "tp-source"])
    rows = rows_of(spark, [twice, no_source]).orderBy("offset", "trade_index").collect()
    assert [(r.trade_id, r.source) for r in rows] == [("col-a-5-0", "test"), ("col-a-5-1", "test"),
                                                      ("col-a-5-0", None), ("col-a-5-1", None)]
    assert [r.trade_conditions for r in rows[:2]] == [["1", "12"], None]


def test_timestamps_and_trade_date_are_utc_from_epoch_ms(spark):
    late_evening = int(datetime(2024, 3, 9, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)
    row = rows_of(spark, [trade_record([trade("AAPL", 1.0, 1.0, late_evening)], received_ms=late_evening)]).first()
    assert row.trade_date == date(2024, 3, 9)
    assert row.t_ms == late_evening
    assert row.received_ms == late_evening
    assert row.ingest_timestamp == datetime(2024, 1, 2, 3, 4, 5)


INVALID_TRADES = [
    (trade("AAPL", 0.0, 1.0, T0), "non-positive or non-finite price"),
    (trade("AAPL", -3.0, 1.0, T0), "non-positive or non-finite price"),
    (trade("AAPL", math.nan, 1.0, T0), "non-positive or non-finite price"),
    (trade("AAPL", math.inf, 1.0, T0), "non-positive or non-finite price"),
    (trade("AAPL", 1.0, -0.5, T0), "negative or non-finite volume"),
    (trade("AAPL", 1.0, math.nan, T0), "negative or non-finite volume"),
    (trade("AAPL", 1.0, math.inf, T0), "negative or non-finite volume"),
    (trade("", 1.0, 1.0, T0), "empty symbol"),
    (trade("  ", 1.0, 1.0, T0), "empty symbol"),
    (trade("AAPL", 1.0, 1.0, T0 + 3_600_000 + 86_400_001), "timestamp more than a day in the future"),
    (trade("AAPL", 1.0, 1.0, -5), "timestamp missing or before 1970"),
    (trade("AAPL", 1.0, 1.0, 2**62), "timestamp more than a day in the future"),
]


def test_each_invalid_trade_goes_to_dead_letters_and_its_neighbours_stay_valid(spark):
    """Every refusal reason in one batch: record `case` (at offset `case`) holds a valid trade, the bad
    one, another valid trade. Records are independent in the transforms, so one DataFrame checks all
    twelve cases in three Spark jobs instead of thirty-six."""
    records = [trade_record([trade("AAPL", 10.0, 1.0, T0), bad, trade("AAPL", 11.0, 0.0, T0 + 5)], seq=case)
               for case, (bad, _) in enumerate(INVALID_TRADES)]
    rows = rows_of(spark, records)
    assert sorted(r.trade_id for r in transforms.valid_trades(rows).collect()) == sorted(
        f"p1-{case}-{index}" for case in range(len(INVALID_TRADES)) for index in (0, 2))
    dead = {r.id: r for r in transforms.dead_letters(rows).collect()}
    assert {key: (r.reason, r.topic, r.kafka_partition, r.kafka_offset) for key, r in dead.items()} == {
        f"p1-{case}-AAPL-1": (f"trade 1: {reason}", "market", 0, case)
        for case, (_, reason) in enumerate(INVALID_TRADES)}
    for case, record in enumerate(records):
        assert bytes(dead[f"p1-{case}-AAPL-1"].payload) == record.value, case
    refused = rows.filter(F.col("reason").isNotNull()).select("event_time").collect()
    assert [r.event_time for r in refused] == [None] * len(INVALID_TRADES)   # never moves the watermark


def test_undecodable_bytes_and_empty_or_foreign_messages_become_dead_letters(spark):
    good = trade_record([trade("AAPL", 10.0, 1.0, T0)], seq=1)
    garbage = trade_record([trade("AAPL", 10.0, 1.0, T0)], seq=2)
    garbage.value = b"\xff\xfe\x00not avro at all"
    empty = trade_record([], seq=3)
    ping = trade_record([trade("AAPL", 10.0, 1.0, T0)], seq=4)
    ping.value = encode_message([], message_type="ping")
    rows = rows_of(spark, [good, garbage, empty, ping])
    assert [r.trade_id for r in transforms.valid_trades(rows).collect()] == ["p1-1-0"]
    dead = {r.id: r for r in transforms.dead_letters(rows).collect()}
    assert dead["p1-2-AAPL"].reason == "undecodable Avro record"
    assert bytes(dead["p1-2-AAPL"].payload) == garbage.value
    assert dead["p1-3"].reason == "record holds no trades"
    assert dead["p1-4-AAPL"].reason == "message type is not 'trade': ping"
    assert all(r.day is not None and r.received_at is not None for r in dead.values())


def windows_of(spark, trades, duration="5 seconds"):
    record = trade_record(trades, seq=9)
    valid = transforms.valid_trades(rows_of(spark, [record]))
    return transforms.window_aggregates(valid, duration).orderBy("symbol", "window_start").collect()


def test_trade_exactly_at_a_5s_boundary_goes_to_the_window_starting_there(spark):
    windows = windows_of(spark, [trade("AAPL", 1.0, 1.0, T0 - 1), trade("AAPL", 2.0, 1.0, T0),
                                 trade("AAPL", 3.0, 1.0, T0 + 4_999), trade("AAPL", 4.0, 1.0, T0 + 5_000)])
    as_ms = [(int(w.window_start.replace(tzinfo=UTC).timestamp() * 1000), w.trade_count) for w in windows]
    # the session time zone is UTC, so the naive timestamps read back are UTC wall time
    assert as_ms == [(T0 - 5_000, 1), (T0, 2), (T0 + 5_000, 1)]
    assert windows[1].open == 2.0 and windows[1].close == 3.0
    assert (windows[1].window_end - windows[1].window_start).total_seconds() == 5


def test_vwap_and_ohlc_follow_trade_time_then_trade_id(spark):
    trades = [trade("AAPL", 10.0, 2.0, T0 + 300), trade("AAPL", 13.0, 1.0, T0 + 100),
              trade("AAPL", 9.0, 3.0, T0 + 100), trade("AAPL", 12.0, 4.0, T0 + 900),
              trade("AAPL", 11.0, 1.0, T0 + 900), trade("MSFT", 50.0, 1.0, T0 + 200)]
    aapl, msft = windows_of(spark, trades)
    # ids p1-9-1 and p1-9-2 tie at T0+100 -> open is index 1 (13.0); at T0+900 index 4 (11.0) is last
    assert (aapl.open, aapl.high, aapl.low, aapl.close) == (13.0, 13.0, 9.0, 11.0)
    assert aapl.trade_count == 5 and aapl.volume == pytest.approx(11.0)
    assert aapl.vwap == pytest.approx((20 + 13 + 27 + 48 + 11) / 11.0)
    assert (msft.open, msft.close, msft.vwap, msft.trade_count) == (50.0, 50.0, 50.0, 1)


def test_vwap_of_a_zero_volume_window_is_the_mean_price(spark):
    (window,) = windows_of(spark, [trade("AAPL", 10.0, 0.0, T0), trade("AAPL", 20.0, 0.0, T0 + 1)])
    assert window.vwap == pytest.approx(15.0) and window.volume == 0.0


def test_one_minute_bars_have_the_bars_table_shape(spark):
    record = trade_record([trade("AAPL", 10.0, 1.0, MINUTE + 59_999), trade("AAPL", 20.0, 1.0, MINUTE + 60_000)],
                          seq=1)
    valid = transforms.valid_trades(rows_of(spark, [record]))
    bars = transforms.as_bars(transforms.window_aggregates(valid, "1 minute")).orderBy("bar_start").collect()
    assert bars[0].__fields__ == transforms.BAR_COLUMNS
    assert [(b.open, b.close, b.trade_count) for b in bars] == [(10.0, 10.0, 1), (20.0, 20.0, 1)]


def test_latest_per_symbol_is_the_newest_trade_whatever_the_order(spark):
    record = trade_record([trade("AAPL", 3.0, 1.0, T0 + 50), trade("AAPL", 1.0, 1.0, T0 + 900),
                           trade("AAPL", 2.0, 1.0, T0 + 10), trade("MSFT", 7.0, 2.0, T0),
                           trade("AAPL", 9.0, -1.0, T0 + 5_000)], seq=1)  # an invalid newer one never wins
    summary = transforms.trades_summary(transforms.mark_late(rows_of(spark, [record]), 0)).collect()
    latest = {r.symbol: r.newest for r in summary if not r.is_total}
    assert (latest["AAPL"].price, latest["AAPL"].t_ms) == (1.0, T0 + 900)
    assert (latest["MSFT"].price, latest["MSFT"].volume) == (7.0, 2.0)
    (total,) = [r for r in summary if r.is_total]
    assert (total.valid_rows, total.refused_rows, total.late_rows) == (4, 1, 0)


def test_a_trade_is_late_when_its_window_closed_before_the_watermark(spark):
    record = trade_record([trade("AAPL", 1.0, 1.0, T0 - 1), trade("AAPL", 1.0, 1.0, T0),
                           trade("AAPL", 1.0, 1.0, T0 + 4_999)], seq=1)
    marked = transforms.mark_late(rows_of(spark, [record]), watermark_ms=T0)
    assert [r.late for r in marked.orderBy("trade_index").collect()] == [True, False, False]
    times = transforms.time_summary(marked, F.col("t_ms"), F.col("received_ms")).first()
    summary = transforms.latency_from_times(times, T0 + 10_000)
    assert (summary["valid_rows"], summary["refused_rows"], summary["late_rows"]) == (3, 0, 1)
    assert summary["latency"] == [10_000, 10_001]  # p50, p99 of written - trade time


def test_combined_record_gives_each_trade_the_id_of_its_own_frame(spark):
    frame_9 = [trade("AAPL", 10.0, 1.0, T0), trade("AAPL", 11.0, 1.0, T0 + 1)]
    frame_10 = [trade("AAPL", 12.0, 1.0, T0 + 2)]
    frame_12 = [trade("AAPL", 13.0, 1.0, T0 + 3), trade("AAPL", 14.0, 1.0, T0 + 4), trade("AAPL", 15.0, 1.0, T0 + 5)]
    combined = combined_record([(9, frame_9), (10, frame_10), (12, frame_12)], producer_id="col-a")
    separate = [trade_record(frame, producer_id="col-a", seq=seq) for seq, frame in
                ((9, frame_9), (10, frame_10), (12, frame_12))]
    ids = [(r.trade_id, r.price, r.frame_seq, r.frame_index)
           for r in rows_of(spark, [combined]).orderBy("trade_index").collect()]
    assert ids == [("col-a-9-0", 10.0, 9, 0), ("col-a-9-1", 11.0, 9, 1), ("col-a-10-0", 12.0, 10, 0),
                   ("col-a-12-0", 13.0, 12, 0), ("col-a-12-1", 14.0, 12, 1), ("col-a-12-2", 15.0, 12, 2)]
    assert sorted(r.trade_id for r in rows_of(spark, separate).collect()) == sorted(i[0] for i in ids)
    assert list(expected_trades([combined])["trade_id"]) == [i[0] for i in ids]


@pytest.mark.parametrize("header", ["9:2,10:2", "9:2,10:0", "9:2", "9-2,10:1", "x:2,10:1", "9:2,10:1,",
                                    "9:2:1,10:1", "-1:2,10:1", ""])
def test_malformed_frames_header_dead_letters_the_whole_record(spark, header):
    record = trade_record([trade("AAPL", 10.0, 1.0, T0), trade("AAPL", 11.0, 1.0, T0), trade("AAPL", 12.0, 1.0, T0)],
                          producer_id="col-a", seq=9)
    record.headers.append(("tp-frames", header.encode()))
    rows = rows_of(spark, [record]).collect()
    assert [(r.reason, r.trade_id) for r in rows] == [(f"malformed tp-frames header: {header}", None)]


def test_trade_stamped_beyond_the_tolerance_after_its_receive_time_is_refused(spark):
    received = T0 + 10_000
    record = trade_record([trade("AAPL", 10.0, 1.0, received + 5_000), trade("AAPL", 11.0, 1.0, received + 5_001),
                           trade("AAPL", 12.0, 1.0, received - 60_000)], received_ms=received)
    rows = rows_of(spark, [record]).orderBy("trade_index").collect()
    assert [r.reason for r in rows] == [
        None, "trade 1: timestamp 5001 ms after its receive time (limit 5000 ms)", None]
    assert [r.event_time is None for r in rows] == [False, True, False]  # never reaches the watermark
    summary = transforms.trades_summary(transforms.mark_late(rows_of(spark, [record]), 0)).collect()
    (latest,) = [r.newest for r in summary if not r.is_total]
    assert latest.price == 10.0


def test_future_bound_uses_the_kafka_timestamp_without_a_receive_header(spark):
    kafka_time = datetime(2024, 1, 2, 3, 4, 5)  # kafka_row's timestamp, read as UTC
    kafka_ms = int(kafka_time.replace(tzinfo=UTC).timestamp() * 1000)
    record = trade_record([trade("AAPL", 10.0, 1.0, kafka_ms + 2_000), trade("AAPL", 10.0, 1.0, kafka_ms + 9_000)],
                          with_headers=False)
    frame = spark.createDataFrame([kafka_row(record)], KAFKA_SOURCE_SCHEMA)
    rows = transforms.trade_rows(transforms.decode_records(frame, trade_schema_json()), now_ms=F.lit(kafka_ms),
                                 max_future_ms=3_000).orderBy("trade_index").collect()
    assert [r.reason for r in rows] == [None, "trade 1: timestamp 9000 ms after its receive time (limit 3000 ms)"]


def test_open_and_close_order_same_millisecond_trades_by_numeric_sequence(spark):
    nine = trade_record([trade("AAPL", 9.0, 1.0, T0 + 100)], producer_id="p1", seq=9)
    ten = trade_record([trade("AAPL", 10.0, 1.0, T0 + 100)], producer_id="p1", seq=10)
    # same millisecond, within a frame: index 2 after index 10? no: 2 before 10
    wide = trade_record([trade("MSFT", float(i + 1), 1.0, T0 + 200) for i in range(11)], producer_id="p1", seq=11)
    for records in ([nine, ten], [ten, nine]):
        valid = transforms.valid_trades(rows_of(spark, [*records, wide]))
        aapl, msft = transforms.window_aggregates(valid, "5 seconds").orderBy("symbol").collect()
        assert (aapl.open, aapl.close) == (9.0, 10.0)
        assert (msft.open, msft.close) == (1.0, 11.0)
        summary = transforms.trades_summary(transforms.mark_late(rows_of(spark, [*records, wide]), 0)).collect()
        assert {r.symbol: r.newest.price for r in summary if not r.is_total} == {"AAPL": 10.0, "MSFT": 11.0}
    reference = recompute_windows(expected_trades([ten, nine, wide]), 5_000).set_index("symbol")
    assert (reference.loc["AAPL", "open"], reference.loc["AAPL", "close"]) == (9.0, 10.0)
    assert (reference.loc["MSFT", "open"], reference.loc["MSFT", "close"]) == (1.0, 11.0)


def test_observed_summary_equals_the_grouped_pass_and_counts_other_symbols(spark):
    import json

    from pyspark.sql import Observation

    nine = trade_record([trade("AAPL", 9.0, 1.0, T0 + 100), trade("MSFT", 7.0, 2.0, T0 - 1)], producer_id="p1", seq=9)
    ten = trade_record([trade("AAPL", 10.0, 3.0, T0 + 100), trade("AAPL", 99.0, -1.0, T0 + 900),
                        trade("TSLA", 5.0, 1.0, T0 + 50)], producer_id="p1", seq=10)
    marked = transforms.mark_late(rows_of(spark, [ten, nine]), watermark_ms=T0)
    observation = Observation("summary")
    observed = marked.observe(observation, transforms.observed_summary(marked, ("AAPL", "MSFT", "IBM")))
    assert observed.filter(F.col("reason").isNull()).count() == 4  # the action that fills the observation
    summary = json.loads(observation.get["summary"])
    grouped = transforms.trades_summary(marked).collect()
    (total,) = [r for r in grouped if r.is_total]
    assert {k: summary[k] for k in ("valid_rows", "refused_rows", "late_rows", "event_ms", "received_ms")} == \
        {k: total[k] for k in ("valid_rows", "refused_rows", "late_rows", "event_ms", "received_ms")}
    assert (summary["valid_rows"], summary["refused_rows"], summary["late_rows"]) == (4, 1, 1)
    newest = {r.symbol: r.newest for r in grouped if not r.is_total}
    assert (summary["newest_0"]["price"], summary["newest_0"]["volume"], summary["newest_0"]["t_ms"]) == \
        (newest["AAPL"].price, newest["AAPL"].volume, newest["AAPL"].t_ms) == (10.0, 3.0, T0 + 100)
    assert (summary["newest_1"]["price"], summary["newest_1"]["t_ms"]) == (7.0, T0 - 1)
    assert "newest_2" not in summary  # no IBM trade: left out, as JSON leaves out nulls
    assert summary["other_symbols"] == 1  # TSLA is not among the symbols: the caller falls back
    # the 5 s windows the valid trades touched (the refused AAPL trade at T0+900 adds none)
    touched = {(w["symbol"], w["start"]) for w in summary["windows"]}
    assert touched == {(w.symbol, w.start) for w in total.windows} == \
        {("AAPL", T0 // 5_000 * 5_000), ("MSFT", (T0 - 1) // 5_000 * 5_000), ("TSLA", T0 // 5_000 * 5_000)}


def test_one_batch_plan_serves_every_batch_as_the_per_batch_transforms_do(spark):
    import json

    from pyspark.sql import Observation

    first = [trade_record([trade("AAPL", 9.0, 1.0, T0 + 100), trade("MSFT", 7.0, 2.0, T0 - 1)], seq=1)]
    second = [trade_record([trade("AAPL", 10.0, 3.0, T0 + 6_000), trade("AAPL", -1.0, 1.0, T0 + 6_001)], seq=2),
              trade_record([trade("TSLA", 5.0, 1.0, T0 + 50)], seq=3)]
    plan = transforms.BatchPlan(rows_of(spark, first), ("AAPL", "MSFT"))
    for records, watermark in ((first, 0), (second, T0 + 5_000)):
        rows = rows_of(spark, records)
        marked = plan.mark_late(rows, watermark)
        expected = transforms.mark_late(rows, watermark)
        late = sorted(marked.select("trade_id", "late").collect())
        assert late == sorted(expected.select("trade_id", "late").collect())
        observation = Observation(f"plan-{watermark}")
        written = plan.valid_trades(marked.observe(observation, plan.summary)).collect()
        assert sorted(written) == sorted(transforms.valid_trades(expected).select(*transforms.TRADE_COLUMNS).collect())
        summary = json.loads(observation.get["summary"])
        reference = Observation(f"reference-{watermark}")
        expected.observe(reference, transforms.observed_summary(expected, ("AAPL", "MSFT"))).count()
        assert summary == json.loads(reference.get["summary"])
    # the second batch: one late AAPL trade (its window ended at T0+5 s), a refused one, TSLA not watched
    assert (summary["valid_rows"], summary["refused_rows"], summary["late_rows"], summary["other_symbols"]) == \
        (2, 1, 1, 1)


def test_summary_of_reads_what_the_public_observation_get_returns(spark):
    # batches.summary_of reads PySpark 3.5's private Observation._jo (Observation.get costs ~75 py4j
    # commands a batch): this fails when an upgrade changes what it relies on
    from pyspark.sql import Observation

    from stream_processor.batches import summary_of

    rows = rows_of(spark, [trade_record([trade("AAPL", 9.0, 1.0, T0 + 100)], seq=1)])
    observation = Observation("summary-of")
    rows.observe(observation, transforms.observed_summary(rows, ("AAPL",))).count()
    assert isinstance(summary_of(observation), str)
    assert summary_of(observation) == observation.get["summary"]
