"""`tickplant bench collector`: the simulator at full speed -> collector -> Kafka on this machine,
sustained trades/s and receive-to-ack latency, against the usual approach of Finnhub pipelines
(pure-Python `avro` DatumWriter, one default KafkaProducer.send per websocket message)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websocket

from collector.client import Collector, CollectorOptions, run_in_thread
from core import kafka as kafka_clients
from core.arguments import non_negative_float, positive_float, positive_int
from core.config import Settings
from core.net import free_port, port_open
from core.retry import wait_until
from core.schemas import trade_schema_json

SYMBOLS = ("AAPL", "AMZN", "MSFT", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:XRPUSDT", "BINANCE:DOGEUSDT")


@dataclass(frozen=True)
class CollectorBenchOptions:
    duration: float = 20.0
    baseline_duration: float = 10.0          # 0 = skip the usual approach
    rate: float = 1_000_000
    frame_trades: int = 200
    json: Path | None = None
    simulator_only: bool = False
    merge_frames: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CollectorBenchOptions:
        return cls(duration=args.duration, baseline_duration=args.baseline_duration, rate=args.rate,
                   frame_trades=args.frame_trades, json=args.json, simulator_only=args.simulator_only,
                   merge_frames=not args.no_merge)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=positive_float, default=20.0,
                        help="seconds of streaming for tickplant's collector")
    parser.add_argument("--baseline-duration", type=non_negative_float, default=10.0,
                        help="seconds of streaming for the usual approach (0 = skip it)")
    parser.add_argument("--rate", type=positive_float, default=1_000_000,
                        help="simulator target trades/s (default: more than it can send = full speed)")
    parser.add_argument("--frame-trades", type=positive_int, default=200, help="trades per websocket frame at most")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-merge", action="store_true",
                        help="one Kafka record per symbol per frame (the collector's merging off), for comparison")
    parser.add_argument("--simulator-only", action="store_true",
                        help="measure the simulator alone (a client that only counts what arrives)")


class _SimulatorProcess:
    """The simulator as its own process, so it does not share the collector's interpreter lock."""

    def __init__(self, rate: float, frame_trades: int, workdir: Path) -> None:
        self.port = free_port()
        self.log = (workdir / f"simulator-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tickplant", "--log-level", "WARNING", "simulate", "--port", str(self.port),
             "--rate", str(rate), "--seed", "7", "--frame-trades", str(frame_trades)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: port_open("127.0.0.1", self.port, timeout=1), 30, what="the simulator listening",
                       initial_s=0.2, maximum_s=0.2)
        except TimeoutError:
            self.stop()
            raise RuntimeError("the simulator did not start within 30 s") from None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


def _percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_tickplant(settings: Settings, options: CollectorBenchOptions, workdir: Path) -> dict[str, Any]:
    simulator = _SimulatorProcess(options.rate, options.frame_trades, workdir)
    collector = Collector(settings, CollectorOptions(url=simulator.url, symbols=SYMBOLS, metrics_port=0,
                                                     spool_dir=workdir / "spool", idle_timeout_s=600,
                                                     merge_frames=options.merge_frames))
    started, cpu_started = time.monotonic(), time.process_time()
    thread = run_in_thread(collector)
    try:
        time.sleep(options.duration)
        in_window, window_s = collector.trades, time.monotonic() - started
    finally:
        simulator.stop()
    received_at = time.monotonic()
    idle = collector.publisher.wait_idle(120)
    acked_at, cpu_used = time.monotonic(), time.process_time() - cpu_started
    collector.stop()
    thread.join(60)
    samples = collector.metrics.latency_samples()
    snapshot = collector.metrics.snapshot()
    return {
        "trades": collector.trades, "frames": collector.frames,
        "records": collector.publisher.stats()["acknowledged"],
        "spooled_records": collector.publisher.spooled_total,
        "all_acknowledged": idle,
        "trades_per_s": collector.trades / (acked_at - started),
        "received_trades_per_s": collector.trades / (received_at - started),
        "window_trades_per_s": in_window / window_s,     # read while the simulator streamed
        "latency_p50_ms": _percentile(samples, 0.50) * 1000,
        "latency_p99_ms": _percentile(samples, 0.99) * 1000,
        "dead_letters": snapshot.get("tickplant_collector_dead_letters_total", 0),
        "cpu_us_per_trade": cpu_used / max(collector.trades, 1) * 1e6,
    }


def bench_simulator(options: CollectorBenchOptions, workdir: Path) -> dict[str, Any]:
    """How fast the simulator sends when the client does nothing but count: the ceiling it puts on
    the collector's figure at this frame size."""
    simulator = _SimulatorProcess(options.rate, options.frame_trades, workdir)
    trades = frames = 0
    try:
        ws = websocket.create_connection(simulator.url, timeout=10, skip_utf8_validation=True)
        for symbol in SYMBOLS:
            ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
        started = time.monotonic()
        while time.monotonic() - started < options.duration:
            data = ws.recv_data()[1]
            frames += 1
            trades += data.count(b'"s":')
        elapsed = time.monotonic() - started
        ws.close()
    finally:
        simulator.stop()
    return {"trades": trades, "frames": frames, "trades_per_s": trades / elapsed, "frames_per_s": frames / elapsed}


def bench_usual(settings: Settings, options: CollectorBenchOptions, workdir: Path) -> dict[str, Any]:
    """What most Finnhub->Kafka projects do: avro.io.DatumWriter per message, default producer."""
    import avro.io
    import avro.schema
    from kafka import KafkaProducer

    schema = avro.schema.parse(trade_schema_json())
    writer = avro.io.DatumWriter(schema)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers)
    simulator = _SimulatorProcess(options.rate, options.frame_trades, workdir)
    trades = messages = 0
    started, cpu_started = time.monotonic(), time.process_time()
    try:
        ws = websocket.create_connection(simulator.url, timeout=10)
        for symbol in SYMBOLS:
            ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
        while time.monotonic() - started < options.baseline_duration:
            message = json.loads(ws.recv())
            if message.get("type") != "trade":
                continue
            buffer = io.BytesIO()
            writer.write(message, avro.io.BinaryEncoder(buffer))
            producer.send(settings.kafka.topic, buffer.getvalue())
            trades += len(message["data"])
            messages += 1
        ws.close()
    finally:
        simulator.stop()
    producer.flush(120)
    elapsed, cpu_used = time.monotonic() - started, time.process_time() - cpu_started
    producer.close()
    return {"trades": trades, "messages": messages, "trades_per_s": trades / elapsed,
            "window_trades_per_s": trades / options.baseline_duration,
            "cpu_us_per_trade": cpu_used / max(trades, 1) * 1e6}


def run(settings: Settings, args: argparse.Namespace) -> int:
    return measure(settings, CollectorBenchOptions.from_args(args))


def measure(settings: Settings, options: CollectorBenchOptions) -> int:
    topic = f"bench-collector-{uuid.uuid4().hex[:8]}"
    settings = settings.replace(kafka_topic=topic)
    kafka_clients.ensure_topics(settings)
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "topic": topic,
                               "duration_s": options.duration, "simulator_rate": options.rate,
                               "frame_trades": options.frame_trades, "load_average_before": os.getloadavg()}
    if options.simulator_only:
        with tempfile.TemporaryDirectory(prefix="tickplant-bench-") as tmp:
            alone = results["simulator"] = bench_simulator(options, Path(tmp))
        print(f"simulator alone, up to {options.frame_trades} trades/frame: {alone['trades_per_s']:,.0f} trades/s, "
              f"{alone['frames_per_s']:,.0f} frames/s ({alone['trades']:,} trades in {options.duration:.0f} s); "
              f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if options.json:
            options.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="tickplant-bench-") as tmp:
            workdir = Path(tmp)
            results["tickplant"] = bench_tickplant(settings, options, workdir)
            if options.baseline_duration > 0:
                results["usual"] = bench_usual(settings, options, workdir)
                results["ratio"] = results["tickplant"]["trades_per_s"] / max(results["usual"]["trades_per_s"], 1e-9)
    finally:
        kafka_clients.delete_topics(settings, [topic, settings.kafka.dead_letter_topic])
    mine = results["tickplant"]
    print(f"machine: {results['machine']}, topic {topic}")
    print(f"tickplant collector: {mine['trades_per_s']:,.0f} trades/s sustained to Kafka acks "
          f"({mine['trades']:,} trades, {mine['records']:,} records, {options.duration:.0f} s; "
          f"received {mine['received_trades_per_s']:,.0f} trades/s); "
          f"latency receive->ack p50 {mine['latency_p50_ms']:.1f} ms, p99 {mine['latency_p99_ms']:.1f} ms; "
          f"spooled {mine['spooled_records']:,} records; {mine['cpu_us_per_trade']:.1f} CPU-us/trade; "
          f"{mine['window_trades_per_s']:,.0f} trades/s read while the simulator streamed")
    if "usual" in results:
        usual = results["usual"]
        print(f"usual approach (avro DatumWriter + KafkaProducer.send per message): "
              f"{usual['trades_per_s']:,.0f} trades/s ({usual['trades']:,} trades); "
              f"{usual['cpu_us_per_trade']:.1f} CPU-us/trade; "
              f"{usual['window_trades_per_s']:,.0f} trades/s in its window")
        results["cpu_ratio"] = usual["cpu_us_per_trade"] / max(mine["cpu_us_per_trade"], 1e-9)
        print(f"ratio: {results['ratio']:.1f}x trades/s, {results['cpu_ratio']:.1f}x less CPU per trade")
    results["load_average_after"] = os.getloadavg()
    print(f"load average before {' '.join(f'{v:.2f}' for v in results['load_average_before'])}, "
          f"after {' '.join(f'{v:.2f}' for v in results['load_average_after'])}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0
