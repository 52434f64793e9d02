"""Indicator and statistics maths of the dashboard as pure pandas/numpy functions: bar roll-ups,
SMA/EMA, Bollinger bands, RSI (Wilder), MACD, rolling statistics, ADF tables and feed gaps.
Nothing here touches Cassandra or Streamlit, so every function is unit-tested on known values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "trade_count", "vwap"]


def resample_bars(bars: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Roll OHLCV bars (indexed by bar start, ascending) up to `rule` ('5min', '15min', '1h'):
    first open, max high, min low, last close, summed volume and trade count, volume-weighted vwap."""
    if bars.empty:
        return bars.reindex(columns=BAR_COLUMNS)
    frame = bars.copy()
    frame["_pv"] = frame["vwap"] * frame["volume"]
    grouped = frame.resample(rule, label="left", closed="left")
    out = pd.DataFrame({
        "open": grouped["open"].first(),
        "high": grouped["high"].max(),
        "low": grouped["low"].min(),
        "close": grouped["close"].last(),
        "volume": grouped["volume"].sum(),
        "trade_count": grouped["trade_count"].sum(),
        "_pv": grouped["_pv"].sum(),
    })
    out = out[out["trade_count"] > 0].copy()
    out["vwap"] = np.where(out["volume"] > 0, out["_pv"] / out["volume"].where(out["volume"] > 0), out["close"])
    return out.drop(columns="_pv")[BAR_COLUMNS]


def finished_bars(bars: pd.DataFrame, bar_seconds: float, now: pd.Timestamp | None) -> pd.DataFrame:
    """The bars (indexed by start) whose interval has ended by `now`; all of them when `now` is None."""
    if now is None or bars.empty:
        return bars
    return bars[bars.index + pd.Timedelta(seconds=bar_seconds) <= now]


def sma(values: pd.Series, window: int = 20) -> pd.Series:
    return values.rolling(window, min_periods=window).mean()


def ema(values: pd.Series, span: int = 20) -> pd.Series:
    """Exponential moving average with alpha = 2/(span+1), seeded with the first value (pandas' adjust=False)."""
    return values.ewm(span=span, adjust=False).mean()


def bollinger(values: pd.Series, window: int = 20, width: float = 2.0) -> pd.DataFrame:
    """Middle band = SMA(window); upper/lower = middle ± width × population std over the window."""
    middle = sma(values, window)
    std = values.rolling(window, min_periods=window).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + width * std, "lower": middle - width * std})


def rsi(values: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI: average gain / loss smoothed with alpha = 1/period, seeded by the simple mean
    of the first `period` changes; 100 when there was no loss in the window."""
    delta = values.diff()
    gains = delta.clip(lower=0.0).to_numpy()
    losses = (-delta).clip(lower=0.0).to_numpy()
    out = np.full(len(values), np.nan)
    if len(values) <= period:
        return pd.Series(out, index=values.index)
    avg_gain = gains[1:period + 1].mean()
    avg_loss = losses[1:period + 1].mean()
    for i in range(period, len(values)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i]) / period
        out[i] = 100.0 if avg_loss == 0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return pd.Series(out, index=values.index)


def macd(values: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line = EMA(fast) − EMA(slow); signal = EMA(signal) of it; histogram = line − signal."""
    line = ema(values, fast) - ema(values, slow)
    signal_line = line.ewm(span=signal, adjust=False).mean()
    return pd.DataFrame({"macd": line, "signal": signal_line, "histogram": line - signal_line})


def rolling_stats(closes: pd.Series, windows: tuple[int, ...] = (7, 21, 255)) -> pd.DataFrame:
    """Rolling mean and (sample) standard deviation of the closes for each window, in observations."""
    columns = {}
    for window in windows:
        rolling = closes.rolling(window, min_periods=window)
        columns[f"mean_{window}"] = rolling.mean()
        columns[f"std_{window}"] = rolling.std()
    return pd.DataFrame(columns, index=closes.index)


ADF_PERIODS = (("full history", None), ("last 10 years", 10), ("last 5 years", 5),
               ("last 2 years", 2), ("last 1 year", 1))


def adf_table(closes: pd.Series, min_observations: int = 20) -> pd.DataFrame:
    """Augmented Dickey–Fuller test (statsmodels, lag order by AIC) of the closes (date index) over
    the full history and the last 10/5/2/1 years; periods with too few observations say so."""
    from statsmodels.tsa.stattools import adfuller

    rows = []
    end = closes.index.max() if len(closes) else None
    done: dict[int, dict[str, object]] = {}  # a period that holds the whole history is the same test
    for label, years in ADF_PERIODS:
        part = closes if years is None or end is None else closes[closes.index > end - pd.DateOffset(years=years)]
        if len(part) in done:
            rows.append({**done[len(part)], "period": label})
            continue
        row: dict[str, object] = {"period": label, "observations": int(len(part))}
        if len(part) < min_observations or part.nunique() < 2:
            row["note"] = f"too few observations (need {min_observations})"
            rows.append(row)
            continue
        statistic, p_value, lags, nobs, critical, _ = adfuller(part.to_numpy(dtype=float), autolag="AIC",
                                                                      result_object=False)
        row.update({"statistic": float(statistic), "p_value": float(p_value), "lags": int(lags),
                    "observations": int(nobs), "critical_1%": float(critical["1%"]),
                    "critical_5%": float(critical["5%"]), "critical_10%": float(critical["10%"]),
                    "note": "stationary at 5%" if p_value < 0.05 else "unit root not rejected"})
        done[len(part)] = row
        rows.append(row)
    columns = ["period", "statistic", "p_value", "lags", "observations", "critical_1%", "critical_5%",
               "critical_10%", "note"]
    return pd.DataFrame(rows).reindex(columns=columns)


def normalised(closes: dict[str, pd.Series]) -> pd.DataFrame:
    """Several symbols' closes joined on the dates all of them have, each rebased to 100 on the first."""
    if not closes:
        return pd.DataFrame()
    joined = pd.concat(closes, axis=1, join="inner").sort_index()
    if joined.empty:
        return joined
    return joined / joined.iloc[0] * 100.0


def feed_gaps(window_starts: pd.Series, now: pd.Timestamp, factor: float = 10.0,
              min_gap_s: float = 30.0, window_s: float = 5.0) -> tuple[pd.DataFrame, float | None]:
    """Periods without trades much longer than the usual spacing of a symbol's 5 s windows.

    The usual spacing is the median time between consecutive windows that had trades; a gap is a
    silence (from the end of one window to the start of the next, or to `now` when the feed went
    quiet without closing) longer than max(factor × usual spacing, min_gap_s). Returns the gaps
    (start, end, seconds, open) and the usual spacing in seconds (None with fewer than 3 windows)."""
    columns = ["gap_start", "gap_end", "seconds", "ongoing"]
    starts = pd.Series(pd.to_datetime(window_starts, utc=True)).sort_values().reset_index(drop=True)
    if len(starts) < 3:
        return pd.DataFrame(columns=columns), None
    spacing = starts.diff().dt.total_seconds().dropna()
    usual = float(spacing.median())
    threshold = max(factor * usual, min_gap_s)
    rows = []
    for previous, current in zip(starts[:-1], starts[1:], strict=True):
        silence = (current - previous).total_seconds() - window_s
        if silence > threshold:
            rows.append((previous + pd.Timedelta(seconds=window_s), current, silence, False))
    tail = (now - starts.iloc[-1]).total_seconds() - window_s
    if tail > threshold:
        rows.append((starts.iloc[-1] + pd.Timedelta(seconds=window_s), now, tail, True))
    return pd.DataFrame(rows, columns=columns), usual
