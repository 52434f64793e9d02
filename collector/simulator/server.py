"""A local websocket server speaking a feed's protocol (Finnhub by default, any of collector.feeds)
and streaming seeded GBM trades, with fault injection, and an exact report of what it sent:
`report()` in process, GET /report, or a JSON file."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from collector.exceptions import SimulatorError
from collector.feeds import EXPECTED, FEEDS
from collector.feeds.base import FRAME_FAULTS, TRADE_FAULTS, Subscriber, Trade
from collector.simulator import market
from core.logging import get_logger

log = get_logger(__name__)


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765                       # 0 = any free port (see Simulator.port)
    protocol: str = "finnhub"              # a feed's name (collector.feeds): finnhub | alpaca
    rate: float = 1000.0                   # trades per second per connection, over its symbols
    seed: int | None = None
    start_ms: int | None = None            # virtual clock start (default: now; see time_scale)
    time_scale: float = 1.0                # virtual seconds per wall second; > 1 needs max_trades or start_ms
    models: Mapping[str, market.SymbolModel] = field(default_factory=dict)   # per-symbol GBM overrides
    max_trades: int | None = None          # stop streaming after this many valid trades in total
    frame_trades: int = 200                # at most this many trades per frame
    # required of clients when set, by the feed's credential names (Feed.credentials): Finnhub
    # {"token": ..} (?token= in the URL), Alpaca {"key": .., "secret": ..} (its auth message)
    credentials: Mapping[str, str] = field(default_factory=dict)
    max_symbols: int = 50
    ping_interval_s: float = 10.0
    faults: bool = False
    fault_rate: float = 0.02               # per frame: a malformed frame, and separately a bad trade
    drop_every_s: float = 5.0              # fault mode: mean seconds between dropped connections
    report_file: Path | None = None
    tick_s: float = 0.005


@dataclass(eq=False, kw_only=True)
class Connection(Subscriber):
    ws: ServerConnection


class Simulator:
    """The server; `await run(stop)` inside an event loop, or SimulatorThread from sync code."""

    def __init__(self, config: SimulatorConfig) -> None:
        feed = FEEDS.get(config.protocol)
        if feed is None:
            raise SimulatorError(f"--protocol {config.protocol!r}: expected {EXPECTED}")
        self.feed = feed
        if not 1 <= config.rate <= 10_000_000:
            raise SimulatorError(f"--rate {config.rate}: expected 1 to 10,000,000 trades/s")
        self.config = config
        if not 0 < config.time_scale <= 1_000_000:
            raise SimulatorError(f"--time-scale {config.time_scale}: expected a number above 0, at most 1,000,000")
        start_ms = config.start_ms
        if start_ms is None and config.time_scale > 1:
            if config.max_trades is None:
                raise SimulatorError("--time-scale above 1 needs --max-trades (or --start-ms): otherwise trade "
                                     "stamps run ahead of the wall clock without bound")
            start_ms = market.catch_up_start_ms(int(time.time() * 1000), config.rate, config.time_scale,
                                                config.max_trades)
        self.seed = config.seed if config.seed is not None else random.randrange(2**31)
        self.market = market.Market(self.seed, config.rate, start_ms, config.time_scale, config.models)
        self._faults = random.Random(self.seed + 1)
        self._connections: set[Connection] = set()
        self._reserved = 0
        self._lock = threading.Lock()
        self._symbols: dict[str, list[float]] = {}       # symbol -> [trades, volume]
        self._counts = {"trades": 0, "frames": 0, "pings": 0, "connections": 0, "drops": 0}
        self._malformed: dict[str, int] = {}
        self._bad_trades: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = config.port

    # -- the report
    def report(self) -> dict[str, Any]:
        """Exactly what was sent: valid trades per symbol (count, volume sum), malformed frames
        and bad trades by kind, and how many dead letters a collector should have produced."""
        with self._lock:
            malformed, bad = dict(self._malformed), dict(self._bad_trades)
            return {**self._counts, "seed": self.seed, "rate": self.config.rate, "protocol": self.config.protocol,
                    "start_ms": self.market.start_ms, "time_scale": self.config.time_scale,
                    "models": {s: asdict(self.market.model(s)) for s in self._symbols},
                    "symbols": {s: {"trades": int(v[0]), "volume": v[1]} for s, v in self._symbols.items()},
                    "malformed_frames": malformed, "bad_trades": bad,
                    "dead_letters_expected": sum(malformed.values()) + sum(bad.values()),
                    "done": self.config.max_trades is not None and self._counts["trades"] >= self.config.max_trades}

    def _write_report(self) -> None:
        path = self.config.report_file
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_text(json.dumps(self.report(), indent=1), encoding="utf-8")
            os.replace(temporary, path)

    def drop_connections(self) -> None:
        """Drop every client connection abruptly (after what was sent is flushed); thread-safe."""
        if self._loop is not None:
            for connection in list(self._connections):
                asyncio.run_coroutine_threadsafe(self._drop(connection), self._loop)

    # -- the server
    async def run(self, stop: asyncio.Event, started: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            server: Server = await serve(self._handle, self.config.host, self.config.port,
                                         process_request=self._process_request, compression=None,
                                         max_size=1024 * 1024)
        except OSError as exc:
            raise SimulatorError(f"simulator cannot listen on {self.config.host}:{self.config.port}: "
                                 f"{exc.strerror or exc}") from None
        self.port = server.sockets[0].getsockname()[1]
        log.info("simulator listening", url=f"ws://{self.config.host}:{self.port}", protocol=self.config.protocol,
                 rate=self.config.rate, seed=self.seed, faults=self.config.faults)
        if started is not None:
            started.set()
        reporter = asyncio.create_task(self._report_loop())
        try:
            await stop.wait()
        finally:
            reporter.cancel()
            server.close()
            await server.wait_closed()
            self._write_report()

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._write_report()

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        path = urlsplit(request.path)
        if path.path == "/report":
            return connection.respond(HTTPStatus.OK, json.dumps(self.report()) + "\n")
        if path.path == "/health":
            return connection.respond(HTTPStatus.OK, "ok\n")
        refusal = self.feed.refuse_handshake(path.query, self.config.credentials)
        if refusal is not None:
            return connection.respond(HTTPStatus.UNAUTHORIZED, refusal)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        feed, config = self.feed, self.config
        connection = Connection(ws=ws, authenticated=feed.authenticated_on_connect)
        self._connections.add(connection)
        with self._lock:
            self._counts["connections"] += 1
        tasks = [asyncio.create_task(self._stream(connection))]
        ping = feed.ping_message()
        if ping is not None:
            tasks.append(asyncio.create_task(self._ping(connection, ping)))
        try:
            greeting = feed.greeting()
            if greeting is not None:
                await ws.send(greeting)
            async for message in ws:
                reply = feed.answer(connection, message, config.credentials, config.max_symbols)
                if reply is not None:
                    await ws.send(reply.text)
                    if reply.close_reason is not None:
                        await ws.close(1008, reply.close_reason)
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self._connections.discard(connection)

    async def _ping(self, connection: Connection, ping: str) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval_s)
            await connection.ws.send(ping)
            with self._lock:
                self._counts["pings"] += 1

    async def _drop(self, connection: Connection) -> None:
        transport = connection.ws.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        transport.close()   # TCP close without a websocket close frame: what a network drop looks like
        with self._lock:
            self._counts["drops"] += 1

    async def _stream(self, connection: Connection) -> None:
        config, loop = self.config, asyncio.get_running_loop()
        budget, last = 0.0, loop.time()
        next_drop = last + self._faults.expovariate(1 / config.drop_every_s) if config.faults else float("inf")
        while True:
            await asyncio.sleep(config.tick_s)
            now = loop.time()
            budget = min(budget + (now - last) * config.rate, config.rate + config.frame_trades)
            last = now
            if not connection.symbols or not connection.authenticated:
                budget = 0.0
                continue
            while not config.faults and budget >= 1:
                sent, budget = await self._send_batch(connection, budget)
                if not sent:
                    return
            while budget >= 1:
                count = min(int(budget), config.frame_trades)
                if config.max_trades is not None:
                    count = min(count, config.max_trades - self._counts["trades"] - self._reserved)
                    if count <= 0:
                        budget = 0.0
                        break
                budget -= count
                if not await self._send_frame(connection, count):
                    return
            if now >= next_drop:
                await self._drop(connection)
                return

    @staticmethod
    def _still_open(connection: Connection) -> bool:
        """After `_drop` closed the transport, a send still "succeeds" but asyncio discards the
        bytes; such a frame must not be reported as sent. No await lies between this check and
        the write inside `ws.send`, so the check is exact."""
        return not connection.ws.transport.is_closing()

    async def _send_batch(self, connection: Connection, budget: float) -> tuple[bool, float]:
        """Every frame the budget allows, written at once as raw websocket frames (no faults): at a
        few trades per frame the per-frame cost of `ws.send` would cap the rate far below what a
        collector takes. Returns (still connected, budget left)."""
        config = self.config
        counts: list[int] = []
        while budget >= 1 and len(counts) < BATCH_FRAMES:
            count = min(int(budget), config.frame_trades)
            if config.max_trades is not None:
                count = min(count, config.max_trades - self._counts["trades"] - self._reserved - sum(counts))
                if count <= 0:
                    budget = 0.0
                    break
            counts.append(count)
            budget -= count
        if not counts:
            return True, 0.0
        trades = self.market.next_trades(connection.symbols, sum(counts))
        write, frame_of = self.feed.trade_text, self.feed.frame_text
        chunks, position = [], 0
        for count in counts:
            payload = frame_of([write(trade) for trade in trades[position:position + count]]).encode()
            position += count
            chunks.append(_frame_header(len(payload)) + payload)
        ws = connection.ws
        if not self._still_open(connection) or ws.protocol.state is not State.OPEN:
            return False, budget
        # One transport write, no await before it: atomic towards pings the protocol sends in between.
        ws.transport.write(b"".join(chunks))
        self._count_sent(trades, sum(counts), None, frames=len(counts))
        try:
            await ws.drain()
        except ConnectionClosed:
            return False, budget
        return True, budget

    async def _send_frame(self, connection: Connection, count: int) -> bool:
        """Send one frame of `count` valid trades (plus faults); False once the connection is gone."""
        feed, faults = self.feed, self.config.faults
        trades = self.market.next_trades(connection.symbols, count)
        write = feed.trade_text
        parts = [write(trade) for trade in trades]
        bad_kind = None
        if faults and self._faults.random() < self.config.fault_rate:
            bad_kind = self._faults.choice(TRADE_FAULTS)
            parts.insert(self._faults.randrange(len(parts) + 1), feed.bad_trade(bad_kind, trades[0]))
        frame = feed.frame_text(parts)
        self._reserved += count
        sent = False
        try:
            if faults and self._faults.random() < self.config.fault_rate:
                kind = self._faults.choice(FRAME_FAULTS)
                if not self._still_open(connection):
                    return False
                await connection.ws.send(feed.malformed_frame(kind, self._faults))
                with self._lock:
                    self._malformed[kind] = self._malformed.get(kind, 0) + 1
            if not self._still_open(connection):
                return False
            # `ws.send` writes an open connection's frame before its first await (the drain): a task
            # cancelled in that await (the connection handler ending) has still sent the frame.
            sent = connection.ws.protocol.state is State.OPEN
            await connection.ws.send(frame)
        except ConnectionClosed:
            return False
        except asyncio.CancelledError:
            if sent:
                self._count_sent(trades, count, bad_kind)
            raise
        finally:
            self._reserved -= count
        self._count_sent(trades, count, bad_kind)
        return True

    def _count_sent(self, trades: list[Trade], count: int, bad_kind: str | None, frames: int = 1) -> None:
        with self._lock:
            self._counts["frames"] += frames
            self._counts["trades"] += count
            if bad_kind is not None:
                self._bad_trades[bad_kind] = self._bad_trades.get(bad_kind, 0) + 1
            symbols = self._symbols
            for trade in trades:
                entry = symbols.get(trade.symbol)
                if entry is None:
                    entry = symbols[trade.symbol] = [0, 0.0]
                entry[0] += 1
                entry[1] += trade.volume


BATCH_FRAMES = 2000


def _frame_header(size: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame (server to client) of `size` bytes."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big")
    return bytes((0x81, 127)) + size.to_bytes(8, "big")


class SimulatorThread:
    """The simulator in a background thread with its own event loop (tests, benchmarks)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.simulator = Simulator(config)
        self._thread = threading.Thread(target=self._main, name="simulator", daemon=True)
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.simulator.run(self._stop, self._started)
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            self._started.set()

    def start(self, timeout_s: float = 10.0) -> SimulatorThread:
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            raise SimulatorError(f"simulator did not start: {self._error}")
        return self

    @property
    def url(self) -> str:
        return f"ws://{self.simulator.config.host}:{self.simulator.port}"

    def report(self) -> dict[str, Any]:
        return self.simulator.report()

    def drop_connections(self) -> None:
        self.simulator.drop_connections()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (idempotent); the report stays readable."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:   # the loop closed in between
                pass
        self._thread.join(timeout_s)
