"""Kafka's side of the publisher: one producer at a time and the batches it holds, in journal order,
and what becomes of each — acknowledged (the journal's cursor moves past it), refused for good (kept
in the rejected journal, counted), or given up on after an outage (the producer is dropped with
everything it holds, and those batches go back to be sent again in order)."""

from __future__ import annotations

import bisect
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from collector.encoding import Record
from collector.journal import Journal
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


def received_s(record: Record) -> float:
    for name, value in record.headers:
        if name == HEADER_RECEIVED_AT:
            return int(value) / 1000
    return time.time()


def abort(producer: Any) -> None:
    """Close a producer without sending what it still holds; its futures fail, and the rewind resends
    their records from the journal. A request already on the wire may still land (a harmless duplicate).

    kafka-python has no public call for this: in 2.3.3 (and 3.0.12, checked) `close(timeout)` flushes
    first, so `close(timeout=0)` raises KafkaTimeoutError while records are pending and never closes.
    So the producer's I/O thread (`_sender`, private) is told to abort what it holds before the public
    close(timeout=0); tests/unit/collector/test_delivery_abort.py fails if an upgrade changes that.
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
class Batch:
    """Journal records [start, end) and what was produced for them."""

    start: int
    records: list[Record]
    futures: list[tuple[Any, Record]] = field(default_factory=list)   # (future, produced record)
    unsettled: int = 0      # futures neither acknowledged nor failed yet

    @property
    def end(self) -> int:
        return self.start + len(self.records)


class Delivery:
    """The sender thread's producer and in-flight batches. `wake` is called when a batch has settled
    (its last record acknowledged or failed), from kafka-python's I/O thread."""

    def __init__(self, settings: Settings, metrics: CollectorMetrics, journal: Journal, lock: threading.Lock,
                 overrides: dict[str, Any], max_unacked: int, wake: Callable[[], None]) -> None:
        self.settings, self.metrics, self.journal, self._lock = settings, metrics, journal, lock
        self._overrides = {**COLLECTOR_PRODUCER, **overrides}
        self.max_unacked = max_unacked
        self._wake = wake
        self.producer: Any = None
        self.in_flight: collections.deque[Batch] = collections.deque()
        self.in_flight_records = 0
        self.resend: list[Batch] = []     # after a rewind, in journal order
        self.backoff = Backoff(initial_s=0.2, maximum_s=5.0)
        self._record_counters: dict[str, Any] = {}
        self.produced = self.acknowledged = 0

    @property
    def full(self) -> bool:
        return self.in_flight_records >= self.max_unacked

    def oldest_settled(self) -> bool:
        """The oldest in-flight batch has every answer: a reap would take it."""
        return bool(self.in_flight) and all(future.is_done for future, _ in self.in_flight[0].futures)

    def next_resend(self) -> Batch | None:
        if not self.resend:
            return None
        batch = self.resend.pop(0)
        batch.futures = []
        return batch

    def requeue(self, batch: Batch) -> None:
        """A batch not sent because a rewind came first takes its place among the resent ones."""
        bisect.insort(self.resend, batch, key=lambda b: b.start)

    def connect(self, stopping: threading.Event) -> bool:
        """A new producer; False after a refusal or an unreachable cluster (waited out on `stopping`)."""
        try:
            # kafka-python builds a producer even when the broker refuses our credentials or we refuse its
            # certificate, then fails every send: ask once first, so the refusal is reported with its cause
            refusal = kafka_clients.access_refusal(self.settings)
            if refusal:
                raise AccessError(refusal)
            self.producer = kafka_clients.producer(self.settings, **self._overrides)
            self.backoff.reset()
            log.info("kafka producer connected", servers=self.settings.kafka.servers)
            return True
        except AccessError as exc:
            # records stay journaled; retried, since credentials can be fixed or rotated without a restart
            delay = self.backoff.next_delay()
            log.warning("kafka refused the collector; retrying", error=str(exc), retry_in_s=round(delay, 2))
            stopping.wait(delay)
            return False
        except (KafkaError, OSError, AssertionError) as exc:
            # AssertionError: kafka-python probes the broker's version when it builds a producer; against a
            # stalled broker the probe times out, it guesses a version too old for idempotence and asserts.
            delay = self.backoff.next_delay()
            log.warning("kafka unreachable; retrying", error=type(exc).__name__, retry_in_s=round(delay, 2))
            stopping.wait(delay)
            return False

    def send(self, batch: Batch, combine: bool, give_up: Callable[[], bool],
             flush_journal: Callable[[], None]) -> bool:
        """Produce one batch; False if `give_up()` (shutdown's deadline) came first: the journal keeps it."""
        produced = combine_records(batch.records) if combine else batch.records
        producer, index = self.producer, 0
        while index < len(produced):
            record = produced[index]
            try:
                future = producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)
            except KafkaTimeoutError:
                if give_up():
                    return False
                flush_journal()
                time.sleep(self.backoff.next_delay())
                continue
            except KafkaError as exc:   # refused for good (too large, invalid): kept aside, counted
                self.metrics.produce_failures.inc()
                with self._lock:
                    path = self.journal.reject([record])
                log.error("kafka refused a record; kept in the rejected journal", topic=record.topic,
                          error=f"{type(exc).__name__}: {exc}", journal=str(path))
                index += 1
                continue
            future.add_callback(self._acked, record.topic, received_s(record))
            batch.futures.append((future, record))
            index += 1
        batch.unsettled = len(batch.futures)
        for future, _ in batch.futures:     # the batch's last settled future wakes the sender to reap it
            future.add_both(self._settled, batch)
        self.produced += len(batch.futures)
        self.in_flight.append(batch)
        self.in_flight_records += len(batch.futures)
        self.backoff.reset()
        return True

    def _acked(self, topic: str, received: float, _metadata: Any) -> None:
        self.metrics.observe_latency(time.time() - received)
        counter = self._record_counters.get(topic)
        if counter is None:
            counter = self._record_counters[topic] = self.metrics.records.labels(topic)
        counter.inc()

    def _settled(self, batch: Batch, _result: Any) -> None:
        batch.unsettled -= 1
        if batch.unsettled <= 0:
            self._wake()

    def reap(self) -> None:
        """Settle the oldest batches whose every record has an answer; a retriable failure rewinds."""
        in_flight = self.in_flight
        while in_flight and all(future.is_done for future, _ in in_flight[0].futures):
            batch = in_flight.popleft()
            self.in_flight_records -= len(batch.futures)
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

    def _rewind(self, failed: Batch, failures: int) -> None:
        """Delivery gave up (an outage longer than delivery_timeout_ms): drop the producer and
        everything it still holds, and send again from the first unacknowledged record, in order.
        Records the broker did take are sent twice; their ids are equal, so downstream dedups them."""
        self.metrics.produce_failures.inc(failures)
        self.resend[:0] = [failed, *self.in_flight]
        log.error("kafka did not take records in time; resending in order from the journal",
                  from_record=failed.start, records=sum(len(batch.records) for batch in self.resend))
        producer, self.producer = self.producer, None
        abort(producer)
        self.in_flight.clear()
        self.in_flight_records = 0

    def finish(self, timeout_s: float) -> None:
        """Shutdown: give what the producer holds `timeout_s` to be acknowledged, and settle it."""
        if self.producer is None:
            return
        try:
            self.producer.flush(timeout=max(0.5, timeout_s))
        except KafkaError:
            pass
        self.reap()

    def close(self, unacknowledged: bool) -> None:
        """Close the producer; with records `unacknowledged` (kept in the journal) without flushing."""
        if self.producer is None:
            return
        if unacknowledged:
            abort(self.producer)
            return
        try:
            self.producer.close(timeout=5)
        except KafkaError:
            pass
