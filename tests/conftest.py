"""Shared fixtures: the real local services (started once per session through the same code as
`tickplant services start`) and per-test isolated topics and keyspaces.

Tiers are pytest markers given by folder: tests/unit -> unit, tests/integration -> integration, ...
Under CI=true a service that cannot start fails the run; elsewhere the tests that need it skip.
"""

from __future__ import annotations

import fcntl
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
# Every JVM of the suite lives seconds to minutes: C2 compilation (30-57 % of a young JVM's CPU) costs
# more than it returns in that time, and so do G1's concurrent threads for a test's Spark driver
# (a Spark run ~40 % less CPU, a Trino start ~45 %: BENCHMARKS.md, issue 18).
os.environ.setdefault("TICKPLANT_JVM_OPTIONS", "-XX:TieredStopAtLevel=1")
os.environ.setdefault("TICKPLANT_SPARK_JVM_OPTIONS", "-XX:+UseSerialGC")

TIERS = ("unit", "integration", "e2e", "browser", "cluster")


# Under pytest-xdist (`make test` runs the server tiers on two workers) a worker takes whole units:
# the tests of one file, or of one server package (tests/integration/sql, tests/integration/secured),
# so that a module's or a package's private servers start once. xdist's own `--dist loadgroup` cannot
# express this with pytest 9 (it renames node ids through an attribute pytest 9 no longer reads), so
# the units come from xdist's scheduler hook.
SERVER_PACKAGES = ("sql", "secured")


def work_unit_of(nodeid: str) -> str:
    """The work unit of a test: its server package, or else its file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "integration" and parts[2] in SERVER_PACKAGES:
        return parts[2]
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False   # keep the collection's order (LONG_UNITS first)

    class ServerUnitScheduling(LoadScopeScheduling):
        """LoadScopeScheduling over `work_unit_of` units, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit_of(nodeid)

    return ServerUnitScheduling(config, log)


# The longest units first, so that two workers end together (longest-processing-time order): seconds
# per unit in a clean-clone run of this stop (`tickplant bench suite`); the SQL package after the
# first few, by when `make install-sql`, started after the unit tier, is done. Others keep their order.
LONG_UNITS = ("tests/integration/gbm_analysis/test_job.py", "tests/cluster/test_spark_cluster.py",
              "tests/e2e/test_gbm_e2e.py", "tests/e2e/test_up_sql.py",
              "tests/integration/stream_processor/test_pipeline.py",
              "tests/integration/collector/test_write_ahead.py",
              "secured", "sql", "tests/e2e/test_up.py", "tests/browser/test_first_start.py",
              "tests/integration/gbm_analysis/test_real_data.py",
              "tests/integration/stream_processor/test_exactness.py",
              "tests/integration/gbm_analysis/test_latest_forecasts.py",
              "tests/integration/gbm_analysis/test_loop.py", "tests/integration/dashboard/test_pages.py",
              "tests/integration/stream_processor/test_empty_batches.py", "tests/browser/test_dashboard_browser.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {unit: n for n, unit in enumerate(LONG_UNITS)}
    items.sort(key=lambda item: rank.get(work_unit_of(item.nodeid), len(LONG_UNITS)))   # stable
    for item in items:
        relative = Path(str(item.fspath)).relative_to(config.rootpath)
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue   # a module of a server's own package names its tier (pytestmark)
        for tier in TIERS:
            if tier in relative.parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


def _started_marker(settings: Settings) -> Path:
    return settings.runtime.home / "run" / "test-services.started-by"


@pytest.fixture(scope="session")
def services(base_settings: Settings, request: pytest.FixtureRequest):
    """Kafka and Cassandra up for the whole session; stopped at the end if this session started them.
    Under xdist the first worker starts them (the others wait on a lock, then find them up) and the
    controller stops them once every worker is done (`pytest_sessionfinish`)."""
    from tickplant.runtime import stack as runtime

    worker = getattr(request.config, "workerinput", None)
    lock_path = base_settings.runtime.home / "run" / "test-services.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        already_up = all(s.state in ("up", "external-up") for s in runtime.status_all(base_settings))
        try:
            runtime.start_all(base_settings)
        except TickplantError as exc:
            service_unavailable(f"the local services could not start: {exc}")
        if worker is not None and not already_up:
            _started_marker(base_settings).write_text(str(os.getppid()), encoding="utf-8")
    yield base_settings
    close_shared_sessions()
    if worker is None and not already_up and not os.environ.get("TICKPLANT_KEEP_SERVICES"):
        runtime.stop_all(base_settings)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller stops the shared services a worker of this run started."""
    if hasattr(session.config, "workerinput"):
        return
    settings = Settings.from_env()
    marker = _started_marker(settings)
    try:
        started_by = int(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if started_by == os.getpid():
        marker.unlink()
        if not os.environ.get("TICKPLANT_KEEP_SERVICES"):
            from tickplant.runtime import stack as runtime

            runtime.stop_all(settings)


@pytest.fixture
def isolated(services: Settings) -> Settings:
    """Settings with a topic and keyspace of this test's own, created and migrated."""
    with own_topic_and_keyspace(services) as settings:
        yield settings


@pytest.fixture
def cassandra_session(isolated: Settings):
    session = cassandra_db.connect(isolated, keyspace=isolated.cassandra.keyspace)
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
