"""Frame -> Kafka records: Avro equal to fastavro's, keys, headers, dead letters, the split of large
frames, and records of several frames combined with ids intact (tp-frames)."""

from __future__ import annotations

import json
import random

from collector.encoding import (
    DEAD_LETTER_VALUE_LIMIT,
    HARD_FRAME_BYTES,
    MAX_FRAME_BYTES,
    MAX_RECORD_BYTES,
    FrameContext,
    Record,
    encode_trades,
    frame_records,
)
from collector.merging import combine_records
from core.schemas import (
    HEADER_DLQ_REASON,
    HEADER_FRAMES,
    HEADER_PRODUCER_ID,
    HEADER_RECEIVED_AT,
    HEADER_SEQUENCE,
    HEADER_SOURCE,
    encode_message,
)
from core.schemas import decode_message as decode

CONTEXT = FrameContext("0b5e3c1e-8d0a-4c51-9a49-0f3f7f0e2f11", 42, 1700000000999, "simulator")


def test_avro_bytes_decode_back_equal_with_fastavro():
    trades = [{"c": ["1", "12"], "p": 187.3, "s": "AAPL", "t": 1700000000123, "v": 100.0},
              {"c": None, "p": 187.25, "s": "AAPL", "t": 1700000000124, "v": 0.5}]
    assert decode(encode_message(trades)) == {"type": "trade", "data": trades}


def test_absent_conditions_become_null_and_integer_volume_a_double():
    decoded = decode(encode_message([{"p": 1.5, "s": "X", "t": 1, "v": 3}]))
    assert decoded["data"] == [{"c": None, "p": 1.5, "s": "X", "t": 1, "v": 3.0}]


def test_one_record_per_symbol_per_frame_keyed_by_symbol_with_headers():
    frame = json.dumps({"type": "trade", "data": [
        {"s": "AAPL", "p": 1.0, "t": 1, "v": 1}, {"s": "BINANCE:BTCUSDT", "p": 2.0, "t": 2, "v": 0.25},
        {"s": "AAPL", "p": 3.0, "t": 3, "v": 1, "c": ["1"]}]})
    encoded = frame_records(frame.encode(), CONTEXT, "market", "market.dlq")
    assert encoded.trades == 3 and encoded.dead_letters == 0
    assert [(r.topic, r.key) for r in encoded.records] == [("market", b"AAPL"), ("market", b"BINANCE:BTCUSDT")]
    assert [t["p"] for t in decode(encoded.records[0].value)["data"]] == [1.0, 3.0]
    headers = dict(encoded.records[0].headers)
    assert headers == {HEADER_PRODUCER_ID: CONTEXT.producer_id.encode(), HEADER_SEQUENCE: b"42",
                       HEADER_RECEIVED_AT: b"1700000000999", HEADER_SOURCE: b"simulator"}


def test_bad_trade_goes_to_dead_letters_with_reason_and_good_ones_go_through():
    frame = b'{"type":"trade","data":[{"s":"AAPL","p":1.0,"t":1,"v":-5},{"s":"AAPL","p":2.0,"t":2,"v":1}]}'
    encoded = frame_records(frame, CONTEXT, "market", "market.dlq")
    main, dead = encoded.records
    assert main.topic == "market" and len(decode(main.value)["data"]) == 1
    assert dead.topic == "market.dlq" and dead.key == b"AAPL"
    assert json.loads(dead.value) == {"s": "AAPL", "p": 1.0, "t": 1, "v": -5}
    assert b"volume" in dict(dead.headers)[HEADER_DLQ_REASON]
    assert dict(dead.headers)[HEADER_SEQUENCE] == b"42"


def test_malformed_frame_is_one_dead_letter_holding_the_raw_frame():
    encoded = frame_records(b'{"type":"trade","data":[{"s":', CONTEXT, "market", "market.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == 1
    (dead,) = encoded.records
    assert dead.key is None and dead.value == b'{"type":"trade","data":[{"s":'
    assert dict(dead.headers)[HEADER_DLQ_REASON].startswith(b"invalid JSON")


def _trade_frame(symbols: list[str], per_symbol: int, pad: int = 0) -> tuple[bytes, list[dict]]:
    trades = [{"s": symbol, "p": 100.0 + n / 8, "t": 1_700_000_000_000 + n, "v": float(n % 7),
               "c": ["x" * pad] if pad else None} for n in range(per_symbol) for symbol in symbols]
    return json.dumps({"type": "trade", "data": trades}).encode(), trades


def test_a_frame_over_the_size_limit_is_split_per_symbol_and_nothing_dead_lettered():
    symbols = ["AAPL", "MSFT", "BINANCE:BTCUSDT", "AMZN"]
    frame, trades = _trade_frame(symbols, 3000, pad=60)
    assert len(frame) > MAX_FRAME_BYTES
    encoded = frame_records(frame, CONTEXT, "market", "market.dlq")
    assert (encoded.trades, encoded.dead_letters) == (12_000, 0)
    assert [r.key for r in encoded.records] == [s.encode() for s in symbols]
    for symbol, record in zip(symbols, encoded.records, strict=True):
        assert decode(record.value)["data"] == [t for t in trades if t["s"] == symbol]
        assert dict(record.headers)[HEADER_SEQUENCE] == b"42" and len(record.value) <= MAX_RECORD_BYTES


def test_a_symbols_part_too_large_for_one_record_is_dead_lettered_whole_in_parts_and_the_rest_kept():
    big, _ = _trade_frame(["AAPL"], 1, pad=0)
    frame, trades = _trade_frame(["AAPL"], 6000, pad=200)
    message = json.loads(frame)
    message["data"].append({"s": "MSFT", "p": 1.0, "t": 1, "v": 2.0})
    encoded = frame_records(json.dumps(message).encode(), CONTEXT, "market", "market.dlq")
    assert encoded.trades == 1 and [r.key for r in encoded.records if r.topic == "market"] == [b"MSFT"]
    dead = [r for r in encoded.records if r.topic == "market.dlq"]
    assert len(dead) == encoded.dead_letters == 6000
    assert [json.loads(r.value) for r in dead] == trades
    assert b"more than one Kafka record holds" in dict(dead[0].headers)[HEADER_DLQ_REASON]


def test_a_frame_beyond_the_hard_limit_is_refused_whole_in_dead_letter_parts_that_lose_nothing():
    frame = b'{"type":"trade","data":[],"padding":"' + b"x" * HARD_FRAME_BYTES + b'"}'
    encoded = frame_records(frame, CONTEXT, "market", "market.dlq")
    assert encoded.trades == 0 and encoded.dead_letters == len(encoded.records) > 1
    assert b"".join(r.value for r in encoded.records) == frame
    assert all(len(r.value) <= DEAD_LETTER_VALUE_LIMIT for r in encoded.records)
    reasons = [dict(r.headers)[HEADER_DLQ_REASON] for r in encoded.records]
    assert reasons[0].endswith(f"(part 1 of {len(reasons)} of {len(frame)} bytes)".encode())
    assert all(b"exceeds" in reason for reason in reasons)


def test_hand_written_avro_equals_fastavro_byte_for_byte():
    rng = random.Random(5)
    symbols = ["AAPL", "BINANCE:BTCUSDT", "Ä€-ünïcode", "X" * 200]
    for size in (1, 2, 5, 63, 64, 65, 200, 1000):
        trades = []
        for n in range(size):
            conditions = rng.choice([None, [], ["1"], ["12", "I", "ünï" * 50], [str(k) for k in range(70)]])
            trade = {"s": rng.choice(symbols), "p": rng.choice([rng.uniform(1e-9, 1e9), 5, 1.7976931348623157e308]),
                     "t": rng.choice([0, -1, 63, 64, -65, 1_700_000_000_000 + n, 2**63 - 1, -(2**63)]),
                     "v": rng.choice([0, 0.0, rng.uniform(0, 1e6), 3])}
            if conditions is not None or rng.random() < 0.5:
                trade["c"] = conditions
            trades.append(trade)
        assert encode_trades(trades) == encode_message(trades), size


def _trade_ids(record) -> list[str]:
    """What the stream processor derives: producer-seq-index, per tp-frames run when present."""
    headers = dict(record.headers)
    producer, count = headers[HEADER_PRODUCER_ID].decode(), len(decode(record.value)["data"])
    runs = headers.get(HEADER_FRAMES, headers[HEADER_SEQUENCE] + b":" + str(count).encode()).decode()
    ids = []
    for run in runs.split(","):
        seq, run_count = run.split(":")
        ids += [f"{producer}-{seq}-{index}" for index in range(int(run_count))]
    assert len(ids) == count
    return ids


def test_combined_records_keep_every_trade_its_id_order_and_earliest_receive_time():
    frames = [json.dumps({"type": "trade", "data": [
        {"s": symbol, "p": 1.0 + seq, "t": seq * 10 + k, "v": 1.0} for k in range(seq % 3 + 1)
        for symbol in ("AAPL", "MSFT")[: 1 + seq % 2]]}).encode() for seq in range(1, 7)]
    separate = []
    for seq, frame in enumerate(frames, 1):
        separate += frame_records(frame, FrameContext("prod", seq, 1000 + seq, "simulator"), "m", "m.dlq").records
    separate.append(Record("m.dlq", None, b"bad", [("tp-dlq-reason", b"x")]))
    combined = combine_records(separate)
    assert [r.key for r in combined] == [b"AAPL", b"MSFT", None]
    for key in (b"AAPL", b"MSFT"):
        (merged,) = [r for r in combined if r.key == key]
        originals = [r for r in separate if r.key == key]
        assert decode(merged.value)["data"] == [t for r in originals for t in decode(r.value)["data"]]
        assert _trade_ids(merged) == [i for r in originals for i in _trade_ids(r)]
        headers = dict(merged.headers)
        assert headers[HEADER_SEQUENCE] == dict(originals[0].headers)[HEADER_SEQUENCE]
        assert headers[HEADER_RECEIVED_AT] == dict(originals[0].headers)[HEADER_RECEIVED_AT]
    assert dict(combined[0].headers)[HEADER_FRAMES] == b"1:2,2:3,3:1,4:2,5:3,6:1"
    assert combined[2] == separate[-1]


def test_a_single_record_is_not_rewritten_and_combining_stops_at_the_size_cap():
    records = [frame_records(json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": 1.0, "t": n, "v": 1.0}] * 50})
                             .encode(), FrameContext("p", n, n, "simulator"), "m", "m.dlq").records[0]
               for n in range(10)]
    assert combine_records(records[:1]) == records[:1]
    capped = combine_records(records, max_bytes=3 * len(records[0].value))
    assert [len(decode(r.value)["data"]) for r in capped] == [150, 150, 150, 50]
    assert [i for r in capped for i in _trade_ids(r)] == [i for r in records for i in _trade_ids(r)]


def test_ping_and_server_errors_make_no_record():
    assert frame_records(b'{"type":"ping"}', CONTEXT, "m", "m.dlq").records == []
    encoded = frame_records(b'{"type":"error","msg":"Invalid API key"}', CONTEXT, "m", "m.dlq")
    assert encoded.records == [] and encoded.parsed.message == "Invalid API key"


def test_alpaca_frames_encode_into_the_same_avro_message():
    context = FrameContext("p", 1, 2, "alpaca", "alpaca")
    frame = b'[{"T":"t","S":"AAPL","i":9,"p":187.3,"s":100,"c":["@"],"t":"2021-02-22T15:51:44.208Z"}]'
    (record,) = frame_records(frame, context, "market", "market.dlq").records
    assert decode(record.value) == {"type": "trade", "data": [
        {"c": ["@"], "p": 187.3, "s": "AAPL", "t": 1614009104208, "v": 100.0}]}


def test_frames_received_further_apart_than_the_span_are_not_merged():
    records = [frame_records(json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": 1.0, "t": n, "v": 1.0}]})
                             .encode(), FrameContext("p", n, received, "simulator"), "m", "m.dlq").records[0]
               for n, received in enumerate((1000, 1400, 1500, 1501, 2600))]
    merged = combine_records(records, max_span_ms=500)
    assert [dict(r.headers).get(HEADER_FRAMES) for r in merged] == [b"0:1,1:1,2:1", None, None]
    assert [dict(r.headers)[HEADER_RECEIVED_AT] for r in merged] == [b"1000", b"1501", b"2600"]
