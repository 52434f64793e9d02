"""`make install-sql`: what `services start --sql` would otherwise build on its first start — the
Trino server unpacked from its tarball, Superset's own virtualenv and its migrated metadata
template — built once, up front (each step is a no-op when already done)."""

from __future__ import annotations

import time

from core.config import Settings
from core.logging import get_logger
from tickplant.runtime.superset import ensure_metadata_template, ensure_venv
from tickplant.runtime.trino import TrinoService

log = get_logger(__name__)


def main() -> int:
    settings = Settings.from_env()
    options = settings.sql
    started = time.monotonic()
    TrinoService(settings, options).unpack()
    log.info("Trino server unpacked", seconds=round(time.monotonic() - started, 1))
    ensure_venv(options.superset_venv)
    ensure_metadata_template(options.superset_venv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
