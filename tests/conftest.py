"""Shared fixtures: the real local services (started once per session through the same code as
`tickplant services start`) and per-test isolated topics and keyspaces.

Tiers are pytest markers given by folder: tests/unit -> unit, tests/integration -> integration, ...
Under CI=true a service that cannot start fails the run; elsewhere the tests that need it skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.simulator import SimulatorConfig
from core import cassandra as cassandra_db
from core.config import Settings
from core.errors import TickplantError
from tests.helpers import close_shared_sessions, own_topic_and_keyspace, service_unavailable
from tests.helpers_collector import simulated_feed

pytest_plugins = ["tests.browser.fixtures"]   # chromium, browser, browser_page

# Cassandra's own test-only switches for every Cassandra the suite starts (shared or private): schema
# changes are not flushed to disk one by one, the system keyspace is not synced, nor is the commit log.
# A test creates and drops a keyspace of 17 statements; these make that ~3x faster (BENCHMARKS.md).
TEST_CASSANDRA_FLAGS = ("-Dcassandra.test.flush_local_schema_changes=false -Dcassandra.unsafesystem=true "
                        "-Dcassandra.skip_sync=true")
os.environ.setdefault("TICKPLANT_CASSANDRA_JVM_OPTIONS", TEST_CASSANDRA_FLAGS)

TIERS = ("unit", "integration", "e2e", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue   # a module of a server's own package names its tier (pytestmark)
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def services(base_settings: Settings):
    """Kafka and Cassandra up for the whole session; stopped at the end if this session started them."""
    from tickplant import services as runtime

    already_up = all(s.state in ("up", "external-up") for s in runtime.status_all(base_settings))
    try:
        runtime.start_all(base_settings)
    except TickplantError as exc:
        service_unavailable(f"the local services could not start: {exc}")
    yield base_settings
    close_shared_sessions()
    if not already_up and not os.environ.get("TICKPLANT_KEEP_SERVICES"):
        runtime.stop_all(base_settings)


@pytest.fixture
def isolated(services: Settings) -> Settings:
    """Settings with a topic and keyspace of this test's own, created and migrated."""
    with own_topic_and_keyspace(services) as settings:
        yield settings


@pytest.fixture
def cassandra_session(isolated: Settings):
    session = cassandra_db.connect(isolated, keyspace=isolated.cassandra_keyspace)
    yield session
    cassandra_db.close(session)


@pytest.fixture
def feed(request: pytest.FixtureRequest, tmp_path: Path):
    """`feed(SimulatorConfig(...), **collector_options)`: `simulated_feed` on this test's `isolated`
    settings (or `settings=...`, then no isolated topic is made) with its spool in tmp_path/"spool"."""
    def start(config: SimulatorConfig, settings: Settings | None = None, **collector_options):
        settings = settings if settings is not None else request.getfixturevalue("isolated")
        return simulated_feed(settings, config, tmp_path / "spool", **collector_options)
    return start
