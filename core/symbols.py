"""Symbol lists (`AAPL, BINANCE:BTCUSDT`) as the settings and every command line parse them; no
heavy import, so the command line can use it while building its parser."""

from __future__ import annotations

import unicodedata

from core.errors import ConfigError

# The daily series `tickplant up` imports on a first start (the S&P 500 closes of the arch package):
# a venue-style prefix that says it is a sample, not a feed's symbol. The History page lists it.
SAMPLE_HISTORY_SYMBOL = "SAMPLE:SP500"
MAX_SYMBOL_LENGTH = 64


def check_symbol(symbol: str) -> str:
    """`symbol` if it can be one, else a ConfigError saying why. A symbol is whatever its venue names
    it (`AAPL`, `BINANCE:BTCUSDT`, `OANDA:EUR_USD`, `FXCM:EUR/USD`, `IC MARKETS:1`, `^GSPC`): only an
    empty one, a comma (the list separator), a control character, spaces around it or a length over
    MAX_SYMBOL_LENGTH is refused."""
    shown = repr(symbol[:MAX_SYMBOL_LENGTH]) + ("..." if len(symbol) > MAX_SYMBOL_LENGTH else "")
    if not symbol.strip():
        raise ConfigError("an empty symbol (expected e.g. AAPL or BINANCE:BTCUSDT)")
    if "," in symbol:
        raise ConfigError(f"{shown} is not a symbol: a comma separates symbols")
    if any(unicodedata.category(char).startswith("C") for char in symbol):
        raise ConfigError(f"{shown} is not a symbol: it holds a control character")
    if symbol != symbol.strip():
        raise ConfigError(f"{shown} is not a symbol: it starts or ends with a space")
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise ConfigError(f"{shown} is not a symbol: longer than {MAX_SYMBOL_LENGTH} characters")
    return symbol


def parse_symbols(text: str) -> tuple[str, ...]:
    """`AAPL, IC MARKETS:1` -> ('AAPL', 'IC MARKETS:1'): comma-separated, each stripped and checked
    (`check_symbol`), order kept, no duplicates."""
    symbols: list[str] = []
    for raw in text.split(","):
        symbol = raw.strip()
        if not symbol:
            continue
        check_symbol(symbol)
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ConfigError("no symbols given (expected e.g. AAPL,BINANCE:BTCUSDT)")
    return tuple(symbols)
