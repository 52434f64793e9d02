"""A benchmark's own pipeline space: a fresh topic and keyspace (migrated) and a temporary
TICKPLANT_HOME, dropped again afterwards unless kept, so runs never touch the user's data."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings


@contextmanager
def scratch_pipeline(settings: Settings, prefix: str, keep: bool = False) -> Iterator[tuple[Settings, Any, Path]]:
    """(settings on a topic and keyspace named `<prefix><8 hex>`, a Cassandra session, the home dir)."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix=f"tickplant-{prefix}-bench-"))
    settings = settings.replace(kafka_topic=name, cassandra_keyspace=name, home=home)
    kafka_clients.ensure_topics(settings)
    session = cassandra_db.connect(settings)
    try:
        cassandra_db.apply_migrations(session, settings)
        yield settings, session, home
    finally:
        if not keep:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
            kafka_clients.delete_topics(settings, [name, settings.kafka.dead_letter_topic])
            shutil.rmtree(home, ignore_errors=True)
        cassandra_db.close(session)
