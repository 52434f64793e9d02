"""The local Cassandra node run from its Maven Central jars: its JVM flags for Java 17, cassandra.yaml
(with PasswordAuthenticator and client TLS when configured) and the login role on a fresh node; with
`--nodes 3` three nodes on 127.0.0.1-3 (`cassandra_cluster`), one seed list, the keyspace replicated
three times (`CLUSTER_REPLICATION`)."""

from __future__ import annotations

from pathlib import Path

import yaml

from core import cassandra as cassandra_db
from core.config import Settings
from core.errors import AccessError, ServiceError
from core.logging import get_logger
from core.retry import retry_call
from core.security import pkcs12_truststore
from core.security import secret as _secret
from tickplant.runtime.base import LocalService, require_listening, write_private

log = get_logger(__name__)

# Cassandra 5 on Java 17 (from Cassandra's conf/jvm17-server.options and jvm-server.options).
CASSANDRA_JVM17_OPTIONS = [
    "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m", "-XX:G1RSetUpdatingPauseTimePercent=5", "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    "-Xss256k", "-XX:+UseStringDeduplication", "-XX:+PerfDisableSharedMem", "-Djava.net.preferIPv4Stack=true",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.ring_delay_ms=1000",
]


CASSANDRA_NODES = 3
# The keyspace of the rehearsal cluster when CASSANDRA_REPLICATION is left at its default (SimpleSnitch's
# data centre is datacenter1): LOCAL_QUORUM is then two of three.
CLUSTER_REPLICATION = "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
_MURMUR3_RANGE = 2**64


class CassandraService(LocalService):
    """The single node, or (`node` 1-3) one of the rehearsal cluster's three: node n is `cassandra-n` on
    127.0.0.n with the same ports, its data in var/cassandra-n, JMX on TICKPLANT_CASSANDRA_JMX_PORT + n - 1."""

    name = "cassandra"
    main_class = "org.apache.cassandra.service.CassandraDaemon"

    @property
    def host(self) -> str:
        if self.node is not None:
            return f"127.0.0.{self.node}"
        return self.settings.cassandra.hosts[0]

    @property
    def jmx_port(self) -> int | None:
        return None if self.node is None else self.settings.runtime.cassandra_jmx_port + self.node - 1

    @property
    def seeds(self) -> str:
        storage_port = self.settings.runtime.cassandra_storage_port
        if self.node is None:
            return f"{self.host}:{storage_port}"
        return ",".join(f"127.0.0.{n}:{storage_port}" for n in range(1, CASSANDRA_NODES + 1))

    @property
    def initial_token(self) -> int:
        """0 for the single node; the three nodes split Murmur3's ring evenly."""
        if self.node is None:
            return 0
        return -(2**63) + (self.node - 1) * (_MURMUR3_RANGE // CASSANDRA_NODES)

    @property
    def ports(self) -> list[int]:
        return [self.settings.cassandra.port, self.settings.runtime.cassandra_storage_port]

    @property
    def is_local(self) -> bool:
        return self.settings.cassandra.is_local

    @property
    def config_file(self) -> Path:
        return self.dir / "conf" / "cassandra.yaml"

    def prepare(self) -> None:
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "conf"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        d, host = self.dir, self.host
        port, storage_port = self.settings.cassandra.port, self.settings.runtime.cassandra_storage_port
        config = {
            "cluster_name": "tickplant",
            "num_tokens": 1,
            "initial_token": self.initial_token,
            "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
            "data_file_directories": [str(d / "data")],
            "commitlog_directory": str(d / "commitlog"),
            "saved_caches_directory": str(d / "saved_caches"),
            "hints_directory": str(d / "hints"),
            "cdc_raw_directory": str(d / "cdc_raw"),
            "commitlog_sync": "periodic",
            "commitlog_sync_period": "2000ms",
            "commitlog_segment_size": "32MiB",
            "seed_provider": [{"class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                               "parameters": [{"seeds": self.seeds}]}],
            "listen_address": host,
            "rpc_address": host,
            "storage_port": storage_port,
            "native_transport_port": port,
            "start_native_transport": True,
            "endpoint_snitch": "SimpleSnitch",
            "authenticator": "AllowAllAuthenticator",
            "authorizer": "AllowAllAuthorizer",
            # sized for a 2-core machine
            "concurrent_reads": 8,
            "concurrent_writes": 16,
            "concurrent_counter_writes": 4,
            "concurrent_compactors": 1,
            "memtable_heap_space": "128MiB",
            "memtable_offheap_space": "128MiB",
            "key_cache_size": "16MiB",
            "batch_size_warn_threshold": "64KiB",
            "batch_size_fail_threshold": "640KiB",
            "unlogged_batch_across_partitions_warn_threshold": 100,
            "write_request_timeout": "10000ms",
            "read_request_timeout": "10000ms",
            "range_request_timeout": "20000ms",
            "disk_failure_policy": "stop",
            "commit_failure_policy": "stop",
            "auto_snapshot": False,
            "dynamic_snitch": False,
            **self.security_config(),
        }
        # may hold the keystore password: owner-only
        write_private(self.config_file, "# written by tickplant on every start; edit tickplant/runtime/cassandra.py "
                      "instead\n" + yaml.safe_dump(config, sort_keys=False))
        (d / "conf" / "logback.xml").write_text(f"""<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{self.log_file}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
""", encoding="utf-8")

    def security_config(self) -> dict[str, object]:
        """PasswordAuthenticator when CASSANDRA_USERNAME is set (the role itself is created on the first
        start, see `ensure_role`); client TLS from TICKPLANT_TLS_KEYSTORE when CASSANDRA_SSL_CAFILE is set."""
        settings = self.settings
        config: dict[str, object] = {}
        if settings.cassandra.username:
            config.update(authenticator="PasswordAuthenticator", authorizer="CassandraAuthorizer",
                          role_manager="CassandraRoleManager")
        if settings.cassandra.ssl_cafile:
            if not settings.runtime.tls_keystore:
                raise ServiceError("CASSANDRA_SSL_CAFILE for the local Cassandra needs TICKPLANT_TLS_KEYSTORE "
                                   "(a PKCS12 keystore with the node's key and certificate)")
            config["client_encryption_options"] = {
                "enabled": True, "optional": False, "keystore": str(settings.runtime.tls_keystore),
                "keystore_password": _secret(settings.runtime.tls_keystore_password), "store_type": "PKCS12",
                "require_client_auth": bool(settings.cassandra.ssl_certfile),
                **({"truststore": str(self.truststore()), "truststore_password": _secret(
                    settings.runtime.tls_keystore_password)} if settings.cassandra.ssl_certfile else {}),
            }
        return config

    def truststore(self) -> Path:
                return pkcs12_truststore(self.settings.cassandra.ssl_cafile, self.dir / "conf" / "truststore.p12",
                                 _secret(self.settings.runtime.tls_keystore_password))

    def ensure_role(self, timeout_s: float) -> None:
        """The configured login role, created as a superuser through the default `cassandra` role on a
        fresh local node, whose login is then disabled (its password is public knowledge)."""
        settings = self.settings
        marker = self.dir / "role.created"
        if not settings.cassandra.username or settings.cassandra.username == "cassandra" or marker.exists():
            return
        bootstrap = settings.replace(cassandra_username="cassandra", cassandra_password="cassandra")
        # the default role appears a moment after the port opens; later, its login is disabled and
        # the configured password was simply wrong: the caller reports that refusal
        session = retry_call(lambda: cassandra_db.connect(bootstrap, timeout_s=timeout_s), "cassandra default role",
                             min(timeout_s, 20), retry_on=(AccessError,), initial_s=0.5, maximum_s=2)
        try:
            # role DDL takes no bind markers: the name and password are quoted as CQL literals
            password = _secret(settings.cassandra.password).replace("'", "''")
            session.execute(f"CREATE ROLE IF NOT EXISTS {_cql_name(settings.cassandra.username)} "
                            f"WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '{password}'")
        finally:
            cassandra_db.close(session)
        session = cassandra_db.connect(settings, timeout_s=timeout_s)
        try:
            session.execute("ALTER ROLE cassandra WITH LOGIN = false")
        finally:
            cassandra_db.close(session)
        marker.write_text(settings.cassandra.username + "\n", encoding="utf-8")
        log.info("cassandra role created", role=settings.cassandra.username)

    def command(self) -> list[str]:
        runtime = self.settings.runtime
        heap = runtime.cassandra_heap_mb if self.node is None else runtime.cluster_cassandra_heap_mb
        jmx = [] if self.jmx_port is None else [f"-Dcassandra.jmx.local.port={self.jmx_port}"]
        return [self.java(), f"-Xms{heap}m", f"-Xmx{heap}m", *CASSANDRA_JVM17_OPTIONS, *self.jvm_options(),
                *runtime.cassandra_jvm_options.split(), *jmx,
                f"-Dcassandra.config=file://{self.config_file}",
                "-Dcassandra-foreground=yes",
                f"-Dcassandra.storagedir={self.dir}",
                f"-Dcassandra.logdir={self.settings.runtime.home / 'logs'}",
                f"-Dlogback.configurationFile=file://{self.dir}/conf/logback.xml",
                "-cp", f"{self.dir}/conf:{self.jars}/*", self.main_class]

    def probe(self, timeout_s: float) -> str:
        if self.is_local:
            require_listening(self.host, self.settings.cassandra.port)
        if self.node is not None:
            return self.probe_node(timeout_s)
        try:
            session = cassandra_db.connect(self.settings, timeout_s=timeout_s)
        except AccessError as exc:
            if not (self.is_local and self.running_pid() and "refused the credentials" in str(exc)):
                raise
            try:
                self.ensure_role(timeout_s)   # our own fresh node: the role may not exist yet
            except AccessError:
                raise exc from None
            session = cassandra_db.connect(self.settings, timeout_s=timeout_s)
        try:
            return session.execute("SELECT release_version FROM system.local").one()["release_version"]
        finally:
            cassandra_db.close(session)

    def probe_node(self, timeout_s: float) -> str:
        """A cluster node's own answer: a session whose only contact point is this node (its control
        connection is to it) and the driver's view of it. Not a query routed to it: the driver opens a
        node's pool a moment after the session, so a query aimed at it may find none yet."""
        try:
            session = cassandra_db.connect(self.settings.replace(cassandra_hosts=(self.host,)), timeout_s=timeout_s)
        except AccessError:
            raise
        except ServiceError as exc:
            raise ServiceError(f"{self.name} ({self.address}) does not answer: {exc}") from None
        try:
            control = session.cluster.control_connection._connection
            hosts = [h for h in session.cluster.metadata.all_hosts() if h.address == self.host]
            if control is None or control.endpoint.address != self.host or not hosts or not hosts[0].is_up:
                raise ServiceError(f"{self.name} ({self.address}) is not up")
            return hosts[0].release_version or "unknown"
        finally:
            cassandra_db.close(session)


def cassandra_cluster(settings: Settings) -> list[LocalService]:
    """The rehearsal's three Cassandra nodes, in start order."""
    return [CassandraService(settings, node) for node in range(1, CASSANDRA_NODES + 1)]


def cluster_settings(settings: Settings) -> Settings:
    """The settings of the rehearsal cluster's schema: CASSANDRA_REPLICATION, unless set, replicates the
    keyspace to all three nodes."""
    default = Settings.model_fields["cassandra_replication"].default
    if settings.cassandra.replication != default:
        return settings
    return settings.replace(cassandra_replication=CLUSTER_REPLICATION)


def _cql_name(name: str) -> str:
    """A role name as a quoted CQL identifier."""
    return '"' + name.replace('"', '""') + '"'
