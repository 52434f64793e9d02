"""`tickplant stream`: the Structured Streaming job of stream_processor (Kafka -> Cassandra)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from stream_processor.options import StreamOptions, add_arguments

if TYPE_CHECKING:
    from core.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    stream = commands.add_parser("stream", help="the stream processor: Kafka -> Spark -> Cassandra")
    add_arguments(stream)
    stream.set_defaults(handler=stream_command)


def stream_command(settings: Settings, args: argparse.Namespace) -> int:
    from stream_processor import job  # imports pyspark: only when the command runs

    return job.run(settings, StreamOptions.from_args(args))
