"""The Alpaca source against the simulator's Alpaca mode: auth, subscribe, trades normalised into
the same Avro message; wrong credentials are refused and never logged."""

from __future__ import annotations

import logging
import time

from pydantic import SecretStr

from collector.client import CollectorOptions
from collector.encoding import decode_message
from collector.harness import read_topic, running_collector, summarise, wait_until
from collector.simulator import SimulatorConfig, SimulatorThread
from core.schemas import HEADER_SOURCE

SECRET = "alp-secret-5d1e8b0c"


def _alpaca_settings(isolated, secret: str = SECRET):
    return isolated.replace(alpaca_api_key=SecretStr("AKTESTKEY"), alpaca_api_secret=SecretStr(secret))


def test_alpaca_trades_arrive_as_the_same_avro_message(isolated, tmp_path):
    simulator = SimulatorThread(SimulatorConfig(port=0, protocol="alpaca", rate=3000, seed=77, max_trades=5000,
                                                alpaca_key="AKTESTKEY", alpaca_secret=SECRET)).start()
    try:
        options = CollectorOptions(url=simulator.url, source="alpaca", symbols=("AAPL", "MSFT"), metrics_port=0,
                                   spool_dir=tmp_path / "spool")
        with running_collector(_alpaca_settings(isolated), options) as collector:
            wait_until(lambda: simulator.report()["done"], 30, message="simulator sent all trades")
            assert collector.publisher.wait_idle(30)
        report = simulator.report()
    finally:
        simulator.stop()
    records = read_topic(isolated, isolated.kafka_topic)
    assert summarise(records) == report["symbols"] and report["trades"] == 5000
    message = decode_message(records[0].value)
    assert message["type"] == "trade" and set(message["data"][0]) == {"c", "p", "s", "t", "v"}
    assert message["data"][0]["t"] > 1_600_000_000_000
    assert {r.headers[HEADER_SOURCE] for r in records} == {"simulator"}


def test_alpaca_wrong_secret_is_refused_and_never_logged(isolated, tmp_path, caplog):
    caplog.set_level(logging.INFO)                     # what `tickplant` logs by default
    caplog.set_level(logging.DEBUG, logger="collector")  # and everything of ours
    simulator = SimulatorThread(SimulatorConfig(port=0, protocol="alpaca", rate=500, seed=1,
                                                alpaca_key="AKTESTKEY", alpaca_secret="the-right-one")).start()
    try:
        options = CollectorOptions(url=simulator.url, source="alpaca", symbols=("AAPL",), metrics_port=0,
                                   spool_dir=tmp_path / "spool", reconnect_initial_s=0.1, reconnect_max_s=0.2)
        with running_collector(_alpaca_settings(isolated), options) as collector:
            wait_until(lambda: collector.metrics.snapshot()["tickplant_collector_server_errors_total"] >= 2, 20,
                       message="auth refusals")
            time.sleep(0.3)
            assert collector.trades == 0 and collector.connections >= 2
    finally:
        simulator.stop()
    assert simulator.report()["trades"] == 0
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(getattr(record, "fields", {}))
