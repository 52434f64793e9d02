"""The spool journal: order across segments, torn tails, shutdown prepends, restart cursor."""

from __future__ import annotations

import pytest

from collector.encoding import Record
from collector.exceptions import SpoolError
from collector.spool import Spool, decode_record, encode_record


def record(n: int, topic: str = "market") -> Record:
    return Record(topic, f"SYM{n % 3}".encode(), f"value-{n}".encode() * 5,
                  [("tp-producer-id", b"p"), ("tp-seq", str(n).encode())])


def values(records: list[Record]) -> list[int]:
    return [int(dict(r.headers)["tp-seq"]) for r in records]


def test_record_round_trips_with_headers_and_null_key():
    original = Record("market.dlq", None, b"\x00\xff", [("tp-dlq-reason", b"bad"), ("x", b"")])
    assert decode_record(encode_record(original)[8:]) == original


def test_records_come_back_in_append_order_across_segments(tmp_path):
    spool = Spool(tmp_path, segment_bytes=300)
    for n in range(50):
        spool.append([record(n)])
    assert len(list(tmp_path.glob("*.spool"))) > 3
    read = []
    while batch := spool.read(7):
        read += batch
    assert values(read) == list(range(50))


def test_reader_catches_up_with_the_writer_and_continues(tmp_path):
    spool = Spool(tmp_path)
    spool.append([record(0), record(1)])
    assert values(spool.read(10)) == [0, 1]
    assert spool.read(10) == []
    spool.append([record(2)])
    assert values(spool.read(10)) == [2]


def test_spool_survives_a_restart_and_resumes_after_the_cursor(tmp_path):
    spool = Spool(tmp_path)
    spool.append([record(n) for n in range(10)])
    assert values(spool.read(4)) == [0, 1, 2, 3]
    spool.close()
    reopened = Spool(tmp_path)
    assert reopened.has_backlog
    assert values(reopened.read(100)) == list(range(4, 10))


def test_torn_tail_after_a_crash_is_skipped_and_later_records_kept(tmp_path):
    spool = Spool(tmp_path)
    spool.append([record(0), record(1)])
    spool._writer.write(encode_record(record(99))[:15])   # a crash mid-write
    spool._writer.flush()
    spool._lock_file.close()            # the crashed process's lock goes with it
    reopened = Spool(tmp_path)          # appends go to a new segment, never after the torn tail
    reopened.append([record(2)])
    read = []
    while batch := reopened.read(10):
        read += batch
    assert values(read) == [0, 1, 2]


def test_prepended_records_come_before_everything_spooled(tmp_path):
    spool = Spool(tmp_path)
    spool.append([record(5), record(6)])
    spool.prepend([record(3), record(4)])
    spool.close()
    assert values(Spool(tmp_path).read(10)) == [3, 4, 5, 6]


def test_released_segments_are_deleted(tmp_path):
    spool = Spool(tmp_path, segment_bytes=100)
    for n in range(10):
        spool.append([record(n)])
    while spool.read(100):
        pass
    spool.seal()
    spool.release(spool.consumed_segments())
    assert list(tmp_path.glob("*.spool")) == []
    assert not spool.has_backlog


def test_a_spool_in_use_by_another_collector_is_refused(tmp_path):
    first = Spool(tmp_path)
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path)
    first.close()
    Spool(tmp_path).close()


def test_records_kafka_refuses_for_good_are_kept_in_the_rejected_journal(tmp_path):
    spool = Spool(tmp_path)
    path = spool.reject([record(1), record(2)])
    data = path.read_bytes()
    first_size = int.from_bytes(data[:4], "big")
    assert decode_record(data[8:8 + first_size]) == record(1)
    assert not spool.has_backlog
