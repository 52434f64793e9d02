"""The Alpaca market-data v2 stream as pure functions: auth/subscribe messages, and parsing of
its JSON-array messages into the same normalised form as Finnhub trades."""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

from collector.finnhub import ParsedFrame, trade_problem

ALPACA_URL = "wss://stream.data.alpaca.markets/v2/iex"
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                      r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")
CONTROL_TYPES = ("success", "subscription", "error")


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
