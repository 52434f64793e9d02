"""Frame -> Kafka records: Avro that fastavro decodes back equal, keys, headers, dead letters."""

from __future__ import annotations

import json

from collector.encoding import DEAD_LETTER_VALUE_LIMIT, FrameContext, frame_records
from core.schemas import (
    HEADER_DLQ_REASON,
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


def test_oversized_frame_is_refused_and_its_dead_letter_truncated():
    frame = b'{"type":"trade","data":[],"padding":"' + b"x" * 2_000_000 + b'"}'
    (dead,) = frame_records(frame, CONTEXT, "market", "market.dlq").records
    assert len(dead.value) == DEAD_LETTER_VALUE_LIMIT
    assert b"exceeds" in dict(dead.headers)[HEADER_DLQ_REASON]


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
