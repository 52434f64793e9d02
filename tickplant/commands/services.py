"""`tickplant services start|stop|status` and `tickplant up`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from core.arguments import non_negative_float, positive_float

if TYPE_CHECKING:
    from core.config import Settings
    from tickplant import services as runtime
    from tickplant.supervisor import Child


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

    status_all = commands.add_parser("status", help="health of every part: offsets, lag, rows, last batch")
    status_all.add_argument("--json", action="store_true", help="machine-readable output")
    status_all.set_defaults(handler=status_command)

    up = commands.add_parser("up", help="the whole pipeline: services, schema, simulator or Finnhub, "
                                        "collector, stream processor")
    up.add_argument("--rate", type=positive_float, default=200,
                    help="simulator trades/s when no token is set (default 200)")
    up.add_argument("--no-stream", action="store_true", help="do not start the Spark stream processor")
    up.add_argument("--keep-services", action="store_true", help="leave Kafka and Cassandra running on exit")
    up.add_argument("--duration", type=non_negative_float, default=0,
                    help="stop by itself after N seconds (0: run until Ctrl-C)")
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
    from tickplant import services as runtime

    _sql_unavailable(args)
    statuses = runtime.start_all(settings)
    print("services up; topics and migrations applied:")
    _print_table(statuses)
    return 0


def services_stop(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant import services as runtime

    _sql_unavailable(args)
    results = runtime.stop_all(settings)
    for name, clean in results.items():
        print(f"  {name:<10} {'stopped' if clean else 'killed after timeout'}")
    return 0 if all(results.values()) else 1


def services_status(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant import services as runtime

    statuses = runtime.status_all(settings)
    if args.json:
        print(json.dumps({"services": [s.as_dict() for s in statuses]}, indent=2))
    else:
        _print_table(statuses)
    for refused in (s for s in statuses if s.error):
        print(f"tickplant: error: {refused.error}", file=sys.stderr)
    return 0 if all(s.state in ("up", "external-up") for s in statuses) else 3


def simulator_url(settings: Settings) -> str:
    return f"ws://127.0.0.1:{settings.simulator_port}"


def pipeline_children(settings: Settings, args: argparse.Namespace) -> list[Child]:
    """The long-running parts `tickplant up` supervises, in stop order (sources first)."""
    from tickplant.supervisor import Child

    children = []
    if settings.finnhub_api_token is None:
        children.append(Child("simulator", ["simulate", "--rate", str(args.rate),
                                            "--port", str(settings.simulator_port)], stop_timeout_s=15))
        collect = ["collect", "--url", simulator_url(settings)]
    else:
        collect = ["collect"]
    collect += ["--metrics-port", str(settings.metrics_port)]
    children.insert(0, Child("collector", [*collect, "--archive", str(settings.home / "archive")],
                             stop_timeout_s=90))
    if not args.no_stream:
        children.append(Child("stream", ["stream"], stop_timeout_s=120))
    return children


def up_command(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant import services as runtime
    from tickplant.supervisor import Supervisor

    before = {s.name: s.state for s in runtime.status_all(settings)}
    statuses = runtime.start_all(settings)
    supervisor = Supervisor(settings.home, pipeline_children(settings, args))
    supervisor.install_signal_handlers()
    supervisor.start()
    feed = ("Finnhub (FINNHUB_API_TOKEN is set)" if settings.finnhub_api_token
            else f"simulator  {simulator_url(settings)}")
    print("tickplant is up:")
    _print_table(statuses)
    print(f"  feed           {feed}")
    print(f"  collector      metrics http://127.0.0.1:{settings.metrics_port}/metrics")
    print(f"  kafka topics   {settings.kafka_topic}, {settings.dead_letter_topic}")
    print(f"  cassandra      keyspace {settings.cassandra_keyspace} (cqlsh-compatible on "
          f"{settings.cassandra_hosts[0]}:{settings.cassandra_port})")
    print(f"  logs           {settings.home / 'logs'}")
    print("  health         tickplant status")
    print("Ctrl-C stops everything cleanly.", flush=True)
    try:
        supervisor.watch(until=time.monotonic() + args.duration if args.duration else None)
    finally:
        print("stopping ...", flush=True)
        supervisor.stop()
        started_here = [name for name, state in before.items() if state != "up"]
        if started_here and not args.keep_services:
            for service in reversed(runtime.all_services(settings)):
                if service.name in started_here:
                    service.stop()
        print("stopped.")
    return 0


def status_command(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant import health
    from tickplant import services as runtime

    report = health.collect(settings)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("services:")
    _print_table([runtime.ServiceStatus(**s) for s in report["services"]])
    kafka = report["kafka"]
    print("kafka:")
    if "error" in kafka:
        print(f"  error: {kafka['error']}")
    for topic, info in kafka.items() if "error" not in kafka else ():
        print(f"  {topic:<24} {info['records']:>12,} records in {len(info['partitions'])} partitions")
    stream = report["stream"]
    print("stream processor:")
    if "error" in stream:
        print(f"  {stream['error']}")
    for query in stream.get("queries", []):
        lag = "?" if query.get("lag") is None else f"{query['lag']:,}"
        print(f"  {query['query']:<16} batch {query.get('committed_batch')}  lag {lag}  "
              f"last batch {query.get('last_batch_time') or '-'}"
              + (f"  ({query['error']})" if query.get("error") else ""))
    cassandra = report["cassandra"]
    print(f"cassandra (rows in today's partitions, {cassandra.get('day', '')}):")
    if "error" in cassandra:
        print(f"  error: {cassandra['error']}")
    for table, value in cassandra.get("rows", {}).items():
        if table == "latest_prices":
            known = {s: v["price"] for s, v in value.items() if v}
            print(f"  {table:<16} {len(known)} symbols  {known}")
        else:
            print(f"  {table:<16} {value:,}")
    return 0
