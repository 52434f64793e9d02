"""`tickplant replay` of a collector's archive republishes the same trades with the same ids (keys,
values and producer-id/sequence/tp-frames headers give the same trade ids), dead letters included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collector.simulator import SimulatorConfig
from core import kafka as kafka_clients
from tests.helpers_collector import identified, read_topic

TICKPLANT = str(Path(sys.executable).parent / "tickplant")


def _contents(records) -> list[tuple]:
    """Every trade with its symbol and id (how the sender merged frames into records may differ
    between runs; what downstream derives from them may not)."""
    return sorted((symbol, trade_id, sorted(trade.items())) for symbol, trade_id, trade in identified(records))


def _dead_contents(records) -> list[tuple]:
    return sorted((r.key or b"", r.value, tuple(sorted(r.headers.items()))) for r in records)


def test_replay_of_an_archive_reproduces_the_same_records(isolated, feed, tmp_path):
    config = SimulatorConfig(port=0, rate=3000, seed=66, max_trades=4000, frame_trades=25, faults=True,
                             fault_rate=0.05, drop_every_s=3600)
    archive = tmp_path / "archive"
    with feed(config, symbols=("AAPL", "BINANCE:XRPUSDT"), archive_dir=archive) as running:
        running.finish(30)
    original = read_topic(isolated, isolated.kafka.topic)
    original_dead = read_topic(isolated, isolated.kafka.dead_letter_topic)
    assert original and original_dead

    replayed_settings = isolated.replace(kafka_topic=isolated.kafka.topic + "r")
    kafka_clients.ensure_topics(replayed_settings)
    try:
        env = {**os.environ, "KAFKA_TOPIC": replayed_settings.kafka.topic,
               "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.servers,
               "TICKPLANT_HOME": str(tmp_path / "home")}
        result = subprocess.run([TICKPLANT, "replay", "--fast", *map(str, sorted(archive.glob("*.jsonl.gz")))],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "replayed" in result.stdout
        assert _contents(read_topic(replayed_settings, replayed_settings.kafka.topic)) == _contents(original)
        replayed_dead = read_topic(replayed_settings, replayed_settings.kafka.dead_letter_topic)
        assert _dead_contents(replayed_dead) == _dead_contents(original_dead)
    finally:
        client = kafka_clients.admin(replayed_settings)
        try:
            client.delete_topics([replayed_settings.kafka.topic, replayed_settings.kafka.dead_letter_topic])
        finally:
            client.close()
