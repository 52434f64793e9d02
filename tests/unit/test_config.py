"""Configuration: defaults, validation messages, `.env`, and secrets that never show."""

from pathlib import Path

import pytest

from core.config import DEFAULT_SYMBOLS, Secret, Settings, parse_symbols
from core.errors import ConfigError


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=Path("/nonexistent/.env"))


def test_defaults_follow_the_design_contract():
    s = settings()
    assert s.symbols == tuple(DEFAULT_SYMBOLS.split(","))
    assert s.kafka_bootstrap_servers == ("127.0.0.1:9092",)
    assert s.kafka_topic == "market" and s.dead_letter_topic == "market.dlq"
    assert (s.cassandra_hosts, s.cassandra_port, s.cassandra_keyspace) == (("127.0.0.1",), 9042, "market")
    assert s.spark_master == "local[*]"
    assert s.finnhub_api_token is None and s.cassandra_password is None
    assert s.kafka_is_local and s.cassandra_is_local


@pytest.mark.parametrize("env, fragment", [
    ({"CASSANDRA_PORT": "abc"}, "CASSANDRA_PORT='abc' is not a port number"),
    ({"CASSANDRA_PORT": "70000"}, "CASSANDRA_PORT='70000' is out of range"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "host:xyz"}, "KAFKA_BOOTSTRAP_SERVERS='xyz'"),
    ({"KAFKA_TOPIC": "bad topic"}, "KAFKA_TOPIC='bad topic'"),
    ({"CASSANDRA_KEYSPACE": "1market"}, "CASSANDRA_KEYSPACE='1market'"),
    ({"TICKPLANT_SYMBOLS": " , "}, "TICKPLANT_SYMBOLS is empty"),
    ({"TICKPLANT_SYMBOLS": "AAPL,BAD SYMBOL"}, "'BAD SYMBOL' is not a valid symbol"),
    ({"CASSANDRA_PASSWORD": "pw"}, "CASSANDRA_USERNAME is not"),
])
def test_invalid_variable_gives_a_clear_message(env, fragment):
    with pytest.raises(ConfigError) as excinfo:
        settings(**env)
    assert fragment in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_secrets_never_appear_in_repr_str_or_describe():
    s = settings(FINNHUB_API_TOKEN="tok-SECRET-123", CASSANDRA_USERNAME="u", CASSANDRA_PASSWORD="pw-SECRET-456")
    for text in (repr(s), str(s), str(s.describe()), repr(s.finnhub_api_token), f"{s.cassandra_password}"):
        assert "tok-SECRET-123" not in text and "pw-SECRET-456" not in text
    assert s.finnhub_api_token.reveal() == "tok-SECRET-123"
    assert sorted(s.secret_values()) == ["pw-SECRET-456", "tok-SECRET-123"]
    assert s.describe()["finnhub_api_token"] == "set"


def test_dotenv_fills_gaps_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nexport KAFKA_TOPIC=fromfile\n"
                      "CASSANDRA_KEYSPACE='ks_file'\nTICKPLANT_SYMBOLS=\"AAPL\"\n")
    s = Settings.from_env({"KAFKA_TOPIC": "fromenv"}, dotenv=dotenv)
    assert (s.kafka_topic, s.cassandra_keyspace, s.symbols) == ("fromenv", "ks_file", ("AAPL",))


def test_malformed_dotenv_line_names_file_and_line(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        Settings.from_env({}, dotenv=dotenv)


def test_remote_addresses_are_not_local():
    s = settings(KAFKA_BOOTSTRAP_SERVERS="kafka1.prod:9092,kafka2.prod:9092", CASSANDRA_HOSTS="10.0.0.5")
    assert not s.kafka_is_local and not s.cassandra_is_local


def test_symbols_are_deduplicated_in_order():
    assert parse_symbols(" AAPL ,MSFT,AAPL,BINANCE:BTCUSDT") == ("AAPL", "MSFT", "BINANCE:BTCUSDT")


def test_secret_equality_does_not_reveal():
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
