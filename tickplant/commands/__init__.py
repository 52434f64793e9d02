"""Subcommand families; each module has `register(subparsers)` and sets `handler(settings, args)`."""

from tickplant.commands import bench, collector, config, dashboard, export, gbm, history, package, services, stream

COMMAND_MODULES = [services, config, collector, stream, gbm, history, export, dashboard, bench, package]
