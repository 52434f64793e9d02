"""Producing to Kafka behind a bounded queue: the websocket reader never waits on Kafka. When the
queue is full (Kafka slow or down) records spill to the spool, drained in order when Kafka is back."""

from __future__ import annotations

import collections
import queue
import threading
import time
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from collector.encoding import Record
from collector.metrics import CollectorMetrics
from collector.spool import Spool
from core import kafka as kafka_clients
from core.config import Settings
from core.errors import AccessError
from core.logging import get_logger
from core.retry import Backoff
from core.schemas import HEADER_RECEIVED_AT

log = get_logger(__name__)

# On top of core.kafka.RELIABLE_PRODUCER: reconnect quickly after an outage, and never block a
# send() for long, so shutdown stays bounded.
COLLECTOR_PRODUCER = {"reconnect_backoff_max_ms": 1000, "max_block_ms": 2000}
SPOOL_READ_BATCH = 2000


def _received_s(record: Record) -> float:
    for name, value in record.headers:
        if name == HEADER_RECEIVED_AT:
            return int(value) / 1000
    return time.time()


class Publisher:
    """`submit(records)` from the reader thread; one sender thread produces them in order."""

    def __init__(self, settings: Settings, metrics: CollectorMetrics | None = None,
                 spool_dir: Path | None = None, queue_frames: int = 10_000, max_unacked: int = 20_000,
                 producer_overrides: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or CollectorMetrics()
        self.spool = Spool(spool_dir or settings.home / "spool")
        self.max_unacked = max_unacked
        self._overrides = {**COLLECTOR_PRODUCER, **(producer_overrides or {})}
        self._queue: queue.Queue[list[Record]] = queue.Queue(maxsize=queue_frames)
        self._lock = threading.Lock()
        self._spooling = self.spool.has_backlog
        self._producer: Any = None
        self._unacked: collections.deque[tuple[Any, Record]] = collections.deque()
        self._sent = 0
        self._done = 0
        self._consumed_marks: list[tuple[int, list[int]]] = []   # (sent count when read, segments)
        self._marked: set[int] = set()
        self._unsent: list[Record] = []
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._backoff = Backoff(initial_s=0.2, maximum_s=5.0)
        self._record_counters: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self.spooled_total = 0

    # -- reader side
    def start(self) -> Publisher:
        self._thread.start()
        return self

    def submit(self, records: list[Record]) -> None:
        """Hand over one frame's records; never blocks on Kafka."""
        if not records:
            return
        with self._lock:
            if not self._spooling:
                try:
                    self._queue.put_nowait(records)
                    return
                except queue.Full:
                    self._spooling = True
                    log.warning("producer queue full; spooling to disk", directory=str(self.spool.directory))
            self.spool.append(records)
            self.spooled_total += len(records)
        self.metrics.spooled.inc(len(records))

    def close(self, timeout_s: float = 30.0) -> bool:
        """Deliver what is queued and spooled within `timeout_s`; what is not delivered by then
        stays in the spool for the next run. True if everything reached Kafka."""
        self._deadline = time.monotonic() + timeout_s
        self._closing.set()
        self._thread.join(timeout_s + 30)
        with self._lock:
            return not self.spool.has_backlog and self._queue.empty() and not self._unsent

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every submitted record is acknowledged (tests, replay)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                idle = (self._queue.empty() and not self._spooling and self._sent == self._done
                        and not self._unsent and self._producer is not None)
            if idle and self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.05)
        return False

    def stats(self) -> dict[str, int]:
        return {"queued_frames": self._queue.qsize(), "sent": self._sent, "acknowledged": self._done,
                "spooled_records": self.spooled_total, "spooling": int(self._spooling)}

    # -- sender thread
    def _run(self) -> None:
        last_gauges = 0.0
        try:
            while not self._past_deadline():   # past it, what is left stays in the spool
                if self._producer is None and not self._connect():
                    if self._past_deadline():
                        break
                    continue
                self._reap()
                now = time.monotonic()
                if now - last_gauges > 0.5:
                    last_gauges = now
                    self.metrics.queue_depth.set(self._queue.qsize())
                    self.metrics.spool_bytes.set(self.spool.size_bytes())
                batch = self._next_batch()
                if batch is None:
                    if self._closing.is_set():
                        break
                    continue
                self._unsent = batch
                if not self._send_all():
                    break
        except Exception:   # the sender must never die silently: what it holds goes to the spool
            log.exception("publisher failed; persisting to the spool")
        finally:
            self._shutdown()

    def _next_batch(self) -> list[Record] | None:
        try:
            batch = self._queue.get(timeout=0.05)
            self._queue.task_done()
            return batch
        except queue.Empty:
            pass
        with self._lock:
            if not self._spooling:
                return None
            batch = self.spool.read(SPOOL_READ_BATCH)
            if not batch and self._queue.empty():
                self.spool.seal()   # drained: the reader goes back to the queue
                self._spooling = False
                log.info("spool drained")
            segments = [s for s in self.spool.consumed_segments() if s not in self._marked]
            if segments:
                self._marked.update(segments)
                self._consumed_marks.append((self._sent + len(batch), segments))
        return batch or None

    def _connect(self) -> bool:
        try:
            # kafka-python builds a producer even when the broker refuses our credentials or we refuse its
            # certificate, then fails every send: ask once first, so the refusal is reported with its cause
            refusal = kafka_clients.access_refusal(self.settings)
            if refusal:
                raise AccessError(refusal)
            self._producer = kafka_clients.producer(self.settings, **self._overrides)
            self._backoff.reset()
            log.info("kafka producer connected", servers=",".join(self.settings.kafka_bootstrap_servers))
            return True
        except AccessError as exc:
            # records stay spooled; retried, since credentials can be fixed or rotated without a restart
            delay = self._backoff.next_delay()
            log.warning("kafka refused the collector; retrying", error=str(exc), retry_in_s=round(delay, 2))
            self._closing.wait(delay)
            return False
        except (KafkaError, OSError) as exc:
            delay = self._backoff.next_delay()
            log.warning("kafka unreachable; retrying", error=type(exc).__name__, retry_in_s=round(delay, 2))
            self._closing.wait(delay)
            return False

    def _past_deadline(self) -> bool:
        return self._closing.is_set() and time.monotonic() >= self._deadline

    def _send_all(self) -> bool:
        """Send self._unsent in order; False if shutdown's deadline passed first."""
        producer, unacked, index = self._producer, self._unacked, 0
        batch = self._unsent
        try:
            while index < len(batch):
                if len(unacked) >= self.max_unacked:
                    self._reap()
                    if len(unacked) >= self.max_unacked:
                        if self._past_deadline():
                            return False
                        time.sleep(0.002)
                        continue
                record = batch[index]
                try:
                    future = producer.send(record.topic, value=record.value, key=record.key,
                                           headers=record.headers)
                except KafkaTimeoutError:
                    if self._past_deadline():
                        return False
                    time.sleep(self._backoff.next_delay())
                    continue
                except KafkaError as exc:   # refused for good (too large, invalid): kept aside, counted
                    self.metrics.produce_failures.inc()
                    with self._lock:
                        path = self.spool.reject([record])
                    log.error("kafka refused a record; kept in the rejected journal", topic=record.topic,
                              error=f"{type(exc).__name__}: {exc}", journal=str(path))
                    index += 1
                    continue
                future.add_callback(self._acked, record.topic, _received_s(record))
                unacked.append((future, record))
                self._sent += 1
                index += 1
            self._backoff.reset()
            return True
        finally:
            self._unsent = batch[index:]

    def _acked(self, topic: str, received_s: float, _metadata: Any) -> None:
        self.metrics.observe_latency(time.time() - received_s)
        counter = self._record_counters.get(topic)
        if counter is None:
            counter = self._record_counters[topic] = self.metrics.records.labels(topic)
        counter.inc()

    def _reap(self) -> None:
        unacked = self._unacked
        retry: list[Record] = []
        refused: list[Record] = []
        while unacked and unacked[0][0].is_done:
            future, record = unacked.popleft()
            self._done += 1
            if future.failed():
                (retry if getattr(future.exception, "retriable", False) else refused).append(record)
        if retry:
            # delivery gave up (an outage longer than delivery_timeout_ms): keep them, out of order
            self.metrics.produce_failures.inc(len(retry))
            log.error("kafka did not take records in time; re-spooled", records=len(retry))
            with self._lock:
                self._spooling = True
                self.spool.append(retry)
        if refused:
            self.metrics.produce_failures.inc(len(refused))
            with self._lock:
                path = self.spool.reject(refused)
            log.error("kafka refused records for good; kept in the rejected journal", records=len(refused),
                      journal=str(path))
        while self._consumed_marks and self._consumed_marks[0][0] <= self._done:
            _, segments = self._consumed_marks.pop(0)
            with self._lock:
                self.spool.release(segments)

    def _shutdown(self) -> None:
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=max(0.5, self._deadline - time.monotonic()))
            except KafkaError:
                pass
            self._reap()
        leftover = [record for future, record in self._unacked if not future.is_done or future.failed()]
        leftover += self._unsent
        while True:
            try:
                leftover += self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            self.spool.release(self.spool.consumed_segments())
            self.spool.prepend(leftover)
            self.spool.close()
            self._unsent = []
            self._spooling = self.spool.has_backlog or bool(leftover)
        if leftover:
            log.warning("kafka did not acknowledge everything before shutdown; kept in the spool",
                        records=len(leftover), directory=str(self.spool.directory))
        if producer is not None:
            try:
                producer.close(timeout=0 if leftover else 5)
            except KafkaError:
                pass
        self.metrics.queue_depth.set(0)
        self.metrics.spool_bytes.set(self.spool.size_bytes())
