"""Where the SQL engine (Trino) and Superset run and with which credentials: the options both read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from core.config import PROJECT_ROOT, Settings, is_local_host


@dataclass(frozen=True)
class SqlOptions:
    """Where the SQL engine and Superset run and with which credentials (from the environment)."""

    presto_url: str = "http://127.0.0.1:8080"
    presto_external: bool = False          # PRESTO_URL was given and is not local: never started here
    presto_heap_mb: int = 1024
    superset_port: int = 8088
    superset_admin_username: str = "admin"
    superset_admin_password: SecretStr | None = None
    superset_secret_key: SecretStr | None = None
    superset_venv: Path = PROJECT_ROOT / "var" / "venvs" / "superset"
    cassandra_local_dc: str | None = None
    cassandra_ssl_cafile: str | None = None

    @property
    def presto_host(self) -> str:
        return urlsplit(self.presto_url).hostname or "127.0.0.1"

    @property
    def presto_port(self) -> int:
        parts = urlsplit(self.presto_url)
        return parts.port or (443 if parts.scheme == "https" else 8080)

    @property
    def presto_scheme(self) -> str:
        return urlsplit(self.presto_url).scheme or "http"

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlOptions:
        """PRESTO_URL (else the local engine on TICKPLANT_PRESTO_PORT), TICKPLANT_PRESTO_HEAP_MB,
        TICKPLANT_SUPERSET_PORT, SUPERSET_ADMIN_USERNAME/PASSWORD, SUPERSET_SECRET_KEY,
        TICKPLANT_SUPERSET_VENV, CASSANDRA_LOCAL_DC and CASSANDRA_SSL_CAFILE, validated by Settings."""
        url = settings.presto_url or f"http://127.0.0.1:{settings.presto_port}"
        return cls(
            presto_url=url,
            presto_external=not is_local_host(urlsplit(url).hostname or ""),
            presto_heap_mb=settings.presto_heap_mb,
            superset_port=settings.superset_port,
            superset_admin_username=settings.superset_admin_username,
            superset_admin_password=settings.superset_admin_password,
            superset_secret_key=settings.superset_secret_key,
            superset_venv=settings.superset_venv,
            cassandra_local_dc=settings.cassandra_local_dc,
            cassandra_ssl_cafile=str(settings.cassandra_ssl_cafile) if settings.cassandra_ssl_cafile else None,
        )
