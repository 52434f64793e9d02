"""Symbol lists (`AAPL, BINANCE:BTCUSDT`) as the settings and every command line parse them; no
heavy import, so the command line can use it while building its parser."""

from __future__ import annotations

import re

from core.errors import ConfigError

# The daily series `tickplant up` imports on a first start (the S&P 500 closes of the arch package):
# a venue-style prefix that says it is a sample, not a feed's symbol. The History page lists it.
SAMPLE_HISTORY_SYMBOL = "SAMPLE:SP500"
_SYMBOL = re.compile(r"^[A-Za-z0-9:._/^=-]{1,40}$")


def parse_symbols(text: str) -> tuple[str, ...]:
    """`AAPL, BINANCE:BTCUSDT` -> ('AAPL', 'BINANCE:BTCUSDT'), validated, order kept, no duplicates."""
    symbols: list[str] = []
    for raw in text.split(","):
        symbol = raw.strip()
        if not symbol:
            continue
        if not _SYMBOL.match(symbol):
            raise ConfigError(f"{symbol!r} is not a valid symbol")
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ConfigError("no symbols given (expected e.g. AAPL,BINANCE:BTCUSDT)")
    return tuple(symbols)
