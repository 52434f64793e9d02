"""The feed objects: each knows its URL and credentials, what the collector sends when, and how the
simulator answers; the registry names them for --source and --protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.feeds import FEEDS, NAMES, Feed
from collector.feeds.base import Subscriber
from core.config import Settings
from core.errors import ConfigError

FINNHUB, ALPACA = FEEDS["finnhub"], FEEDS["alpaca"]


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=Path("/nonexistent/.env"))


def test_the_registry_names_every_feed_once_finnhub_first():
    assert NAMES == ("finnhub", "alpaca")
    assert all(isinstance(feed, Feed) and feed.name == name for name, feed in FEEDS.items())


def test_finnhub_puts_the_token_in_the_url_and_needs_one_for_its_own_service():
    credentials = FINNHUB.credentials(settings(FINNHUB_API_TOKEN="tok"))
    assert credentials == {"token": "tok"}
    assert FINNHUB.connection_url(None, credentials) == "wss://ws.finnhub.io?token=tok"
    assert FINNHUB.connection_url("ws://127.0.0.1:1", credentials) == "ws://127.0.0.1:1?token=tok"
    assert FINNHUB.connection_url("ws://h?token=x", credentials) == "ws://h?token=x"
    assert FINNHUB.connection_url("ws://127.0.0.1:1", {"token": ""}) == "ws://127.0.0.1:1"
    with pytest.raises(ConfigError, match="FINNHUB_API_TOKEN is not set"):
        FINNHUB.connection_url(None, {"token": ""})


def test_finnhub_subscribes_each_symbol_on_connecting():
    assert [json.loads(m) for m in FINNHUB.open_messages(("AAPL", "MSFT"), {"token": ""})] == [
        {"type": "subscribe", "symbol": "AAPL"}, {"type": "subscribe", "symbol": "MSFT"}]
    assert FINNHUB.replies([{"T": "success", "msg": "authenticated"}], ("AAPL",)) == []


def test_alpaca_logs_in_first_and_subscribes_once_authenticated():
    credentials = ALPACA.credentials(settings(ALPACA_API_KEY="k", ALPACA_API_SECRET="s"))
    assert [json.loads(m) for m in ALPACA.open_messages(("AAPL",), credentials)] == [
        {"action": "auth", "key": "k", "secret": "s"}]
    assert ALPACA.replies([{"T": "success", "msg": "connected"}], ("AAPL",)) == []
    (subscribe,) = ALPACA.replies([{"T": "success", "msg": "authenticated"}], ("AAPL", "MSFT"))
    assert json.loads(subscribe) == {"action": "subscribe", "trades": ["AAPL", "MSFT"]}
    assert ALPACA.subscribe_messages(()) == [] and ALPACA.unsubscribe_messages(()) == []


def test_alpaca_needs_credentials_except_on_a_local_url():
    none = ALPACA.credentials(settings(ALPACA_API_KEY="k"))
    assert none == {"key": "k", "secret": ""}
    assert ALPACA.connection_url("ws://127.0.0.1:8765", none) == "ws://127.0.0.1:8765"
    with pytest.raises(ConfigError, match="ALPACA_API_KEY and ALPACA_API_SECRET must be set"):
        ALPACA.connection_url(None, none)
    assert ALPACA.connection_url(None, {"key": "k", "secret": "s"}) == ALPACA.url


def test_the_finnhub_simulator_checks_the_token_and_the_symbol_limit():
    assert FINNHUB.refuse_handshake("token=nope", {"token": "tok"}) == "Invalid API key\n"
    assert FINNHUB.refuse_handshake("token=tok", {"token": "tok"}) is None
    assert FINNHUB.refuse_handshake("", {}) is None
    subscriber = Subscriber(authenticated=FINNHUB.authenticated_on_connect)
    assert FINNHUB.answer(subscriber, FINNHUB.subscribe_messages(["AAPL"])[0], {}, 1) is None
    assert "too many" in FINNHUB.answer(subscriber, FINNHUB.subscribe_messages(["MSFT"])[0], {}, 1).text
    assert "Invalid symbol" in FINNHUB.answer(subscriber, '{"type":"subscribe","symbol":"aapl"}', {}, 1).text
    assert FINNHUB.answer(subscriber, FINNHUB.unsubscribe_messages(["AAPL"])[0], {}, 1) is None
    assert subscriber.symbols == [] and subscriber.authenticated


def test_the_alpaca_simulator_closes_on_a_wrong_secret_and_serves_after_login():
    credentials = {"key": "k", "secret": "s"}
    subscriber = Subscriber(authenticated=ALPACA.authenticated_on_connect)
    assert '"code":401' in ALPACA.answer(subscriber, ALPACA.subscribe_messages(["AAPL"])[0], credentials, 5).text
    refused = ALPACA.answer(subscriber, '{"action":"auth","key":"k","secret":"x"}', credentials, 5)
    assert '"code":402' in refused.text and refused.close_reason == "auth failed"
    assert ALPACA.answer(subscriber, ALPACA.open_messages((), credentials)[0], credentials, 5).close_reason is None
    reply = ALPACA.answer(subscriber, ALPACA.subscribe_messages(["AAPL", "MSFT"])[0], credentials, 5)
    assert json.loads(reply.text)[0]["trades"] == ["AAPL", "MSFT"] == subscriber.symbols
    assert ALPACA.greeting() == '[{"T":"success","msg":"connected"}]' and ALPACA.ping_message() is None

