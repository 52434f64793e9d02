"""Subcommand families; each module has `register(subparsers)` and sets `handler(settings, args)`."""

from tickplant.commands import bench, collector, services, stream

COMMAND_MODULES = [services, collector, stream, bench]
