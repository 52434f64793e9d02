"""`tickplant services start|stop|status` and `tickplant up`."""

from __future__ import annotations

import argparse
import json

from core.config import Settings
from tickplant import services as runtime


def register(commands: argparse._SubParsersAction) -> None:
    services = commands.add_parser("services", help="the local Kafka and Cassandra")
    actions = services.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start Kafka and Cassandra, create topics, apply migrations")
    start.set_defaults(handler=services_start)
    stop = actions.add_parser("stop", help="stop them cleanly (controlled shutdown, drain)")
    stop.set_defaults(handler=services_stop)
    status = actions.add_parser("status", help="up/down, pid, address, version")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=services_status)
    for sub in (start, stop, status):
        sub.add_argument("--sql", action="store_true", help="also Presto and Superset (not yet available)")

    up = commands.add_parser("up", help="the whole pipeline: services, schema, simulator or Finnhub, ...")
    up.set_defaults(handler=up_command)


def _print_table(statuses: list[runtime.ServiceStatus]) -> None:
    for s in statuses:
        where = "local" if s.managed else "external"
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"  {s.name:<10} {s.state:<14} {s.address:<22} {where:<9} {pid:<10} {s.version or ''}")


def _sql_unavailable(args: argparse.Namespace) -> None:
    if getattr(args, "sql", False):
        print("note: --sql (Presto, Superset) is not part of this release yet; ignoring it")


def services_start(settings: Settings, args: argparse.Namespace) -> int:
    _sql_unavailable(args)
    statuses = runtime.start_all(settings)
    print("services up; topics and migrations applied:")
    _print_table(statuses)
    return 0


def services_stop(settings: Settings, args: argparse.Namespace) -> int:
    _sql_unavailable(args)
    results = runtime.stop_all(settings)
    for name, clean in results.items():
        print(f"  {name:<10} {'stopped' if clean else 'killed after timeout'}")
    return 0 if all(results.values()) else 1


def services_status(settings: Settings, args: argparse.Namespace) -> int:
    statuses = runtime.status_all(settings)
    if args.json:
        print(json.dumps({"services": [s.as_dict() for s in statuses]}, indent=2))
    else:
        _print_table(statuses)
    return 0 if all(s.state in ("up", "external-up") for s in statuses) else 3


def up_command(settings: Settings, args: argparse.Namespace) -> int:
    statuses = runtime.start_all(settings)
    print("tickplant is up:")
    _print_table(statuses)
    print(f"  kafka topics   {settings.kafka_topic}, {settings.dead_letter_topic}")
    print(f"  cassandra      keyspace {settings.cassandra_keyspace}")
    print(f"  state          {settings.home}")
    print("stop everything with: tickplant services stop")
    return 0
