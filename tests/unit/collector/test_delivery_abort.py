"""The publisher's rewind abandons a producer without flushing it (collector.delivery.abort). kafka-python has
no public call for that, so abort reaches its I/O thread: these fail when an upgrade changes what
it relies on."""

from __future__ import annotations

import socket
import time

import pytest
from kafka import KafkaProducer

from collector.delivery import abort


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def producer():
    # api_version given: no broker is probed, so the producer is built with nothing listening
    producer = KafkaProducer(bootstrap_servers=[f"127.0.0.1:{_closed_port()}"], api_version=(2, 8),
                             max_block_ms=200, reconnect_backoff_max_ms=100)
    yield producer
    abort(producer)


def test_the_producer_has_the_io_thread_abort_relies_on(producer):
    assert callable(producer._sender.force_close) and producer._sender.is_alive()


def test_abort_stops_the_io_thread_and_closes_the_producer_at_once(producer):
    started = time.monotonic()
    abort(producer)
    assert time.monotonic() - started < 5.0
    assert not producer._sender.is_alive()
    started = time.monotonic()
    producer.close()                    # already closed: returns at once, nothing left to flush
    assert time.monotonic() - started < 1.0

