"""Symbol flags of every command go through one parser (core.symbols) with one error style."""

import argparse
from pathlib import Path

import pytest

from core.arguments import one_symbol, symbol_list, symbol_value
from core.config import Settings


def test_symbol_flags_accept_what_tickplant_symbols_accepts():
    assert symbol_list(" AAPL, IC MARKETS:1,AAPL") == ("AAPL", "IC MARKETS:1")
    assert one_symbol("^GSPC") == "^GSPC"
    assert symbol_value("BINANCE:BTCUSDT=0.25") == ("BINANCE:BTCUSDT", 0.25)


@pytest.mark.parametrize("parse, text, message", [
    (symbol_list, " , ", "no symbols given (expected e.g. AAPL,BINANCE:BTCUSDT)"),
    (symbol_list, "AAPL,BAD\tX", "'BAD\\tX' is not a symbol: it holds a control character"),
    (one_symbol, "AAPL,MSFT", "'AAPL,MSFT' is not one symbol like AAPL or ^GSPC"),
    (one_symbol, "BAD\tX", "'BAD\\tX' is not a symbol: it holds a control character"),
    (symbol_value, "AAPL=x", "'AAPL=x': expected SYMBOL=NUMBER, e.g. AAPL=0.3"),
    (symbol_value, "BAD\tX=1", "'BAD\\tX' is not a symbol: it holds a control character"),
])
def test_a_bad_symbol_flag_is_refused_with_the_settings_message(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == message


def test_the_flag_and_the_variable_agree():
    text = "AAPL,BAD\tX"
    with pytest.raises(argparse.ArgumentTypeError) as flag:
        symbol_list(text)
    with pytest.raises(ValueError) as variable:
        Settings.from_env({"TICKPLANT_SYMBOLS": text}, dotenv=Path("/nonexistent/.env"))
    assert str(flag.value) in str(variable.value)
