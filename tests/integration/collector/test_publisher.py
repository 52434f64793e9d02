"""The publisher on its own: records keep their order and headers, and a record Kafka refuses for
good (too large) is kept aside in the rejected journal instead of blocking the others."""

from __future__ import annotations

from collector.encoding import FrameContext, Record
from collector.publisher import Publisher
from core.schemas import decode_message, encode_message
from tests.helpers_collector import identified, read_topic


def test_a_record_kafka_refuses_is_kept_aside_and_the_rest_delivered_in_order(isolated, tmp_path):
    topic = isolated.kafka.topic
    records = [Record(topic, b"AAPL", encode_message([{"s": "AAPL", "p": 1.0 + n, "t": n, "v": 1}]),
                      FrameContext("p", n, 1, "simulator").headers()) for n in range(1, 6)]
    huge = Record(topic, b"AAPL", b"x" * 2_000_000, FrameContext("p", 99, 1, "simulator").headers())
    publisher = Publisher(isolated, spool_dir=tmp_path).start()
    try:
        publisher.submit(records[:2])
        publisher.submit([huge])
        publisher.submit(records[2:])
        assert publisher.wait_idle(30)
    finally:
        assert publisher.close(10)
    delivered = read_topic(isolated, topic)
    assert [trade_id for _, trade_id, _ in identified(delivered)] == [f"p-{n}-0" for n in range(1, 6)]
    assert [trade for _, _, trade in identified(delivered)] == [decode_message(r.value)["data"][0] for r in records]
    assert (tmp_path / "rejected.journal").stat().st_size > 2_000_000
