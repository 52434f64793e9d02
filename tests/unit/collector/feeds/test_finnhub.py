"""Finnhub protocol parsing and validation: pure functions over frames, no sockets."""

from __future__ import annotations

import json

import pytest

from collector.client import redact_url
from collector.feeds.base import trade_problem
from collector.feeds.finnhub import parse_frame, subscribe_message, unsubscribe_message

GOOD = {"s": "AAPL", "p": 187.3, "t": 1700000000123, "v": 100, "c": ["1", "12"]}


def test_trade_frame_groups_trades_by_symbol_in_first_seen_order():
    frame = {"type": "trade", "data": [dict(GOOD), dict(GOOD, s="MSFT"), dict(GOOD, p=188.0)]}
    parsed = parse_frame(json.dumps(frame).encode())
    assert parsed.kind == "trade" and parsed.error is None and not parsed.rejected
    assert list(parsed.trades) == ["AAPL", "MSFT"]
    assert [t["p"] for t in parsed.trades["AAPL"]] == [187.3, 188.0]
    assert parsed.trade_count == 3


@pytest.mark.parametrize("conditions", [None, "absent"])
def test_absent_or_null_conditions_are_valid(conditions):
    trade = dict(GOOD)
    if conditions == "absent":
        del trade["c"]
    else:
        trade["c"] = None
    assert trade_problem(trade) is None


@pytest.mark.parametrize("change, reason", [
    ({"p": float("nan")}, "price"), ({"p": -1.0}, "price"), ({"p": 0}, "price"), ({"p": "187.3"}, "price"),
    ({"p": float("inf")}, "price"), ({"p": True}, "price"), ({"p": None}, "price"),
    ({"v": -1}, "volume"), ({"v": float("nan")}, "volume"), ({"v": float("inf")}, "volume"), ({"v": "1"}, "volume"),
    ({"s": ""}, "symbol"), ({"s": 42}, "symbol"), ({"s": None}, "symbol"),
    ({"t": 1.5}, "timestamp"), ({"t": "1700000000123"}, "timestamp"), ({"t": 2**70}, "timestamp"),
    ({"c": "1,12"}, "conditions"), ({"c": [1, 12]}, "conditions"),
])
def test_invalid_trade_is_refused_with_a_reason(change, reason):
    assert reason in trade_problem({**GOOD, **change})


def test_missing_fields_and_non_objects_are_refused():
    for field in ("s", "p", "t", "v"):
        trade = dict(GOOD)
        del trade[field]
        assert trade_problem(trade) is not None
    assert trade_problem(["AAPL"]) == "trade is not an object"


def test_zero_volume_is_valid():
    assert trade_problem({**GOOD, "v": 0}) is None


def test_bad_trades_are_rejected_and_good_ones_of_the_same_frame_kept():
    frame = '{"type":"trade","data":[{"s":"AAPL","p":NaN,"t":1,"v":1},{"s":"AAPL","p":1.5,"t":2,"v":3}]}'
    parsed = parse_frame(frame)
    assert parsed.trade_count == 1 and parsed.trades["AAPL"][0]["t"] == 2
    assert len(parsed.rejected) == 1 and "price" in parsed.rejected[0][0]


@pytest.mark.parametrize("frame, reason", [
    (b'{"type":"trade","data":[{"s":', "invalid JSON"),
    (b'["trade"]', "not an object"),
    (b'{"type":"news","data":[]}', "unknown message type"),
    (b'{"data":[]}', "type missing"),
    (b'{"type":"trade"}', "data list"),
    (b'{"type":"trade","data":"AAPL"}', "data list"),
    (b"\xff\xfe", "invalid JSON"),
])
def test_malformed_frames_are_refused_whole(frame, reason):
    parsed = parse_frame(frame)
    assert parsed.kind == "invalid" and reason in parsed.error


def test_ping_and_error_messages_are_recognised():
    assert parse_frame('{"type":"ping"}').kind == "ping"
    parsed = parse_frame('{"type":"error","msg":"Subscribing to too many symbols"}')
    assert parsed.kind == "error" and parsed.message == "Subscribing to too many symbols" and parsed.error is None


def test_subscription_messages_follow_finnhub():
    assert json.loads(subscribe_message("BINANCE:BTCUSDT")) == {"type": "subscribe", "symbol": "BINANCE:BTCUSDT"}
    assert json.loads(unsubscribe_message("AAPL")) == {"type": "unsubscribe", "symbol": "AAPL"}


def test_redacted_url_hides_the_token():
    url = redact_url("wss://ws.finnhub.io?token=sekrit123&x=1")
    assert "sekrit123" not in url and "token=***" in url and "x=1" in url
    assert redact_url("ws://127.0.0.1:8765") == "ws://127.0.0.1:8765"
