"""Alpaca v2 stream parsing, normalised into Finnhub-shaped trades."""

from __future__ import annotations

import json

import pytest

from collector.feeds.alpaca import auth_message, parse_message, rfc3339_to_ms, subscribe_message


@pytest.mark.parametrize("text, millis", [
    ("2021-02-22T15:51:44.208Z", 1614009104208),
    ("2021-02-22T15:51:44.208123456Z", 1614009104208),
    ("2021-02-22T15:51:44Z", 1614009104000),
    ("2021-02-22T10:51:44.2-05:00", 1614009104200),
])
def test_rfc3339_timestamps_become_epoch_milliseconds(text, millis):
    assert rfc3339_to_ms(text) == millis


def test_trades_are_normalised_and_grouped_by_symbol():
    message = [{"T": "t", "S": "AAPL", "i": 1, "x": "V", "p": 187.3, "s": 100, "c": ["@"],
                "t": "2021-02-22T15:51:44.208Z", "z": "C"},
               {"T": "t", "S": "MSFT", "i": 2, "p": 410.5, "s": 5, "c": None, "t": "2021-02-22T15:51:44.209Z"}]
    parsed = parse_message(json.dumps(message))
    assert parsed.kind == "trade" and not parsed.rejected
    assert parsed.trades["AAPL"] == [{"s": "AAPL", "p": 187.3, "t": 1614009104208, "v": 100, "c": ["@"]}]
    assert parsed.trades["MSFT"][0]["c"] is None


def test_control_messages_are_events_not_trades():
    parsed = parse_message('[{"T":"success","msg":"connected"}]')
    assert parsed.kind == "control" and parsed.events == [{"T": "success", "msg": "connected"}]
    parsed = parse_message('[{"T":"error","code":402,"msg":"auth failed"}]')
    assert parsed.kind == "error" and parsed.message == "402: auth failed"
    parsed = parse_message('[{"T":"subscription","trades":["AAPL"],"quotes":[],"bars":[]}]')
    assert parsed.events[0]["trades"] == ["AAPL"] and parsed.error is None


def test_bad_alpaca_trades_and_frames_are_refused():
    parsed = parse_message('[{"T":"t","S":"AAPL","p":-1,"s":1,"t":"2021-02-22T15:51:44Z"},'
                           '{"T":"t","S":"AAPL","p":1,"s":1,"t":"yesterday"},{"T":"q","S":"AAPL"},7]')
    reasons = [reason for reason, _ in parsed.rejected]
    assert len(reasons) == 4 and "price" in reasons[0] and "RFC 3339" in reasons[1]
    assert "unknown message type" in reasons[2] and "not an object" in reasons[3]
    assert parsed.rejected[0][1]["S"] == "AAPL"   # the dead letter keeps the Alpaca form
    assert parse_message('{"T":"t"}').error.startswith("frame is a JSON dict")
    assert parse_message("[{").error.startswith("invalid JSON")


def test_auth_and_subscribe_messages_follow_alpaca():
    assert json.loads(auth_message("k", "s")) == {"action": "auth", "key": "k", "secret": "s"}
    assert json.loads(subscribe_message(["AAPL"])) == {"action": "subscribe", "trades": ["AAPL"]}
