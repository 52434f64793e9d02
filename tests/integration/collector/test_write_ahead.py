"""The write-ahead journal against a real broker this module may freeze (a private Kafka on free
ports; Cassandra is the shared one): `kill -9` of a collector holding frames Kafka never
acknowledged loses and duplicates nothing once it restarts, and an outage longer than the
producer's delivery timeout keeps each symbol's order; the stream processor then writes every
table exactly from the distinct trades."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.simulator import SimulatorConfig, SimulatorThread
from core import cassandra as cassandra_db
from core.errors import TickplantError
from core.net import free_port
from core.retry import wait_until
from tests.helpers import own_topic_and_keyspace, service_unavailable
from tests.helpers_collector import first_occurrences, identified, read_topic
from tests.helpers_stream import StreamJob, assert_tables_match, caught_up, count_trades, day_keys
from tests.helpers_stream import wait_until as wait_for_stream

TICKPLANT = str(Path(sys.executable).parent / "tickplant")
SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT")
FAST = ("--trigger", "1 second")


@pytest.fixture(scope="module")
def private_kafka(base_settings, tmp_path_factory):
    """A Kafka of this module's own (SIGSTOP-able without touching the shared one)."""
    from tickplant.runtime.kafka import KafkaService

    settings = base_settings.replace(
        home=tmp_path_factory.mktemp("kafka-home"), kafka_bootstrap_servers=(f"127.0.0.1:{free_port()}",),
        kafka_controller_port=free_port(), kafka_heap_mb=384, service_timeout_s=180)
    service = KafkaService(settings)
    try:
        service.start()
    except TickplantError as exc:
        service.stop(timeout_s=60)
        service_unavailable(f"a private Kafka could not start: {exc}")
    yield settings, service
    service.stop(timeout_s=60)


@pytest.fixture
def frozen_isolated(private_kafka, services):
    """Settings of the private Kafka (own topic) and the shared Cassandra (own keyspace), and a
    `freeze()` context manager that SIGSTOPs the broker (SIGCONT on exit, whatever happens)."""
    kafka_settings, service = private_kafka
    with own_topic_and_keyspace(kafka_settings) as settings:
        yield settings, service.running_pid()


class _Frozen:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> _Frozen:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return -1.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0.0


class _CollectorProcess:
    """`tickplant collect` as its own process, metrics on a free port, log in a file."""

    def __init__(self, settings, url: str, spool: Path, log: Path) -> None:
        self.metrics_port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.servers,
               "KAFKA_TOPIC": settings.kafka.topic, "TICKPLANT_HOME": str(spool.parent / "home")}
        self.log = log
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                [TICKPLANT, "collect", "--url", url, "--symbols", ",".join(SYMBOLS), "--spool-dir", str(spool),
                 "--metrics-port", str(self.metrics_port)], env=env, stdout=handle, stderr=subprocess.STDOUT)

    def metric(self, name: str) -> float:
        return _metric(self.metrics_port, name)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(90)


def _distinct_frame(records) -> pd.DataFrame:
    rows = [{"symbol": symbol, "trade_id": trade_id, "price": trade["p"], "volume": trade["v"], "t_ms": trade["t"]}
            for symbol, trade_id, trade in first_occurrences(records)]
    return pd.DataFrame(rows, columns=["symbol", "trade_id", "price", "volume", "t_ms"])


def _summary(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per symbol count and volume sum, summed in order (what the simulator's report holds)."""
    summary: dict[str, dict[str, float]] = {}
    for symbol, volume in zip(frame["symbol"], frame["volume"], strict=True):
        entry = summary.setdefault(symbol, {"trades": 0, "volume": 0.0})
        entry["trades"] += 1
        entry["volume"] += volume
    return summary


def _assert_in_order_per_symbol(frame: pd.DataFrame) -> None:
    """The first time each trade appears in Kafka, a symbol's trades come in (frame seq, index) order."""
    for symbol, group in frame.groupby("symbol", sort=False):
        positions = [tuple(int(part) for part in trade_id.rsplit("-", 2)[1:]) for trade_id in group["trade_id"]]
        assert positions == sorted(positions), f"{symbol}: trades out of order in Kafka"


def _stream_exactly(settings, home: Path, sent: pd.DataFrame) -> None:
    """Run the stream processor over the topic and check every table against the distinct trades."""
    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    job = StreamJob(settings, home, *FAST, env={"KAFKA_BOOTSTRAP_SERVERS": settings.kafka.servers})
    try:
        wait_for_stream(lambda: count_trades(session, settings.cassandra.keyspace, day_keys(sent)) == len(sent)
                        and caught_up(settings, home), 300, "the stream processor to write every trade", job)
        assert job.stop() == 0, job.tail()
        assert_tables_match(session, settings.cassandra.keyspace, sent)
    finally:
        if job.alive():
            job.kill()
        cassandra_db.close(session)


def test_kill_9_while_kafka_holds_frames_unacknowledged_loses_and_duplicates_nothing(frozen_isolated, tmp_path):
    settings, broker_pid = frozen_isolated
    spool = tmp_path / "spool"
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=2500, seed=91, max_trades=15_000, frame_trades=5)).start()
    try:
        first = _CollectorProcess(settings, simulator.url, spool, tmp_path / "collector-1.log")
        try:
            wait_until(lambda: first.metric("tickplant_collector_records_produced_total") > 20, 60,
                       what="first acknowledgements", initial_s=0.1, maximum_s=0.2)
            with _Frozen(broker_pid):
                read_before_freeze = first.metric("tickplant_collector_trades_total")
                wait_until(lambda: simulator.report()["done"], 60, what="the burst sent", initial_s=0.1,
                           maximum_s=0.2)
                sent = simulator.report()
                wait_until(lambda: first.metric("tickplant_collector_trades_total") == sent["trades"], 30,
                           what="the collector reading the whole burst", initial_s=0.1, maximum_s=0.2)
                # the group commit hands the last records to the OS within milliseconds: wait until it has
                wait_until(lambda: first.metric("tickplant_collector_journal_unwritten_records") == 0, 30,
                           what="every record read handed to the journal", initial_s=0.01, maximum_s=0.05)
                first.kill()
            # thousands of trades were read while the broker could acknowledge none of them
            assert sent["trades"] - read_before_freeze > 3000
        finally:
            if first.process.poll() is None:
                first.kill()
        assert list(spool.glob("*.journal")), "the killed collector left its journal"

        second = _CollectorProcess(settings, simulator.url, spool, tmp_path / "collector-2.log")
        try:
            wait_until(lambda: len(first_occurrences(read_topic(settings, settings.kafka.topic))) >= sent["trades"],
                       120, what="every trade in Kafka after the restart", initial_s=0.5, maximum_s=1.0)
        finally:
            assert second.stop() == 0
    finally:
        simulator.stop()

    records = read_topic(settings, settings.kafka.topic)
    distinct = _distinct_frame(records)
    assert len(distinct) == sent["trades"] == 15_000
    assert _summary(distinct) == sent["symbols"]
    _assert_in_order_per_symbol(distinct)
    # the restarted collector resent the journal with the killed one's producer id and sequences
    assert len({trade_id.rsplit("-", 2)[0] for _, trade_id, _ in identified(records)}) == 1
    log = (tmp_path / "collector-2.log").read_text()
    assert "sending them first" in log and "delivered_all=True" in log
    assert list(spool.glob("*.journal")) == []
    _stream_exactly(settings, tmp_path / "stream", distinct)


def test_an_outage_longer_than_the_delivery_timeout_keeps_each_symbols_order_and_loses_nothing(
        frozen_isolated, feed, tmp_path):
    settings, broker_pid = frozen_isolated
    config = SimulatorConfig(port=0, rate=1500, seed=92, max_trades=24_000, frame_trades=5)
    overrides = {"request_timeout_ms": 2000, "delivery_timeout_ms": 4000}
    with feed(config, settings=settings, symbols=SYMBOLS, producer_overrides=overrides, queue_frames=200,
              max_unacked=500) as running:
        collector = running.collector
        wait_until(lambda: collector.publisher.stats()["acknowledged"] > 20, 60, what="first acks",
                   initial_s=0.05, maximum_s=0.1)
        with _Frozen(broker_pid):   # until deliveries time out and the reader spills into the journal
            wait_until(lambda: collector.metrics.snapshot()["tickplant_collector_produce_failures_total"] > 0
                       and collector.publisher.stats()["spooled_records"] > 0, 60,
                       what="a delivery timeout during the outage", initial_s=0.1, maximum_s=0.25)
        report = running.finish(120)
        failures = collector.metrics.snapshot()["tickplant_collector_produce_failures_total"]
        spooled = collector.publisher.stats()["spooled_records"]
    assert failures > 0, "the outage outlasted the delivery timeout: deliveries failed and were resent"
    assert spooled > 0, "the reader kept reading into the journal while the sender was stuck"
    records = read_topic(settings, settings.kafka.topic, timeout_s=60)
    distinct = _distinct_frame(records)
    assert len(distinct) == report["trades"] == 24_000
    assert _summary(distinct) == report["symbols"]
    _assert_in_order_per_symbol(distinct)
    assert list((tmp_path / "spool").glob("*.journal")) == []
    _stream_exactly(settings, tmp_path / "stream", distinct)
