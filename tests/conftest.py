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
from tests.helpers import own_topic_and_keyspace, service_unavailable
from tests.helpers_collector import simulated_feed

pytest_plugins = ["tests.helpers_sql"]   # the SQL engine / Superset fixtures

TIERS = ("unit", "integration", "e2e", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
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


@pytest.fixture(scope="session")
def secured_services(tmp_path_factory: pytest.TempPathFactory):
    """A private Kafka (SASL_SSL listener) + Cassandra (PasswordAuthenticator, client TLS) pair with a
    throw-away CA, on free ports, started once for the session and stopped at its end."""
    from tests.helpers_secured import SecuredPair, make_pki, secured_env, settings_of
    from tickplant import services as runtime

    root = tmp_path_factory.mktemp("secured")
    pki = make_pki(root / "pki")
    env = secured_env(root / "var", pki)
    settings = settings_of(env)
    try:
        runtime.start_all(settings)
    except TickplantError as exc:
        runtime.stop_all(settings)
        service_unavailable(f"the secured services could not start: {exc}")
    yield SecuredPair(settings, env, pki, root)
    runtime.stop_all(settings)


@pytest.fixture
def secured_isolated(secured_services):
    """Settings of the secured pair with a topic and keyspace of this test's own."""

    with own_topic_and_keyspace(secured_services.settings) as settings:
        yield settings
