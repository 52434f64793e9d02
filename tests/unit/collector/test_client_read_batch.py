"""All frames of one socket read encoded at once (`encode_read`): the same records as encoding each
frame and combining them, trade ids intact, dead letters and control frames kept per frame."""

from __future__ import annotations

from dataclasses import replace

from collector.encoding import FrameContext, Record, frame_records
from collector.merging import combine_records, encode_read
from core.schemas import HEADER_FRAMES, HEADER_PRODUCER_ID, HEADER_RECEIVED_AT, HEADER_SEQUENCE, HEADER_SOURCE
from core.schemas import decode_message as decode

CONTEXT = FrameContext("prod", 10, 1700000000999, "simulator")


def _trade(symbol: str, price: float, t: int) -> str:
    return f'{{"c":["1"],"p":{price},"s":"{symbol}","t":{t},"v":0.5}}'


def _frame(*trades: str) -> bytes:
    return ('{"type":"trade","data":[' + ",".join(trades) + "]}").encode()


MIXED_READ = [
    _frame(_trade("AAPL", 1.5, 1)),
    _frame(_trade("MSFT", 2.5, 2), _trade("AAPL", 1.25, 3)),
    b'{"type":"ping"}',
    b"not json",
    _frame(_trade("AAPL", 1.75, 4), '{"s":"AAPL","p":-1,"t":5,"v":1}'),   # one trade refused
    b'{"type":"error","msg":"Invalid API key"}',
    _frame(_trade("BINANCE:BTCUSDT", 9.5, 6)),
    _frame(_trade("AAPL", 1.5, 7)),
]


def _one_by_one(frames: list[bytes]) -> list[Record]:
    records = []
    for sequence, frame in enumerate(frames, CONTEXT.sequence):
        records += frame_records(frame, replace(CONTEXT, sequence=sequence), "m", "m.dlq").records
    return records


def test_a_read_of_one_trade_frames_becomes_one_record_per_symbol_with_every_frame_run():
    read = encode_read([_frame(_trade("AAPL", 1.5, 1)), _frame(_trade("MSFT", 2.5, 2)),
                        _frame(_trade("AAPL", 1.25, 3))], CONTEXT, "m", "m.dlq")
    assert read.trades == 3 and read.dead_letters == 0 and read.kinds == {"trade": 3} and read.notable == []
    aapl, msft = read.records
    assert (aapl.topic, aapl.key, msft.key) == ("m", b"AAPL", b"MSFT")
    assert aapl.headers == [(HEADER_PRODUCER_ID, b"prod"), (HEADER_SEQUENCE, b"10"),
                           (HEADER_RECEIVED_AT, b"1700000000999"), (HEADER_SOURCE, b"simulator"),
                           (HEADER_FRAMES, b"10:1,12:1")]
    assert decode(aapl.value)["data"] == [{"c": ["1"], "p": 1.5, "s": "AAPL", "t": 1, "v": 0.5},
                                          {"c": ["1"], "p": 1.25, "s": "AAPL", "t": 3, "v": 0.5}]
    assert msft.headers == [(HEADER_PRODUCER_ID, b"prod"), (HEADER_SEQUENCE, b"11"),
                            (HEADER_RECEIVED_AT, b"1700000000999"), (HEADER_SOURCE, b"simulator")]


def test_a_read_gives_the_records_of_encoding_each_frame_and_combining_them():
    assert encode_read(MIXED_READ, CONTEXT, "m", "m.dlq").records == combine_records(_one_by_one(MIXED_READ))


def test_without_merging_a_read_gives_each_frames_own_records_in_order():
    assert encode_read(MIXED_READ, CONTEXT, "m", "m.dlq", merge=False).records == _one_by_one(MIXED_READ)


def test_a_read_counts_frames_by_kind_and_keeps_the_frames_with_dead_letters_or_server_errors():
    read = encode_read(MIXED_READ, CONTEXT, "m", "m.dlq")
    assert read.kinds == {"trade": 5, "ping": 1, "invalid": 1, "error": 1}
    assert (read.trades, read.dead_letters) == (6, 2)
    notable = [(sequence, frame.parsed.kind, frame.dead_letters, frame.parsed.message)
               for sequence, frame in read.notable]
    assert notable == [(13, "invalid", 1, None), (14, "trade", 1, None), (15, "error", 0, "Invalid API key")]
    dead = [r for r in read.records if r.topic == "m.dlq"]
    assert [r.value for r in dead] == [b"not json", b'{"s": "AAPL", "p": -1, "t": 5, "v": 1}']


def test_records_already_combined_combine_further_with_their_runs():
    first, second = MIXED_READ[:2], MIXED_READ[6:]
    later = replace(CONTEXT, sequence=CONTEXT.sequence + len(first))
    reads = encode_read(first, CONTEXT, "m", "m.dlq").records + encode_read(second, later, "m", "m.dlq").records
    combined = combine_records(reads)
    assert combined == combine_records(_one_by_one(first) + frame_records(
        second[0], later, "m", "m.dlq").records + frame_records(
        second[1], replace(later, sequence=later.sequence + 1), "m", "m.dlq").records)
    assert [dict(r.headers).get(HEADER_FRAMES) for r in combined] == [b"10:1,11:1,13:1", None, None]
    assert [r.key for r in combined] == [b"AAPL", b"MSFT", b"BINANCE:BTCUSDT"]
