"""The Alpaca source against the simulator's Alpaca mode: auth, subscribe, trades normalised into
the same Avro message; wrong credentials are refused and never logged."""

from __future__ import annotations

import logging
import time

from pydantic import SecretStr

from collector.simulator import SimulatorConfig
from core.retry import wait_until
from core.schemas import HEADER_SOURCE, decode_message
from tests.helpers_collector import read_topic, summarise

SECRET = "alp-secret-5d1e8b0c"


def _alpaca_settings(isolated, secret: str = SECRET):
    return isolated.replace(alpaca_api_key=SecretStr("AKTESTKEY"), alpaca_api_secret=SecretStr(secret))


def test_alpaca_trades_arrive_as_the_same_avro_message(isolated, feed):
    config = SimulatorConfig(port=0, protocol="alpaca", rate=3000, seed=77, max_trades=5000,
                             credentials={"key": "AKTESTKEY", "secret": SECRET})
    with feed(config, settings=_alpaca_settings(isolated), source="alpaca", symbols=("AAPL", "MSFT")) as running:
        report = running.finish(30)
    records = read_topic(isolated, isolated.kafka.topic)
    assert summarise(records) == report["symbols"] and report["trades"] == 5000
    message = decode_message(records[0].value)
    assert message["type"] == "trade" and set(message["data"][0]) == {"c", "p", "s", "t", "v"}
    assert message["data"][0]["t"] > 1_600_000_000_000
    assert {r.headers[HEADER_SOURCE] for r in records} == {"simulator"}


def test_alpaca_wrong_secret_is_refused_and_never_logged(isolated, feed, caplog):
    caplog.set_level(logging.INFO)                     # what `tickplant` logs by default
    caplog.set_level(logging.DEBUG, logger="collector")  # and everything of ours
    config = SimulatorConfig(port=0, protocol="alpaca", rate=500, seed=1,
                             credentials={"key": "AKTESTKEY", "secret": "the-right-one"})
    with feed(config, settings=_alpaca_settings(isolated), source="alpaca", symbols=("AAPL",),
              reconnect_initial_s=0.1, reconnect_max_s=0.2) as running:
        simulator, collector = running.simulator, running.collector
        wait_until(lambda: collector.metrics.snapshot()["tickplant_collector_server_errors_total"] >= 2, 20,
                   what="auth refusals", initial_s=0.05, maximum_s=0.1)
        time.sleep(0.3)
        assert collector.trades == 0 and collector.connections >= 2
    assert simulator.report()["trades"] == 0
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(getattr(record, "fields", {}))
