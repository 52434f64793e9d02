"""Small helpers shared by tests: private service settings on free ports, running the CLI."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from kafka import TopicPartition

from core import kafka as kafka_clients
from core.config import Settings
from core.net import free_port

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_unavailable(message: str) -> None:
    """A service a test needs cannot be had: fail under CI=true, skip elsewhere."""
    import pytest

    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def private_env(home: Path) -> dict[str, str]:
    """Variables for a Kafka + Cassandra pair of a test's own: own home, own free ports."""
    return {
        "TICKPLANT_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "TICKPLANT_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CASSANDRA_PORT": str(free_port()),
        "TICKPLANT_CASSANDRA_STORAGE_PORT": str(free_port()),
        "TICKPLANT_CASSANDRA_HEAP_MB": "768",
        "TICKPLANT_KAFKA_HEAP_MB": "384",
        # a worktree shares the main checkout's jars through TICKPLANT_JARS
        "TICKPLANT_JARS": os.environ.get("TICKPLANT_JARS", str(ROOT / "var" / "jars")),
    }


def private_settings(home: Path) -> Settings:
    return Settings.from_env({**os.environ, **private_env(home)}, dotenv=Path("/nonexistent"))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `tickplant ARGS` as a real process; the environment is ours plus `env`."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "tickplant", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def record_at(settings: Settings, topic: str, partition: int, offset: int, timeout_s: float = 15.0):
    """The Kafka record at topic/partition/offset (read with a fresh consumer)."""
    consumer = kafka_clients.consumer(settings)
    try:
        position = TopicPartition(topic, partition)
        consumer.assign([position])
        consumer.seek(position, offset)
        return consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=1)[position][0]
    finally:
        consumer.close()


def _connection_key(settings: Settings) -> tuple:
    """What makes two settings reach Cassandra the same way (the keyspace aside)."""
    password = settings.cassandra.password.get_secret_value() if settings.cassandra.password else None
    return (settings.cassandra.hosts, settings.cassandra.port, settings.cassandra.username, password,
            settings.cassandra.ssl_cafile, settings.cassandra.ssl_certfile, settings.cassandra.ssl_keyfile,
            settings.cassandra.local_dc, settings.cassandra.protocol_version)


_SESSIONS: dict[tuple, object] = {}


def shared_session(settings: Settings):
    """One driver session per Cassandra for the whole test process (a `Cluster` costs a control
    connection, a topology read and a thread pool): tests read and write with fully qualified table
    names through it. Closed by `close_shared_sessions` (the session's end, or its server's stop)."""
    from core import cassandra as cassandra_db

    key = _connection_key(settings)
    session = _SESSIONS.get(key)
    if session is None or session.is_shutdown:
        session = _SESSIONS[key] = cassandra_db.connect(settings)
    return session


def close_shared_sessions(settings: Settings | None = None) -> None:
    """Shut down the shared session of `settings`' Cassandra (all of them when None)."""
    for key in [k for k in _SESSIONS if settings is None or k == _connection_key(settings)]:
        _SESSIONS.pop(key).cluster.shutdown()


@contextlib.contextmanager
def own_topic_and_keyspace(settings: Settings, prefix: str = "t", **changes: object) -> Iterator[Settings]:
    """`settings` (with `changes`) and a Kafka topic and Cassandra keyspace of their own, created and
    migrated; both dropped afterwards (the keyspace without waiting: nothing reads it again, and the
    next test's schema changes queue behind the drop on the server)."""
    from core import cassandra as cassandra_db

    suffix = uuid.uuid4().hex[:10]
    own = settings.replace(kafka_topic=f"{prefix}{suffix}", cassandra_keyspace=f"{prefix}{suffix}", **changes)
    kafka_clients.ensure_topics(own)
    session = shared_session(own)
    cassandra_db.apply_migrations(session, own)
    try:
        yield own
    finally:
        session = shared_session(own)
        session.execute_async(f"DROP KEYSPACE IF EXISTS {own.cassandra.keyspace}", timeout=60)
        kafka_clients.delete_topics(own, [own.kafka.topic, own.kafka.dead_letter_topic])
