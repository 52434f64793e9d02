"""Pipeline health: service states, Kafka end offsets against what the stream processor has
committed (lag), micro-batch latency p50/p99 and rows/s from `pipeline_metrics`, dead letters per
hour with their reasons, and feed gaps per symbol computed from `trades_5s`."""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, data, formatting, indicators, ui

REFRESH_S = 10
STALE_BATCH_S = 120
WINDOWS = {"1 h": timedelta(hours=1), "6 h": timedelta(hours=6), "24 h": timedelta(hours=24)}


@st.cache_data(ttl=5, show_spinner=False)
def stream_report(keyspace: str, topic: str) -> tuple[list[dict[str, Any]], str | None]:
    """The stream processor's per-query committed offsets against the topic's end offsets."""
    from core import kafka as kafka_clients
    from core.stream_status import stream_status

    settings = ui.settings()
    try:
        ends = kafka_clients.end_offsets(settings, settings.kafka.topic, timeout_s=3)
    except Exception as exc:  # Kafka away: the page says so and shows the rest
        return stream_status(settings, end_offsets={}), f"{type(exc).__name__}: {exc}"
    return stream_status(settings, end_offsets=ends), None


def collector_metrics(settings: Any) -> str:
    return f"http://127.0.0.1:{settings.runtime.metrics_port}/metrics"


def http_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (a fixed local URL)
            return answer.status == 200
    except OSError:
        return False


def services(metrics: pd.DataFrame, kafka_error: str | None) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    last = metrics["batch_time"].max() if not metrics.empty else None
    age = None if last is None else (now - last).total_seconds()
    stream = ("no batch in the window" if age is None else
              f"running (last batch {age:,.0f} s ago)" if age < STALE_BATCH_S else f"stalled ({age:,.0f} s ago)")
    settings = ui.settings()
    return pd.DataFrame([
        {"service": "cassandra", "state": "up",
         "detail": settings.cassandra.address},
        {"service": "kafka", "state": "down" if kafka_error else "up",
         "detail": kafka_error or settings.kafka.servers},
        {"service": "stream processor", "state": stream.split(" ")[0], "detail": stream},
        {"service": "collector", "state": "up" if http_up(collector_metrics(settings)) else "down",
         "detail": collector_metrics(settings)},
    ])


def gaps_table(symbols: tuple[str, ...], start, end, factor: float) -> pd.DataFrame:
    rows = []
    now = pd.Timestamp(end)
    for symbol in symbols:
        windows = ui.cached_read(data.bars, "trades_5s", symbol, start, end)
        gaps, usual = indicators.feed_gaps(pd.Series(windows.index), now, factor=factor)
        for gap in gaps.itertuples():
            rows.append({"symbol": symbol, "from": gap.gap_start, "to": gap.gap_end, "silent_s": round(gap.seconds, 1),
                         "usual_spacing_s": usual, "ongoing": gap.ongoing})
    return pd.DataFrame(rows, columns=["symbol", "from", "to", "silent_s", "usual_spacing_s", "ongoing"])


@st.fragment(run_every=REFRESH_S)
def health(window_label: str, factor: float) -> None:
    settings = ui.settings()
    end = pd.Timestamp.now(tz="UTC").ceil("5s").to_pydatetime()
    start = end - WINDOWS[window_label]
    try:
        data.ping(ui.store())
        from core.checkpoints import QUERY_NAMES

        metrics = ui.cached_read(data.pipeline_metrics, QUERY_NAMES, start, end)
        letters = ui.cached_read(data.dead_letters, start, end)
        gaps = gaps_table(settings.feed.symbols, start, end, factor)
    except data.DatabaseUnavailable as exc:
        ui.unavailable_message(str(exc), REFRESH_S)
        return
    queries, kafka_error = stream_report(settings.cassandra.keyspace, settings.kafka.topic)
    st.subheader("Services")
    st.dataframe(services(metrics, kafka_error), hide_index=True, width="stretch", key="services")
    st.subheader("Kafka lag of the stream processor")
    st.dataframe(formatting.lag_table(queries), hide_index=True, width="stretch", key="kafka-lag")
    st.subheader(f"Micro-batches, last {window_label}")
    if metrics.empty:
        st.info("No micro-batch in this window: is `tickplant stream` (or `tickplant up`) running?")
    else:
        columns = st.columns(4)
        columns[0].metric("batches", f"{len(metrics):,}")
        columns[1].metric("latency p50 (median of batches)", f"{metrics['latency_p50_ms'].median():,.0f} ms")
        columns[2].metric("latency p99 (max of batches)", f"{metrics['latency_p99_ms'].max():,.0f} ms")
        columns[3].metric("rows/s (mean)", f"{metrics['processed_rows_per_second'].mean():,.0f}")
        ui.plotly(charts.latency_chart(metrics), key="latency-chart")
    st.subheader(f"Dead letters, last {window_label}")
    per_hour = data.dead_letters_per_hour(letters)
    if per_hour.empty:
        st.success("No dead letters in this window.")
    else:
        ui.plotly(charts.dead_letter_chart(per_hour), key="dead-letter-chart")
        reasons = letters.groupby("reason").size().rename("count").reset_index().sort_values("count", ascending=False)
        st.dataframe(reasons, hide_index=True, width="stretch", key="dead-letter-reasons")
    st.subheader("Feed gaps")
    st.caption(f"silences longer than max({factor:g} × the symbol's usual spacing of 5 s windows, 30 s); "
               "'ongoing' means the feed is silent now")
    if gaps.empty:
        st.success("No feed gaps in this window.")
    else:
        st.dataframe(gaps, hide_index=True, width="stretch", key="feed-gaps")


def render() -> None:
    st.title("Pipeline health")
    left, right = st.columns(2)
    window = left.radio("Window", list(WINDOWS), index=0, horizontal=True, key="health-window")
    factor = right.slider("Gap factor (× usual spacing)", 3.0, 50.0, 10.0, 1.0, key="health-factor")
    health(window, factor)


ui.run_page(render)
