"""Kafka clients built from Settings, topic offsets and read-back, and the idempotent topic set-up
from `schemas/topics.yaml`."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from kafka import BrokerConnection, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    KafkaError,
    NoBrokersAvailable,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
)

from core.config import Settings
from core.errors import AccessError, ServiceError
from core.logging import get_logger
from core.retry import retry_call
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


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings every kafka-python client shares: servers, security protocol, SASL, TLS."""
    return settings.kafka.kafka_python_config()


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    return KafkaProducer(**client_config(settings), **{**RELIABLE_PRODUCER, **overrides})


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    # kafka-python refuses a response larger than receive_message_max_bytes (1 MB by default) while a
    # fetch may return up to 1 MiB per partition: reading a 3-partition topic failed with "Invalid frame
    # length" and retried. A response is at most fetch_max_bytes plus its framing.
    config = {"auto_offset_reset": "earliest", "enable_auto_commit": False, "consumer_timeout_ms": 5_000,
              "fetch_max_bytes": 16 * 1024 * 1024, "receive_message_max_bytes": 17 * 1024 * 1024, **overrides}
    return KafkaConsumer(*topics, **client_config(settings), **config)


def admin(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(**client_config(settings), request_timeout_ms=int(timeout_s * 1000),
                                client_id="tickplant-admin")
    except (NoBrokersAvailable, KafkaError, ssl.SSLError) as exc:
        refusal = access_refusal(settings, exc)
        if refusal:
            raise AccessError(refusal) from None
        raise ServiceError(f"Kafka at {settings.kafka.servers} is not reachable: "
                           f"{type(exc).__name__}") from None


def access_refusal(settings: Settings, exc: BaseException | None = None) -> str | None:
    """One line naming the cause when the broker refused our SASL credentials or we refused its TLS
    certificate; None when neither is the cause. kafka-python often reports both only as
    NoBrokersAvailable, so the first broker is asked once more over a bare connection."""
    servers = settings.kafka.servers
    if not isinstance(exc, ssl.SSLError | SaslAuthenticationFailedError | UnsupportedSaslMechanismError):
        exc = _handshake_error(settings)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"Kafka at {servers} presented a TLS certificate that KAFKA_SSL_CAFILE="
                f"{settings.kafka.ssl_cafile or '(system CAs)'} does not trust ({exc.verify_message})")
    if isinstance(exc, ssl.SSLError) and (exc.reason or "").endswith(("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE")):
        # the broker's alert when it wants a client certificate (TLS 1.2: bad_certificate) or refused ours
        if not settings.kafka.ssl_certfile:
            return (f"Kafka at {servers} requires a client certificate and refused the connection without one "
                    "(set KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE)")
        return f"Kafka at {servers} refused the client certificate KAFKA_SSL_CERTFILE={settings.kafka.ssl_certfile}"
    if isinstance(exc, SaslAuthenticationFailedError):
        return (f"Kafka at {servers} refused SASL {settings.kafka.sasl_mechanism} authentication of user "
                f"{settings.kafka.sasl_username!r} (check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return f"Kafka at {servers} does not offer SASL {settings.kafka.sasl_mechanism} (KAFKA_SASL_MECHANISM)"
    return None


class _HandshakeProbe(BrokerConnection):
    """One connection that keeps the errors it was closed with. kafka-python 2.3.3 hands a refused
    TLS handshake or SASL authentication only to `BrokerConnection.close(error)` (its clients then
    report NoBrokersAvailable), so the probe overrides that public method to see the cause.
    kafka-python 3.x has no `kafka.conn`: moving to it, its clients' own errors replace this probe
    (test_kafka_mutual_tls.py and the secured tests check the causes it finds)."""

    def __init__(self, host: str, port: int, **config: Any) -> None:
        self.errors: list[BaseException] = []
        super().__init__(host, port, socket.AF_UNSPEC, **config, state_change_callback=lambda *_: None)

    def close(self, error: BaseException | None = None) -> None:
        if error is not None:
            self.errors.append(error)
        super().close(error)


def _handshake_error(settings: Settings, timeout_s: float = 5.0) -> BaseException | None:
    """The error of one blocking connection (TLS handshake, SASL) to the first bootstrap server."""
    first = settings.kafka.first
    connection = _HandshakeProbe(first.host, first.port, **settings.kafka.kafka_python_config(with_servers=False))
    try:
        connection.connect_blocking(timeout_s)
    except Exception as exc:  # the handshake's own error is the answer
        return exc
    finally:
        connection.close()
    for error in connection.errors:
        if isinstance(error, ssl.SSLError | SaslAuthenticationFailedError | UnsupportedSaslMechanismError):
            return error
    return None


class _Unanswered(Exception):
    """No answer yet (retried); a refusal (AccessError) is not retried."""


def wait_for_kafka(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """Block until a metadata request answers; returns the cluster description."""
    def describe() -> dict[str, Any]:
        try:
            client = admin(settings, timeout_s=5)
        except AccessError:
            raise
        except ServiceError as exc:
            raise _Unanswered(str(exc)) from None
        try:
            return client.describe_cluster()
        finally:
            client.close()

    servers = settings.kafka.servers
    try:
        return retry_call(describe, f"kafka {servers}", timeout_s, retry_on=(_Unanswered, KafkaError, OSError))
    except AccessError:
        raise
    except (_Unanswered, KafkaError, OSError) as exc:
        raise ServiceError(f"Kafka at {servers} did not answer a metadata request within {timeout_s:.0f}s "
                           f"({str(exc) or type(exc).__name__})") from None


def topic_offsets(settings: Settings, topic: str, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """Partition -> (beginning, end) offsets of `topic` (end: the next offset to be written)."""
    client = consumer(settings, request_timeout_ms=int(timeout_s * 1000) + 1000,
                      api_version_auto_timeout_ms=int(timeout_s * 1000))
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or [])]
        if not partitions:
            return {}
        starts, ends = client.beginning_offsets(partitions), client.end_offsets(partitions)
        return {tp.partition: (int(starts[tp]), int(ends[tp])) for tp in partitions}
    finally:
        client.close()


def end_offsets(settings: Settings, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """Partition -> end offset of `topic`."""
    return {partition: end for partition, (_, end) in topic_offsets(settings, topic, timeout_s).items()}


def read_to_end(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning up to its end offsets at call time, in
    partition/offset order: how checks and benchmarks read back what was produced."""
    ends = end_offsets(settings, topic)
    client = consumer(settings)
    try:
        partitions = [TopicPartition(topic, partition) for partition in ends]
        client.assign(partitions)
        client.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(client.position(tp) < ends[tp.partition] for tp in partitions):
            if time.monotonic() > deadline:
                raise ServiceError(f"reading {topic} did not reach its end offsets within {timeout_s:.0f}s")
            for batch in client.poll(timeout_ms=500).values():
                records.extend(batch)
        return sorted(records, key=lambda record: (record.partition, record.offset))
    finally:
        client.close()


def ensure_topics(settings: Settings) -> list[str]:
    """Create the declared topics that are missing and apply their config; returns those created."""
    specs = topic_specs(settings.kafka.topic)
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
                log.debug("topic created", topic=spec.name, partitions=spec.partitions)
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
