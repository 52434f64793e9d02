"""A Kafka outage of 300+ frames (10-30 s) while trades flow: the collector keeps reading, spills to its spool,
drains it in order when Kafka is back; nothing is lost and each symbol's order is kept.
Runs its own Kafka (same runtime code, other ports) so the shared one is never stopped."""

from __future__ import annotations

import uuid

import pytest

from collector.simulator import SimulatorConfig
from core import kafka as kafka_clients
from core.errors import TickplantError
from core.net import free_port
from core.retry import wait_until
from core.schemas import HEADER_SEQUENCE
from tests.helpers import service_unavailable
from tests.helpers_collector import read_topic, summarise

SYMBOLS = ("AAPL", "MSFT", "BINANCE:ETHUSDT")
OUTAGE_LIMIT_S = 90


@pytest.fixture
def own_kafka(base_settings, tmp_path):
    from tickplant.runtime.kafka import KafkaService

    settings = base_settings.replace(
        home=tmp_path / "home", kafka_bootstrap_servers=(f"127.0.0.1:{free_port()}",),
        kafka_controller_port=free_port(), kafka_topic=f"outage{uuid.uuid4().hex[:8]}", kafka_heap_mb=384,
        service_timeout_s=120)
    service = KafkaService(settings)
    try:
        service.start()
    except TickplantError as exc:
        service_unavailable(f"a second Kafka could not start: {exc}")
    kafka_clients.ensure_topics(settings)
    yield settings, service
    service.stop(timeout_s=60)


def test_kafka_outage_spools_to_disk_and_loses_nothing_in_order(own_kafka, feed, tmp_path):
    settings, kafka = own_kafka
    config = SimulatorConfig(port=0, rate=500, seed=44, max_trades=14_000, frame_trades=10)
    with feed(config, settings=settings, symbols=SYMBOLS, queue_frames=20, max_unacked=100) as running:
        simulator, collector = running.simulator, running.collector
        wait_until(lambda: collector.publisher.stats()["acknowledged"] > 50, 30, what="first acks",
                   initial_s=0.05, maximum_s=0.1)
        kafka.stop(timeout_s=60)
        wait_until(lambda: collector.publisher.stats()["spooled_records"] > 100, 25, what="spooling",
                   initial_s=0.05, maximum_s=0.1)
        frames_when_down = collector.frames
        # the outage lasts until the reader has gone on reading 300 frames into the journal
        wait_until(lambda: collector.frames > frames_when_down + 300
                   and collector.publisher.stats()["spooled_records"] > 1000, OUTAGE_LIMIT_S,
                   what="the reader reading on during the outage", initial_s=0.1, maximum_s=0.5)
        kafka.start()
        wait_until(lambda: simulator.report()["done"], 60, what="simulator sent all trades",
                   initial_s=0.05, maximum_s=0.1)
        assert collector.publisher.wait_idle(90)
        spooled = collector.publisher.stats()["spooled_records"]
        report = simulator.report()
    records = read_topic(settings, settings.kafka.topic, timeout_s=60)
    assert spooled > 1000
    assert summarise(records) == report["symbols"]
    for symbol in SYMBOLS:
        sequences = [int(r.headers[HEADER_SEQUENCE]) for r in records if r.key == symbol.encode()]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences), symbol
    assert list((tmp_path / "spool").glob("*.journal")) == []   # drained and released


def test_records_spooled_while_kafka_was_unreachable_are_delivered_by_the_next_run(isolated, feed, tmp_path):
    from collector.publisher import Publisher

    nowhere = isolated.replace(kafka_bootstrap_servers=(f"127.0.0.1:{free_port()}",))
    spool = tmp_path / "spool"
    config = SimulatorConfig(port=0, rate=1000, seed=45, max_trades=1500, frame_trades=20)
    with feed(config, settings=nowhere, symbols=SYMBOLS, queue_frames=5, shutdown_timeout_s=2) as running:
        collector = running.collector
        wait_until(lambda: collector.trades == 1500, 30, what="all trades received", initial_s=0.05, maximum_s=0.1)
    report = running.simulator.report()
    assert list(spool.glob("*.journal")), "the undelivered records were kept on disk"

    publisher = Publisher(isolated, spool_dir=spool).start()   # the next run, Kafka reachable
    try:
        assert publisher.wait_idle(60)
    finally:
        assert publisher.close(10)
    assert summarise(read_topic(isolated, isolated.kafka.topic)) == report["symbols"]
    assert list(spool.glob("*.journal")) == []
