"""The feed protocols the collector reads and the simulator speaks, by name. Adding a feed is one
module here with a `Feed` subclass (see base.py for what it provides), plus its line in FEEDS."""

from __future__ import annotations

from collector.feeds.alpaca import AlpacaFeed
from collector.feeds.base import Feed, ParsedFrame, Trade
from collector.feeds.finnhub import FinnhubFeed

FEEDS: dict[str, Feed] = {feed.name: feed for feed in (FinnhubFeed(), AlpacaFeed())}
NAMES = tuple(FEEDS)                   # --source and --protocol choices; the first is the default
EXPECTED = " or ".join(NAMES)          # for messages: "expected finnhub or alpaca"

__all__ = ["EXPECTED", "FEEDS", "NAMES", "Feed", "ParsedFrame", "Trade"]
