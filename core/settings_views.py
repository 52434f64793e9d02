"""The settings of each concern other than the two connections (core.connections): the feed, Spark,
the local runtime and the SQL tier, as frozen typed views built once from the validated variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from core.connections import is_local_host


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class FeedSettings(_View):
    """What the collector subscribes to and with which credentials, and how much raw data it keeps."""

    symbols: tuple[str, ...]
    finnhub_api_token: SecretStr | None = None
    alpaca_api_key: SecretStr | None = None
    alpaca_api_secret: SecretStr | None = None
    archive_retention_hours: float | None = None
    archive_retention_bytes: int | None = None
    journal_max_bytes: int = 2 * 1024**3


class SparkSettings(_View):
    """How a tickplant Spark job runs, and the stream processor's dead-letter limit."""

    master: str = "local[*]"
    shuffle_partitions: int = 2
    parallelism: int = 2
    ui: bool = False
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = "WARN"
    jvm_options: str = ""
    max_future_ms: int = 5000   # a trade stamped more than this after its receive time is a dead letter
    # the rehearsal cluster (services start --nodes 3)
    master_port: int = 7077
    master_ui_port: int = 8380
    worker_port: int = 7078
    worker_ui_port: int = 8381
    worker_memory: str = "1g"
    executor_venv: Path

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")


class RuntimeSettings(_View):
    """The local runtime: where state lives, the ports tickplant serves, the local JVMs' heaps and flags."""

    home: Path
    jars_dir: Path
    kafka_controller_port: int = 9093
    cassandra_storage_port: int = 7000
    kafka_heap_mb: int = 512
    cassandra_heap_mb: int = 1024
    jvm_options: str = ""
    cassandra_jvm_options: str = ""
    tls_keystore: Path | None = None
    tls_keystore_password: SecretStr | None = None
    service_timeout_s: int = 180
    simulator_port: int = 8765
    metrics_port: int = 9108
    stream_metrics_port: int = 9109
    stream_metrics_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    # the rehearsal cluster (services start --nodes 3)
    cassandra_jmx_port: int = 7199
    cluster_kafka_heap_mb: int = 320
    cluster_cassandra_heap_mb: int = 640


class SqlSettings(_View):
    """Where the SQL engine (Trino) and Superset run and with which credentials."""

    presto_url: str = "http://127.0.0.1:8080"   # PRESTO_URL, else the local engine on TICKPLANT_PRESTO_PORT
    presto_heap_mb: int = 1024
    superset_port: int = 8088
    superset_admin_username: str = "admin"
    superset_admin_password: SecretStr | None = None
    superset_secret_key: SecretStr | None = None
    superset_venv: Path

    @property
    def presto_external(self) -> bool:
        """PRESTO_URL was given and is not local: the engine is never started here."""
        return not is_local_host(urlsplit(self.presto_url).hostname or "")

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
