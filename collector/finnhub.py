"""The Finnhub websocket protocol as pure functions over dicts: the messages we send, the
validation of what we receive, and the parsed form every source is normalised into."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

FINNHUB_URL = "wss://ws.finnhub.io"
_MAX_DOUBLE = sys.float_info.max
_LONG = 2**63
_SECRET_QUERY_KEYS = {"token", "key", "secret", "apikey", "api_key", "password"}


@dataclass
class ParsedFrame:
    """One received frame, normalised: good trades grouped by symbol (first-seen order),
    refused trades with their reason, or a frame-level refusal."""

    kind: str                                    # trade | ping | error | control | invalid
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: list[tuple[str, Any]] = field(default_factory=list)   # (reason, raw trade)
    error: str | None = None                     # why the whole frame was refused
    message: str | None = None                   # the server's error text
    events: list[dict[str, Any]] = field(default_factory=list)      # control messages (Alpaca)

    @property
    def trade_count(self) -> int:
        return sum(len(v) for v in self.trades.values())


def finnhub_url(token: str | None, base: str = FINNHUB_URL) -> str:
    return f"{base}?{urlencode({'token': token})}" if token else base


def redact_url(url: str) -> str:
    """The URL with every secret-looking query value masked, safe to log."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def subscribe_message(symbol: str) -> str:
    return json.dumps({"type": "subscribe", "symbol": symbol})


def unsubscribe_message(symbol: str) -> str:
    return json.dumps({"type": "unsubscribe", "symbol": symbol})


def trade_problem(trade: Any) -> str | None:
    """Why `trade` cannot enter the Avro message, or None when it is valid."""
    if type(trade) is not dict:
        return "trade is not an object"
    symbol = trade.get("s")
    if type(symbol) is not str or not symbol:
        return "symbol missing or not a non-empty string"
    price = trade.get("p")
    if type(price) is not float and type(price) is not int:
        return "price missing or not a number"
    if not 0 < price <= _MAX_DOUBLE:
        return f"price {price!r} is not finite and positive"
    volume = trade.get("v")
    if type(volume) is not float and type(volume) is not int:
        return "volume missing or not a number"
    if not 0 <= volume <= _MAX_DOUBLE:
        return f"volume {volume!r} is not finite and non-negative"
    timestamp = trade.get("t")
    if type(timestamp) is not int or not -_LONG <= timestamp < _LONG:
        return "timestamp missing or not an integer"
    conditions = trade.get("c")
    if conditions is not None and (type(conditions) is not list
                                   or any(type(c) is not str for c in conditions)):
        return "conditions not a list of strings or null"
    return None


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
