"""Producing to Kafka from the write-ahead journal: `submit` appends a frame's records to the journal
(and to a bounded in-memory queue) before anything is sent; one sender thread sends them in journal
order, merging a symbol's records of consecutive frames, and on a failed delivery rewinds to the
first unacknowledged record, so a symbol's order is kept and nothing is lost. The producer and its
in-flight batches are collector/delivery.py's."""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Any

from collector.delivery import Batch, Delivery
from collector.encoding import Record
from collector.journal import FLUSH_INTERVAL_S, MAX_BYTES, Journal
from collector.metrics import CollectorMetrics
from core.config import Settings
from core.logging import get_logger

log = get_logger(__name__)

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
        self.delivery = Delivery(settings, self.metrics, self.journal, self._lock, producer_overrides or {},
                                 max_unacked, self._wake_sender)
        self._closing = threading.Event()
        self._no_wait = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._writer = threading.Thread(target=self._write_journal, name="journal-writer", daemon=True)
        self._writer_stop = threading.Event()
        self._writer_wakeup = threading.Event()
        self._writer_waiting = False
        self.spooled_total = 0      # records journaled while the memory queue was full (sent from disk)
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
                if self.journal.backlog == 0 and self.delivery.producer is not None:
                    return True
            time.sleep(0.05)
        return False

    def stats(self) -> dict[str, int]:
        return {"queued_frames": self._memory_frames, "sent": self.delivery.produced,
                "acknowledged": self.delivery.acknowledged,
                "spooled_records": self.spooled_total, "spooling": int(self._from_disk),
                "journal_records": self.journal.next_index, "journal_flushed": self.journal.flushed_index,
                "journal_acked": self.journal.acked}

    # -- sender thread
    def _run(self) -> None:
        delivery, last_cursor = self.delivery, 0.0
        try:
            while not self._past_deadline():   # past it, what is left stays in the journal
                if delivery.producer is None and not delivery.connect(self._closing):
                    if self._past_deadline():
                        break
                    continue
                delivery.reap()
                if delivery.producer is None:   # the reap rewound: reconnect before the resend
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
        if self._from_disk or self.delivery.resend:     # the journal is read back: the reader does not wake us
            return 0.05
        if self.delivery.in_flight:
            if self.delivery.oldest_settled():
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
            return bool(self.delivery.resend or self._memory or self._from_disk)

    def _save_cursor(self) -> None:
        self.flush_journal()
        with self._io_lock, self._lock:
            self.journal.save_cursor()
            self._room.notify_all()
        self.metrics.queue_depth.set(self._memory_frames)
        self.metrics.spool_bytes.set(self.journal.size_bytes)

    def _next_batch(self) -> Batch | None:
        batch = self.delivery.next_resend()
        if batch is not None:
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
                return Batch(start, records)
            if memory:
                return None
            if self._from_disk:
                records = self.journal.read(self._next_index, BATCH_RECORDS)
                if records:
                    batch = Batch(self._next_index, records)
                    self._next_index = batch.end
                    return batch
                if self._next_index >= self.journal.next_index:
                    self._from_disk = False
                    log.info("journal backlog sent; back to the in-memory queue")
        return None

    def _past_deadline(self) -> bool:
        return self._closing.is_set() and time.monotonic() >= self._deadline

    def _send(self, batch: Batch) -> bool:
        """Produce one batch once fewer than max_unacked records are in flight; False if shutdown's
        deadline passed first (the journal keeps it)."""
        delivery = self.delivery
        while delivery.full:
            delivery.reap()
            if delivery.producer is None:   # a rewind: this batch takes its place among the resent ones
                delivery.requeue(batch)
                return True
            if not delivery.full:
                break
            if self._past_deadline():
                return False
            self._sender_waiting = True     # an acknowledgement wakes us
            if not delivery.oldest_settled():
                self._wakeup.wait(0.05)
            self._sender_waiting = False
            self._wakeup.clear()
        return delivery.send(batch, self.combine, self._past_deadline, self.flush_journal)

    def _wake_sender(self) -> None:
        """A batch has settled (kafka-python's I/O thread): a waiting sender reaps it."""
        if self._sender_waiting:
            self._wakeup.set()

    def _shutdown(self) -> None:
        self._writer_stop.set()
        self._writer_wakeup.set()
        if self._writer.is_alive():
            self._writer.join(10)
        self.delivery.finish(self._deadline - time.monotonic())
        with self._io_lock, self._lock:
            self.journal.close()
            left = self.journal.backlog
        if left:
            log.warning("kafka did not acknowledge everything before shutdown; kept in the journal",
                        records=left, directory=str(self.journal.directory))
        self.delivery.close(unacknowledged=bool(left))
        self.metrics.queue_depth.set(0)
        self.metrics.spool_bytes.set(self.journal.size_bytes)
