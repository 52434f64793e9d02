"""Configuration: the DESIGN.md environment variables (and `.env`), validated once.

`Settings.from_env()` is the one place a variable is read. Secrets are wrapped in
`Secret`, whose str/repr never show the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.errors import ConfigError

DEFAULT_SYMBOLS = "AAPL,AMZN,MSFT,BINANCE:BTCUSDT,BINANCE:ETHUSDT,BINANCE:XRPUSDT,BINANCE:DOGEUSDT"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9:._/^=-]{1,40}$")
# Variables whose values are secrets: masked everywhere, even when the rest of the config is invalid.
SECRET_VARIABLES = ("FINNHUB_API_TOKEN", "CASSANDRA_PASSWORD", "ALPACA_API_KEY", "ALPACA_API_SECRET")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class Secret:
    """A value that must never be printed: str() and repr() show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, optional quotes, `#` comments, `export ` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def raw_secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Secret values straight from the environment, for redaction before Settings exist."""
    environ = os.environ if env is None else env
    return [environ[name] for name in SECRET_VARIABLES if environ.get(name)]


def is_local_host(host: str) -> bool:
    return host.strip().lower() in _LOCAL_HOSTS or host.startswith("127.")


def split_host_port(address: str, default_port: int, variable: str) -> tuple[str, int]:
    host, sep, port_text = address.strip().rpartition(":")
    if not sep:
        host, port_text = address.strip(), str(default_port)
    return host, _port(port_text, variable)


def _port(text: str, variable: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"{variable}={text!r} is not a port number (expected 1-65535)") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{variable}={text!r} is out of range (expected 1-65535)")
    return port


def _positive_int(text: str, variable: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{variable}={text!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{variable}={text!r} must be positive")
    return value


@dataclass(frozen=True)
class Settings:
    """Every configurable value of tickplant, validated."""

    symbols: tuple[str, ...]
    kafka_bootstrap_servers: tuple[str, ...]
    kafka_topic: str
    cassandra_hosts: tuple[str, ...]
    cassandra_port: int
    cassandra_keyspace: str
    spark_master: str
    home: Path
    finnhub_api_token: Secret | None = None
    alpaca_api_key: Secret | None = None
    alpaca_api_secret: Secret | None = None
    cassandra_username: str | None = None
    cassandra_password: Secret | None = None
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    kafka_controller_port: int = 9093
    cassandra_storage_port: int = 7000
    kafka_heap_mb: int = 512
    cassandra_heap_mb: int = 1024
    service_timeout_s: int = 180
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.kafka_topic}.dlq"

    @property
    def kafka_is_local(self) -> bool:
        return all(is_local_host(split_host_port(a, 9092, "KAFKA_BOOTSTRAP_SERVERS")[0])
                   for a in self.kafka_bootstrap_servers)

    @property
    def cassandra_is_local(self) -> bool:
        return all(is_local_host(h) for h in self.cassandra_hosts)

    @property
    def kafka_port(self) -> int:
        return split_host_port(self.kafka_bootstrap_servers[0], 9092, "KAFKA_BOOTSTRAP_SERVERS")[1]

    @property
    def jars_dir(self) -> Path:
        """Where `make install` put the JVM artifacts (TICKPLANT_JARS, default <checkout>/var/jars)."""
        return Path(self.extra.get("TICKPLANT_JARS") or PROJECT_ROOT / "var" / "jars")

    def secret_values(self) -> list[str]:
        """The raw secret strings, for log redaction only."""
        return [s.reveal() for s in (self.finnhub_api_token, self.cassandra_password,
                                     self.alpaca_api_key, self.alpaca_api_secret)
                if s is not None and s.reveal()]

    def describe(self) -> dict[str, object]:
        """A printable view: secrets shown only as set/unset."""
        view: dict[str, object] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "set"
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, Path):
                value = str(value)
            view[f.name] = value
        return view

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Read and validate the variables; `.env` in the working directory fills gaps."""
        environ = dict(os.environ if env is None else env)
        dotenv_path = dotenv if dotenv is not None else Path.cwd() / ".env"
        merged = {**read_dotenv(dotenv_path), **environ}

        def get(name: str, default: str | None = None) -> str | None:
            value = merged.get(name)
            return value if value not in (None, "") else default

        symbols = parse_symbols(get("TICKPLANT_SYMBOLS", DEFAULT_SYMBOLS) or "")
        servers_text = get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092") or ""
        servers = tuple(s.strip() for s in servers_text.split(",") if s.strip())
        if not servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is empty (expected host:port[,host:port])")
        for server in servers:
            split_host_port(server, 9092, "KAFKA_BOOTSTRAP_SERVERS")
        topic = get("KAFKA_TOPIC", "market") or ""
        if not _TOPIC.match(topic):
            raise ConfigError(f"KAFKA_TOPIC={topic!r} is not a valid topic name (letters, digits, . _ -)")
        hosts = tuple(h.strip() for h in (get("CASSANDRA_HOSTS", "127.0.0.1") or "").split(",") if h.strip())
        if not hosts:
            raise ConfigError("CASSANDRA_HOSTS is empty (expected host[,host])")
        keyspace = get("CASSANDRA_KEYSPACE", "market") or ""
        if not _IDENTIFIER.match(keyspace):
            raise ConfigError(f"CASSANDRA_KEYSPACE={keyspace!r} is not a valid keyspace name")
        home = Path(get("TICKPLANT_HOME", str(PROJECT_ROOT / "var")) or "").expanduser()
        token = get("FINNHUB_API_TOKEN")
        password = get("CASSANDRA_PASSWORD")
        username = get("CASSANDRA_USERNAME")
        if password and not username:
            raise ConfigError("CASSANDRA_PASSWORD is set but CASSANDRA_USERNAME is not")
        return cls(
            symbols=symbols,
            kafka_bootstrap_servers=servers,
            kafka_topic=topic,
            cassandra_hosts=hosts,
            cassandra_port=_port(get("CASSANDRA_PORT", "9042") or "", "CASSANDRA_PORT"),
            cassandra_keyspace=keyspace,
            spark_master=get("SPARK_MASTER", "local[*]") or "local[*]",
            home=home.resolve(),
            finnhub_api_token=Secret(token) if token else None,
            alpaca_api_key=Secret(get("ALPACA_API_KEY") or "") if get("ALPACA_API_KEY") else None,
            alpaca_api_secret=Secret(get("ALPACA_API_SECRET") or "") if get("ALPACA_API_SECRET") else None,
            cassandra_username=username,
            cassandra_password=Secret(password) if password else None,
            cassandra_replication=get("CASSANDRA_REPLICATION",
                                      "{'class': 'SimpleStrategy', 'replication_factor': 1}") or "",
            kafka_controller_port=_port(get("TICKPLANT_KAFKA_CONTROLLER_PORT", "9093") or "",
                                        "TICKPLANT_KAFKA_CONTROLLER_PORT"),
            cassandra_storage_port=_port(get("TICKPLANT_CASSANDRA_STORAGE_PORT", "7000") or "",
                                         "TICKPLANT_CASSANDRA_STORAGE_PORT"),
            kafka_heap_mb=_positive_int(get("TICKPLANT_KAFKA_HEAP_MB", "512") or "", "TICKPLANT_KAFKA_HEAP_MB"),
            cassandra_heap_mb=_positive_int(get("TICKPLANT_CASSANDRA_HEAP_MB", "1024") or "",
                                            "TICKPLANT_CASSANDRA_HEAP_MB"),
            service_timeout_s=_positive_int(get("TICKPLANT_SERVICE_TIMEOUT", "180") or "",
                                            "TICKPLANT_SERVICE_TIMEOUT"),
            extra={k: v for k, v in merged.items() if k.startswith("TICKPLANT_")},
        )


def parse_symbols(text: str) -> tuple[str, ...]:
    """`AAPL, BINANCE:BTCUSDT` -> ('AAPL', 'BINANCE:BTCUSDT'), validated, order kept, no duplicates."""
    symbols: list[str] = []
    for raw in text.split(","):
        symbol = raw.strip()
        if not symbol:
            continue
        if not _SYMBOL.match(symbol):
            raise ConfigError(f"TICKPLANT_SYMBOLS: {symbol!r} is not a valid symbol")
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ConfigError("TICKPLANT_SYMBOLS is empty (expected e.g. AAPL,BINANCE:BTCUSDT)")
    return tuple(symbols)
