"""What every page shares: the settings, the one Cassandra store per process (st.cache_resource,
dropped and rebuilt after a failure), cached reads (st.cache_data), the symbol picker that honours
`?symbol=` in the URL, and the "database unavailable" state that retries by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.config import Settings
from dashboard import data

RETRY_EVERY_S = 3
CACHE_TTL_S = 2
SLOW_TTL_S = 300


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def _store(hosts: tuple[str, ...], port: int, keyspace: str) -> data.Store:
    # A failed connect raises, and Streamlit does not cache exceptions: the next run tries again.
    return data.open_store(settings())


def store() -> data.Store:
    current = settings()
    return _store(current.cassandra.hosts, current.cassandra.port, current.cassandra.keyspace)


def drop_store() -> None:
    """Forget the session after a failure, so the next run reconnects instead of reusing a dead one."""
    current = settings()
    try:
        old = _store(current.cassandra.hosts, current.cassandra.port, current.cassandra.keyspace)
    except data.DatabaseUnavailable:
        old = None
    _store.clear()
    if old is not None:
        old.close()


def cached_read(function: Callable[..., Any], *args: Any, slow: bool = False) -> Any:
    """`data.<function>(store, *args)` through st.cache_data keyed by keyspace, name and args: kept
    CACHE_TTL_S seconds, or SLOW_TTL_S for data that changes at most daily (`slow=True`)."""
    if slow:
        return _cached_slow(function.__name__, settings().cassandra.keyspace, args)
    return _cached(function.__name__, settings().cassandra.keyspace, args)


@st.cache_data(ttl=SLOW_TTL_S, show_spinner=False, max_entries=128)
def _cached_slow(name: str, keyspace: str, args: tuple) -> Any:
    return getattr(data, name)(store(), *args)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _cached(name: str, keyspace: str, args: tuple) -> Any:
    function = getattr(data, name)
    return function(store(), *args)


def unavailable_message(reason: str, every_s: int) -> None:
    """The one "database unavailable" message (the session is dropped: the next run reconnects)."""
    drop_store()
    current = settings()
    where = f"{','.join(current.cassandra.hosts)}:{current.cassandra.port}"
    st.error(f"Database unavailable: Cassandra at {where} is not answering. This page retries every "
             f"{every_s} s and recovers by itself.", icon=":material/cloud_off:")
    st.caption(f"cause: {reason}")


def database_unavailable(reason: str) -> None:
    """Show why and retry every few seconds; rerun the page once Cassandra answers."""
    unavailable_message(reason, RETRY_EVERY_S)
    _retry()


@st.fragment(run_every=RETRY_EVERY_S)
def _retry() -> None:
    try:
        data.ping(store())
    except data.DatabaseUnavailable:
        drop_store()
        st.caption("still unavailable …")
        return
    st.rerun()


def run_page(render: Callable[[], None]) -> None:
    """Render a page; a database failure becomes the "database unavailable" state, never a traceback."""
    try:
        render()
    except data.DatabaseUnavailable as exc:
        database_unavailable(str(exc))


def empty_database(what: str, command: str) -> None:
    st.info(f"No {what} in keyspace `{settings().cassandra.keyspace}` yet. To fill it, run:\n\n"
            f"```\n{command}\n```", icon=":material/info:")


def pick_symbol(choices: tuple[str, ...], has_data: Callable[[str], bool], key: str) -> str | None:
    """A symbol select box, preselected from `?symbol=`; an unknown symbol in the URL gets a clear
    message (and None) instead of a chart. The choice is written back to the URL."""
    wanted = st.query_params.get("symbol")
    options = list(choices)
    if wanted and wanted not in options:
        if has_data(wanted):
            options.append(wanted)
        else:
            st.error(f"Unknown symbol {wanted!r}: there is no data for it. "
                     f"Known symbols: {', '.join(choices) or 'none'}. Pick one below.", icon=":material/warning:")
            st.query_params.pop("symbol", None)
            st.selectbox("Symbol", options, index=None, key=f"{key}-unknown", placeholder="choose a symbol",
                         on_change=_symbol_chosen, args=(f"{key}-unknown",))
            return None
    index = options.index(wanted) if wanted in options else 0
    symbol = st.selectbox("Symbol", options, index=index, key=key)
    if symbol and st.query_params.get("symbol") != symbol:
        st.query_params["symbol"] = symbol
    return symbol


def _symbol_chosen(key: str) -> None:
    if st.session_state.get(key):
        st.query_params["symbol"] = st.session_state[key]


def plotly(figure: Any, key: str) -> None:
    st.plotly_chart(figure, key=key, config={"displaylogo": False})
