"""Schema files: Avro message compatibility, topic declarations, CQL migrations and log redaction."""

import io
import json
import logging

from core.logging import get_logger, setup_logging
from core.schemas import decode_message, encode_message, migrations, split_cql, topic_specs, trade_schema_json


def test_avro_schema_is_the_finnhub_message_existing_pipelines_use():
    schema = json.loads(trade_schema_json())
    assert (schema["name"], schema["namespace"]) == ("message", "FinnhubProducer")
    assert [f["name"] for f in schema["fields"]] == ["data", "type"]
    trade = schema["fields"][0]["type"]["items"]
    assert [(f["name"], f["type"]) for f in trade["fields"][1:]] == [
        ("p", "double"), ("s", "string"), ("t", "long"), ("v", "double")]
    assert trade["fields"][0]["type"] == [{"type": "array", "items": ["null", "string"], "default": []}, "null"]


def test_avro_round_trip_keeps_every_field_including_null_conditions():
    message = {"type": "trade", "data": [
        {"c": ["1", "12"], "p": 187.3, "s": "AAPL", "t": 1700000000123, "v": 100.0},
        {"c": None, "p": 42000.5, "s": "BINANCE:BTCUSDT", "t": 1700000000124, "v": 0.015},
    ]}
    assert decode_message(encode_message(message["data"], message["type"])) == message


def test_topics_yaml_declares_market_and_its_dead_letter_topic():
    specs = {s.role: s for s in topic_specs("market")}
    assert specs["trades"].name == "market" and specs["dead_letters"].name == "market.dlq"
    assert specs["trades"].config["cleanup.policy"] == "delete"
    assert int(specs["trades"].config["retention.ms"]) > 0 and specs["trades"].partitions >= 1


def test_migrations_cover_every_table_of_the_design():
    first = migrations("market", "{'class': 'SimpleStrategy', 'replication_factor': 1}")[0]
    text = "\n".join(first.statements)
    for table in ("trades", "trades_5s", "bars_1m", "daily_bars", "latest_prices", "dead_letters",
                  "pipeline_metrics", "gbm_runs", "gbm_forecasts", "gbm_terminal", "gbm_backtest"):
        assert f"CREATE TABLE IF NOT EXISTS market.{table} (" in text
    assert "PRIMARY KEY ((symbol, trade_date), trade_timestamp, trade_id)" in text
    assert "{keyspace}" not in text and "{replication}" not in text


def test_split_cql_ignores_comments_and_keeps_statements_whole():
    assert split_cql("-- a comment\nCREATE TABLE x (\n a int PRIMARY KEY\n);\n// other\nDROP TABLE y;") == [
        "CREATE TABLE x (\n a int PRIMARY KEY\n)", "DROP TABLE y"]


def test_logs_are_key_value_and_redact_registered_secrets():
    stream = io.StringIO()
    setup_logging("INFO", secrets=["hunter2-token"], stream=stream)
    get_logger("tickplant.test").info("connecting", url="wss://x?token=hunter2-token", rows=3)
    logging.getLogger().handlers[-1].flush()
    line = stream.getvalue().strip()
    assert "hunter2-token" not in line
    assert 'event=connecting url="wss://x?token=***" rows=3' in line
