"""Alpaca's market-data v2 stream (`AlpacaFeed`): log in with an auth message, subscribe once the
server says `authenticated`, JSON-array frames of typed objects whose trades (`T: t`, RFC 3339
stamps) are normalised into the common form; and the simulator's side of it."""

from __future__ import annotations

import calendar
import json
import random
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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

ALPACA_URL = "wss://stream.data.alpaca.markets/v2/iex"
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                      r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")
CONTROL_TYPES = ("success", "subscription", "error")
# the simulator's trade conditions (base.CONDITION_KINDS)
CONDITIONS = (["@"], ["@", "I"], None, ["T"], ["@", "F"])


def auth_message(key: str, secret: str) -> str:
    return json.dumps({"action": "auth", "key": key, "secret": secret})


def subscribe_message(symbols: list[str]) -> str:
    return json.dumps({"action": "subscribe", "trades": list(symbols)})


def unsubscribe_message(symbols: list[str]) -> str:
    return json.dumps({"action": "unsubscribe", "trades": list(symbols)})


def rfc3339_to_ms(text: str) -> int:
    """`2024-01-02T15:04:05.123456789Z` -> epoch milliseconds (sub-ms digits truncated)."""
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if sign:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return seconds * 1000 + millis


def normalise_trade(item: dict[str, Any]) -> dict[str, Any] | str:
    """An Alpaca trade object as a Finnhub-shaped trade, or the reason it cannot be one."""
    stamp = item.get("t")
    if type(stamp) is not str:
        return "timestamp missing or not an RFC 3339 string"
    try:
        millis = rfc3339_to_ms(stamp)
    except ValueError as exc:
        return str(exc)
    return {"s": item.get("S"), "p": item.get("p"), "t": millis, "v": item.get("s"), "c": item.get("c")}


def parse_message(raw: bytes | str) -> ParsedFrame:
    """Parse one Alpaca frame (a JSON array of typed objects); never raises."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFrame("invalid", error=f"invalid JSON: {exc}")
    if type(message) is not list:
        return ParsedFrame("invalid", error=f"frame is a JSON {type(message).__name__}, not an array")
    parsed = ParsedFrame("control")
    for item in message:
        kind = item.get("T") if type(item) is dict else None
        if kind == "t":
            trade = normalise_trade(item)
            problem = trade if isinstance(trade, str) else trade_problem(trade)
            if problem is None:
                parsed.trades.setdefault(trade["s"], []).append(trade)
            else:
                parsed.rejected.append((problem, item))
        elif kind in CONTROL_TYPES:
            parsed.events.append(item)
            if kind == "error":
                parsed.message = f"{item.get('code')}: {item.get('msg')}"
        elif type(item) is not dict:
            parsed.rejected.append(("array element is not an object", item))
        else:
            parsed.rejected.append((f"unknown message type {str(kind)[:40]!r}", item))
    if parsed.trades:
        parsed.kind = "trade"
    elif parsed.message is not None and not parsed.rejected:
        parsed.kind = "error"
    return parsed


def rfc3339(millis: int, extra_digits: int = 0) -> str:
    """Nanosecond RFC 3339 text, as Alpaca sends; `extra_digits` fills the sub-millisecond part."""
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}{extra_digits % 10**6:06d}Z"


def trade_json(trade: Trade) -> str:
    """A simulated trade as Alpaca writes it."""
    return json.dumps({"T": "t", "S": trade.symbol, "i": trade.trade_id, "x": "V", "p": trade.price,
                       "s": trade.volume, "c": CONDITIONS[trade.condition],
                       "t": rfc3339(trade.timestamp_ms, trade.trade_id * 7919), "z": "C"},
                      separators=(",", ":"))


def trade_frame(trades: list[str]) -> str:
    return "[" + ",".join(trades) + "]"


class AlpacaFeed(Feed):
    name = "alpaca"
    url = ALPACA_URL
    credential_variables = ("ALPACA_API_KEY", "ALPACA_API_SECRET")
    authenticated_on_connect = False

    def credentials(self, settings: Settings) -> dict[str, str]:
        key, secret = settings.feed.alpaca_api_key, settings.feed.alpaca_api_secret
        return {"key": key.get_secret_value() if key else "", "secret": secret.get_secret_value() if secret else ""}

    def connection_url(self, url: str | None, credentials: Mapping[str, str]) -> str:
        from core.connections import is_local_host  # pydantic: not while the command line builds its parser

        url = url or ALPACA_URL
        if not all(credentials.values()) and not is_local_host(urlsplit(url).hostname or ""):
            raise ConfigError("ALPACA_API_KEY and ALPACA_API_SECRET must be set for --source alpaca")
        return url

    def open_messages(self, symbols: Sequence[str], credentials: Mapping[str, str]) -> list[str]:
        return [auth_message(credentials.get("key", ""), credentials.get("secret", ""))]

    def subscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        return [subscribe_message(list(symbols))] if symbols else []

    def unsubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        return [unsubscribe_message(list(symbols))] if symbols else []

    def replies(self, events: list[dict[str, Any]], symbols: Sequence[str]) -> list[str]:
        return [message for event in events if event.get("T") == "success" and event.get("msg") == "authenticated"
                for message in self.subscribe_messages(symbols)]

    parse = staticmethod(parse_message)

    # -- the simulator's end
    def greeting(self) -> str:
        return '[{"T":"success","msg":"connected"}]'

    def answer(self, subscriber: Subscriber, message: str | bytes, credentials: Mapping[str, str],
               max_symbols: int) -> Reply | None:
        request = json_request(message)
        action = request.get("action") if type(request) is dict else None
        if action == "auth":
            expected = (credentials.get("key"), credentials.get("secret"))
            if any(expected) and (request.get("key"), request.get("secret")) != expected:
                return Reply('[{"T":"error","code":402,"msg":"auth failed"}]', close_reason="auth failed")
            subscriber.authenticated = True
            return Reply('[{"T":"success","msg":"authenticated"}]')
        if action not in ("subscribe", "unsubscribe"):
            return Reply('[{"T":"error","code":400,"msg":"invalid syntax"}]')
        if not subscriber.authenticated:
            return Reply('[{"T":"error","code":401,"msg":"not authenticated"}]')
        symbols = request.get("trades") or []
        if type(symbols) is not list or not all(servable_symbol(s) for s in symbols):
            return Reply('[{"T":"error","code":400,"msg":"invalid syntax"}]')
        subscribed = subscriber.symbols
        for symbol in symbols:
            if action == "unsubscribe" and symbol in subscribed:
                subscribed.remove(symbol)
            elif action == "subscribe" and symbol not in subscribed:
                if len(subscribed) >= max_symbols:
                    return Reply('[{"T":"error","code":405,"msg":"symbol limit exceeded"}]')
                subscribed.append(symbol)
        return Reply(json.dumps([{"T": "subscription", "trades": subscribed, "quotes": [], "bars": []}]))

    trade_text = staticmethod(trade_json)
    frame_text = staticmethod(trade_frame)

    def bad_trade(self, kind: str, trade: Trade) -> str:
        fields = faulty_trade(kind, trade)
        stamp = fields.get("t")
        written = {"T": "t", "S": fields.get("s"), "p": fields.get("p"), "s": fields.get("v"),
                   "c": fields.get("c"), "i": trade.trade_id,
                   "t": rfc3339(stamp) if type(stamp) is int else "not a time"}
        if kind == "missing_price":
            del written["p"]
        return json.dumps(written, separators=(",", ":"))

    def malformed_frame(self, kind: str, rng: random.Random) -> str:
        if kind == "invalid_json":
            text = '[{"T":"t","S":'
            return text[: rng.randint(5, len(text))]
        # every other fault is a frame that is not a JSON array
        return {"unknown_type": '{"T":"t"}', "missing_data": "null", "wrong_type_data": '"trades"',
                "not_an_object": "42"}[kind]
