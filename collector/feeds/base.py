"""What every feed protocol is (`Feed`), and the shapes all feeds share: a received frame parsed into
trades of one common form (`ParsedFrame`, Finnhub-shaped trade dicts checked by `trade_problem`), and
a simulated trade (`Trade`) that the simulator asks a feed to write as that feed's frames."""

from __future__ import annotations

import json
import random
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from core.errors import ConfigError
from core.symbols import check_symbol

if TYPE_CHECKING:
    from core.config import Settings

_MAX_DOUBLE = sys.float_info.max
_LONG = 2**63
CONDITION_KINDS = 5          # a simulated trade's `condition` is 0..4; each feed writes each its own way
# (a frame over the size limit is no fault: the collector splits it per symbol)
FRAME_FAULTS = ("invalid_json", "unknown_type", "missing_data", "wrong_type_data", "not_an_object")
TRADE_FAULTS = ("missing_price", "string_price", "nan_price", "negative_price", "negative_volume",
                "infinite_volume", "empty_symbol", "float_timestamp", "bad_conditions")


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


def trade_problem(trade: Any) -> str | None:
    """Why `trade` (the common form: s, p, t, v, c as Finnhub sends them) cannot enter the Avro
    message, or None when it is valid."""
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


@dataclass(slots=True)
class Trade:
    """A trade the simulator's market made, before a feed writes it."""

    symbol: str
    price: float
    timestamp_ms: int
    volume: float
    condition: int               # 0 .. CONDITION_KINDS - 1
    trade_id: int


def faulty_trade(kind: str, trade: Trade) -> dict[str, Any]:
    """`trade` in the common form with the fault `kind` (one of TRADE_FAULTS) written into it."""
    fields: dict[str, Any] = {"s": trade.symbol, "p": trade.price, "t": trade.timestamp_ms,
                              "v": trade.volume, "c": ["1"]}
    if kind == "missing_price":
        del fields["p"]
    elif kind == "string_price":
        fields["p"] = str(trade.price)
    elif kind == "nan_price":
        fields["p"] = float("nan")
    elif kind == "negative_price":
        fields["p"] = -trade.price
    elif kind == "negative_volume":
        fields["v"] = -1 - trade.volume
    elif kind == "infinite_volume":
        fields["v"] = float("inf")
    elif kind == "empty_symbol":
        fields["s"] = ""
    elif kind == "float_timestamp":
        fields["t"] = trade.timestamp_ms + 0.5
    elif kind == "bad_conditions":
        fields["c"] = "1,12"
    return fields


def servable_symbol(symbol: Any) -> bool:
    """What the simulator serves, as Finnhub does: any symbol a venue could name, upper case
    (`IC MARKETS:1`, `OANDA:EUR_USD`); `not a symbol` gets the feed's invalid-symbol error."""
    if type(symbol) is not str or symbol != symbol.upper():
        return False
    try:
        check_symbol(symbol)
    except ConfigError:
        return False
    return True


def json_request(message: str | bytes) -> Any:
    """A client's message as JSON, or None when it is not JSON."""
    try:
        return json.loads(message)
    except ValueError:
        return None


@dataclass(eq=False)
class Subscriber:
    """The simulator's view of one client connection: what it subscribed, whether it logged in."""

    symbols: list[str] = field(default_factory=list)
    authenticated: bool = False


class Reply(NamedTuple):
    """The simulator's answer to a client message; `close_reason` closes the connection after it."""

    text: str
    close_reason: str | None = None


class Feed(ABC):
    """One websocket market-data protocol, both ends of it.

    The collector's end: `credentials(settings)` and `connection_url(url, credentials)` once; per
    connection `open_messages` right after the handshake, `parse` on every data frame, `replies` when
    a parsed frame holds control events, `subscribe_messages` / `unsubscribe_messages` when the
    symbols file changes. The simulator's end (the same feed's server): `refuse_handshake` on the
    upgrade request, `greeting` once connected, `answer` to each client message, `ping_message`
    every ping interval, `trade_text` and `frame_text` for the stream, and in fault mode `bad_trade`
    (each of TRADE_FAULTS) and `malformed_frame` (each of FRAME_FAULTS).
    """

    name: ClassVar[str]                          # --source / --protocol, FrameContext.protocol
    url: ClassVar[str]                           # the real service's websocket URL
    credential_variables: ClassVar[tuple[str, ...]]   # the settings that hold its secrets (messages)
    authenticated_on_connect: ClassVar[bool] = True   # False: the client logs in with a message first

    # -- the collector's end
    @abstractmethod
    def credentials(self, settings: Settings) -> dict[str, str]:
        """The feed's secrets from `settings` by name, "" where unset."""

    @abstractmethod
    def connection_url(self, url: str | None, credentials: Mapping[str, str]) -> str:
        """The URL to connect to (`url` is --url, None for the real service); ConfigError if the
        credentials it needs are missing."""

    @abstractmethod
    def open_messages(self, symbols: Sequence[str], credentials: Mapping[str, str]) -> list[str]:
        """What the collector sends right after connecting."""

    @abstractmethod
    def subscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        """Messages adding `symbols` (none for no symbols)."""

    @abstractmethod
    def unsubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        """Messages dropping `symbols` (none for no symbols)."""

    def replies(self, events: list[dict[str, Any]], symbols: Sequence[str]) -> list[str]:
        """Messages answering the control events of a parsed frame (e.g. subscribe once logged in)."""
        return []

    @abstractmethod
    def parse(self, raw: bytes | str) -> ParsedFrame:
        """One received frame as trades of the common form; never raises."""

    # -- the simulator's end
    def refuse_handshake(self, query: str, credentials: Mapping[str, str]) -> str | None:
        """Why the upgrade request with URL query `query` is refused (401), or None to accept it."""
        return None

    def greeting(self) -> str | None:
        """The server's first message on a new connection, if any."""
        return None

    def ping_message(self) -> str | None:
        """The application-level ping the server sends every ping interval, if any."""
        return None

    @abstractmethod
    def answer(self, subscriber: Subscriber, message: str | bytes, credentials: Mapping[str, str],
               max_symbols: int) -> Reply | None:
        """Serve one client message: update `subscriber`, and say what to send back."""

    @abstractmethod
    def trade_text(self, trade: Trade) -> str:
        """One valid trade as it appears inside this feed's frame."""

    @abstractmethod
    def frame_text(self, trades: list[str]) -> str:
        """A data frame holding these written trades (from `trade_text` or `bad_trade`)."""

    @abstractmethod
    def bad_trade(self, kind: str, trade: Trade) -> str:
        """A trade with the fault `kind`, one the collector must refuse (one dead letter)."""

    @abstractmethod
    def malformed_frame(self, kind: str, rng: random.Random) -> str:
        """A whole frame with the fault `kind` the collector must refuse (one dead letter)."""
