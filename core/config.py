"""Configuration: every environment variable tickplant reads (and `.env`), one typed, validated
pydantic-settings model. The README's Configuration table lists the same variables; a unit test
keeps the two in step. Secrets are `SecretStr`: repr, str and JSON dumps show a mask.

The variables are read flat (their names are the interface) and validated once; code reads the
nested, typed view of each concern built from them: `settings.feed`, `settings.kafka`,
`settings.cassandra`, `settings.spark`, `settings.runtime`, `settings.sql`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.connections import KAFKA_PORT, Address, CassandraConnection, KafkaConnection, parse_addresses
from core.errors import ConfigError
from core.settings_views import FeedSettings, RuntimeSettings, SparkSettings, SqlSettings
from core.symbols import parse_symbols

DEFAULT_SYMBOLS = "AAPL,AMZN,MSFT,BINANCE:BTCUSDT,BINANCE:ETHUSDT,BINANCE:XRPUSDT,BINANCE:DOGEUSDT"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")

Port = Annotated[int, Field(ge=1, le=65535)]
CommaList = Annotated[tuple[str, ...], NoDecode]


def _env(name: str, description: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the variable `name` (its alias), documented for `tickplant config --help`."""
    return Field(default, validation_alias=AliasChoices(name), description=description, **constraints)


class Settings(BaseSettings):
    """Every configurable value of tickplant, validated once at start."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore",
                                      frozen=True, validate_default=True)

    # --- the feed
    symbols: CommaList = _env("TICKPLANT_SYMBOLS", "symbols to subscribe, comma-separated", DEFAULT_SYMBOLS)
    finnhub_api_token: SecretStr | None = _env("FINNHUB_API_TOKEN", "Finnhub token; unset: the local simulator")
    alpaca_api_key: SecretStr | None = _env("ALPACA_API_KEY", "Alpaca key id (collect --source alpaca)")
    alpaca_api_secret: SecretStr | None = _env("ALPACA_API_SECRET", "Alpaca secret key")
    # --- Kafka
    kafka_bootstrap_servers: Annotated[tuple[Address, ...], NoDecode] = _env(
        "KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port]", "127.0.0.1:9092")
    kafka_topic: str = _env("KAFKA_TOPIC", "trades topic; dead letters go to <topic>.dlq", "market")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"] = _env(
        "KAFKA_SECURITY_PROTOCOL", "how the Python Kafka clients connect", "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = _env(
        "KAFKA_SASL_MECHANISM", "SASL mechanism when the protocol is SASL_*")
    kafka_sasl_username: str | None = _env("KAFKA_SASL_USERNAME", "SASL user name")
    kafka_sasl_password: SecretStr | None = _env("KAFKA_SASL_PASSWORD", "SASL password")
    kafka_ssl_cafile: Path | None = _env("KAFKA_SSL_CAFILE", "CA bundle that signed the brokers' certificates")
    kafka_ssl_certfile: Path | None = _env("KAFKA_SSL_CERTFILE", "client certificate (PEM) for brokers that "
                                           "require one (mutual TLS)")
    kafka_ssl_keyfile: Path | None = _env("KAFKA_SSL_KEYFILE", "private key (PEM, PKCS#8) of KAFKA_SSL_CERTFILE")
    kafka_ssl_check_hostname: bool = _env("KAFKA_SSL_CHECK_HOSTNAME", "verify that the broker's certificate "
                                          "names its host (true/false)", True)
    # --- Cassandra
    cassandra_hosts: CommaList = _env("CASSANDRA_HOSTS", "contact points, comma-separated", "127.0.0.1")
    cassandra_port: Port = _env("CASSANDRA_PORT", "native protocol port", 9042)
    cassandra_keyspace: str = _env("CASSANDRA_KEYSPACE", "keyspace of every table", "market")
    cassandra_username: str | None = _env("CASSANDRA_USERNAME", "user name (PasswordAuthenticator)")
    cassandra_password: SecretStr | None = _env("CASSANDRA_PASSWORD", "password of CASSANDRA_USERNAME")
    cassandra_ssl_cafile: Path | None = _env("CASSANDRA_SSL_CAFILE", "CA bundle: connect with TLS")
    cassandra_ssl_certfile: Path | None = _env("CASSANDRA_SSL_CERTFILE", "client certificate (PEM) for nodes "
                                               "that require one")
    cassandra_ssl_keyfile: Path | None = _env("CASSANDRA_SSL_KEYFILE", "private key (PEM) of CASSANDRA_SSL_CERTFILE")
    cassandra_ssl_check_hostname: bool = _env("CASSANDRA_SSL_CHECK_HOSTNAME", "verify that a node's certificate "
                                              "names its host (true/false; the Spark connector never does)", True)
    cassandra_protocol_version: int | None = _env("CASSANDRA_PROTOCOL_VERSION", "native protocol version to "
                                                  "use; unset: negotiated with the server", ge=3, le=6)
    cassandra_local_dc: str | None = _env("CASSANDRA_LOCAL_DC", "data centre the driver prefers")
    cassandra_replication: str = _env("CASSANDRA_REPLICATION", "replication map used when the keyspace "
                                      "is created", "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    # --- Spark
    spark_master: str = _env("SPARK_MASTER", "Spark master URL", "local[*]")
    spark_shuffle_partitions: int = _env("TICKPLANT_SPARK_SHUFFLE_PARTITIONS",
                                         "spark.sql.shuffle.partitions", 2, ge=1)
    spark_parallelism: int = _env("TICKPLANT_SPARK_PARALLELISM", "spark.default.parallelism", 2, ge=1)
    spark_ui: bool = _env("TICKPLANT_SPARK_UI", "serve the Spark UI (true/false)", False)
    spark_log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = _env(
        "TICKPLANT_SPARK_LOG_LEVEL", "log level of Spark's JVM", "WARN")
    spark_jvm_options: str = _env("TICKPLANT_SPARK_JVM_OPTIONS", "extra JVM flags of the Spark driver a "
                                  "tickplant job starts, after TICKPLANT_JVM_OPTIONS "
                                  "(spark.driver.extraJavaOptions)", "")
    max_future_ms: int = _env("TICKPLANT_MAX_FUTURE_MS", "stream processor: a trade stamped more than "
                                     "this many ms after its receive time is a dead letter", 5000, ge=0)
    # --- ports of the parts tickplant serves
    simulator_port: Port = _env("TICKPLANT_SIMULATOR_PORT", "local Finnhub-compatible simulator", 8765)
    metrics_port: Port = _env("TICKPLANT_METRICS_PORT", "collector's Prometheus metrics", 9108)
    stream_metrics_port: int = _env("TICKPLANT_STREAM_METRICS_PORT", "stream processor's Prometheus metrics "
                                    "(0: off)", 9109, ge=0, le=65535)
    stream_metrics_host: str = _env("TICKPLANT_STREAM_METRICS_HOST", "address the stream processor's metrics "
                                    "bind", "127.0.0.1")
    dashboard_port: Port = _env("TICKPLANT_DASHBOARD_PORT", "Streamlit dashboard", 8501)
    presto_port: Port = _env("TICKPLANT_PRESTO_PORT", "local SQL engine (Presto/Trino)", 8080)
    superset_port: Port = _env("TICKPLANT_SUPERSET_PORT", "local Superset", 8088)
    presto_url: str | None = _env("PRESTO_URL", "a remote SQL engine (http[s]://host:port); unset: run one "
                                  "locally on TICKPLANT_PRESTO_PORT")
    presto_heap_mb: int = _env("TICKPLANT_PRESTO_HEAP_MB", "local SQL engine heap (MB)", 1024, ge=256)
    superset_admin_username: str = _env("SUPERSET_ADMIN_USERNAME", "Superset admin user", "admin")
    superset_admin_password: SecretStr | None = _env("SUPERSET_ADMIN_PASSWORD", "Superset admin password "
                                                     "(8+ characters); unset: generated once under TICKPLANT_HOME")
    superset_secret_key: SecretStr | None = _env("SUPERSET_SECRET_KEY", "Superset's SECRET_KEY (32+ characters); "
                                                 "unset: generated once under TICKPLANT_HOME")
    superset_venv: Path = _env("TICKPLANT_SUPERSET_VENV", "Superset's own virtualenv",
                               PROJECT_ROOT / "var" / "venvs" / "superset")
    # --- the collector's raw archive (collect --archive; `tickplant up` always archives)
    archive_retention_hours: float | None = _env(
        "TICKPLANT_ARCHIVE_RETENTION_HOURS", "hours the raw frame archive is kept, oldest files deleted "
        "first (0: no limit; unset: no limit for collect --archive, 168 under tickplant up)", ge=0)
    archive_retention_bytes: int | None = _env(
        "TICKPLANT_ARCHIVE_RETENTION_BYTES", "bytes the raw frame archive may take, oldest files deleted "
        "first (0: no limit; unset: no limit for collect --archive, 10 GiB under tickplant up)", ge=0)
    journal_max_bytes: int = _env("TICKPLANT_JOURNAL_MAX_BYTES", "disk the collector's write-ahead journal "
                                  "(--spool-dir) may take; when full, reading from the source pauses until "
                                  "Kafka takes records", 2 * 1024**3, ge=1024 * 1024)
    # --- the local runtime
    home: Path = _env("TICKPLANT_HOME", "runtime state: data, logs, checkpoints", PROJECT_ROOT / "var")
    jars_dir: Path = _env("TICKPLANT_JARS", "JVM artifacts resolved by `make install`",
                          PROJECT_ROOT / "var" / "jars")
    kafka_controller_port: Port = _env("TICKPLANT_KAFKA_CONTROLLER_PORT", "local KRaft controller", 9093)
    cassandra_storage_port: Port = _env("TICKPLANT_CASSANDRA_STORAGE_PORT", "local Cassandra gossip", 7000)
    kafka_heap_mb: int = _env("TICKPLANT_KAFKA_HEAP_MB", "local Kafka heap (MB)", 512, ge=64)
    cassandra_heap_mb: int = _env("TICKPLANT_CASSANDRA_HEAP_MB", "local Cassandra heap (MB)", 1024, ge=256)
    jvm_options: str = _env("TICKPLANT_JVM_OPTIONS", "extra JVM flags, space-separated, of every JVM tickplant "
                            "starts: the local Kafka, Cassandra and SQL engine and a job's Spark driver (the "
                            "test suite sets -XX:TieredStopAtLevel=1 for its short-lived JVMs)", "")
    cassandra_jvm_options: str = _env("TICKPLANT_CASSANDRA_JVM_OPTIONS", "extra JVM flags of the local Cassandra, "
                                      "space-separated (the test suite sets Cassandra's own test-only "
                                      "schema flags)", "")
    tls_keystore: Path | None = _env("TICKPLANT_TLS_KEYSTORE", "PKCS12 keystore (key + certificate) the "
                                     "local Kafka and Cassandra serve TLS with")
    tls_keystore_password: SecretStr | None = _env("TICKPLANT_TLS_KEYSTORE_PASSWORD",
                                                   "password of TICKPLANT_TLS_KEYSTORE")
    service_timeout_s: int = _env("TICKPLANT_SERVICE_TIMEOUT", "seconds a local service may take to "
                                  "answer", 180, ge=1)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> tuple[str, ...]:
        return parse_symbols(value) if isinstance(value, str) else tuple(value)

    @field_validator("kafka_bootstrap_servers", mode="before")
    @classmethod
    def _servers(cls, value: Any) -> tuple[Address, ...]:
        servers = parse_addresses(value, KAFKA_PORT)
        if not servers:
            raise ValueError("no address given (expected host:port[,host:port])")
        return servers

    @field_validator("cassandra_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> tuple[str, ...]:
        hosts = _split(value)
        if not hosts:
            raise ValueError("no host given (expected host[,host])")
        return hosts

    @field_validator("kafka_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC.match(value):
            raise ValueError("is not a valid topic name (letters, digits, . _ -)")
        return value

    @field_validator("cassandra_keyspace")
    @classmethod
    def _keyspace(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("is not a valid keyspace name (a letter, then letters, digits, _)")
        return value

    @field_validator("superset_admin_password")
    @classmethod
    def _password_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("is shorter than 8 characters")
        return value

    @field_validator("superset_secret_key")
    @classmethod
    def _key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("is shorter than 32 characters")
        return value

    @field_validator("presto_url")
    @classmethod
    def _presto_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value if "://" in value else f"http://{value}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http(s)://host:port address")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("home", "jars_dir", "superset_venv")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.cassandra_password is not None and not self.cassandra_username:
            raise ValueError("CASSANDRA_PASSWORD is set but CASSANDRA_USERNAME is not")
        if self.kafka_security_protocol.startswith("SASL") and not (
                self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together: set both or neither")
        if bool(self.cassandra_ssl_certfile) != bool(self.cassandra_ssl_keyfile):
            raise ValueError("CASSANDRA_SSL_CERTFILE and CASSANDRA_SSL_KEYFILE go together: set both or neither")
        if self.kafka_ssl_cafile and self.kafka_security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
            raise ValueError(f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} "
                             "does not use TLS (use SSL or SASL_SSL)")
        if self.tls_keystore_password is not None and not self.tls_keystore:
            raise ValueError("TICKPLANT_TLS_KEYSTORE_PASSWORD is set but TICKPLANT_TLS_KEYSTORE is not")
        return self._build_views()

    # The nested views, built once from the validated variables (below); code reads these.
    _feed: FeedSettings = PrivateAttr()
    _kafka: KafkaConnection = PrivateAttr()
    _cassandra: CassandraConnection = PrivateAttr()
    _spark: SparkSettings = PrivateAttr()
    _runtime: RuntimeSettings = PrivateAttr()
    _sql: SqlSettings = PrivateAttr()

    def _build_views(self) -> Settings:
        self._feed = FeedSettings(**self._prefixed("", FeedSettings))
        self._kafka = KafkaConnection(bootstrap=self.kafka_bootstrap_servers,
                                      **self._prefixed("kafka_", KafkaConnection, skip={"bootstrap"}))
        self._cassandra = CassandraConnection(**self._prefixed("cassandra_", CassandraConnection))
        self._spark = SparkSettings(max_future_ms=self.max_future_ms,
                                    **self._prefixed("spark_", SparkSettings, skip={"max_future_ms"}))
        self._runtime = RuntimeSettings(**self._prefixed("", RuntimeSettings))
        self._sql = SqlSettings(presto_url=self.presto_url or f"http://127.0.0.1:{self.presto_port}",
                                **self._prefixed("", SqlSettings, skip={"presto_url"}))
        return self

    def _prefixed(self, prefix: str, view: type, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
        """The variables `<prefix><name>` of each field `name` of `view`."""
        return {name: getattr(self, prefix + name) for name in view.model_fields if name not in skip}

    @property
    def feed(self) -> FeedSettings:
        return self._feed

    @property
    def kafka(self) -> KafkaConnection:
        return self._kafka

    @property
    def cassandra(self) -> CassandraConnection:
        return self._cassandra

    @property
    def spark(self) -> SparkSettings:
        return self._spark

    @property
    def runtime(self) -> RuntimeSettings:
        return self._runtime

    @property
    def sql(self) -> SqlSettings:
        return self._sql

    def secret_values(self) -> list[str]:
        """The raw secret strings, for log redaction only."""
        return [value.get_secret_value() for value in self._secrets().values()
                if value is not None and value.get_secret_value()]

    def _secrets(self) -> dict[str, SecretStr | None]:
        return {name: getattr(self, name) for name, info in type(self).model_fields.items()
                if "SecretStr" in str(info.annotation)}

    def describe(self) -> dict[str, object]:
        """A printable view keyed by variable name: secrets shown only as set/unset."""
        view: dict[str, object] = {}
        secrets = self._secrets()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in secrets:
                value = "set" if value is not None else "unset"
            elif isinstance(value, tuple):
                value = ",".join(str(item) for item in value)
            elif isinstance(value, Path):
                value = str(value)
            view[variable_of(name)] = value
        return view

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (field names), validated like the original."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return _given({variable_of(name): value for name, value in {**current, **changes}.items()})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """The settings from the process environment (or the mapping `env`), with `.env` in the working
        directory (or `dotenv`) filling gaps; a bad value raises ConfigError naming the variable."""
        dotenv_path = Path(dotenv) if dotenv is not None else Path.cwd() / ".env"
        file_values = read_dotenv(dotenv_path)     # also refuses a malformed line, naming it
        if env is None:
            return _validated(lambda: cls(_env_file=dotenv_path if dotenv_path.is_file() else None))
        return _given({**file_values, **env})

    # --- the rehearsal cluster (issue 21)
    spark_master_port: Port = _env("TICKPLANT_SPARK_MASTER_PORT", "rehearsal cluster (services start --nodes 3): "
                                   "the Spark standalone master's port", 7077)
    spark_master_ui_port: Port = _env("TICKPLANT_SPARK_MASTER_UI_PORT", "rehearsal cluster: the Spark master's "
                                      "web UI (not Spark's 8080, the SQL engine's)", 8380)
    spark_worker_port: Port = _env("TICKPLANT_SPARK_WORKER_PORT", "rehearsal cluster: Spark worker 1's port; "
                                   "worker n listens on this + n - 1", 7078)
    spark_worker_ui_port: Port = _env("TICKPLANT_SPARK_WORKER_UI_PORT", "rehearsal cluster: Spark worker 1's web "
                                      "UI; worker n's on this + n - 1", 8381)
    spark_worker_memory: str = _env("TICKPLANT_SPARK_WORKER_MEMORY", "rehearsal cluster: memory each Spark worker "
                                    "offers its executors (one core each)", "1g", pattern=r"^[1-9][0-9]*[mg]$")
    spark_executor_venv: Path = _env("TICKPLANT_SPARK_EXECUTOR_VENV", "the Spark executors' bare virtualenv "
                                     "(no tickplant in it), built once", PROJECT_ROOT / "var" / "venvs" / "executor")
    cassandra_jmx_port: Port = _env("TICKPLANT_CASSANDRA_JMX_PORT", "rehearsal cluster: Cassandra node 1's JMX "
                                    "port (127.0.0.1); node n's is this + n - 1", 7199)
    cluster_kafka_heap_mb: int = _env("TICKPLANT_CLUSTER_KAFKA_HEAP_MB", "rehearsal cluster: heap of each of the "
                                      "three Kafka nodes (MB)", 320, ge=64)
    cluster_cassandra_heap_mb: int = _env("TICKPLANT_CLUSTER_CASSANDRA_HEAP_MB", "rehearsal cluster: heap of each "
                                          "of the three Cassandra nodes (MB)", 640, ge=256)


class _GivenSettings(Settings):
    """Settings from explicit values only (tests, `replace`): no environment, no `.env`."""

    def __repr_name__(self) -> str:
        return "Settings"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   **other_sources: Any) -> tuple[Any, ...]:
        return (init_settings,)


def _given(values: Mapping[str, Any]) -> Settings:
    known = {variable_of(name) for name in Settings.model_fields}
    given = {key: value for key, value in values.items() if key in known and value not in (None, "")}
    return _validated(lambda: _GivenSettings(**given))


def variable_of(field_name: str) -> str:
    """The environment variable a field is read from."""
    alias = Settings.model_fields[field_name].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else field_name.upper()


def variables() -> dict[str, str]:
    """Every variable with its description (the README's table is checked against this)."""
    return {variable_of(name): info.description or "" for name, info in Settings.model_fields.items()}


def _validated(build: Any) -> Settings:
    try:
        return build()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    """The first error as `VARIABLE='value' rule` (secrets' values never shown)."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    field = str(error["loc"][0])
    name = field if field.isupper() else variable_of(field)
    value = error.get("input")
    is_secret = name in {variable_of(f) for f in Settings.model_fields if "SecretStr" in
                         str(Settings.model_fields[f].annotation)}
    if is_secret or isinstance(value, dict) or value is None:
        return f"{name}: {message}"
    return f"{name}={value!r}: {message}"


def read_dotenv(path: Path) -> dict[str, str]:
    """`.env` as a dict (python-dotenv's parser); a line it cannot parse is an error, not a skip."""
    if not path.is_file():
        return {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#") and "=" not in line:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def raw_secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Secret values straight from the environment, for redaction before Settings exist."""
    environ = os.environ if env is None else env
    names = [variable_of(f) for f, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)]
    return [environ[name] for name in names if environ.get(name)]


def _split(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item.strip())
