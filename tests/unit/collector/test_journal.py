"""The write-ahead journal: numbering and order across segments, the acknowledged cursor across a
restart (and a kill -9: only what was handed to the OS survives), torn tails, deletion of wholly
acknowledged segments, the directory lock, the size limit, the rejected journal, an old spool."""

from __future__ import annotations

import struct
import zlib

import pytest

from collector.encoding import Record
from collector.exceptions import SpoolError
from collector.journal import Journal, decode_record, encode_record


def record(n: int, topic: str = "market") -> Record:
    return Record(topic, f"SYM{n % 3}".encode(), f"value-{n}".encode() * 5,
                  [("tp-producer-id", b"p"), ("tp-seq", str(n).encode())])


def seqs(records: list[Record]) -> list[int]:
    return [int(dict(r.headers)["tp-seq"]) for r in records]


def crash(journal: Journal) -> None:
    """What a kill -9 leaves: the OS has what was flushed; the lock goes with the process."""
    journal._lock_file.close()


def test_record_round_trips_with_headers_and_null_key():
    original = Record("market.dlq", None, b"\x00\xff", [("tp-dlq-reason", b"bad"), ("x", b"")])
    assert decode_record(encode_record(original)[8:]) == original


def test_records_are_numbered_and_read_back_in_order_across_segments(tmp_path):
    journal = Journal(tmp_path, segment_bytes=300)
    for n in range(50):
        assert journal.append([record(n)]) == n
        journal.flush()
    assert len(list(tmp_path.glob("*.journal"))) > 3
    read, index = [], 0
    while batch := journal.read(index, 7):
        read += batch
        index += len(batch)
    assert seqs(read) == list(range(50))
    assert seqs(journal.read(23, 3)) == [23, 24, 25]


def test_only_flushed_records_are_readable(tmp_path):
    journal = Journal(tmp_path)
    journal.append([record(0), record(1)])
    journal.flush()
    journal.append([record(2)])
    assert seqs(journal.read(0, 10)) in ([0, 1], [0, 1, 2])   # 2 only if the flush interval passed
    journal.flush()
    assert seqs(journal.read(0, 10)) == [0, 1, 2]


def test_a_restart_after_kill_resends_everything_after_the_acknowledged_cursor(tmp_path):
    journal = Journal(tmp_path)
    journal.append([record(n) for n in range(10)])
    journal.flush()
    journal.ack(4)
    journal.save_cursor()
    journal.ack(7)                  # acknowledged, but the cursor was not saved before the kill
    journal.append([record(10)])    # buffered, never handed to the OS
    crash(journal)
    reopened = Journal(tmp_path)
    assert (reopened.acked, reopened.next_index, reopened.backlog) == (4, 10, 6)
    assert seqs(reopened.read(reopened.acked, 100)) == list(range(4, 10))
    assert reopened.append([record(11)]) == 10


def test_a_clean_close_persists_the_cursor_and_later_appends_continue_the_numbering(tmp_path):
    journal = Journal(tmp_path)
    journal.append([record(n) for n in range(5)])
    journal.ack(3)
    journal.close()
    reopened = Journal(tmp_path)
    assert seqs(reopened.read(reopened.acked, 10)) == [3, 4]
    reopened.ack(5)
    reopened.close()
    assert list(tmp_path.glob("*.journal")) == []
    again = Journal(tmp_path)
    assert (again.acked, again.next_index, again.backlog) == (5, 5, 0)
    assert again.append([record(5)]) == 5


def test_torn_tail_after_a_crash_is_skipped_and_later_records_keep_their_numbers(tmp_path):
    journal = Journal(tmp_path)
    journal.append([record(0), record(1)])
    journal.flush()
    journal._writer.write(encode_record(record(99))[:15])   # a crash mid-write
    crash(journal)
    reopened = Journal(tmp_path)        # appends go to a new segment, never after the torn tail
    assert reopened.next_index == 2
    reopened.append([record(2)])
    reopened.flush()
    assert seqs(reopened.read(0, 10)) == [0, 1, 2]


def test_a_corrupt_record_ends_its_segment(tmp_path):
    journal = Journal(tmp_path)
    journal.append([record(0), record(1)])
    journal.flush()
    payload = b"garbage"
    journal._writer.write(struct.pack(">II", len(payload), zlib.crc32(payload) ^ 1) + payload)
    crash(journal)
    assert Journal(tmp_path).next_index == 2


def test_wholly_acknowledged_segments_are_deleted_and_the_rest_kept(tmp_path):
    journal = Journal(tmp_path, segment_bytes=100)
    for n in range(10):
        journal.append([record(n)])
        journal.flush()
    before = len(list(tmp_path.glob("*.journal")))
    journal.ack(6)
    journal.save_cursor()
    assert 0 < len(list(tmp_path.glob("*.journal"))) < before
    assert seqs(journal.read(6, 10)) == [6, 7, 8, 9]
    journal.ack(10)
    journal.save_cursor()
    assert list(tmp_path.glob("*.journal")) == []
    assert journal.size_bytes == 0


def test_the_size_limit_reports_full_until_acknowledged_segments_are_deleted(tmp_path):
    journal = Journal(tmp_path, max_bytes=2000, segment_bytes=500)
    while not journal.full:
        journal.append([record(journal.next_index)])
        journal.flush()
    journal.ack(journal.next_index)
    journal.save_cursor()
    assert not journal.full


def test_a_journal_in_use_by_another_collector_is_refused(tmp_path):
    first = Journal(tmp_path)
    with pytest.raises(SpoolError, match="in use"):
        Journal(tmp_path)
    first.close()
    Journal(tmp_path).close()


def test_records_kafka_refuses_for_good_are_kept_in_the_rejected_journal(tmp_path):
    journal = Journal(tmp_path)
    path = journal.reject([record(1), record(2)])
    data = path.read_bytes()
    first_size = int.from_bytes(data[:4], "big")
    assert decode_record(data[8:8 + first_size]) == record(1)
    assert journal.backlog == 0


def test_an_older_collectors_spool_is_taken_over_after_its_cursor(tmp_path):
    segment = b"".join(encode_record(record(n)) for n in range(4))
    (tmp_path / f"{10**15:020d}.spool").write_bytes(segment)
    (tmp_path / f"{10**15 + 1:020d}.spool").write_bytes(encode_record(record(4)))
    (tmp_path / "cursor").write_text(f"{10**15}:{len(encode_record(record(0)))}")
    journal = Journal(tmp_path)
    assert seqs(journal.read(journal.acked, 10)) == [1, 2, 3, 4]
    assert list(tmp_path.glob("*.spool")) == [] and not (tmp_path / "cursor").exists()


def test_a_full_journal_pauses_the_reader_until_shutdown_and_keeps_every_record(tmp_path, caplog):
    import threading

    from collector.publisher import Publisher
    from core.config import Settings

    settings = Settings.from_env({"TICKPLANT_HOME": str(tmp_path)}, dotenv=tmp_path / "none")
    publisher = Publisher(settings, spool_dir=tmp_path / "spool", journal_max_bytes=1500)   # never started
    submitted = 0
    while not publisher.journal.full:
        publisher.submit([record(submitted)])
        submitted += 1
    reader = threading.Thread(target=publisher.submit, args=([record(submitted)],), daemon=True)
    reader.start()
    reader.join(0.5)
    assert reader.is_alive(), "the reader waits while the journal is full"
    publisher.stop_waiting()         # shutdown: what is received is kept regardless of the limit
    reader.join(5)
    assert not reader.is_alive()
    publisher.journal.flush()
    assert seqs(publisher.journal.read(0, 1000)) == list(range(submitted + 1))
    assert "journal full" in caplog.text


def test_the_memory_queue_limit_counts_frames_not_socket_reads(tmp_path):
    from collector.publisher import Publisher
    from core.config import Settings

    settings = Settings.from_env({"TICKPLANT_HOME": str(tmp_path)}, dotenv=tmp_path / "none")
    publisher = Publisher(settings, spool_dir=tmp_path / "spool", queue_frames=5)   # never started
    publisher.submit([record(0), record(1)], frames=3)
    publisher.submit([record(2)], frames=2)
    assert publisher.stats()["queued_frames"] == 5 and publisher.spooled_total == 0
    publisher.submit([record(3), record(4)], frames=1)    # the queue holds 5 frames: to the journal only
    assert publisher.stats()["queued_frames"] == 5 and publisher.spooled_total == 2
    assert publisher.stats()["spooling"] == 1
    publisher.journal.flush()
    assert seqs(publisher.journal.read(0, 10)) == [0, 1, 2, 3, 4]
