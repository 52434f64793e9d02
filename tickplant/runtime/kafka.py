"""The local Kafka broker: one KRaft node (broker and controller) run from its Maven Central jars,
its server.properties (listeners, SASL/SCRAM, TLS) and storage formatted with a kept cluster id; with
`--nodes 3` three such nodes on 127.0.0.1-3 (`kafka_cluster`): a three-voter quorum, every topic
replicated three times with min.insync.replicas=2."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import replace
from pathlib import Path

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from core import kafka as kafka_clients
from core.config import Settings
from core.connections import secret
from core.errors import ServiceError, StateError
from core.schemas import topic_specs
from tickplant.runtime.base import LocalService, require_listening, run_checked, write_properties

WRITER = "tickplant/runtime/kafka.py"
CLUSTER_REPLICATION = 3   # the rehearsal's topics: every partition on all three nodes
CLUSTER_MIN_ISR = 2       # acks=all needs two of them: one node may die without a write refused


def new_cluster_id() -> str:
    """A random KRaft cluster id: 22 url-safe base64 characters, never starting with "-" (as Kafka's
    own Uuid.randomUuid avoids, since command lines would read it as a flag)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaService(LocalService):
    """The single broker, or (`node` 1-3) one of the rehearsal cluster's three: node n is `kafka-n` on
    127.0.0.n with the same ports as the single broker, its storage in var/kafka-n."""

    name = "kafka"
    main_class = "kafka.Kafka"

    @property
    def host(self) -> str:
        if self.node is not None:
            return f"127.0.0.{self.node}"
        return self.settings.kafka.first.host

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka.port, self.settings.runtime.kafka_controller_port]

    @property
    def is_local(self) -> bool:
        return self.settings.kafka.is_local

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def id_file(self) -> Path:
        """var/kafka/cluster.id; the three nodes share var/kafka-cluster/cluster.id."""
        if self.node is not None:
            return self.settings.runtime.home / "kafka-cluster" / "cluster.id"
        return self.dir / "cluster.id"

    def cluster_id(self) -> str:
        """The cluster id kept in `id_file`, checked against the formatted storage."""
        id_file = self.id_file
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
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster_id + "\n", encoding="utf-8")
        return cluster_id

    def security_properties(self) -> dict[str, str]:
        """The client listener's SASL and TLS settings (the Kafka model renders them), served with
        TICKPLANT_TLS_KEYSTORE."""
        kafka, runtime = self.settings.kafka, self.settings.runtime
        if kafka.uses_tls and not runtime.tls_keystore:
            raise ServiceError(f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol} for the local Kafka needs "
                               "TICKPLANT_TLS_KEYSTORE (a PKCS12 keystore with the broker's key and certificate)")
        return kafka.broker_security(runtime.tls_keystore, secret(runtime.tls_keystore_password))

    def scram_arguments(self) -> list[str]:
        """`--add-scram` arguments for the storage format: the configured user under both SCRAM hashes."""
        return self.settings.kafka.scram_arguments()

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self.cluster_id()
        # the file may hold the SASL user's password and the keystore's: readable by us only
        write_properties(self.config_file, {
            "process.roles": "broker,controller",
            "node.id": str(self.node or 1),
            **self.listeners(),
            **self.security_properties(),
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
            "log.segment.bytes": "268435456",
            "controlled.shutdown.enable": "true",
            **self.cluster_properties(),
        }, writer=WRITER, private=True)
        write_properties(self.dir / "log4j.properties", {
            "log4j.rootLogger": "INFO, stdout",
            "log4j.appender.stdout": "org.apache.log4j.ConsoleAppender",
            "log4j.appender.stdout.layout": "org.apache.log4j.PatternLayout",
            "log4j.appender.stdout.layout.ConversionPattern": "[%d] %p %m (%c)%n",
            "log4j.logger.kafka": "INFO",
            "log4j.logger.org.apache.kafka": "INFO",
            "log4j.logger.kafka.request.logger": "WARN",
            "log4j.logger.state.change.logger": "WARN",
        }, writer=WRITER)
        if not (self.data_dir / "meta.properties").exists():
            run_checked(
                [self.java(), *self.jvm_options(), "-cp", f"{self.jars}/*",
                 f"-Dlog4j.configuration=file:{self.dir}/log4j.properties",
                 # `=` form: a base64 id may begin with "-", which the tool's parser would take for a flag
                 "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.config_file),
                 *self.scram_arguments()],
                "formatting Kafka storage failed", timeout=120)

    def listeners(self) -> dict[str, str]:
        """The single broker's listeners, or a cluster node's on its own host in the three-voter quorum."""
        controller = self.settings.runtime.kafka_controller_port
        if self.node is None:
            return self.settings.kafka.broker_listeners(controller)
        voters = [f"127.0.0.{n}" for n in range(1, KAFKA_NODES + 1)]
        return self.settings.kafka.broker_listeners(controller, host=self.host, voters=voters)

    def cluster_properties(self) -> dict[str, str]:
        """A cluster node's replication defaults (its internal topics too); none for the single broker."""
        if self.node is None:
            return {}
        replicas, min_isr = str(CLUSTER_REPLICATION), str(CLUSTER_MIN_ISR)
        return {"default.replication.factor": replicas, "min.insync.replicas": min_isr,
                "offsets.topic.replication.factor": replicas, "transaction.state.log.replication.factor": replicas,
                "transaction.state.log.min.isr": min_isr}

    def command(self) -> list[str]:
        runtime = self.settings.runtime
        heap = runtime.cluster_kafka_heap_mb if self.node is not None else runtime.kafka_heap_mb
        return [self.java(), f"-Xms{min(heap, 256)}m", f"-Xmx{heap}m", "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true", *self.jvm_options(),
                f"-Dlog4j.configuration=file:{self.dir}/log4j.properties",
                f"-Dkafka.logs.dir={self.settings.runtime.home / 'logs'}",
                "-cp", f"{self.jars}/*", self.main_class, str(self.config_file)]

    def probe(self, timeout_s: float) -> str:
        if self.is_local:
            require_listening(self.host, self.settings.kafka.port)
        settings = self.settings
        if self.node is not None:   # this node's own answer, not the cluster's
            settings = settings.replace(kafka_bootstrap_servers=(self.address,))
        kafka_clients.wait_for_kafka(settings, timeout_s)
        if self.is_local:
            for jar in self.jars.glob("kafka_2.13-*.jar"):
                return jar.stem.split("-", 1)[1]
        return "unknown (remote)"


KAFKA_NODES = 3


def kafka_cluster(settings: Settings) -> list[LocalService]:
    """The rehearsal's three KRaft nodes (each broker and controller, a three-voter quorum)."""
    return [KafkaService(settings, node) for node in range(1, KAFKA_NODES + 1)]


def ensure_cluster_topics(settings: Settings) -> list[str]:
    """The declared topics that are missing created with replication factor 3 (min.insync.replicas=2
    is the nodes' default); `core.kafka.ensure_topics` then brings their config up to date."""
    client = kafka_clients.admin(settings)
    created: list[str] = []
    try:
        existing = set(client.list_topics())
        for spec in topic_specs(settings.kafka.topic):
            if spec.name in existing:
                continue
            spec = replace(spec, replication_factor=CLUSTER_REPLICATION)
            try:
                client.create_topics([NewTopic(spec.name, spec.partitions, spec.replication_factor,
                                               topic_configs=spec.config)], timeout_ms=30_000)
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
    except KafkaError as exc:
        raise ServiceError(f"creating the cluster's Kafka topics failed: {exc}") from exc
    finally:
        client.close()
    return created
