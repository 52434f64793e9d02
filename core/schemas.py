"""Loading the declarative schemas in `schemas/`: the Avro trade message, topics, CQL migrations."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
import yaml

from core.errors import SchemaError

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
TRADES_AVSC = SCHEMAS_DIR / "trades.avsc"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.cql$")


def trade_schema_json() -> str:
    """The Avro schema text of the topic's values (what Spark's `from_avro` takes)."""
    return TRADES_AVSC.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def trade_schema() -> Any:
    """The parsed fastavro schema of a Finnhub trade message (parsed once per process)."""
    try:
        return fastavro.parse_schema(json.loads(trade_schema_json()))
    except (ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"{TRADES_AVSC}: invalid Avro schema: {exc}") from exc


def encode_message(trades: list[dict[str, Any]], message_type: str = "trade") -> bytes:
    """A Finnhub message `{"type": message_type, "data": trades}` as schemaless Avro, the value of a
    record on the trades topic (an absent `c` becomes null, an integer volume a double)."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, trade_schema(), {"type": message_type, "data": trades})
    return buffer.getvalue()


def decode_message(value: bytes) -> dict[str, Any]:
    """The Finnhub message a record value holds (the inverse of `encode_message`)."""
    return fastavro.schemaless_reader(io.BytesIO(value), trade_schema())  # type: ignore[return-value]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    role: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def topic_specs(topic: str, path: Path | None = None) -> list[TopicSpec]:
    """The topics of `schemas/topics.yaml` with `{topic}` replaced by KAFKA_TOPIC."""
    path = path or SCHEMAS_DIR / "topics.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        specs = []
        for entry in document["topics"]:
            specs.append(TopicSpec(
                name=str(entry["name"]).replace("{topic}", topic),
                role=str(entry.get("role", "")),
                partitions=int(entry["partitions"]),
                replication_factor=int(entry.get("replication_factor", 1)),
                config={str(k): str(v) for k, v in (entry.get("config") or {}).items()},
            ))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{path}: invalid topic declaration: {exc}") from exc
    return specs


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_cql(text: str) -> list[str]:
    """Split a CQL file into statements on `;` at line ends, ignoring `--` and `//` comments."""
    statements, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--") or stripped.startswith("//"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current).rstrip())
    return statements


def migrations(keyspace: str, replication: str, directory: Path | None = None) -> list[Migration]:
    """The CQL migrations in version order, with `{keyspace}` and `{replication}` filled in."""
    directory = directory or SCHEMAS_DIR / "cassandra"
    found = []
    for path in sorted(directory.glob("*.cql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise SchemaError(f"{path.name}: migration files are named NNN_description.cql")
        raw = path.read_text(encoding="utf-8")
        text = raw.replace("{keyspace}", keyspace).replace("{replication}", replication)
        found.append(Migration(version=match.group(1), name=path.stem,
                               statements=tuple(split_cql(text)),
                               checksum=hashlib.sha256(raw.encode()).hexdigest()[:16]))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"{directory}: two migrations share a version number")
    return found


# Kafka record headers on `market` (values are UTF-8 text). Trade identity downstream is
# f"{producer_id}-{sequence}-{index in the record's data array}", so a replay that keeps the
# original headers, or a producer retry, never creates a second row.
HEADER_PRODUCER_ID = "tp-producer-id"
HEADER_SEQUENCE = "tp-seq"
HEADER_RECEIVED_AT = "tp-received-ms"   # epoch milliseconds when the collector received the frame
HEADER_SOURCE = "tp-source"             # finnhub | alpaca | simulator | replay
HEADER_DLQ_REASON = "tp-dlq-reason"     # on `<topic>.dlq` only: why the frame or trade was refused
# Optional: a record combining several frames of one symbol carries ASCII run-lengths
# "seq:count,seq:count,..." in record order; the trade at record position k belongs to the run
# covering k, and its id is f"{producer_id}-{run seq}-{position inside the run}" (the same id it
# gets uncombined). Then tp-seq is the first run's seq and tp-received-ms the earliest frame's.
HEADER_FRAMES = "tp-frames"
