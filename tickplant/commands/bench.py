"""`tickplant bench NAME [flags]`: benchmarks (see BENCHMARKS.md). Each benchmark module in
`benchmarks/` provides `add_arguments(parser)` and `run(settings, args) -> int`; it is imported
only when its benchmark runs, and its own flags are parsed (and refused) before anything starts."""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING

from tickplant.parsing import OneLineParser

if TYPE_CHECKING:
    from core.config import Settings

BENCHMARKS = {
    "collector": ("benchmarks.collector_bench", "simulator at full speed -> collector -> Kafka"),
    "e2e": ("benchmarks.e2e_bench", "simulator -> collector -> Kafka -> Spark -> Cassandra"),
    "cassandra": ("benchmarks.cassandra_bench", "Cassandra's own ceiling: trades rows/s from client processes"),
    "floor": ("benchmarks.floor_bench", "stream job's CPU beside Spark's own floor (one decode-and-write query)"),
    "stream-drain": ("benchmarks.stream_drain_bench", "stream job alone on a backlog: wall time, CPU/trade"),
    "dashboard": ("benchmarks.dashboard_bench", "1M trades stored, each dashboard page timed in Chromium"),
    "gbm": ("benchmarks.gbm_bench", "GBM job: 50 symbols x 10,000 paths x 720 steps vs a bare numpy loop"),
    "suite": ("benchmarks.suite_bench", "the test suite's time per test file, from make test's JUnit XML"),
}


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks (results in BENCHMARKS.md)",
                                description="; ".join(f"{name}: {summary}" for name, (_, summary)
                                                      in BENCHMARKS.items()))
    bench.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark")
    bench.add_argument("flags", nargs=argparse.REMAINDER,
                       help="the benchmark's own flags (`tickplant bench NAME --help`)")
    bench.set_defaults(handler=bench_command)


def benchmark_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of benchmark `name` and its module."""
    module_name, summary = BENCHMARKS[name]
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"tickplant bench {name}", description=summary)
    module.add_arguments(parser)
    return parser, module


def bench_command(settings: Settings, args: argparse.Namespace) -> int:
    parser, module = benchmark_parser(args.benchmark)
    return module.run(settings, parser.parse_args(args.flags))
