"""The simulator speaks like Finnhub (and Alpaca): token check, subscribe/unsubscribe, errors,
pings, and its report over HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest
import websocket

from collector.simulator import SimulatorConfig, SimulatorThread


@pytest.fixture
def simulator():
    running = SimulatorThread(SimulatorConfig(port=0, rate=200, seed=1, max_symbols=2, ping_interval_s=0.2,
                                              credentials={"token": "tok"})).start()
    yield running
    running.stop()


def _messages(ws: websocket.WebSocket, count: int) -> list[dict]:
    return [json.loads(ws.recv()) for _ in range(count)]


def test_finnhub_errors_pings_and_subscriptions(simulator):
    ws = websocket.create_connection(simulator.url + "/?token=tok", timeout=5)
    try:
        ws.send('{"type":"subscribe","symbol":"AAPL"}')
        ws.send('{"type":"subscribe","symbol":"MSFT"}')
        ws.send('{"type":"subscribe","symbol":"AMZN"}')
        ws.send('{"type":"subscribe","symbol":"not a symbol"}')
        ws.send('{"type":"hello"}')
        seen = _messages(ws, 60)
        errors = [m["msg"] for m in seen if m["type"] == "error"]
        assert errors[:3] == ["Subscribing to too many symbols", "Invalid symbol: not a symbol",
                              "Unknown message type"]
        assert any(m["type"] == "ping" for m in seen)
        symbols = {t["s"] for m in seen if m["type"] == "trade" for t in m["data"]}
        assert symbols == {"AAPL", "MSFT"}
        ws.send('{"type":"unsubscribe","symbol":"AAPL"}')
        _messages(ws, 5)
        later = _messages(ws, 30)
        assert {t["s"] for m in later if m["type"] == "trade" for t in m["data"]} == {"MSFT"}
    finally:
        ws.close()


def test_wrong_token_is_refused_with_401_and_the_report_is_served(simulator):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(simulator.url + "/?token=nope", timeout=5)
    assert refused.value.status_code == 401
    with urllib.request.urlopen(simulator.url.replace("ws://", "http://") + "/report", timeout=5) as response:
        report = json.loads(response.read())
    assert report["seed"] == 1 and "symbols" in report and "dead_letters_expected" in report


def test_alpaca_mode_requires_auth_before_subscribing():
    running = SimulatorThread(SimulatorConfig(port=0, protocol="alpaca", rate=200,
                                              credentials={"key": "k", "secret": "s"})).start()
    ws = websocket.create_connection(running.url, timeout=5)
    try:
        assert json.loads(ws.recv()) == [{"T": "success", "msg": "connected"}]
        ws.send('{"action":"subscribe","trades":["AAPL"]}')
        assert json.loads(ws.recv())[0]["code"] == 401
        ws.send('{"action":"auth","key":"k","secret":"s"}')
        assert json.loads(ws.recv()) == [{"T": "success", "msg": "authenticated"}]
        ws.send('{"action":"subscribe","trades":["AAPL"]}')
        assert json.loads(ws.recv())[0] == {"T": "subscription", "trades": ["AAPL"], "quotes": [], "bars": []}
        trades = json.loads(ws.recv())
        assert trades[0]["T"] == "t" and trades[0]["S"] == "AAPL"
    finally:
        ws.close()
        running.stop()
