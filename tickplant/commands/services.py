"""`tickplant services start|stop|status` and `tickplant up`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from core.arguments import non_negative_float, port, positive_float
from gbm_analysis.options import format_duration, parse_duration

if TYPE_CHECKING:
    from core.config import Settings
    from tickplant.runtime.base import ServiceStatus
    from tickplant.runtime.sql_options import SqlOptions
    from tickplant.runtime.supervisor import Child


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
        sub.add_argument("--sql", action="store_true",
                         help="also the SQL engine (Trino, Presto lineage; not when PRESTO_URL is remote) and Superset")
        sub.add_argument("--nodes", type=int, choices=(1, 3), default=1,
                         help="3: the local rehearsal cluster: three Kafka nodes (one KRaft quorum, topics "
                              "replicated 3 times) and three Cassandra nodes (keyspace RF 3) on 127.0.0.1-3 "
                              "instead of one each, and a Spark standalone master with two one-core workers "
                              "(default 1)")

    status_all = commands.add_parser("status", help="health of every part: offsets, lag, rows, last batch")
    status_all.add_argument("--json", action="store_true", help="machine-readable output")
    status_all.set_defaults(handler=status_command)

    up = commands.add_parser("up", help="the whole pipeline: services, schema, simulator or Finnhub, "
                                        "collector, stream processor")
    up.add_argument("--rate", type=positive_float, default=200,
                    help="simulator trades/s when no token is set (default 200)")
    up.add_argument("--no-stream", action="store_true", help="do not start the Spark stream processor")
    up.add_argument("--nodes", type=int, choices=(1, 3), default=1,
                    help="3: on the local rehearsal cluster (services start --nodes 3), the stream and GBM jobs "
                         "on its Spark standalone master unless SPARK_MASTER names another (default 1)")
    up.add_argument("--keep-services", action="store_true", help="leave Kafka and Cassandra running on exit")
    up.add_argument("--sql", action="store_true", help="also the SQL engine (Trino) and Superset on 8080/8088")
    up.add_argument("--duration", type=non_negative_float, default=0,
                    help="stop by itself after N seconds (0: run until Ctrl-C)")
    up.add_argument("--gbm-every", type=parse_duration, default="1h",
                    help="a GBM run every interval once 30 one-minute bars exist (default 1h); before that, "
                         "on a fresh start, runs on 5 s windows every 10 min")
    up.add_argument("--no-gbm", action="store_true", help="do not run the hourly GBM forecast")
    up.add_argument("--no-dashboard", action="store_true", help="do not serve the Streamlit dashboard")
    up.add_argument("--no-sample-history", action="store_true",
                    help="do not import the sample daily series (S&P 500 from the arch package, symbol "
                         "SAMPLE:SP500) on the first start")
    up.add_argument("--dashboard-port", type=port, default=None,
                    help="dashboard port (default TICKPLANT_DASHBOARD_PORT, 8501)")
    up.set_defaults(handler=up_command)


def _print_table(statuses: list[ServiceStatus]) -> None:
    width = max([10, *(len(s.name) for s in statuses)])   # spark-worker-1 of `--nodes 3` is longer
    for s in statuses:
        where = "local" if s.managed else "external"
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"  {s.name:<{width}} {s.state:<14} {s.address:<22} {where:<9} {pid:<10} {s.version or ''}")


def _sql_options(settings: Settings, args: argparse.Namespace) -> SqlOptions | None:
    """The SQL engine / Superset options when --sql was given, else None (read before anything starts)."""
    if not getattr(args, "sql", False):
        return None
    return settings.sql


def _show(line: str) -> None:
    """One start-up line for the user (a service up, with its time), as it happens."""
    print(f"  {line}", flush=True)


def _start_sql(settings: Settings, options: SqlOptions) -> list[ServiceStatus]:
    from tickplant.runtime.stack import start_sql

    return start_sql(settings, options, show=_show)


def services_start(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant.runtime import stack

    sql = _sql_options(settings, args)
    print("starting the services ...", flush=True)
    statuses = stack.start_all(settings, show=_show, nodes=args.nodes)
    if sql is not None:
        statuses += _start_sql(settings, sql)
    print("services up; topics and migrations applied:")
    _print_table(statuses)
    return 0


def services_stop(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant.runtime import stack

    sql = _sql_options(settings, args)
    results: dict[str, bool] = {}
    if sql is not None:
        from tickplant.runtime.stack import stop_sql

        results.update(stop_sql(settings, sql))
    results.update(stack.stop_all(settings, nodes=args.nodes))
    for name, clean in results.items():
        print(f"  {name:<10} {'stopped' if clean else 'killed after timeout'}")
    return 0 if all(results.values()) else 1


def services_status(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant.runtime import stack

    sql = _sql_options(settings, args)
    statuses = stack.status_all(settings, nodes=args.nodes)
    if sql is not None:
        from tickplant.runtime.stack import status_sql

        statuses += status_sql(settings, sql)
    if args.json:
        print(json.dumps({"services": [s.as_dict() for s in statuses]}, indent=2))
    else:
        _print_table(statuses)
    for refused in (s for s in statuses if s.error):
        print(f"tickplant: error: {refused.error}", file=sys.stderr)
    return 0 if all(s.state in ("up", "external-up") for s in statuses) else 3


UP_ARCHIVE_RETENTION_HOURS = 168.0
UP_ARCHIVE_RETENTION_BYTES = 10 * 1024**3


def pipeline_children(settings: Settings, args: argparse.Namespace) -> list[Child]:
    """The long-running parts `tickplant up` supervises, in stop order (sources first)."""
    from tickplant.runtime.supervisor import Child

    children = []
    if settings.feed.finnhub_api_token is None:
        children.append(Child("simulator", ["simulate", "--rate", str(args.rate),
                                            "--port", str(settings.runtime.simulator_port)], stop_timeout_s=15))
        collect = ["collect", "--url", simulator_url(settings)]
    else:
        collect = ["collect"]
    collect += ["--metrics-port", str(settings.runtime.metrics_port)]
    # the archive grows without end otherwise: `up` bounds it unless the variables say otherwise
    feed = settings.feed
    hours = UP_ARCHIVE_RETENTION_HOURS if feed.archive_retention_hours is None else feed.archive_retention_hours
    size = UP_ARCHIVE_RETENTION_BYTES if feed.archive_retention_bytes is None else feed.archive_retention_bytes
    collect += ["--archive", str(settings.runtime.home / "archive"), "--archive-retention-hours", f"{hours:g}",
                "--archive-retention-bytes", str(size)]
    children.insert(0, Child("collector", collect, stop_timeout_s=90))
    spark = _cluster_spark_env(settings, args)
    if not args.no_stream:
        children.append(Child("stream", ["stream"], stop_timeout_s=120, env=spark))
    if not getattr(args, "no_gbm", False):
        every = format_duration(getattr(args, "gbm_every", 3600.0))
        children.append(Child("gbm", ["gbm", "--every", every, "--wait-for-bars"], stop_timeout_s=30, env=spark))
    if not getattr(args, "no_dashboard", False):
        children.append(Child("dashboard", ["dashboard", "--port", str(_dashboard_port(settings, args))],
                              stop_timeout_s=15))
    return children


def _cluster_spark_env(settings: Settings, args: argparse.Namespace) -> dict[str, str]:
    """`up --nodes 3`: the Spark jobs' SPARK_MASTER, the rehearsal's master (unless a spark:// one is set)."""
    if getattr(args, "nodes", 1) != 3 or settings.spark.master.startswith("spark://"):
        return {}
    return {"SPARK_MASTER": f"spark://127.0.0.1:{settings.spark.master_port}"}


def _import_sample_history(settings: Settings) -> None:
    """The History page's first content: a real daily series, imported once (a failure is a line, not the
    end of `up`: the pipeline does not need it)."""
    from core import cassandra as cassandra_db
    from gbm_analysis.history import SAMPLE_SYMBOL, import_sample_history

    started = time.monotonic()
    try:
        session = cassandra_db.connect(settings)
        try:
            result = import_sample_history(session, settings.cassandra.keyspace)
        finally:
            cassandra_db.close(session)
    except Exception as exc:  # noqa: BLE001 - reported, and `up` goes on without the sample
        _show(f"{'history':<10} sample not imported: {str(exc).splitlines()[0][:200]}")
        return
    if result is not None:
        _show(f"{'history':<10} imported in {time.monotonic() - started:4.1f} s {result.rows_written:,} daily bars "
              f"of {SAMPLE_SYMBOL} ({result.first_date} to {result.last_date}, S&P 500 from the arch package)")


def simulator_url(settings: Settings) -> str:
    return f"ws://127.0.0.1:{settings.runtime.simulator_port}"


def _dashboard_port(settings: Settings, args: argparse.Namespace) -> int:
    return args.dashboard_port or settings.runtime.dashboard_port


def up_command(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant.runtime import stack
    from tickplant.runtime.supervisor import Supervisor

    nodes = getattr(args, "nodes", 1)
    before = {s.name: s.state for s in stack.status_all(settings, nodes)}
    sql = _sql_options(settings, args)
    sql_services = []
    if sql is not None:

        sql_services = stack.sql_services(settings, sql)
        before.update({s.name: s.status().state for s in sql_services})
    print("starting ...", flush=True)
    stack.start_all(settings, show=_show, nodes=nodes)
    if sql is not None:
        _start_sql(settings, sql)
    if not args.no_sample_history:
        _import_sample_history(settings)
    children = pipeline_children(settings, args)
    supervisor = Supervisor(settings.runtime.home, children)
    supervisor.install_signal_handlers()
    supervisor.start()
    _show(f"{'pipeline':<10} started    {', '.join(child.name for child in children)}")
    feed = ("Finnhub (FINNHUB_API_TOKEN is set)" if settings.feed.finnhub_api_token
            else f"simulator  {simulator_url(settings)}")
    print("tickplant is up:")
    print(f"  feed           {feed}")
    print(f"  kafka topics   {settings.kafka.topic}, {settings.kafka.dead_letter_topic}")
    print(f"  cassandra      keyspace {settings.cassandra.keyspace} (cqlsh-compatible on "
          f"{settings.cassandra.hosts[0]}:{settings.cassandra.port})")
    print(f"  logs           {settings.runtime.home / 'logs'}")
    print("  health         tickplant status")
    if sql is not None:
        print(f"  sql engine     {sql.presto_url} (catalog cassandra, schema {settings.cassandra.keyspace})")
    print(f"  collector      metrics http://127.0.0.1:{settings.runtime.metrics_port}/metrics")
    if sql is not None:
        print(f"  superset       http://127.0.0.1:{sql.superset_port}/superset/dashboard/market-overview/ "
              f"(user {sql.superset_admin_username})")
    if not getattr(args, "no_dashboard", False):
        print(f"  dashboard      http://127.0.0.1:{_dashboard_port(settings, args)}")
    print("Ctrl-C stops everything cleanly.", flush=True)
    try:
        supervisor.watch(until=time.monotonic() + args.duration if args.duration else None)
    finally:
        print("stopping ...", flush=True)
        supervisor.stop()
        # only what was not running at all: a shared server that was merely slow to answer is not ours
        started_here = [name for name, state in before.items() if state == "down"]
        if started_here and not args.keep_services:
            stack.stop_services([service for service in [*reversed(sql_services),
                                                         *reversed(stack.all_services(settings, nodes))]
                                 if service.name in started_here])
        print("stopped.")
    return 0


def status_command(settings: Settings, args: argparse.Namespace) -> int:
    from tickplant import health
    from tickplant.runtime.base import ServiceStatus

    report = health.collect(settings)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("services:")
    _print_table([ServiceStatus(**s) for s in report["services"]])
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
