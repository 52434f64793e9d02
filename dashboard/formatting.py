"""How the pages write numbers and tables: prices by magnitude (so a tile never cuts one), changes,
annual rates as percentages without e-notation, ages, and tables whose empty cells are empty rather
than the text `None`. Pure functions: no Streamlit, no Cassandra.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

MISSING = ""


def missing(value: Any) -> bool:
    """None, NaN and NaT: what a table cell shows as empty."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):   # arrays, dicts: present
        return False


def decimals(size: float) -> int:
    """Decimals for a price of this magnitude: at most ~7 digits in all, so a tile never cuts one."""
    size = abs(float(size))
    if size >= 10_000:
        return 0
    if size >= 1_000:
        return 1
    if size >= 100:
        return 2
    if size >= 1 or size == 0:
        return 4
    return 4 - math.floor(math.log10(size))   # five significant digits, fixed notation (never 1.2e-05)


def price(value: float | None) -> str:
    """A price with the decimals its magnitude needs: 95,012 · 3,299.5 · 187.32 · 12.3456 · 0.34912 ·
    0.0012345 (crypto prices of five digits fit a tile whole)."""
    if missing(value):
        return MISSING
    return f"{float(value):,.{decimals(float(value))}f}"


def change(value: float | None, pct: float | None, reference: float) -> str | None:
    """A tile's delta with the decimals of its price `reference`: "+12 (+0.01 %)"; None when unknown."""
    if missing(value):
        return None
    text = f"{float(value):+,.{decimals(reference)}f}"
    return text if missing(pct) else f"{text} ({pct:+.2f} %)"


def count(value: float | None) -> str:
    """A whole number short enough for a tile: 180 · 2,500 · 10k · 250k · 1.2M."""
    if missing(value):
        return MISSING
    number = int(value)
    if abs(number) >= 1_000_000:
        return f"{number / 1_000_000:,.3g}M"
    if abs(number) >= 10_000:
        return f"{number / 1_000:,.3g}k"
    return f"{number:,}"


def tile_label(symbol: str) -> str:
    """The tile's title: the venue prefix dropped (BINANCE:BTCUSDT -> BTCUSDT); the full name is in its help."""
    return symbol.rpartition(":")[2] or symbol


def percent(value: float | None, digits: int = 3, sign: bool = False) -> str:
    """A fraction as a percentage in fixed notation with `digits` significant digits, never
    e-notation: 0.2812 -> "28.1 %", 12.5 -> "1,250 %", 0.000123 -> "0.0123 %", None -> "n/a"."""
    if missing(value):
        return "n/a"
    scaled = float(value) * 100
    if scaled == 0:
        return "0 %"
    places = max(0, digits - 1 - math.floor(math.log10(abs(scaled))))
    return f"{scaled:{'+' if sign else ''},.{places}f} %"


def duration(seconds: float | None) -> str:
    """An age or a wait: "45 s", "12 min", "3.5 h", "2.0 days"."""
    if missing(seconds):
        return "n/a"
    seconds = float(seconds)
    if abs(seconds) < 90:
        return f"{seconds:,.0f} s"
    if abs(seconds) < 90 * 60:
        return f"{seconds / 60:,.0f} min"
    if abs(seconds) < 48 * 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"


def text_table(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]] | None = None) -> pd.DataFrame:
    """`frame` with every cell as text: `formats[column]` for the columns named, str() for the rest, and
    an empty string wherever the value is missing (st.dataframe would print `None`)."""
    formats = formats or {}
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        write = formats.get(column, str)
        out[column] = [MISSING if missing(value) else write(value) for value in frame[column]]
    return out


def timestamp(value: Any) -> str:
    """A UTC time to the second: 2026-12-02 04:51:07."""
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M:%S}"


def prices_table(prices: pd.DataFrame, change_minutes: int) -> pd.DataFrame:
    """The Live page's price table for display: full prices, the last trade's time, the change over
    `change_minutes` (empty until that much history exists)."""
    table = prices[["symbol", "price", "trade_timestamp", "change", "change_pct"]]
    shown = text_table(table, {"price": price, "trade_timestamp": timestamp,
                               "change_pct": lambda pct: f"{pct:+.2f} %"})
    # a change with its own price's decimals
    shown["change"] = [MISSING if missing(delta) else f"{float(delta):+,.{decimals(level)}f}"
                       for delta, level in zip(prices["change"], prices["price"], strict=True)]
    return shown.rename(columns={"trade_timestamp": "last trade (UTC)", "change": f"change {change_minutes} min",
                                 "change_pct": f"change {change_minutes} min %"})


def lag_table(queries: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The health page's Kafka-lag table: one row per streaming query, empty cells where a query has
    no committed batch (yet) or no error."""
    rows = [{"query": q["query"], "committed batch": q.get("committed_batch"),
             "end offsets": sum((q.get("end_offsets") or {}).values()),
             "committed offsets": sum((q.get("committed_offsets") or {}).values()),
             "lag (records)": q.get("lag"), "last batch": q.get("last_batch_time"), "error": q.get("error")}
            for q in queries]
    frame = pd.DataFrame(rows, columns=["query", "committed batch", "end offsets", "committed offsets",
                                        "lag (records)", "last batch", "error"])
    whole = "{:,.0f}".format
    return text_table(frame, {"committed batch": whole, "end offsets": whole, "committed offsets": whole,
                              "lag (records)": whole})


# --- GBM runs -------------------------------------------------------------------------------

YEAR_S = 365.25 * 86400


def drift_is_distinguishable(mu: float | None, se_mu: float | None) -> bool | None:
    """|μ| >= 2 SE: the data tell the drift from zero (about 95 %); None when there is no SE."""
    if missing(mu) or missing(se_mu):
        return None
    return abs(float(mu)) >= 2 * float(se_mu)


def drift_line(mu: float | None, se_mu: float | None, horizon_s: float | None) -> str:
    """What the drift means for this forecast, in words: the expected change over the horizon
    (e^(μT) - 1) with its ± 1 SE range, and whether μ can be told from zero at all."""
    if missing(mu):
        return "no drift estimate"
    parts = []
    if not missing(horizon_s) and float(horizon_s) > 0:
        years = float(horizon_s) / YEAR_S
        expected = percent(math.expm1(float(mu) * years), 2, sign=True)
        text = f"expected change over the {duration(horizon_s)} horizon {expected}"
        if not missing(se_mu):
            text += f" (± {percent(math.expm1(float(se_mu) * years), 2)} for 1 SE of μ)"
        parts.append(text)
    distinguishable = drift_is_distinguishable(mu, se_mu)
    if distinguishable is False:
        parts.append(f"μ is not distinguishable from zero (|μ| < 2 SE = {percent(2 * float(se_mu), 2)})")
    elif distinguishable:
        parts.append("μ differs from zero by more than 2 SE")
    return " · ".join(parts)


def origin_label(run_ts: pd.Timestamp, forecast_start: pd.Timestamp | None, step_s: float) -> str:
    """The fan chart's vertical line stands where the paths start, at the last close used: "run (now)"
    only when that close is the run's own moment (within two bars), else what it is."""
    if forecast_start is None or missing(forecast_start) or (run_ts - forecast_start).total_seconds() <= 2 * step_s:
        return "run (now)"
    return "last close used"


def data_age_line(run_ts: pd.Timestamp, forecast_start: pd.Timestamp | None, now: pd.Timestamp) -> str:
    """How old the data were at the run, and how old the run is now."""
    run_age = f"run {duration((now - run_ts).total_seconds())} ago"
    if forecast_start is None or missing(forecast_start):
        return run_age
    lag = (run_ts - forecast_start).total_seconds()
    return (f"newest close used {timestamp(forecast_start)} UTC, {duration(lag)} before the run · {run_age}")


def next_run_line(next_run_ts: pd.Timestamp | None, now: pd.Timestamp) -> str | None:
    """When the GBM loop plans its next run ("next run due 05:12:00 UTC, in 9 min"), None when unknown."""
    if next_run_ts is None or missing(next_run_ts):
        return None
    wait = (next_run_ts - now).total_seconds()
    when = f"in {duration(wait)}" if wait >= 0 else f"{duration(-wait)} overdue"
    return f"next run due {next_run_ts:%H:%M:%S} UTC, {when}"


def history_source(source: dict[str, Any] | None) -> str:
    """Where a symbol's daily history came from, in one line (a row of history_sources, or None)."""
    if source is None:
        return "source: not recorded (imported before tickplant kept sources)"
    when = f" · imported {source['imported_at']:%Y-%m-%d %H:%M} UTC" if not missing(source.get("imported_at")) else ""
    return f"source: {source['source']}{when}"
