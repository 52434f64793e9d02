"""Kafka clients built from Settings, and the idempotent topic set-up from `schemas/topics.yaml`."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, NoBrokersAvailable, TopicAlreadyExistsError

from core.config import Settings
from core.errors import ServiceError
from core.logging import get_logger
from core.schemas import topic_specs

log = get_logger(__name__)

# No-loss producer settings: every record acknowledged by all in-sync replicas, retried
# with backoff, idempotent so a retry never duplicates, batched and compressed.
RELIABLE_PRODUCER = {
    "acks": "all",
    "enable_idempotence": True,
    "retries": 2**31 - 1,
    "retry_backoff_ms": 200,
    "max_in_flight_requests_per_connection": 1,  # kafka-python requires 1 for idempotence
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "compression_type": "lz4",
    "request_timeout_ms": 30_000,
    "delivery_timeout_ms": 600_000,
    "max_block_ms": 10_000,
}


def bootstrap(settings: Settings) -> list[str]:
    return list(settings.kafka_bootstrap_servers)


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    config = {**RELIABLE_PRODUCER, **overrides}
    if config.get("compression_type") == "lz4":
        try:
            import lz4  # noqa: F401
        except ImportError:
            config["compression_type"] = "gzip"
    return KafkaProducer(bootstrap_servers=bootstrap(settings), **config)


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    config = {"auto_offset_reset": "earliest", "enable_auto_commit": False,
              "consumer_timeout_ms": 5_000, **overrides}
    return KafkaConsumer(*topics, bootstrap_servers=bootstrap(settings), **config)


def admin(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap(settings),
                                request_timeout_ms=int(timeout_s * 1000),
                                client_id="tickplant-admin")
    except (NoBrokersAvailable, KafkaError) as exc:
        raise ServiceError(f"Kafka at {','.join(settings.kafka_bootstrap_servers)} is not reachable: "
                           f"{type(exc).__name__}") from None


def wait_for_kafka(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """Block until a metadata request answers; returns the cluster description."""
    deadline = time.monotonic() + timeout_s
    delay, last = 0.25, "no answer"
    while time.monotonic() < deadline:
        try:
            client = admin(settings, timeout_s=5)
            try:
                return client.describe_cluster()
            finally:
                client.close()
        except (ServiceError, KafkaError, OSError) as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(delay)
        delay = min(delay * 2, 3.0)
    raise ServiceError(f"Kafka at {','.join(settings.kafka_bootstrap_servers)} did not answer a "
                       f"metadata request within {timeout_s:.0f}s ({last})")


def ensure_topics(settings: Settings) -> list[str]:
    """Create the declared topics that are missing and apply their config; returns those created."""
    specs = topic_specs(settings.kafka_topic)
    client = admin(settings)
    created: list[str] = []
    try:
        existing = set(client.list_topics())
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                client.create_topics([NewTopic(spec.name, spec.partitions, spec.replication_factor,
                                               topic_configs=spec.config)], timeout_ms=30_000)
                created.append(spec.name)
                log.info("topic created", topic=spec.name, partitions=spec.partitions)
            except TopicAlreadyExistsError:
                pass
        for spec in specs:
            if spec.name not in created and spec.config:
                client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name,
                                                     configs=spec.config)])
    except KafkaError as exc:
        raise ServiceError(f"creating Kafka topics failed: {exc}") from exc
    finally:
        client.close()
    return created


def delete_topics(settings: Settings, names: list[str]) -> None:
    """Best-effort deletion (test and benchmark housekeeping): a failure is logged, never raised."""
    try:
        client = admin(settings)
    except ServiceError as exc:
        log.warning("topic deletion skipped", topics=",".join(names), error=str(exc))
        return
    try:
        client.delete_topics(names)
    except KafkaError as exc:
        log.warning("topic deletion failed", topics=",".join(names), error=str(exc))
    finally:
        client.close()
