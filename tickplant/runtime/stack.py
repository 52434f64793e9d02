"""The whole local stack composed from its services: Kafka and Cassandra with their topics and
migrations (`start_all`/`stop_all`/`status_all`), and with `--sql` the engine and Superset
(`start_sql`/`stop_sql`/`status_sql`), and with `--nodes 3` the rehearsal cluster (`cluster_services`).
Adding a service is its module plus one line here."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings
from core.logging import get_logger
from tickplant.runtime.base import LocalService, ServiceStatus, Show
from tickplant.runtime.cassandra import CassandraService, cassandra_cluster, cluster_settings
from tickplant.runtime.kafka import KafkaService, ensure_cluster_topics, kafka_cluster
from tickplant.runtime.spark import spark_cluster
from tickplant.runtime.sql_options import SqlOptions
from tickplant.runtime.superset import SupersetService
from tickplant.runtime.trino import TrinoService

log = get_logger(__name__)


CLUSTER_NODES = 3   # `--nodes 3`: the rehearsal cluster (issue 21); 1: the single-node stack


def cluster_services(settings: Settings) -> list[LocalService]:
    """What `--nodes 3` runs instead of the single Kafka and Cassandra, in start order: three Kafka
    nodes (127.0.0.1-3, one KRaft quorum), three Cassandra nodes (127.0.0.1-3), the Spark standalone
    master and its two workers."""
    return [*kafka_cluster(settings), *cassandra_cluster(settings), *spark_cluster(settings)]


def all_services(settings: Settings, nodes: int = 1) -> list[LocalService]:
    if nodes == CLUSTER_NODES:
        return cluster_services(settings)
    return [KafkaService(settings), CassandraService(settings)]


def start_all(settings: Settings, show: Show | None = None, nodes: int = 1) -> list[ServiceStatus]:
    """Start (or reach) Kafka and Cassandra (with `nodes=3`, the rehearsal cluster's nodes instead), then
    create topics and apply migrations; `show` gets one line per service when it is up and one for the schema."""
    services = all_services(settings, nodes)
    if nodes == CLUSTER_NODES:
        # a KRaft node answers only once a quorum of voters runs: the three are launched together
        kafka_nodes = [service for service in services if isinstance(service, KafkaService)]
        launched = [node.launch(show) for node in kafka_nodes]
        statuses = [node.finish_start(process, show) for node, process in zip(kafka_nodes, launched, strict=True)]
        statuses += [service.start(show) for service in services if service not in kafka_nodes]
    else:
        statuses = [service.start(show) for service in services]
    started = time.monotonic()
    if nodes == CLUSTER_NODES:
        settings = cluster_settings(settings)
        created = ensure_cluster_topics(settings)
        kafka_clients.ensure_topics(settings)   # their config, as for the single broker
    else:
        created = kafka_clients.ensure_topics(settings)
    session = cassandra_db.connect(settings, timeout_s=settings.runtime.service_timeout_s)
    try:
        applied = cassandra_db.apply_migrations(session, settings)
    finally:
        cassandra_db.close(session)
    topics = f"topics created: {', '.join(created)}" if created else "topics present"
    migrations = f"{len(applied)} migration(s) applied" if applied else "migrations up to date"
    line = f"{'schema':<10} ready in {time.monotonic() - started:5.1f} s {topics}; {migrations}"
    (show or (lambda text: log.info(text)))(line)
    return statuses


def stop_all(settings: Settings, nodes: int = 1) -> dict[str, bool]:
    # Spark's workers before their master; Cassandra first of the rest: its drain must not wait on
    # anything, Kafka's controlled shutdown neither.
    return stop_services(list(reversed(all_services(settings, nodes))))


def stop_services(services: list[LocalService]) -> dict[str, bool]:
    """Stop `services` in list order, except the rehearsal's Kafka nodes, which stop together at the end:
    one left alone has lost its quorum and would wait for a controller to accept its controlled shutdown."""
    kafka_nodes = [s for s in services if isinstance(s, KafkaService) and s.node is not None]
    results = {service.name: service.stop() for service in services if service not in kafka_nodes}
    if kafka_nodes:
        with ThreadPoolExecutor(len(kafka_nodes)) as pool:
            results.update(zip([n.name for n in kafka_nodes], pool.map(lambda n: n.stop(), kafka_nodes), strict=True))
    return results


def status_all(settings: Settings, nodes: int = 1) -> list[ServiceStatus]:
    return [service.status() for service in all_services(settings, nodes)]


def sql_services(settings: Settings, options: SqlOptions | None = None) -> list[LocalService]:
    options = options or settings.sql
    return [TrinoService(settings, options), SupersetService(settings, options)]


def start_sql(settings: Settings, options: SqlOptions | None = None, show: Show | None = None) -> list[ServiceStatus]:
    """Start (or reach) the engine, then Superset with its provisioned content. A generated admin
    password is handed to `show` once, at creation (it is never logged)."""
    statuses = []
    for service in sql_services(settings, options):
        statuses.append(service.start(show))
        generated = getattr(service, "new_admin_password", None)
        if generated is not None and show is not None:
            show(f"Superset admin password (generated once, shown only now; kept owner-only in "
                 f"{service.password_file}): {generated.get_secret_value()}")
    return statuses


def stop_sql(settings: Settings, options: SqlOptions | None = None) -> dict[str, bool]:
    return {service.name: service.stop() for service in reversed(sql_services(settings, options))}


def status_sql(settings: Settings, options: SqlOptions | None = None) -> list[ServiceStatus]:
    return [service.status() for service in sql_services(settings, options)]


def status_sql_if_used(settings: Settings) -> list[ServiceStatus]:
    """The SQL services' status for `tickplant status`, once `--sql` was ever used or PRESTO_URL is set."""
    options = settings.sql
    home = settings.runtime.home
    if not (options.presto_external or (home / "trino").exists() or (home / "superset").exists()):
        return []
    return status_sql(settings, options)
