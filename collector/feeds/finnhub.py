"""Finnhub's websocket protocol (`FinnhubFeed`): the token in the URL, one subscribe message per
symbol, `{"type":"trade","data":[...]}` frames whose trades are already the common form, pings;
and the simulator's side of it. The parsing and the messages are pure functions over dicts."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

import orjson

from collector.feeds.base import (
    Feed,
    ParsedFrame,
    Reply,
    Subscriber,
    Trade,
    faulty_trade,
    json_request,
    servable_symbol,
    trade_problem,
)
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings

FINNHUB_URL = "wss://ws.finnhub.io"
# the simulator's trade conditions (base.CONDITION_KINDS) as JSON fragments; "" means the field is absent
CONDITIONS = ('"c":["1","12"],', '"c":["1"],', '"c":null,', "", '"c":["12","37"],')


def finnhub_url(token: str | None, base: str = FINNHUB_URL) -> str:
    return f"{base}?{urlencode({'token': token})}" if token else base


def subscribe_message(symbol: str) -> str:
    return json.dumps({"type": "subscribe", "symbol": symbol})


def unsubscribe_message(symbol: str) -> str:
    return json.dumps({"type": "unsubscribe", "symbol": symbol})


def group_trades(items: list[Any], parsed: ParsedFrame) -> None:
    """Validate each trade; good ones go to parsed.trades by symbol, bad ones to parsed.rejected."""
    by_symbol = parsed.trades
    for trade in items:
        problem = trade_problem(trade)
        if problem is None:
            symbol = trade["s"]
            bucket = by_symbol.get(symbol)
            if bucket is None:
                by_symbol[symbol] = [trade]
            else:
                bucket.append(trade)
        else:
            parsed.rejected.append((problem, trade))


def parse_frame(raw: bytes | str) -> ParsedFrame:
    """Parse one Finnhub websocket frame; never raises."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:    # what orjson refuses but json reads (NaN, integers beyond 64 bits) is judged per trade
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return ParsedFrame("invalid", error=f"invalid JSON: {exc}")
    if type(message) is not dict:
        return ParsedFrame("invalid", error=f"frame is a JSON {type(message).__name__}, not an object")
    kind = message.get("type")
    if kind == "trade":
        data = message.get("data")
        if type(data) is not list:
            return ParsedFrame("invalid", error="trade message without a data list")
        parsed = ParsedFrame("trade")
        group_trades(data, parsed)
        return parsed
    if kind == "ping":
        return ParsedFrame("ping")
    if kind == "error":
        return ParsedFrame("error", message=str(message.get("msg", "")))
    if type(kind) is not str:
        return ParsedFrame("invalid", error="message type missing or not a string")
    return ParsedFrame("invalid", error=f"unknown message type {kind[:40]!r}")


_symbol_json = functools.cache(json.dumps)


def trade_json(trade: Trade) -> str:
    """A simulated trade as Finnhub writes it (the simulator's hot path: formatted by hand)."""
    symbol = _symbol_json(trade.symbol)
    return (f'{{{CONDITIONS[trade.condition]}"p":{trade.price!r},"s":{symbol},'
            f'"t":{trade.timestamp_ms},"v":{trade.volume!r}}}')


def trade_frame(trades: list[str]) -> str:
    return '{"type":"trade","data":[' + ",".join(trades) + "]}"


class FinnhubFeed(Feed):
    name = "finnhub"
    url = FINNHUB_URL
    credential_variables = ("FINNHUB_API_TOKEN",)

    def credentials(self, settings: Settings) -> dict[str, str]:
        token = settings.feed.finnhub_api_token
        return {"token": token.get_secret_value() if token else ""}

    def connection_url(self, url: str | None, credentials: Mapping[str, str]) -> str:
        token = credentials.get("token")
        if url is None:
            if not token:
                raise ConfigError("FINNHUB_API_TOKEN is not set: set it, or pass --url of the "
                                  "simulator (tickplant simulate)")
            return finnhub_url(token)
        if token and "token=" not in url:
            return finnhub_url(token, url)
        return url

    def open_messages(self, symbols: Sequence[str], credentials: Mapping[str, str]) -> list[str]:
        return self.subscribe_messages(symbols)

    def subscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        return [subscribe_message(symbol) for symbol in symbols]

    def unsubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        return [unsubscribe_message(symbol) for symbol in symbols]

    parse = staticmethod(parse_frame)     # a plain function: the collector calls it once per frame

    # -- the simulator's end
    def refuse_handshake(self, query: str, credentials: Mapping[str, str]) -> str | None:
        token = credentials.get("token")
        if token and parse_qs(query).get("token", [""])[0] != token:
            return "Invalid API key\n"
        return None

    def ping_message(self) -> str:
        return '{"type":"ping"}'

    def answer(self, subscriber: Subscriber, message: str | bytes, credentials: Mapping[str, str],
               max_symbols: int) -> Reply | None:
        request = json_request(message)
        if type(request) is not dict or request.get("type") not in ("subscribe", "unsubscribe"):
            return Reply('{"type":"error","msg":"Unknown message type"}')
        symbol = request.get("symbol")
        if not servable_symbol(symbol):
            return Reply(json.dumps({"type": "error", "msg": f"Invalid symbol: {str(symbol)[:40]}"}))
        symbols = subscriber.symbols
        if request["type"] == "unsubscribe":
            if symbol in symbols:
                symbols.remove(symbol)
            return None
        if symbol not in symbols:
            if len(symbols) >= max_symbols:
                return Reply('{"type":"error","msg":"Subscribing to too many symbols"}')
            symbols.append(symbol)
        return None

    trade_text = staticmethod(trade_json)
    frame_text = staticmethod(trade_frame)

    def bad_trade(self, kind: str, trade: Trade) -> str:
        return json.dumps(faulty_trade(kind, trade), separators=(",", ":"))

    def malformed_frame(self, kind: str, rng: random.Random) -> str:
        if kind == "invalid_json":
            text = '{"type":"trade","data":[{"s":"AAPL","p":1'
            return text[: rng.randint(5, len(text))]
        return {"unknown_type": '{"type":"news","data":[]}', "missing_data": '{"type":"trade"}',
                "wrong_type_data": '{"type":"trade","data":"AAPL"}', "not_an_object": '["trade"]'}[kind]
