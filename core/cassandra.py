"""The Cassandra session (one per process) and the migration runner.

Migrations in `schemas/cassandra/` run in version order; each applied one is recorded in
`<keyspace>.schema_migrations`, so applying them again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy
from cassandra.query import dict_factory

from core.config import Settings
from core.errors import AccessError, ConfigError, SchemaError, ServiceError
from core.logging import get_logger
from core.retry import retry_call
from core.schemas import migrations

log = get_logger(__name__)

# one trade, as the stream job writes it (the driver path) and `tickplant bench cassandra` measures it
INSERT_TRADE = ("INSERT INTO {keyspace}.trades (symbol, trade_date, trade_timestamp, trade_id, price, volume, "
                "trade_conditions, ingest_timestamp, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


class _NegotiationNotice(logging.Filter):
    """The driver warns on every connect while it negotiates the protocol version down to what the
    server speaks; negotiating is what tickplant wants (CASSANDRA_PROTOCOL_VERSION pins it), so the
    notice is logged at debug level instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "Downgrading core protocol version" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("cassandra.cluster").addFilter(_NegotiationNotice())


def connect(settings: Settings, keyspace: str | None = None, timeout_s: float = 30.0) -> Session:
    """A connected session (rows as dicts); raises ServiceError after `timeout_s` without an answer.
    Credentials, TLS and the local data centre come from the settings; the protocol version is
    negotiated with the server."""
    connection = settings.cassandra
    driver_args = connection.driver_args()     # one TLS context and auth provider for every attempt
    profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=connection.local_dc),
                               row_factory=dict_factory, request_timeout=30.0)
    address = connection.address

    def attempt() -> Session:
        # a Cluster whose control connection failed is shut down for good: each attempt gets a new one
        cluster = Cluster(
            **driver_args,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
            connect_timeout=min(10.0, timeout_s),
            control_connection_timeout=min(10.0, timeout_s),
        )
        try:
            return cluster.connect(keyspace)
        except NoHostAvailable as exc:
            cluster.shutdown()
            refusal = access_refusal(settings, exc)
            if refusal:
                raise AccessError(refusal) from None
            if settings.cassandra.local_dc and not _host_errors(exc):
                # no host was even tried: the DC-aware policy found none in CASSANDRA_LOCAL_DC
                unknown_local_dc(settings, driver_args)
            raise
        except Exception:
            cluster.shutdown()
            raise

    try:
        return retry_call(attempt, f"cassandra {address}", timeout_s, retry_on=(NoHostAvailable,), initial_s=0.5)
    except NoHostAvailable as exc:
        raise ServiceError(f"Cassandra at {address} did not answer within {timeout_s:.0f}s: "
                           f"{_first_error(exc)}") from None


def unknown_local_dc(settings: Settings, driver_args: dict) -> None:
    """Raise ConfigError when CASSANDRA_LOCAL_DC names no data centre of the cluster (asked through a
    session without the DC preference); return when it does or the cluster cannot be asked."""
    cluster = Cluster(**driver_args, connect_timeout=10, control_connection_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(
                          load_balancing_policy=DCAwareRoundRobinPolicy(), row_factory=dict_factory)})
    try:
        session = cluster.connect()
        found = {row["data_center"] for table in ("local", "peers")
                 for row in session.execute(f"SELECT data_center FROM system.{table}")}
    except Exception:  # noqa: BLE001 - the caller reports the original failure
        return
    finally:
        cluster.shutdown()
    if settings.cassandra.local_dc not in found:
        raise ConfigError(f"CASSANDRA_LOCAL_DC={settings.cassandra.local_dc!r} is not a data centre of the Cassandra "
                          f"cluster at {settings.cassandra.address} "
                          f"(its data centres: {', '.join(sorted(found))})")


def access_refusal(settings: Settings, exc: NoHostAvailable) -> str | None:
    """One line naming the cause when Cassandra refused our credentials or we refused its certificate."""
    address = settings.cassandra.address
    for error in _host_errors(exc).values():
        text = f"{type(error).__name__}: {error}"
        if "AuthenticationFailed" in text or "Bad credentials" in text:
            return (f"Cassandra at {address} refused the credentials of user {settings.cassandra.username!r} "
                    "(check CASSANDRA_USERNAME and CASSANDRA_PASSWORD)")
        if "requires authentication" in text or "AuthenticationRequired" in text:
            return (f"Cassandra at {address} requires authentication but CASSANDRA_USERNAME is not set")
        if "CERTIFICATE_REQUIRED" in text.upper().replace(" ", "_"):
            return (f"Cassandra at {address} requires a client certificate and refused the connection without one "
                    "(set CASSANDRA_SSL_CERTFILE and CASSANDRA_SSL_KEYFILE)")
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            reason = text.split("certificate verify failed:")[-1].split("(")[0].strip(" )'\"") or "not trusted"
            return (f"Cassandra at {address} presented a TLS certificate that CASSANDRA_SSL_CAFILE="
                    f"{settings.cassandra.ssl_cafile} does not trust ({reason})")
    return None


def _host_errors(exc: NoHostAvailable) -> dict:
    """The error of each host tried; the driver gives a list of hosts instead when it tried none."""
    errors = getattr(exc, "errors", None)
    return errors if isinstance(errors, dict) else {}


def _first_error(exc: NoHostAvailable) -> str:
    for error in _host_errors(exc).values():
        return str(error).splitlines()[0][:200]
    return str(exc)[:200]


def close(session: Session) -> None:
    session.cluster.shutdown()


def apply_migrations(session: Session, settings: Settings) -> list[str]:
    """Apply the migrations not yet recorded; returns the names of those applied now."""
    keyspace = settings.cassandra.keyspace
    applied_now: list[str] = []
    done = _applied_versions(session, keyspace)
    for migration in migrations(keyspace, settings.cassandra.replication):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                log.warning("migration changed after it was applied", migration=migration.name)
            continue
        for statement in migration.statements:
            try:
                session.execute(statement, timeout=60)
            except Exception as exc:  # the driver raises many types; all mean "not applied"
                raise SchemaError(f"migration {migration.name} failed: {exc}") from exc
        if not applied_now and not done:
            _create_migrations_table(session, keyspace)
        record = session.prepare(
            f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
            "VALUES (?, ?, ?, ?)")
        session.execute(record, (migration.version, migration.name, migration.checksum,
                                 datetime.now(UTC)))
        applied_now.append(migration.name)
        log.debug("migration applied", migration=migration.name, statements=len(migration.statements))
    return applied_now


def _create_migrations_table(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations ("
                    "version text PRIMARY KEY, name text, checksum text, applied_at timestamp)")


def _applied_versions(session: Session, keyspace: str) -> dict[str, str]:
    exists = session.execute(
        session.prepare("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?"),
        (keyspace, "schema_migrations")).one()
    if not exists:
        return {}
    return {row["version"]: row["checksum"]
            for row in session.execute(f"SELECT version, checksum FROM {keyspace}.schema_migrations")}
