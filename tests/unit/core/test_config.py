"""Configuration: every variable parsed and validated (good, bad, missing), `.env`, and secrets
that never show in repr, str, JSON dumps, logs or `tickplant config`."""

import argparse
import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.arguments import symbol_list
from core.config import DEFAULT_SYMBOLS, Settings, parse_symbols, variables
from core.errors import ConfigError
from core.logging import setup_logging
from tests.helpers import run_cli


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=Path("/nonexistent/.env"))


def test_defaults_follow_the_design_contract():
    s = settings()
    assert s.feed.symbols == tuple(DEFAULT_SYMBOLS.split(","))
    assert s.kafka.servers == "127.0.0.1:9092"
    assert s.kafka.topic == "market" and s.kafka.dead_letter_topic == "market.dlq"
    assert (s.cassandra.hosts, s.cassandra.port, s.cassandra.keyspace) == (("127.0.0.1",), 9042, "market")
    assert s.spark.master == "local[*]"
    assert s.feed.finnhub_api_token is None and s.cassandra.password is None
    assert s.kafka.is_local and s.cassandra.is_local
    assert (s.runtime.simulator_port, s.runtime.metrics_port, s.runtime.dashboard_port, s.sql.presto_port,
            s.sql.superset_port) == (8765, 9108, 8501, 8080, 8088)
    assert s.kafka.security_protocol == "PLAINTEXT" and s.sql.presto_url == "http://127.0.0.1:8080"
    assert not s.sql.presto_external
    assert (s.spark.shuffle_partitions, s.spark.parallelism, s.spark.ui, s.spark.log_level) == (2, 2, False, "WARN")


# One good value per variable, with the attribute and the parsed value it must give.
GOOD = {
    "TICKPLANT_SYMBOLS": ("AAPL, BINANCE:BTCUSDT", "feed.symbols", ("AAPL", "BINANCE:BTCUSDT")),
    "FINNHUB_API_TOKEN": ("tok", "feed.finnhub_api_token", SecretStr("tok")),
    "ALPACA_API_KEY": ("key", "feed.alpaca_api_key", SecretStr("key")),
    "ALPACA_API_SECRET": ("sec", "feed.alpaca_api_secret", SecretStr("sec")),
    "TICKPLANT_ARCHIVE_RETENTION_HOURS": ("36.5", "feed.archive_retention_hours", 36.5),
    "TICKPLANT_ARCHIVE_RETENTION_BYTES": ("1000000", "feed.archive_retention_bytes", 1_000_000),
    "TICKPLANT_JOURNAL_MAX_BYTES": ("104857600", "feed.journal_max_bytes", 104_857_600),
    "KAFKA_BOOTSTRAP_SERVERS": ("k1:9092,k2:9093", "kafka.servers", "k1:9092,k2:9093"),
    "KAFKA_TOPIC": ("ticks", "kafka.topic", "ticks"),
    "KAFKA_SECURITY_PROTOCOL": ("SSL", "kafka.security_protocol", "SSL"),
    "KAFKA_SASL_MECHANISM": ("SCRAM-SHA-512", "kafka.sasl_mechanism", "SCRAM-SHA-512"),
    "KAFKA_SASL_USERNAME": ("alice", "kafka.sasl_username", "alice"),
    "KAFKA_SASL_PASSWORD": ("pw", "kafka.sasl_password", SecretStr("pw")),
    "KAFKA_SSL_CAFILE": ("/etc/ca.pem", "kafka.ssl_cafile", Path("/etc/ca.pem")),
    "KAFKA_SSL_CERTFILE": ("/etc/client.pem", "kafka.ssl_certfile", Path("/etc/client.pem")),
    "KAFKA_SSL_KEYFILE": ("/etc/client.key", "kafka.ssl_keyfile", Path("/etc/client.key")),
    "KAFKA_SSL_CHECK_HOSTNAME": ("false", "kafka.ssl_check_hostname", False),
    "CASSANDRA_HOSTS": ("c1, c2", "cassandra.hosts", ("c1", "c2")),
    "CASSANDRA_PORT": ("19042", "cassandra.port", 19042),
    "CASSANDRA_KEYSPACE": ("ks_1", "cassandra.keyspace", "ks_1"),
    "CASSANDRA_USERNAME": ("bob", "cassandra.username", "bob"),
    "CASSANDRA_PASSWORD": ("pw", "cassandra.password", SecretStr("pw")),
    "CASSANDRA_SSL_CAFILE": ("/etc/cas.pem", "cassandra.ssl_cafile", Path("/etc/cas.pem")),
    "CASSANDRA_SSL_CERTFILE": ("/etc/c.pem", "cassandra.ssl_certfile", Path("/etc/c.pem")),
    "CASSANDRA_SSL_KEYFILE": ("/etc/c.key", "cassandra.ssl_keyfile", Path("/etc/c.key")),
    "CASSANDRA_SSL_CHECK_HOSTNAME": ("no", "cassandra.ssl_check_hostname", False),
    "CASSANDRA_PROTOCOL_VERSION": ("4", "cassandra.protocol_version", 4),
    "CASSANDRA_LOCAL_DC": ("dc1", "cassandra.local_dc", "dc1"),
    "CASSANDRA_REPLICATION": ("{'class': 'NetworkTopologyStrategy', 'dc1': 3}", "cassandra.replication",
                              "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"),
    "SPARK_MASTER": ("spark://m:7077", "spark.master", "spark://m:7077"),
    "TICKPLANT_SPARK_SHUFFLE_PARTITIONS": ("8", "spark.shuffle_partitions", 8),
    "TICKPLANT_SPARK_PARALLELISM": ("4", "spark.parallelism", 4),
    "TICKPLANT_SPARK_UI": ("true", "spark.ui", True),
    "TICKPLANT_SPARK_LOG_LEVEL": ("ERROR", "spark.log_level", "ERROR"),
    "TICKPLANT_SIMULATOR_PORT": ("18765", "runtime.simulator_port", 18765),
    "TICKPLANT_METRICS_PORT": ("19108", "runtime.metrics_port", 19108),
    "TICKPLANT_DASHBOARD_PORT": ("18501", "runtime.dashboard_port", 18501),
    "TICKPLANT_STREAM_METRICS_PORT": ("0", "runtime.stream_metrics_port", 0),
    "TICKPLANT_MAX_FUTURE_MS": ("2500", "spark.max_future_ms", 2500),
    "TICKPLANT_STREAM_METRICS_HOST": ("0.0.0.0", "runtime.stream_metrics_host", "0.0.0.0"),
    "TICKPLANT_PRESTO_PORT": ("18080", "sql.presto_port", 18080),
    "TICKPLANT_SUPERSET_PORT": ("18088", "sql.superset_port", 18088),
    "PRESTO_URL": ("presto:8080", "sql.presto_url", "http://presto:8080"),
    "TICKPLANT_PRESTO_HEAP_MB": ("768", "sql.presto_heap_mb", 768),
    "SUPERSET_ADMIN_USERNAME": ("boss", "sql.superset_admin_username", "boss"),
    "SUPERSET_ADMIN_PASSWORD": ("longenough", "sql.superset_admin_password", SecretStr("longenough")),
    "SUPERSET_SECRET_KEY": ("k" * 32, "sql.superset_secret_key", SecretStr("k" * 32)),
    "TICKPLANT_SUPERSET_VENV": ("/tmp/ss-venv", "sql.superset_venv", Path("/tmp/ss-venv")),
    "TICKPLANT_HOME": ("/tmp/tp-home", "runtime.home", Path("/tmp/tp-home")),
    "TICKPLANT_JARS": ("/tmp/tp-jars", "runtime.jars_dir", Path("/tmp/tp-jars")),
    "TICKPLANT_KAFKA_CONTROLLER_PORT": ("19093", "runtime.kafka_controller_port", 19093),
    "TICKPLANT_CASSANDRA_STORAGE_PORT": ("17000", "runtime.cassandra_storage_port", 17000),
    "TICKPLANT_KAFKA_HEAP_MB": ("384", "runtime.kafka_heap_mb", 384),
    "TICKPLANT_CASSANDRA_HEAP_MB": ("768", "runtime.cassandra_heap_mb", 768),
    "TICKPLANT_CASSANDRA_JVM_OPTIONS": ("-Dcassandra.skip_sync=true -Xss512k", "runtime.cassandra_jvm_options",
                                        "-Dcassandra.skip_sync=true -Xss512k"),
    "TICKPLANT_JVM_OPTIONS": ("-XX:TieredStopAtLevel=1", "jvm_options", "-XX:TieredStopAtLevel=1"),
    "TICKPLANT_SPARK_JVM_OPTIONS": ("-XX:+UseSerialGC -Xss1m", "spark_jvm_options", "-XX:+UseSerialGC -Xss1m"),
    "TICKPLANT_SERVICE_TIMEOUT": ("60", "service_timeout_s", 60),
    "TICKPLANT_TLS_KEYSTORE": ("/etc/server.p12", "tls_keystore", Path("/etc/server.p12")),
    "TICKPLANT_TLS_KEYSTORE_PASSWORD": ("ks", "tls_keystore_password", SecretStr("ks")),
    # the rehearsal cluster (issue 21)
    "TICKPLANT_SPARK_MASTER_PORT": ("47077", "spark_master_port", 47077),
    "TICKPLANT_SPARK_MASTER_UI_PORT": ("48080", "spark_master_ui_port", 48080),
    "TICKPLANT_SPARK_WORKER_PORT": ("47078", "spark_worker_port", 47078),
    "TICKPLANT_SPARK_WORKER_UI_PORT": ("48081", "spark_worker_ui_port", 48081),
    "TICKPLANT_SPARK_WORKER_MEMORY": ("512m", "spark_worker_memory", "512m"),
    "TICKPLANT_SPARK_EXECUTOR_VENV": ("/tmp/ex-venv", "spark_executor_venv", Path("/tmp/ex-venv")),
    "TICKPLANT_CASSANDRA_JMX_PORT": ("47199", "runtime.cassandra_jmx_port", 47199),
    "TICKPLANT_CLUSTER_KAFKA_HEAP_MB": ("256", "runtime.cluster_kafka_heap_mb", 256),
    "TICKPLANT_CLUSTER_CASSANDRA_HEAP_MB": ("512", "runtime.cluster_cassandra_heap_mb", 512),
}
# Variables that only make sense with a partner: what the good value needs beside it.
PARTNERS = {
    "CASSANDRA_PASSWORD": {"CASSANDRA_USERNAME": "bob"},
    "KAFKA_SSL_CAFILE": {"KAFKA_SECURITY_PROTOCOL": "SSL"},
    "KAFKA_SSL_CERTFILE": {"KAFKA_SSL_KEYFILE": "/etc/client.key"},
    "KAFKA_SSL_KEYFILE": {"KAFKA_SSL_CERTFILE": "/etc/client.pem"},
    "CASSANDRA_SSL_CERTFILE": {"CASSANDRA_SSL_KEYFILE": "/etc/c.key"},
    "CASSANDRA_SSL_KEYFILE": {"CASSANDRA_SSL_CERTFILE": "/etc/c.pem"},
    "TICKPLANT_TLS_KEYSTORE_PASSWORD": {"TICKPLANT_TLS_KEYSTORE": "/etc/server.p12"},
}


def test_every_variable_has_a_good_value_case():
    assert set(GOOD) == set(variables())


@pytest.mark.parametrize("variable", sorted(GOOD))
def test_each_variable_is_parsed(variable):
    text, attribute, expected = GOOD[variable]
    s = settings(**{variable: text, **PARTNERS.get(variable, {})})
    view, _, name = attribute.rpartition(".")
    assert getattr(getattr(s, view) if view else s, name) == expected


BAD = [
    ({"CASSANDRA_PORT": "abc"}, "CASSANDRA_PORT='abc': Input should be a valid integer"),
    ({"CASSANDRA_PORT": "70000"}, "CASSANDRA_PORT='70000': Input should be less than or equal to 65535"),
    ({"TICKPLANT_SIMULATOR_PORT": "0"}, "TICKPLANT_SIMULATOR_PORT='0': Input should be greater than or equal to 1"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "host:xyz"}, "KAFKA_BOOTSTRAP_SERVERS='host:xyz': 'xyz' is not a port number"),
    ({"KAFKA_BOOTSTRAP_SERVERS": " , "}, "KAFKA_BOOTSTRAP_SERVERS=' , ': no address given"),
    ({"KAFKA_TOPIC": "bad topic"}, "KAFKA_TOPIC='bad topic': is not a valid topic name"),
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS': Input should be 'PLAINTEXT'"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM='GSSAPI': Input should be 'PLAIN'"),
    ({"CASSANDRA_HOSTS": ","}, "CASSANDRA_HOSTS=',': no host given"),
    ({"CASSANDRA_KEYSPACE": "1market"}, "CASSANDRA_KEYSPACE='1market': is not a valid keyspace name"),
    ({"TICKPLANT_SYMBOLS": " , "}, "TICKPLANT_SYMBOLS=' , ': no symbols given"),
    ({"TICKPLANT_SYMBOLS": "AAPL,BAD\tSYMBOL"},
     "TICKPLANT_SYMBOLS='AAPL,BAD\\tSYMBOL': 'BAD\\tSYMBOL' is not a symbol: it holds a control character"),
    ({"TICKPLANT_SYMBOLS": "AAPL," + "X" * 65}, "is not a symbol: longer than 64 characters"),
    ({"CASSANDRA_PASSWORD": "pw"}, "CASSANDRA_PASSWORD is set but CASSANDRA_USERNAME is not"),
    ({"TICKPLANT_SPARK_UI": "maybe"}, "TICKPLANT_SPARK_UI='maybe': Input should be a valid boolean"),
    ({"TICKPLANT_SPARK_LOG_LEVEL": "LOUD"}, "TICKPLANT_SPARK_LOG_LEVEL='LOUD': Input should be 'ALL'"),
    ({"TICKPLANT_SPARK_PARALLELISM": "0"}, "TICKPLANT_SPARK_PARALLELISM='0': Input should be greater than"),
    ({"TICKPLANT_KAFKA_HEAP_MB": "10"}, "TICKPLANT_KAFKA_HEAP_MB='10': Input should be greater than or equal to 64"),
    ({"TICKPLANT_SERVICE_TIMEOUT": "-1"}, "TICKPLANT_SERVICE_TIMEOUT='-1': Input should be greater than"),
    ({"PRESTO_URL": "ftp://x:1"}, "PRESTO_URL='ftp://x:1': is not an http(s)://host:port address"),
    ({"PRESTO_URL": "http://h:port"}, "PRESTO_URL='http://h:port': has an invalid port"),
    ({"TICKPLANT_PRESTO_HEAP_MB": "lots"}, "TICKPLANT_PRESTO_HEAP_MB='lots': Input should be a valid integer"),
    ({"SUPERSET_ADMIN_PASSWORD": "short"}, "SUPERSET_ADMIN_PASSWORD: is shorter than 8 characters"),
    ({"SUPERSET_SECRET_KEY": "short"}, "SUPERSET_SECRET_KEY: is shorter than 32 characters"),
    ({"KAFKA_SSL_CERTFILE": "/c.pem"}, "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together"),
    ({"KAFKA_SSL_KEYFILE": "/c.key"}, "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together"),
    ({"KAFKA_SSL_CHECK_HOSTNAME": "sometimes"}, "KAFKA_SSL_CHECK_HOSTNAME='sometimes': Input should be a valid"),
    ({"KAFKA_SSL_CAFILE": "/ca.pem"}, "KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
    ({"CASSANDRA_SSL_CERTFILE": "/c.pem"}, "CASSANDRA_SSL_CERTFILE and CASSANDRA_SSL_KEYFILE go together"),
    ({"CASSANDRA_SSL_KEYFILE": "/c.key"}, "CASSANDRA_SSL_CERTFILE and CASSANDRA_SSL_KEYFILE go together"),
    ({"CASSANDRA_SSL_CHECK_HOSTNAME": "2"}, "CASSANDRA_SSL_CHECK_HOSTNAME='2': Input should be a valid boolean"),
    ({"CASSANDRA_PROTOCOL_VERSION": "7"}, "CASSANDRA_PROTOCOL_VERSION='7': Input should be less than or equal to 6"),
    ({"TICKPLANT_STREAM_METRICS_PORT": "-1"}, "TICKPLANT_STREAM_METRICS_PORT='-1': Input should be greater than"),
    ({"TICKPLANT_MAX_FUTURE_MS": "-1"}, "TICKPLANT_MAX_FUTURE_MS='-1': Input should be greater than"),
    ({"CASSANDRA_PROTOCOL_VERSION": "v4"}, "CASSANDRA_PROTOCOL_VERSION='v4': Input should be a valid integer"),
    ({"TICKPLANT_TLS_KEYSTORE_PASSWORD": "pw"}, "TICKPLANT_TLS_KEYSTORE_PASSWORD is set but TICKPLANT_TLS_KEYSTORE"),
]


@pytest.mark.parametrize("env, message", BAD)
def test_invalid_variable_gives_one_line_naming_the_variable_and_rule(env, message):
    with pytest.raises(ConfigError) as excinfo:
        settings(**env)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_a_bad_secret_value_is_never_echoed():
    s = settings(CASSANDRA_USERNAME="u", CASSANDRA_PASSWORD="pw-SECRET-1")
    with pytest.raises(ConfigError) as excinfo:
        s.replace(cassandra_password=12345678)
    assert "12345678" not in str(excinfo.value) and "pw-SECRET-1" not in str(excinfo.value)


def test_missing_variables_take_their_documented_defaults():
    s = settings()
    assert (s.cassandra.username, s.cassandra.ssl_cafile, s.cassandra.local_dc, s.kafka.sasl_mechanism) == (
        None, None, None, None)
    assert s.runtime.home.name == "var" and s.runtime.jars_dir == s.runtime.home / "jars"


def test_empty_values_count_as_unset():
    assert settings(KAFKA_TOPIC="", FINNHUB_API_TOKEN="").kafka_topic == "market"
    assert settings(FINNHUB_API_TOKEN="").finnhub_api_token is None


SECRETS = dict(FINNHUB_API_TOKEN="tok-SECRET-123", CASSANDRA_USERNAME="u", CASSANDRA_PASSWORD="pw-SECRET-456",
               ALPACA_API_KEY="ak-SECRET-7", ALPACA_API_SECRET="as-SECRET-8",
               KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="PLAIN", KAFKA_SASL_USERNAME="k",
               KAFKA_SASL_PASSWORD="kp-SECRET-9", TICKPLANT_TLS_KEYSTORE="/ks.p12",
               TICKPLANT_TLS_KEYSTORE_PASSWORD="ks-SECRET-10", SUPERSET_ADMIN_PASSWORD="sp-SECRET-12",
               SUPERSET_SECRET_KEY="sk-SECRET-11" + "x" * 32)
SECRET_VALUES = ("tok-SECRET-123", "pw-SECRET-456", "ak-SECRET-7", "as-SECRET-8", "kp-SECRET-9", "ks-SECRET-10",
                 "sp-SECRET-12", "sk-SECRET-11")


def test_secrets_never_appear_in_repr_str_json_or_describe():
    s = settings(**SECRETS)
    texts = (repr(s), str(s), s.model_dump_json(), json.dumps(s.describe()), repr(s.feed.finnhub_api_token),
             f"{s.cassandra.password}")
    for text in texts:
        assert not any(secret in text for secret in SECRET_VALUES), text
    assert s.feed.finnhub_api_token.get_secret_value() == "tok-SECRET-123"
    assert sorted(s.secret_values()) == sorted([*SECRET_VALUES[:-1], "sk-SECRET-11" + "x" * 32])
    view = s.describe()
    assert [view[name] for name in ("FINNHUB_API_TOKEN", "CASSANDRA_PASSWORD", "ALPACA_API_KEY",
                                    "ALPACA_API_SECRET", "KAFKA_SASL_PASSWORD", "SUPERSET_ADMIN_PASSWORD",
                                    "SUPERSET_SECRET_KEY")] == ["set"] * 7
    assert settings().describe()["ALPACA_API_KEY"] == "unset"


def test_secrets_are_redacted_from_logs():
    s = settings(**SECRETS)
    stream = io.StringIO()
    setup_logging("INFO", secrets=s.secret_values(), stream=stream)
    logging.getLogger("tickplant.test").warning("connect failed with %s and %s", "tok-SECRET-123", s)
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = stream.getvalue()
    assert "connect failed" in logged
    assert not any(secret in logged for secret in SECRET_VALUES)


def test_tickplant_config_shows_every_secret_only_as_set_or_unset(tmp_path):
    result = run_cli("config", "--json", env={**SECRETS, "ALPACA_API_KEY": "", "TICKPLANT_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["FINNHUB_API_TOKEN"] == "set" and view["ALPACA_API_KEY"] == "unset"
    assert set(view) == set(variables())
    assert not any(secret in result.stdout + result.stderr for secret in SECRET_VALUES)


def test_dotenv_fills_gaps_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nexport KAFKA_TOPIC=fromfile\n"
                      "CASSANDRA_KEYSPACE='ks_file'\nTICKPLANT_SYMBOLS=\"AAPL\"\n")
    s = Settings.from_env({"KAFKA_TOPIC": "fromenv"}, dotenv=dotenv)
    assert (s.kafka.topic, s.cassandra.keyspace, s.feed.symbols) == ("fromenv", "ks_file", ("AAPL",))


def test_dotenv_in_the_working_directory_is_read_by_the_cli(tmp_path):
    (tmp_path / ".env").write_text("KAFKA_TOPIC=from_dotenv\nTICKPLANT_METRICS_PORT=19999\n")
    import subprocess
    import sys

    from tests.helpers import ROOT
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "tickplant", "config", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert (view["KAFKA_TOPIC"], view["TICKPLANT_METRICS_PORT"]) == ("from_dotenv", 19999)


def test_malformed_dotenv_line_names_file_and_line(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        Settings.from_env({}, dotenv=dotenv)


def test_a_bad_variable_stops_the_cli_with_one_line_and_exit_2():
    result = run_cli("config", env={"CASSANDRA_PORT": "abc"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tickplant: error: CASSANDRA_PORT='abc': Input should be a valid integer, unable to parse string as an integer"]


def test_remote_addresses_are_not_local():
    s = settings(KAFKA_BOOTSTRAP_SERVERS="kafka1.prod:9092,kafka2.prod:9092", CASSANDRA_HOSTS="10.0.0.5")
    assert not s.kafka.is_local and not s.cassandra.is_local


def test_symbols_are_deduplicated_in_order():
    assert parse_symbols(" AAPL ,MSFT,AAPL,BINANCE:BTCUSDT") == ("AAPL", "MSFT", "BINANCE:BTCUSDT")


# as Finnhub's own symbol lists name them: forex venues with a space, underscores, slashes
FINNHUB_SYMBOLS = ("IC MARKETS:1", "OANDA:EUR_USD", "FXCM:EUR/USD", "BINANCE:BTCUSDT", "^GSPC", "BRK.B")


def test_every_symbol_a_venue_names_is_accepted_by_the_settings_and_the_command_line(monkeypatch):
    monkeypatch.setenv("TICKPLANT_SYMBOLS", ", ".join(FINNHUB_SYMBOLS))
    assert Settings().feed.symbols == FINNHUB_SYMBOLS
    assert symbol_list("IC MARKETS:1,OANDA:EUR_USD") == ("IC MARKETS:1", "OANDA:EUR_USD")


@pytest.mark.parametrize(("text", "why"), [
    ("AAPL,MSFT\x00", "'MSFT\\x00' is not a symbol: it holds a control character"),
    ("IC\nMARKETS:1", "'IC\\nMARKETS:1' is not a symbol: it holds a control character"),
    ("A" * 65, f"'{'A' * 64}'... is not a symbol: longer than 64 characters"),
    (" , ,", "no symbols given (expected e.g. AAPL,BINANCE:BTCUSDT)"),
])
def test_only_what_cannot_be_a_symbol_is_refused_and_the_error_says_why(text, why):
    with pytest.raises(ConfigError) as caught:
        parse_symbols(text)
    assert str(caught.value) == why
    with pytest.raises(argparse.ArgumentTypeError) as caught_cli:
        symbol_list(text)
    assert str(caught_cli.value) == why


def test_replace_validates_and_keeps_the_rest():
    s = settings(KAFKA_TOPIC="a")
    assert s.replace(cassandra_keyspace="k2").kafka_topic == "a"
    with pytest.raises(ConfigError, match="CASSANDRA_KEYSPACE='bad-ks'"):
        s.replace(cassandra_keyspace="bad-ks")


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SSL_CHECK_HOSTNAME": "sometimes"},
     "KAFKA_SSL_CHECK_HOSTNAME='sometimes': Input should be a valid boolean, unable to interpret input"),
    ({"CASSANDRA_PROTOCOL_VERSION": "9"}, "CASSANDRA_PROTOCOL_VERSION='9': Input should be less than or equal to 6"),
    ({"KAFKA_SSL_CERTFILE": "/c.pem"}, "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together: set both or neither"),
    ({"TICKPLANT_TLS_KEYSTORE_PASSWORD": "ks-SECRET-x"},
     "TICKPLANT_TLS_KEYSTORE_PASSWORD is set but TICKPLANT_TLS_KEYSTORE is not"),
])
def test_a_bad_security_variable_stops_the_cli_with_one_line_and_exit_2(env, message):
    result = run_cli("config", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"tickplant: error: {message}"]
    assert "ks-SECRET-x" not in result.stdout + result.stderr


def test_jvm_options_reach_every_jvm_tickplant_starts(tmp_path):
    from core.spark import spark_conf
    from tickplant.runtime.cassandra import CassandraService
    from tickplant.runtime.kafka import KafkaService
    from tickplant.runtime.trino import TrinoService

    s = settings(TICKPLANT_JVM_OPTIONS="-XX:TieredStopAtLevel=1 -Xss2m", TICKPLANT_SPARK_JVM_OPTIONS="-XX:+UseSerialGC",
                 TICKPLANT_HOME=str(tmp_path))
    assert spark_conf(s, "t", with_jars=False)["spark.driver.extraJavaOptions"] == \
        "-XX:TieredStopAtLevel=1 -Xss2m -XX:+UseSerialGC"
    for service in (KafkaService(s), CassandraService(s), TrinoService(s, s.sql)):
        command = service.command()
        flags = command[:command.index("-cp")]
        assert "-XX:TieredStopAtLevel=1" in flags and "-Xss2m" in flags, service.name
        assert "-XX:+UseSerialGC" not in command, service.name
    assert "spark.driver.extraJavaOptions" not in spark_conf(settings(), "t", with_jars=False)


def test_code_reads_the_nested_views_not_the_flat_variables():
    """Outside core/config.py every read goes through settings.feed/kafka/cassandra/spark/runtime/sql:
    the flat fields exist only to read the variables by name."""
    import re

    from core.config import PROJECT_ROOT

    flat = "|".join(sorted(Settings.model_fields, key=len, reverse=True))
    read = re.compile(r"\b(?:self\._settings|self\.settings|settings)\.(" + flat + r")\b(?!\s*=[^=])")
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
                 for folder in ("core", "collector", "stream_processor", "gbm_analysis", "dashboard", "tickplant",
                                "benchmarks")
                 for path in sorted((PROJECT_ROOT / folder).rglob("*.py")) if path.name != "config.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if read.search(line)]
    assert offenders == []
