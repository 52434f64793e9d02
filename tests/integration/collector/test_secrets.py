"""A wrong Finnhub token is refused by the simulator like Finnhub does (HTTP 401); the collector
retries with backoff and no log record carries the token."""

from __future__ import annotations

import logging
import time

from pydantic import SecretStr

from collector.simulator import SimulatorConfig
from core.retry import wait_until

WRONG = "wrong-token-8c2f4e"


def test_wrong_token_is_refused_retried_and_never_logged(isolated, feed, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="collector")
    settings = isolated.replace(finnhub_api_token=SecretStr(WRONG))
    config = SimulatorConfig(port=0, rate=500, credentials={"token": "the-right-token"})
    with feed(config, settings=settings, symbols=("AAPL",), reconnect_initial_s=0.05, reconnect_max_s=0.2) as running:
        collector = running.collector
        wait_until(lambda: sum("connect failed" in r.getMessage() for r in caplog.records) >= 3, 20,
                   what="refused connections", initial_s=0.05, maximum_s=0.1)
        time.sleep(0.2)
        assert collector.trades == 0 and collector.connections == 0
    refusals = [r for r in caplog.records if r.getMessage() == "connect failed"]
    assert "401" in refusals[0].fields["error"]
    for record in caplog.records:
        assert WRONG not in record.getMessage() and WRONG not in repr(getattr(record, "fields", {}))
