"""The stream processor's Prometheus metrics from a progress event: rows, duration, latency, lag,
dead letters and Cassandra write time per query, in the exposition format Prometheus scrapes."""

import socket
from types import SimpleNamespace
from urllib.request import urlopen

from prometheus_client import generate_latest

from core.net import free_port
from stream_processor.prometheus import StreamMetrics


def progress(rows: int, behind: str | None) -> SimpleNamespace:
    return SimpleNamespace(name="trades", numInputRows=rows, processedRowsPerSecond=2500.0, batchDuration=400,
                           sources=[SimpleNamespace(metrics={"maxOffsetsBehindLatest": behind} if behind else {})])


def test_progress_events_become_prometheus_series():
    metrics = StreamMetrics()
    measured = {"latency_p99_ms": 850.0, "refused_rows": 3, "phases": {"write_trades": 120, "summary": 40,
                                                                         "write_latest": 30}}
    metrics.observe(progress(1000, "42"), measured, 1_790_000_000.0)
    metrics.observe(progress(500, "7"), {"refused_rows": 2}, 1_790_000_001.0)
    text = generate_latest(metrics.registry).decode()
    assert 'tickplant_stream_input_rows_total{query="trades"} 1500.0' in text
    assert 'tickplant_stream_dead_letters_total{query="trades"} 5.0' in text
    assert 'tickplant_stream_kafka_lag_records{query="trades"} 7.0' in text
    assert 'tickplant_stream_latency_p99_seconds{query="trades"} 0.85' in text
    assert 'tickplant_stream_batch_duration_seconds{query="trades"} 0.4' in text
    assert 'tickplant_stream_cassandra_write_seconds{query="trades"} 0.0' in text   # the last batch wrote nothing
    assert 'tickplant_stream_last_batch_timestamp_seconds{query="trades"} 1.790000001e+09' in text


def test_metrics_are_served_and_a_taken_port_is_only_a_warning():
    port = free_port()
    metrics = StreamMetrics()
    assert metrics.serve(port)
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"tickplant_stream_input_rows" in response.read()
    with socket.socket() as squatter:
        taken = free_port()
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        assert StreamMetrics().serve(taken) is False
    assert StreamMetrics().serve(0) is False
