"""The collector's websocket loop: connect, subscribe, read frames, hand their records to the
publisher; reconnect with backoff, follow a symbols file, archive raw frames, stop on request."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from collector.archive import ArchiveWriter, Retention
from collector.encoding import MAX_FRAME_BYTES, FrameContext
from collector.feeds import EXPECTED, FEEDS
from collector.frames import OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_TEXT, FrameReader
from collector.merging import encode_read
from collector.metrics import CollectorMetrics
from collector.publisher import Publisher
from core.config import Settings, parse_symbols
from core.connections import is_local_host
from core.errors import ConfigError
from core.logging import get_logger, redact
from core.retry import Backoff

log = get_logger(__name__)
_SECRET_QUERY_KEYS = {"token", "key", "secret", "apikey", "api_key", "password"}

# A socket read costs ~100-250 us here whatever it holds (waking the thread, the syscalls, the
# interpreter lock): at a few trades per frame, frames one by one cost more than their trades. After a
# read of less than SMALL_READ_BYTES the reader pauses READ_PACE_S, so the frames arriving meanwhile
# come in one read. Such a frame is stamped with the pause's start, when it may have arrived: its
# receive time is never later than the truth, so no latency is hidden.
READ_PACE_S = 0.02
SMALL_READ_BYTES = 4096       # a few frames: a feed that fills reads is never paused


@dataclass
class CollectorOptions:
    """How one collector runs; the defaults are `tickplant collect` without flags."""

    url: str | None = None                 # default: the feed's own service, with the configured secret
    source: str = "finnhub"                # the feed (collector.feeds): finnhub | alpaca
    symbols: tuple[str, ...] = ()          # default: TICKPLANT_SYMBOLS
    symbols_file: Path | None = None       # followed while running (add/remove without restart)
    archive_dir: Path | None = None
    archive_retention: Retention = field(default_factory=Retention)
    metrics_port: int = 9108               # 0 = off
    metrics_host: str = "127.0.0.1"
    spool_dir: Path | None = None          # default: <home>/spool
    queue_frames: int = 200_000            # and at most publisher.MEMORY_QUEUE_BYTES
    max_unacked: int = 20_000
    journal_max_bytes: int = 2 * 1024**3   # the write-ahead journal's disk limit; reading pauses at it
    merge_frames: bool = True              # merge a symbol's records of consecutive frames (tp-frames)
    shutdown_timeout_s: float = 30.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    idle_timeout_s: float = 60.0           # no frame at all (not even a ping) for this long: reconnect
    read_pace_s: float = READ_PACE_S       # pause after a small read (0 = read frames one by one)
    producer_overrides: dict[str, Any] = field(default_factory=dict)


def read_symbols_file(path: Path) -> tuple[str, ...]:
    """Symbols separated by commas or newlines; `#` starts a comment."""
    lines = [line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]
    return parse_symbols(",".join(lines))


def redact_url(url: str) -> str:
    """The URL with every secret-looking query value masked, safe to log."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _send_all(ws: websocket.WebSocket, messages: Iterable[str]) -> None:
    for message in messages:
        ws.send(message)


class Collector:
    """One collector process: `run()` blocks until `stop()`, then flushes and returns 0."""

    def __init__(self, settings: Settings, options: CollectorOptions | None = None,
                 metrics: CollectorMetrics | None = None) -> None:
        self.settings = settings
        self.options = options = options or CollectorOptions()
        feed = FEEDS.get(options.source)
        if feed is None:
            raise ConfigError(f"--source {options.source!r}: expected {EXPECTED}")
        self.feed = feed
        self.producer_id = str(uuid.uuid4())
        self.metrics = metrics or CollectorMetrics()
        self._credentials = feed.credentials(settings)
        self.url = feed.connection_url(options.url, self._credentials)
        host = urlsplit(self.url).hostname or ""
        self.source_label = "simulator" if is_local_host(host) else options.source
        self.symbols = (read_symbols_file(options.symbols_file)
                        if options.symbols_file and options.symbols_file.exists()
                        else options.symbols or settings.feed.symbols)
        self.publisher = Publisher(settings, self.metrics, options.spool_dir, options.queue_frames,
                                   options.max_unacked, options.producer_overrides, options.journal_max_bytes,
                                   options.merge_frames)
        self.sequence = 0
        self.frames = self.trades = self.dead_letters = self.connections = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._archive: ArchiveWriter | None = None
        self._symbols_mtime = 0.0
        self._frame_counters: dict[str, Any] = {}

    # -- life cycle
    def stop(self) -> None:
        """Stop reading (safe from a signal handler or another thread); run() then flushes."""
        self._stop.set()
        self.publisher.stop_waiting()

    def run(self) -> int:
        options = self.options
        self.metrics.serve(options.metrics_port, options.metrics_host)
        if options.archive_dir:
            self._archive = ArchiveWriter(options.archive_dir, self.producer_id,
                                          retention=options.archive_retention)
        self.publisher.start()
        log.info("collector started", url=redact_url(self.url), source=self.source_label,
                 producer_id=self.producer_id, symbols=",".join(self.symbols), topic=self.settings.kafka.topic)
        try:
            self._connection_loop()
        finally:
            if self._archive is not None:
                self._archive.close()
            delivered = self.publisher.close(options.shutdown_timeout_s)
            self.metrics.close()
            log.info("collector stopped", frames=self.frames, trades=self.trades,
                     dead_letters=self.dead_letters, delivered_all=delivered)
        return 0

    def _connection_loop(self) -> None:
        backoff = Backoff(self.options.reconnect_initial_s, self.options.reconnect_max_s)
        safe_url = redact_url(self.url)
        while not self._stop.is_set():
            if self.connections:
                self.metrics.reconnects.inc()
            try:
                ws = websocket.create_connection(self.url, timeout=10, skip_utf8_validation=True,
                                                 enable_multithread=False)
            except (websocket.WebSocketException, OSError) as exc:
                delay = backoff.next_delay()
                log.warning("connect failed", url=safe_url, error=redact(f"{type(exc).__name__}: {exc}"),
                            retry_in_s=round(delay, 2))
                self._stop.wait(delay)
                continue
            self.connections += 1
            log.info("connected", url=safe_url, connection=self.connections)
            try:
                if self._session(ws):
                    backoff.reset()
            except (websocket.WebSocketException, OSError) as exc:
                log.warning("connection lost", url=safe_url, error=redact(f"{type(exc).__name__}: {exc}"))
            finally:
                self.connected.clear()
                ws.close(timeout=1)
            if not self._stop.is_set():
                delay = backoff.next_delay()
                log.info("reconnecting", retry_in_s=round(delay, 2))
                self._stop.wait(delay)

    def _session(self, ws: websocket.WebSocket) -> bool:
        """Read until the connection ends or stop(); True if any frame arrived."""
        ws.settimeout(0.5)
        reader = FrameReader(ws.sock)
        pace_ms = int(self.options.read_pace_s * 1000)
        _send_all(ws, self.feed.open_messages(self.symbols, self._credentials))
        self.connected.set()
        received_any = False
        last_frame = last_check = time.monotonic()
        paused_at_ms = None     # when the reader last paused (see READ_PACE_S)
        while not self._stop.is_set():
            try:
                messages = reader.read()
                read_ms = time.time_ns() // 1_000_000
            except TimeoutError:
                paused_at_ms = None
                self.publisher.flush_journal()    # the group commit's last frames reach the OS
                now = time.monotonic()
                if now - last_frame > self.options.idle_timeout_s:
                    log.warning("no frame from the source; reconnecting", idle_s=self.options.idle_timeout_s)
                    return received_any
                self._follow_symbols_file(ws)
                last_check = now
                continue
            received_any = True
            last_frame = time.monotonic()
            # data waiting when the pause ended arrived during it: stamped with its start
            received_ms = paused_at_ms if paused_at_ms is not None and read_ms - paused_at_ms < pace_ms + 2 else read_ms
            frames: list[bytes] = []
            for opcode, data in messages:
                if opcode == OPCODE_TEXT or opcode == OPCODE_BINARY:
                    frames.append(data)
                elif opcode == OPCODE_PING:
                    ws.pong(data)
                elif opcode == OPCODE_CLOSE:
                    self._handle_frames(ws, frames, received_ms)
                    log.info("source closed the connection")
                    return received_any
            self._handle_frames(ws, frames, received_ms)
            if last_frame - last_check > 1.0:
                self._follow_symbols_file(ws)
                last_check = last_frame
            paused_at_ms = None
            if pace_ms and reader.last_read_bytes < SMALL_READ_BYTES:
                paused_at_ms = time.time_ns() // 1_000_000
                self._stop.wait(self.options.read_pace_s)
        return received_any

    def _handle_frames(self, ws: websocket.WebSocket, frames: list[bytes], received_ms: int) -> None:
        """The data frames of one socket read, as one batch: numbered in order, stamped with the
        read's receive time, journaled and queued together; counters move once per read."""
        if not frames:
            return
        context = FrameContext(self.producer_id, self.sequence + 1, received_ms, self.source_label,
                               self.options.source)
        self.sequence += len(frames)
        if self._archive is not None:
            for sequence, data in enumerate(frames, context.sequence):
                self._archive.write(replace(context, sequence=sequence), data)
        encoded = encode_read(frames, context, self.settings.kafka.topic, self.settings.kafka.dead_letter_topic,
                              self.options.max_frame_bytes, self.options.merge_frames)
        self.frames += len(frames)
        for kind, count in encoded.kinds.items():
            counter = self._frame_counters.get(kind)
            if counter is None:
                counter = self._frame_counters[kind] = self.metrics.frames.labels(kind)
            counter.inc(count)
        if encoded.trades:
            self.trades += encoded.trades
            self.metrics.trades.inc(encoded.trades)
        if encoded.dead_letters:
            self.dead_letters += encoded.dead_letters
            self.metrics.dead_letters.inc(encoded.dead_letters)
        for sequence, frame in encoded.notable:
            parsed = frame.parsed
            if frame.dead_letters:
                reasons = [parsed.error] if parsed.error else [reason for reason, _ in parsed.rejected]
                log.warning("dead letter", seq=sequence, count=frame.dead_letters, reason=reasons[0][:200])
            if parsed.message is not None:
                self.metrics.server_errors.inc()
                log.error("source reported an error", message=parsed.message[:300])
            if parsed.events:
                _send_all(ws, self.feed.replies(parsed.events, self.symbols))
        self.publisher.submit(encoded.records, len(frames))

    def _follow_symbols_file(self, ws: websocket.WebSocket) -> None:
        path = self.options.symbols_file
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime
            if mtime == self._symbols_mtime:
                return
            self._symbols_mtime = mtime
            wanted = read_symbols_file(path)
        except (OSError, ConfigError) as exc:
            log.warning("symbols file unreadable; keeping the current symbols", path=str(path), error=str(exc))
            return
        added = tuple(s for s in wanted if s not in self.symbols)
        removed = tuple(s for s in self.symbols if s not in wanted)
        if added or removed:
            _send_all(ws, self.feed.unsubscribe_messages(removed))
            _send_all(ws, self.feed.subscribe_messages(added))
            self.symbols = wanted
            log.info("subscriptions changed", added=",".join(added), removed=",".join(removed))


def run_in_thread(collector: Collector) -> threading.Thread:
    """Start `collector.run()` in a background thread (tests, benchmarks)."""
    thread = threading.Thread(target=collector.run, name="collector", daemon=True)
    thread.start()
    return thread
