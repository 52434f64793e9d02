"""argparse types shared by the `tickplant` command line and the jobs' own `spark-submit` parsers:
a bad flag is refused while parsing, before any service, socket or JVM starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _number(kind: Callable[[str], float], rule: str, accept: Callable[[float], bool]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value
    parse.__name__ = rule
    return parse


positive_int = _number(int, "a whole number >= 1", lambda v: v >= 1)
non_negative_int = _number(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _number(float, "a number > 0", lambda v: v > 0)
non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0)
port = _number(int, "a port number (1-65535)", lambda v: 1 <= v <= 65535)
port_or_zero = _number(int, "a port number (1-65535, or 0)", lambda v: 0 <= v <= 65535)
probability = _number(float, "a probability (0 to 1)", lambda v: 0 <= v <= 1)


def symbol_list(text: str) -> tuple[str, ...]:
    """`--symbols AAPL,MSFT` -> ('AAPL', 'MSFT'), validated like TICKPLANT_SYMBOLS (core.symbols)."""
    from core.symbols import parse_symbols

    try:
        return parse_symbols(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def one_symbol(text: str) -> str:
    """`--symbol ^GSPC` -> '^GSPC', validated like TICKPLANT_SYMBOLS; a list is refused."""
    symbols = symbol_list(text)
    if len(symbols) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not one symbol like AAPL or ^GSPC")
    return symbols[0]


def symbol_value(text: str) -> tuple[str, float]:
    """`--mu AAPL=0.3` -> ('AAPL', 0.3): a symbol validated like TICKPLANT_SYMBOLS and a finite number."""
    import math

    symbol, sep, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not symbol.strip() or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r}: expected SYMBOL=NUMBER, e.g. AAPL=0.3")
    return one_symbol(symbol), number
