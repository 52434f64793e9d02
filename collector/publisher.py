"""Producing to Kafka from the write-ahead journal: `submit` appends a frame's records to the journal
(and to a bounded in-memory queue) before anything is sent; one sender thread sends them in journal
order, merging a symbol's records of consecutive frames, and on a failed delivery rewinds to the
first unacknowledged record, so a symbol's order is kept and nothing is lost."""

from __future__ import annotations

import bisect
import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from collector.encoding import Record
from collector.journal import FLUSH_INTERVAL_S, MAX_BYTES, Journal
from collector.merging import combine_records
from collector.metrics import CollectorMetrics
from core import kafka as kafka_clients
from core.config import Settings
from core.errors import AccessError
from core.logging import get_logger
from core.retry import Backoff
from core.schemas import HEADER_RECEIVED_AT

log = get_logger(__name__)

# On top of core.kafka.RELIABLE_PRODUCER: reconnect quickly after an outage, and never block a
# send() for long, so shutdown stays bounded.
# send() at once: the publisher's batch has lingered already (LINGER_S), and kafka-python woke for each
# partition's new batch within the producer's own linger
COLLECTOR_PRODUCER = {"reconnect_backoff_max_ms": 1000, "max_block_ms": 2000, "linger_ms": 0}
BATCH_RECORDS = 5000          # journal records per send batch
CURSOR_INTERVAL_S = 1.0       # the acknowledged cursor is persisted at most this often
# A send batch smaller than LINGER_BYTES waits until its first frame is this old, so that the frames
# of a few trades each merge into one record per symbol (fewer records and produce requests: the
# collector's cost at a few trades per second is per record, not per trade).
LINGER_S = 0.1
LINGER_BYTES = 64 * 1024      # a batch of this many bytes goes at once: a fast feed never lingers
# Threads wait on work, not on a clock; this only bounds a wait whose wake-up could be missed.
IDLE_WAIT_S = 1.0
IN_FLIGHT_WAIT_S = 0.25       # with records in flight: their acknowledgements wake the sender before this
# Beyond this many bytes of record values queued in memory the sender reads the journal back from
# disk instead (slower per record: at a trade per frame, 10,000 frames filled up in half a second).
MEMORY_QUEUE_BYTES = 64 * 1024 * 1024


def _received_s(record: Record) -> float:
    for name, value in record.headers:
        if name == HEADER_RECEIVED_AT:
            return int(value) / 1000
    return time.time()


def _abort(producer: Any) -> None:
    """Close a producer without sending what it still holds; its futures fail, and the rewind resends
    their records from the journal. A request already on the wire may still land (a harmless duplicate).

    kafka-python has no public call for this: in 2.3.3 (and 3.0.12, checked) `close(timeout)` flushes
    first, so `close(timeout=0)` raises KafkaTimeoutError while records are pending and never closes.
    So the producer's I/O thread (`_sender`, private) is told to abort what it holds before the public
    close(timeout=0); tests/unit/collector/test_publisher_abort.py fails if an upgrade changes that.
    3.x's force close also aborts batches already on the wire, which 2.3.3's cannot (the abort raises
    in the I/O thread): then close() would keep waiting, so its connections are released directly and
    the producer marked closed, or its finaliser (`__del__` -> close) would wait again."""
    try:
        producer._sender.force_close()
        producer._sender.join(5)
        producer.close(timeout=0)
    except Exception:  # noqa: BLE001 - the producer is discarded either way
        try:
            producer._sender._client.close()
        except Exception:  # noqa: BLE001
            pass
        producer._closed = True


@dataclass
class _Batch:
    """Journal records [start, end) and what was produced for them."""

    start: int
    records: list[Record]
    futures: list[tuple[Any, Record]] = field(default_factory=list)   # (future, produced record)
    unsettled: int = 0      # futures neither acknowledged nor failed yet

    @property
    def end(self) -> int:
        return self.start + len(self.records)


class Publisher:
    """`submit(records)` from the reader thread; one sender thread produces them in order."""

    def __init__(self, settings: Settings, metrics: CollectorMetrics | None = None,
                 spool_dir: Path | None = None, queue_frames: int = 200_000, max_unacked: int = 20_000,
                 producer_overrides: dict[str, Any] | None = None, journal_max_bytes: int = MAX_BYTES,
                 combine: bool = True, linger_s: float = LINGER_S) -> None:
        self.settings = settings
        self.metrics = metrics or CollectorMetrics()
        self.journal = Journal(spool_dir or settings.runtime.home / "spool", journal_max_bytes)
        # read at scrape time: nothing on the reader's path
        self.metrics.journal_unwritten.set_function(lambda: self.journal.next_index - self.journal.flushed_index)
        self.queue_frames, self.max_unacked, self.combine = queue_frames, max_unacked, combine
        self.linger_s = linger_s if combine else 0.0
        self._overrides = {**COLLECTOR_PRODUCER, **(producer_overrides or {})}
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()     # one journal write at a time (taken before _lock)
        self._room = threading.Condition(self._lock)
        self._wakeup = threading.Event()
        self._sender_waiting = False        # an acknowledgement wakes the sender
        self._sender_wants_frames = False   # a queued frame wakes it (not while a small batch lingers)
        # (number of the first record, records, frames they came from, time.monotonic() when queued)
        self._memory: collections.deque[tuple[int, list[Record], int, float]] = collections.deque()
        self._memory_bytes = self._memory_frames = 0
        self._from_disk = self.journal.backlog > 0      # a previous run's records go first
        self._next_index = self.journal.acked
        self._producer: Any = None
        self._in_flight: collections.deque[_Batch] = collections.deque()
        self._in_flight_records = 0
        self._resend: list[_Batch] = []     # after a rewind, in journal order
        self._closing = threading.Event()
        self._no_wait = threading.Event()
        self._deadline = float("inf")
        self._backoff = Backoff(initial_s=0.2, maximum_s=5.0)
        self._record_counters: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._writer = threading.Thread(target=self._write_journal, name="journal-writer", daemon=True)
        self._writer_stop = threading.Event()
        self._writer_wakeup = threading.Event()
        self._writer_waiting = False
        self.spooled_total = 0      # records journaled while the memory queue was full (sent from disk)
        self.produced = self.acknowledged = 0
        if self._from_disk:
            log.info("journal holds records Kafka has not acknowledged; sending them first",
                     records=self.journal.backlog, directory=str(self.journal.directory))

    # -- reader side
    def start(self) -> Publisher:
        self._writer.start()
        self._thread.start()
        return self

    def _write_journal(self) -> None:
        """The group commit: what the reader journaled reaches the OS within FLUSH_INTERVAL_S. The
        thread sleeps until the reader journals something, then gathers for FLUSH_INTERVAL_S."""
        while not self._writer_stop.is_set():
            self._writer_waiting = True
            if not self.journal.unwritten:    # checked after raising the flag: a record journaled now wakes us
                self._writer_wakeup.wait(IDLE_WAIT_S)
            self._writer_waiting = False
            self._writer_wakeup.clear()
            if self._writer_stop.wait(FLUSH_INTERVAL_S):
                break
            try:
                self.flush_journal()
            except Exception:   # noqa: BLE001 - logged; the sender's own flushes raise it again
                log.exception("journal write failed")
                self._writer_stop.wait(1.0)

    def submit(self, records: list[Record], frames: int = 1) -> None:
        """Journal the records of `frames` frames (one socket read's), then queue them; never waits on
        Kafka, only on a full journal."""
        if not records:
            return
        with self._lock:
            if self.journal.full and not self._no_wait.is_set():
                self._wait_for_room()
            first = self.journal.append(records)
            if self._writer_waiting:    # Event.set per frame costs more than the frame's encoding
                self._writer_wakeup.set()
            if not self._from_disk:
                if self._memory_frames < self.queue_frames and self._memory_bytes < MEMORY_QUEUE_BYTES:
                    self._memory.append((first, records, frames, time.monotonic()))
                    self._memory_frames += frames
                    for record in records:
                        self._memory_bytes += len(record.value)
                    if self._sender_wants_frames:
                        self._wakeup.set()
                    return
                self._from_disk = True
                log.warning("producer queue full; reading back from the journal",
                            directory=str(self.journal.directory))
            self.spooled_total += len(records)
        self.metrics.spooled.inc(len(records))

    def _wait_for_room(self) -> None:
        log.error("journal full: reading from the source paused until Kafka takes records",
                  bytes=self.journal.size_bytes, limit=self.journal.max_bytes, directory=str(self.journal.directory))
        while self.journal.full and not self._no_wait.is_set():
            self._room.wait(0.2)
        log.info("journal has room again; reading resumes", bytes=self.journal.size_bytes)

    def flush_journal(self) -> None:
        """Hand what the reader journaled to the OS now; the write runs outside the reader's lock."""
        with self._io_lock:
            with self._lock:
                data, upto = self.journal.take()
                if not data:
                    return
                writer = self.journal.writer_for()
            writer.write(data)
            with self._lock:
                self.journal.written(len(data), upto)

    def stop_waiting(self) -> None:
        """Stop pausing the reader on a full journal (shutdown: what is received is kept regardless)."""
        self._no_wait.set()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Deliver what is journaled within `timeout_s`; what is not acknowledged by then stays in
        the journal for the next run. True if everything reached Kafka."""
        self._deadline = time.monotonic() + timeout_s
        self._no_wait.set()
        self._closing.set()
        self._wakeup.set()
        self._thread.join(timeout_s + 30)
        with self._lock:
            return self.journal.backlog == 0

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every submitted record is acknowledged (tests, replay)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.journal.backlog == 0 and self._producer is not None:
                    return True
            time.sleep(0.05)
        return False

    def stats(self) -> dict[str, int]:
        return {"queued_frames": self._memory_frames, "sent": self.produced, "acknowledged": self.acknowledged,
                "spooled_records": self.spooled_total, "spooling": int(self._from_disk),
                "journal_records": self.journal.next_index, "journal_flushed": self.journal.flushed_index,
                "journal_acked": self.journal.acked}

    # -- sender thread
    def _run(self) -> None:
        last_cursor = 0.0
        try:
            while not self._past_deadline():   # past it, what is left stays in the journal
                if self._producer is None and not self._connect():
                    if self._past_deadline():
                        break
                    continue
                self._reap()
                if self._producer is None:      # the reap rewound: reconnect before the resend
                    continue
                now = time.monotonic()
                if now - last_cursor >= CURSOR_INTERVAL_S and self.journal.cursor_behind:
                    last_cursor = now
                    self._save_cursor()
                batch = self._next_batch()
                if batch is None:
                    if self._closing.is_set() and not self._has_unsent():
                        break
                    self._sender_waiting = self._sender_wants_frames = True
                    # checked after raising the flags: a frame queued or a record acknowledged now wakes us
                    if self._memory:
                        self._sender_wants_frames = False   # lingering: more frames need not wake us
                    timeout = self._wait_s()
                    if timeout > 0:
                        self._wakeup.wait(timeout)
                    self._sender_waiting = self._sender_wants_frames = False
                    self._wakeup.clear()
                    continue
                if not self._send(batch):
                    break
        except Exception:   # the sender must never die silently; the journal keeps everything
            log.exception("publisher failed; the journal keeps what Kafka has not acknowledged")
        finally:
            self._shutdown()

    def _wait_s(self) -> float:
        """How long the sender may sleep when it has no batch to send: until woken by a queued frame
        or an acknowledged batch, or until the oldest queued frame has lingered."""
        now = time.monotonic()
        if self._from_disk or self._resend:     # the journal is read back: the reader does not wake us
            return 0.05
        if self._in_flight:
            if all(future.is_done for future, _ in self._in_flight[0].futures):
                return 0.0
            wait = IN_FLIGHT_WAIT_S
        else:
            wait = IDLE_WAIT_S
        memory = self._memory
        if memory:
            wait = min(wait, memory[0][3] + self.linger_s - now)
        # the cursor waits for the next wake-up (at most IDLE_WAIT_S): a cursor behind by a second
        # only means records resent after a crash, whose ids downstream deduplicates
        return max(0.0, wait)

    def _has_unsent(self) -> bool:
        with self._lock:
            return bool(self._resend or self._memory or self._from_disk)

    def _save_cursor(self) -> None:
        self.flush_journal()
        with self._io_lock, self._lock:
            self.journal.save_cursor()
            self._room.notify_all()
        self.metrics.queue_depth.set(self._memory_frames)
        self.metrics.spool_bytes.set(self.journal.size_bytes)

    def _next_batch(self) -> _Batch | None:
        if self._resend:
            batch = self._resend.pop(0)
            batch.futures = []
            return batch
        memory = self._memory
        if (memory and self._memory_bytes < LINGER_BYTES and not self._closing.is_set()
                and time.monotonic() - memory[0][3] < self.linger_s):
            return None     # a small batch lingers for more frames to merge with
        self.flush_journal()
        with self._lock:
            flushed = self.journal.flushed_index
            # write-ahead: nothing is sent before it is in the journal
            if memory and memory[0][0] + len(memory[0][1]) <= flushed:
                start, first, frames, _ = memory.popleft()
                records = list(first)
                while memory and len(records) < BATCH_RECORDS and memory[0][0] + len(memory[0][1]) <= flushed:
                    _, more, more_frames, _ = memory.popleft()
                    records.extend(more)
                    frames += more_frames
                self._memory_bytes -= sum(len(record.value) for record in records)
                self._memory_frames -= frames
                self._next_index = start + len(records)
                return _Batch(start, records)
            if memory:
                return None
            if self._from_disk:
                records = self.journal.read(self._next_index, BATCH_RECORDS)
                if records:
                    batch = _Batch(self._next_index, records)
                    self._next_index = batch.end
                    return batch
                if self._next_index >= self.journal.next_index:
                    self._from_disk = False
                    log.info("journal backlog sent; back to the in-memory queue")
        return None

    def _connect(self) -> bool:
        try:
            # kafka-python builds a producer even when the broker refuses our credentials or we refuse its
            # certificate, then fails every send: ask once first, so the refusal is reported with its cause
            refusal = kafka_clients.access_refusal(self.settings)
            if refusal:
                raise AccessError(refusal)
            self._producer = kafka_clients.producer(self.settings, **self._overrides)
            self._backoff.reset()
            log.info("kafka producer connected", servers=self.settings.kafka.servers)
            return True
        except AccessError as exc:
            # records stay journaled; retried, since credentials can be fixed or rotated without a restart
            delay = self._backoff.next_delay()
            log.warning("kafka refused the collector; retrying", error=str(exc), retry_in_s=round(delay, 2))
            self._closing.wait(delay)
            return False
        except (KafkaError, OSError, AssertionError) as exc:
            # AssertionError: kafka-python probes the broker's version when it builds a producer; against a
            # stalled broker the probe times out, it guesses a version too old for idempotence and asserts.
            delay = self._backoff.next_delay()
            log.warning("kafka unreachable; retrying", error=type(exc).__name__, retry_in_s=round(delay, 2))
            self._closing.wait(delay)
            return False

    def _past_deadline(self) -> bool:
        return self._closing.is_set() and time.monotonic() >= self._deadline

    def _send(self, batch: _Batch) -> bool:
        """Produce one batch; False if shutdown's deadline passed first (the journal keeps it)."""
        while self._in_flight_records >= self.max_unacked:
            self._reap()
            if self._producer is None:       # a rewind: this batch takes its place among the resent ones
                bisect.insort(self._resend, batch, key=lambda b: b.start)
                return True
            if self._in_flight_records < self.max_unacked:
                break
            if self._past_deadline():
                return False
            self._sender_waiting = True     # an acknowledgement wakes us
            if not (self._in_flight and all(future.is_done for future, _ in self._in_flight[0].futures)):
                self._wakeup.wait(0.05)
            self._sender_waiting = False
            self._wakeup.clear()
        produced = combine_records(batch.records) if self.combine else batch.records
        producer, index = self._producer, 0
        while index < len(produced):
            record = produced[index]
            try:
                future = producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)
            except KafkaTimeoutError:
                if self._past_deadline():   # not acknowledged: the journal keeps the batch for the next run
                    return False
                self.flush_journal()
                time.sleep(self._backoff.next_delay())
                continue
            except KafkaError as exc:   # refused for good (too large, invalid): kept aside, counted
                self.metrics.produce_failures.inc()
                with self._lock:
                    path = self.journal.reject([record])
                log.error("kafka refused a record; kept in the rejected journal", topic=record.topic,
                          error=f"{type(exc).__name__}: {exc}", journal=str(path))
                index += 1
                continue
            future.add_callback(self._acked, record.topic, _received_s(record))
            batch.futures.append((future, record))
            index += 1
        batch.unsettled = len(batch.futures)
        for future, _ in batch.futures:     # the batch's last settled future wakes the sender to reap it
            future.add_both(self._settled, batch)
        self.produced += len(batch.futures)
        self._in_flight.append(batch)
        self._in_flight_records += len(batch.futures)
        self._backoff.reset()
        return True

    def _acked(self, topic: str, received_s: float, _metadata: Any) -> None:
        self.metrics.observe_latency(time.time() - received_s)
        counter = self._record_counters.get(topic)
        if counter is None:
            counter = self._record_counters[topic] = self.metrics.records.labels(topic)
        counter.inc()

    def _settled(self, batch: _Batch, _result: Any) -> None:
        """A record of `batch` is acknowledged or failed; once all are, the sender reaps the batch."""
        batch.unsettled -= 1
        if batch.unsettled <= 0 and self._sender_waiting:
            self._wakeup.set()

    def _reap(self) -> None:
        in_flight = self._in_flight
        while in_flight and all(future.is_done for future, _ in in_flight[0].futures):
            batch = in_flight.popleft()
            self._in_flight_records -= len(batch.futures)
            failed = [(future, record) for future, record in batch.futures if future.failed()]
            if any(getattr(future.exception, "retriable", False) for future, _ in failed):
                self._rewind(batch, len(failed))
                return
            if failed:   # refused for good (too large, invalid): kept aside, counted, not retried
                self.metrics.produce_failures.inc(len(failed))
                with self._lock:
                    path = self.journal.reject([record for _, record in failed])
                log.error("kafka refused records for good; kept in the rejected journal", records=len(failed),
                          error=str(failed[0][0].exception)[:200], journal=str(path))
            self.acknowledged += len(batch.futures) - len(failed)
            with self._lock:
                self.journal.ack(batch.end)

    def _rewind(self, failed: _Batch, failures: int) -> None:
        """Delivery gave up (an outage longer than delivery_timeout_ms): drop the producer and
        everything it still holds, and send again from the first unacknowledged record, in order.
        Records the broker did take are sent twice; their ids are equal, so downstream dedups them."""
        self.metrics.produce_failures.inc(failures)
        log.error("kafka did not take records in time; resending in order from the journal",
                  from_record=failed.start, records=self._next_index - failed.start)
        producer, self._producer = self._producer, None
        _abort(producer)
        self._resend[:0] = [failed, *self._in_flight]
        self._in_flight.clear()
        self._in_flight_records = 0

    def _shutdown(self) -> None:
        self._writer_stop.set()
        self._writer_wakeup.set()
        if self._writer.is_alive():
            self._writer.join(10)
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=max(0.5, self._deadline - time.monotonic()))
            except KafkaError:
                pass
            self._reap()
        with self._io_lock, self._lock:
            self.journal.close()
            left = self.journal.backlog
        if left:
            log.warning("kafka did not acknowledge everything before shutdown; kept in the journal",
                        records=left, directory=str(self.journal.directory))
        if self._producer is not None:
            if left:
                _abort(self._producer)
            else:
                try:
                    self._producer.close(timeout=5)
                except KafkaError:
                    pass
        self.metrics.queue_depth.set(0)
        self.metrics.spool_bytes.set(self.journal.size_bytes)
