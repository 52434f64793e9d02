"""`tickplant bench collector|e2e`: benchmarks (see BENCHMARKS.md). Each benchmark module in
`benchmarks/` provides `add_arguments(parser)` and `run(settings, args) -> int`."""

from __future__ import annotations

import argparse
import importlib

from core.config import Settings

BENCHMARKS = {
    "collector": ("benchmarks.collector_bench", "simulator at full speed -> collector -> Kafka"),
    "e2e": ("benchmarks.e2e_bench", "simulator -> collector -> Kafka -> Spark -> Cassandra"),
    "dashboard": ("benchmarks.dashboard_bench", "1M trades stored, each dashboard page timed in Chromium"),
    "gbm": ("benchmarks.gbm_bench", "GBM job: 50 symbols x 10,000 paths x 720 steps vs a bare numpy loop"),
}


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks (results in BENCHMARKS.md)")
    which = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module_name, summary) in BENCHMARKS.items():
        parser = which.add_parser(name, help=summary)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            parser.set_defaults(handler=_missing(name))
            continue
        module.add_arguments(parser)
        parser.set_defaults(handler=module.run)


def _missing(name: str):
    def handler(settings: Settings, args: argparse.Namespace) -> int:
        print(f"benchmark {name!r} is not available in this build")
        return 2
    return handler
