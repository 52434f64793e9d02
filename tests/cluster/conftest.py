"""The rehearsal cluster's Spark (a standalone master and two one-core workers, as `tickplant services
start --nodes 3` runs them) up for the `cluster` tier, beside the shared Kafka and Cassandra; stopped
at the end by the session that started it. Under CI=true a cluster that cannot start fails the run."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import TickplantError
from tests.helpers import service_unavailable


@pytest.fixture(scope="session")
def spark_cluster(services: Settings):
    """The shared services' settings once the Spark master and both workers are up."""
    from tickplant.runtime.spark import spark_cluster as spark_nodes

    nodes = spark_nodes(services)
    started = [node for node in nodes if node.status().state != "up"]
    try:
        for node in nodes:
            node.start()
    except TickplantError as exc:
        for node in reversed(started):
            node.stop()
        service_unavailable(f"the Spark standalone cluster could not start: {exc}")
    yield services
    for node in reversed(started):
        node.stop()
