"""The local service runtime: Kafka (KRaft) and Cassandra run from their Maven Central jars.

A service whose configured address is not local is never started here; `start` still
applies topics and migrations to it, so the same commands work against real clusters.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from core import cassandra as cassandra_db
from core import kafka as kafka_clients
from core.config import Settings
from core.errors import AccessError, ServiceError, StateError
from core.logging import get_logger
from core.retry import expected_wait, retry_call
from core.security import jaas_quote as _jaas_quote
from core.security import pkcs12_truststore
from core.security import secret as _secret
from tickplant import procs

log = get_logger(__name__)
Show = Callable[[str], None]   # where a start-up line for the user goes (`print` in the CLI)
# How long a local server's start-up is expected to take on a small machine: its "nothing listens"
# retries until then are the normal wait (DEBUG), not something for the user to worry about.
EXPECTED_START_S = 90.0

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


@dataclass
class ServiceStatus:
    name: str
    state: str            # up | down | external-up | external-down
    address: str
    pid: int | None = None
    version: str | None = None
    managed: bool = True  # False: the address is not local, tickplant does not run it
    log: str | None = None
    error: str | None = None   # why it refused us (credentials, certificate), when it did

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _NotReady(Exception):
    """The service does not answer yet (retried until the start deadline)."""


class LocalService(ABC):
    """Common life cycle of a JVM server run from var/jars: start, wait until it answers, stop."""

    name = "service"
    main_class = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home / self.name
        self.pid_file = settings.home / "run" / f"{self.name}.pid"
        self.log_file = settings.home / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def host(self) -> str:
        """The address the service listens on."""

    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Every port it binds (the first is the one clients use)."""

    @property
    @abstractmethod
    def is_local(self) -> bool:
        """True when the configured address is this machine, so tickplant runs the service."""

    @abstractmethod
    def prepare(self) -> None:
        """Write its configuration and initialise its storage under TICKPLANT_HOME."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs it in the foreground."""

    @abstractmethod
    def probe(self, timeout_s: float) -> str:
        """Ask the service; returns its version, raises ServiceError if it does not answer."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports[0]}"

    @property
    def jars(self) -> Path:
        return self.settings.jars_dir / self.name

    def installed(self) -> bool:
        """The service's artifacts are in place (a subclass may install them itself)."""
        return any(self.jars.glob("*.jar"))

    def running_pid(self) -> int | None:
        """Our live process id, or None (a stale pid file is ignored)."""
        pid = procs.read_pid(self.pid_file)
        if pid is None or not procs.pid_alive(pid):
            return None
        if self.main_class not in procs.pid_cmdline(pid):
            return None
        return pid

    def start(self, show: Show | None = None) -> ServiceStatus:
        """Start it (or reach it) and wait until it answers; `show` gets one line when it is up."""
        say = show or (lambda line: log.info(line.strip()))
        if not self.is_local:
            self.probe(self.settings.service_timeout_s)
            say(f"{self.name:<10} reached      {self.address} (external)")
            return self.status()
        pid = self.running_pid()
        if pid is not None:
            self.probe(self.settings.service_timeout_s)
            say(f"{self.name:<10} already up   {self.address} pid {pid}")
            return self.status()
        if not self.installed():
            raise ServiceError(f"{self.name} jars not found in {self.jars}; run `make install` first")
        for port in self.ports:
            if not procs.port_bindable(self.host, port):
                raise ServiceError(f"{self.host}:{port} is already in use by another process, so "
                                   f"{self.name} cannot start; stop that process or configure another port")
        self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log_handle:
            process = subprocess.Popen(self.command(), stdout=log_handle, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir)
        self.pid_file.write_text(str(process.pid), encoding="utf-8")
        log.debug("starting", service=self.name, pid=process.pid, address=self.address)
        started = time.monotonic()

        def answer() -> str:
            if process.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {process.returncode} while starting; "
                                   f"last lines of {self.log_file}:\n{procs.tail(self.log_file)}")
            try:
                return self.probe(timeout_s=3)
            except AccessError:
                raise   # it answers, and refuses us: waiting longer cannot help
            except ServiceError as exc:
                raise _NotReady(str(exc)) from None

        try:
            with expected_wait(EXPECTED_START_S):
                retry_call(answer, f"{self.name} start", self.settings.service_timeout_s, retry_on=(_NotReady,),
                           initial_s=0.5, maximum_s=2.0)
        except _NotReady:
            procs.stop_process(process.pid, 30)
            raise ServiceError(f"{self.name} did not answer on {self.address} within "
                               f"{self.settings.service_timeout_s}s; last lines of {self.log_file}:\n"
                               f"{procs.tail(self.log_file)}") from None
        seconds = time.monotonic() - started
        status = self.status()
        log.debug("up", service=self.name, pid=process.pid, seconds=round(seconds, 1))
        say(f"{self.name:<10} up in {seconds:5.1f} s {self.address} pid {process.pid} {status.version or ''}".rstrip())
        return status

    def stop(self, timeout_s: float = 120) -> bool:
        """Graceful stop (SIGTERM: Kafka's controlled shutdown, Cassandra's drain)."""
        if not self.is_local:
            return True
        pid = self.running_pid()
        if pid is None:
            return True
        log.info("stopping", service=self.name, pid=pid)
        clean = procs.stop_process(pid, timeout_s)
        if clean:
            self.pid_file.unlink(missing_ok=True)
        else:
            log.warning("did not stop in time; killed", service=self.name, pid=pid)
            self.pid_file.unlink(missing_ok=True)
        return clean

    def status(self) -> ServiceStatus:
        pid = self.running_pid() if self.is_local else None
        error = None
        try:
            version: str | None = self.probe(timeout_s=5)
        except AccessError as exc:
            version, error = None, str(exc)
        except ServiceError:
            version = None
        answering = version is not None
        if error:
            state = "refused"
        elif self.is_local:
            state = "up" if answering else ("starting" if pid else "down")
        else:
            state = "external-up" if answering else "external-down"
        return ServiceStatus(name=self.name, state=state, address=self.address, pid=pid,
                             version=version, managed=self.is_local,
                             log=str(self.log_file) if self.is_local else None, error=error)

    def java(self) -> str:
        return "java"

    def jvm_options(self) -> list[str]:
        """TICKPLANT_JVM_OPTIONS: extra flags for every JVM tickplant starts (the test suite's are there)."""
        return self.settings.jvm_options.split()


def new_cluster_id() -> str:
    """A random KRaft cluster id: 22 url-safe base64 characters, never starting with "-" (as Kafka's
    own Uuid.randomUuid avoids, since command lines would read it as a flag)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaService(LocalService):
    name = "kafka"
    main_class = "kafka.Kafka"

    @property
    def host(self) -> str:
        return self.settings.kafka_bootstrap_servers[0].rpartition(":")[0] or "127.0.0.1"

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    @property
    def is_local(self) -> bool:
        return self.settings.kafka_is_local

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    def cluster_id(self) -> str:
        """The cluster id kept in var/kafka/cluster.id, checked against the formatted storage."""
        id_file = self.dir / "cluster.id"
        meta = self.data_dir / "meta.properties"
        stored = None
        if meta.exists():
            match = re.search(r"^cluster\.id=(\S+)$", meta.read_text(encoding="utf-8", errors="replace"), re.M)
            if not match:
                raise StateError(f"{meta} is corrupt (no cluster.id); the Kafka data in {self.data_dir} "
                                 "was left untouched: restore the file or move the directory aside")
            stored = match.group(1)
        if id_file.exists():
            cluster_id = id_file.read_text(encoding="utf-8", errors="replace").strip()
            if not re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id):
                raise StateError(f"{id_file} is corrupt (expected a 22-character base64 cluster id); "
                                 "nothing was deleted: fix or remove the file")
            if stored and stored != cluster_id:
                raise StateError(f"Kafka storage {self.data_dir} belongs to cluster {stored} but {id_file} "
                                 f"says {cluster_id}; nothing was deleted: fix one of them")
            return cluster_id
        if stored:
            id_file.write_text(stored + "\n", encoding="utf-8")
            return stored
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StateError(f"{self.data_dir} holds data but no meta.properties; nothing was deleted: "
                             "move the directory aside to start a new Kafka")
        cluster_id = new_cluster_id()
        self.dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster_id + "\n", encoding="utf-8")
        return cluster_id

    def security_lines(self) -> list[str]:
        """The client listener's SASL and TLS settings, from the same variables the clients read: the
        broker accepts the configured user (PLAIN from the JAAS line, SCRAM from the credentials
        added when the storage is formatted) and serves TLS from TICKPLANT_TLS_KEYSTORE."""
        settings, protocol = self.settings, self.settings.kafka_security_protocol
        listener = protocol.lower()
        lines: list[str] = []
        if protocol.startswith("SASL"):
            user, password = settings.kafka_sasl_username, _secret(settings.kafka_sasl_password)
            lines += [
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol=PLAIN",
                f"listener.name.{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain."
                f"PlainLoginModule required username={_jaas_quote(user)} password={_jaas_quote(password)} "
                f"user_{user}={_jaas_quote(password)};",
                f"listener.name.{listener}.scram-sha-256.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"listener.name.{listener}.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        if settings.kafka_uses_tls:
            if not settings.tls_keystore:
                raise ServiceError(f"KAFKA_SECURITY_PROTOCOL={protocol} for the local Kafka needs "
                                   "TICKPLANT_TLS_KEYSTORE (a PKCS12 keystore with the broker's key and certificate)")
            store_password = _secret(settings.tls_keystore_password)
            lines += [
                f"ssl.keystore.location={settings.tls_keystore}",
                "ssl.keystore.type=PKCS12",
                f"ssl.keystore.password={store_password}",
                f"ssl.key.password={store_password}",
                # the broker is its own inter-broker client: it checks its certificate like any client
                "ssl.endpoint.identification.algorithm=" + ("https" if settings.kafka_ssl_check_hostname else ""),
            ]
            if settings.kafka_ssl_cafile:
                lines += [f"ssl.truststore.location={settings.kafka_ssl_cafile}", "ssl.truststore.type=PEM"]
            if settings.kafka_ssl_certfile:
                lines.append("ssl.client.auth=required")
        return lines

    def scram_arguments(self) -> list[str]:
        """`--add-scram` arguments for the storage format: the configured user under both SCRAM hashes."""
        settings = self.settings
        if not settings.kafka_security_protocol.startswith("SASL"):
            return []
        user, password = settings.kafka_sasl_username, _secret(settings.kafka_sasl_password)
        return [argument for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for argument in ("--add-scram", f"{mechanism}=[name={user},password={password}]")]

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self.cluster_id()
        host, port, controller = self.host, self.settings.kafka_port, self.settings.kafka_controller_port
        listener = self.settings.kafka_security_protocol
        # the file may hold the SASL user's password and the keystore's: readable by us only
        self.config_file.touch(mode=0o600, exist_ok=True)
        self.config_file.chmod(0o600)
        self.config_file.write_text("\n".join([
            "# written by tickplant on every start; edit tickplant/services.py instead",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{controller}",
            f"listeners={listener}://{host}:{port},CONTROLLER://{host}:{controller}",
            f"advertised.listeners={listener}://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            f"inter.broker.listener.name={listener}",
            f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
            *self.security_lines(),
            f"log.dirs={self.data_dir}",
            "num.partitions=3",
            "num.network.threads=2",
            "num.io.threads=4",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "log.segment.bytes=268435456",
            "controlled.shutdown.enable=true",
            "",
        ]), encoding="utf-8")
        (self.dir / "log4j.properties").write_text("\n".join([
            "log4j.rootLogger=INFO, stdout",
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "log4j.logger.kafka=INFO",
            "log4j.logger.org.apache.kafka=INFO",
            "log4j.logger.kafka.request.logger=WARN",
            "log4j.logger.state.change.logger=WARN",
            "",
        ]), encoding="utf-8")
        if not (self.data_dir / "meta.properties").exists():
            result = subprocess.run(
                [self.java(), *self.jvm_options(), "-cp", f"{self.jars}/*",
                 f"-Dlog4j.configuration=file:{self.dir}/log4j.properties",
                 # `=` form: a base64 id may begin with "-", which the tool's parser would take for a flag
                 "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.config_file),
                 *self.scram_arguments()],
                capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed: "
                                   f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")

    def command(self) -> list[str]:
        heap = self.settings.kafka_heap_mb
        return [self.java(), f"-Xms{min(heap, 256)}m", f"-Xmx{heap}m", "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true", *self.jvm_options(),
                f"-Dlog4j.configuration=file:{self.dir}/log4j.properties",
                f"-Dkafka.logs.dir={self.settings.home / 'logs'}",
                "-cp", f"{self.jars}/*", self.main_class, str(self.config_file)]

    def probe(self, timeout_s: float) -> str:
        host, port = self.host, self.settings.kafka_port
        if self.is_local and not procs.port_open(host, port):
            raise ServiceError(f"nothing listens on {host}:{port}")
        kafka_clients.wait_for_kafka(self.settings, timeout_s)
        if self.is_local:
            for jar in self.jars.glob("kafka_2.13-*.jar"):
                return jar.stem.split("-", 1)[1]
        return "unknown (remote)"


class CassandraService(LocalService):
    name = "cassandra"
    main_class = "org.apache.cassandra.service.CassandraDaemon"

    @property
    def host(self) -> str:
        return self.settings.cassandra_hosts[0]

    @property
    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    @property
    def is_local(self) -> bool:
        return self.settings.cassandra_is_local

    @property
    def config_file(self) -> Path:
        return self.dir / "conf" / "cassandra.yaml"

    def prepare(self) -> None:
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "conf"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        d, host = self.dir, self.host
        port, storage_port = self.settings.cassandra_port, self.settings.cassandra_storage_port
        config = {
            "cluster_name": "tickplant",
            "num_tokens": 1,
            "initial_token": 0,
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
                               "parameters": [{"seeds": f"{host}:{storage_port}"}]}],
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
        self.config_file.touch(mode=0o600, exist_ok=True)   # may hold the keystore password
        self.config_file.chmod(0o600)
        self.config_file.write_text("# written by tickplant on every start; edit tickplant/services.py instead\n"
                                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
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
        if settings.cassandra_username:
            config.update(authenticator="PasswordAuthenticator", authorizer="CassandraAuthorizer",
                          role_manager="CassandraRoleManager")
        if settings.cassandra_ssl_cafile:
            if not settings.tls_keystore:
                raise ServiceError("CASSANDRA_SSL_CAFILE for the local Cassandra needs TICKPLANT_TLS_KEYSTORE "
                                   "(a PKCS12 keystore with the node's key and certificate)")
            config["client_encryption_options"] = {
                "enabled": True, "optional": False, "keystore": str(settings.tls_keystore),
                "keystore_password": _secret(settings.tls_keystore_password), "store_type": "PKCS12",
                "require_client_auth": bool(settings.cassandra_ssl_certfile),
                **({"truststore": str(self.truststore()), "truststore_password": _secret(
                    settings.tls_keystore_password)} if settings.cassandra_ssl_certfile else {}),
            }
        return config

    def truststore(self) -> Path:
                return pkcs12_truststore(self.settings.cassandra_ssl_cafile, self.dir / "conf" / "truststore.p12",
                                 _secret(self.settings.tls_keystore_password))

    def ensure_role(self, timeout_s: float) -> None:
        """The configured login role, created as a superuser through the default `cassandra` role on a
        fresh local node, whose login is then disabled (its password is public knowledge)."""
        settings = self.settings
        marker = self.dir / "role.created"
        if not settings.cassandra_username or settings.cassandra_username == "cassandra" or marker.exists():
            return
        bootstrap = settings.replace(cassandra_username="cassandra", cassandra_password="cassandra")
        # the default role appears a moment after the port opens; later, its login is disabled and
        # the configured password was simply wrong: the caller reports that refusal
        session = retry_call(lambda: cassandra_db.connect(bootstrap, timeout_s=timeout_s), "cassandra default role",
                             min(timeout_s, 20), retry_on=(AccessError,), initial_s=0.5, maximum_s=2)
        try:
            # role DDL takes no bind markers: the name and password are quoted as CQL literals
            password = _secret(settings.cassandra_password).replace("'", "''")
            session.execute(f"CREATE ROLE IF NOT EXISTS {_cql_name(settings.cassandra_username)} "
                            f"WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '{password}'")
        finally:
            cassandra_db.close(session)
        session = cassandra_db.connect(settings, timeout_s=timeout_s)
        try:
            session.execute("ALTER ROLE cassandra WITH LOGIN = false")
        finally:
            cassandra_db.close(session)
        marker.write_text(settings.cassandra_username + "\n", encoding="utf-8")
        log.info("cassandra role created", role=settings.cassandra_username)

    def command(self) -> list[str]:
        heap = self.settings.cassandra_heap_mb
        return [self.java(), f"-Xms{heap}m", f"-Xmx{heap}m", *CASSANDRA_JVM17_OPTIONS, *self.jvm_options(),
                *self.settings.cassandra_jvm_options.split(),
                f"-Dcassandra.config=file://{self.config_file}",
                "-Dcassandra-foreground=yes",
                f"-Dcassandra.storagedir={self.dir}",
                f"-Dcassandra.logdir={self.settings.home / 'logs'}",
                f"-Dlogback.configurationFile=file://{self.dir}/conf/logback.xml",
                "-cp", f"{self.dir}/conf:{self.jars}/*", self.main_class]

    def probe(self, timeout_s: float) -> str:
        host, port = self.host, self.settings.cassandra_port
        if self.is_local and not procs.port_open(host, port):
            raise ServiceError(f"nothing listens on {host}:{port}")
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


def _cql_name(name: str) -> str:
    """A role name as a quoted CQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def all_services(settings: Settings) -> list[LocalService]:
    return [KafkaService(settings), CassandraService(settings)]


def start_all(settings: Settings, show: Show | None = None) -> list[ServiceStatus]:
    """Start (or reach) Kafka and Cassandra, then create topics and apply migrations; `show` gets one
    line per service when it is up and one for the schema."""
    statuses = [service.start(show) for service in all_services(settings)]
    started = time.monotonic()
    created = kafka_clients.ensure_topics(settings)
    session = cassandra_db.connect(settings, timeout_s=settings.service_timeout_s)
    try:
        applied = cassandra_db.apply_migrations(session, settings)
    finally:
        cassandra_db.close(session)
    topics = f"topics created: {', '.join(created)}" if created else "topics present"
    migrations = f"{len(applied)} migration(s) applied" if applied else "migrations up to date"
    line = f"{'schema':<10} ready in {time.monotonic() - started:5.1f} s {topics}; {migrations}"
    (show or (lambda text: log.info(text)))(line)
    return statuses


def stop_all(settings: Settings) -> dict[str, bool]:
    # Cassandra first: its drain must not wait on anything, Kafka's controlled shutdown neither.
    return {service.name: service.stop() for service in reversed(all_services(settings))}


def status_all(settings: Settings) -> list[ServiceStatus]:
    return [service.status() for service in all_services(settings)]
