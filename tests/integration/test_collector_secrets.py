"""A wrong Finnhub token is refused by the simulator like Finnhub does (HTTP 401); the collector
retries with backoff and no log record carries the token."""

from __future__ import annotations

import logging
import time

from pydantic import SecretStr

from collector.client import CollectorOptions
from collector.harness import running_collector, wait_until
from collector.simulator import SimulatorConfig, SimulatorThread

WRONG = "wrong-token-8c2f4e"


def test_wrong_token_is_refused_retried_and_never_logged(isolated, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="collector")
    settings = isolated.replace(finnhub_api_token=SecretStr(WRONG))
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=500, token="the-right-token")).start()
    try:
        options = CollectorOptions(url=simulator.url, symbols=("AAPL",), metrics_port=0, spool_dir=tmp_path / "spool",
                                   reconnect_initial_s=0.05, reconnect_max_s=0.2)
        with running_collector(settings, options) as collector:
            wait_until(lambda: sum("connect failed" in r.getMessage() for r in caplog.records) >= 3, 20,
                       message="refused connections")
            time.sleep(0.2)
            assert collector.trades == 0 and collector.connections == 0
    finally:
        simulator.stop()
    refusals = [r for r in caplog.records if r.getMessage() == "connect failed"]
    assert "401" in refusals[0].fields["error"]
    for record in caplog.records:
        assert WRONG not in record.getMessage() and WRONG not in repr(getattr(record, "fields", {}))
