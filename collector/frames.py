"""Reading a websocket's incoming frames in bulk (RFC 6455 section 5): websocket-client does the
handshake and every send, but its per-frame read path (several recv calls and objects per frame)
cost more than everything else at a few trades per frame; this parses all frames of one socket
read at once. Fragmented messages are reassembled; control frames are returned as they come."""

from __future__ import annotations

from typing import Any

from websocket import ABNF, WebSocketConnectionClosedException, WebSocketProtocolException

READ_BYTES = 256 * 1024
OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY = 0x0, 0x1, 0x2
OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x8, 0x9, 0xA


class FrameReader:
    """`read()` blocks for one socket read (up to the socket's timeout, then `TimeoutError`) and
    returns the complete messages it holds as (opcode, payload) pairs, in order."""

    def __init__(self, sock: Any, read_bytes: int = READ_BYTES) -> None:
        self._sock = sock
        # One buffer for every read: a fresh 256 KiB bytes per recv is an mmap and munmap each time,
        # ~60 us per read on this VM, more than parsing and encoding a 1-trade frame (BENCHMARKS.md).
        self._buffer = memoryview(bytearray(read_bytes))
        self.last_read_bytes = 0
        self._pending = b""
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = OPCODE_TEXT

    def read(self) -> list[tuple[int, bytes]]:
        size = self._sock.recv_into(self._buffer)    # TimeoutError (plain and TLS sockets) past the timeout
        if not size:
            raise WebSocketConnectionClosedException("the source closed the TCP connection")
        data = bytes(self._buffer[:size])
        self.last_read_bytes = size
        buffer = self._pending + data if self._pending else data
        messages, position = self.parse(buffer)
        self._pending = buffer[position:]
        return messages

    def parse(self, buffer: bytes) -> tuple[list[tuple[int, bytes]], int]:
        """The complete messages at the start of `buffer` and where the rest (a partial frame) begins."""
        messages: list[tuple[int, bytes]] = []
        position, end_of_buffer = 0, len(buffer)
        while end_of_buffer - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            size, header = second & 0x7F, 2
            if size == 126:
                if end_of_buffer - position < 4:
                    break
                size, header = int.from_bytes(buffer[position + 2:position + 4], "big"), 4
            elif size == 127:
                if end_of_buffer - position < 10:
                    break
                size, header = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            masked = second & 0x80
            start = position + header + (4 if masked else 0)
            end = start + size
            if end > end_of_buffer:
                break
            payload = buffer[start:end]
            if masked:   # servers must not mask; accepted anyway, as websocket-client does
                payload = ABNF.mask(buffer[start - 4:start], payload)
            position = end
            if first & 0x70:
                raise WebSocketProtocolException(f"websocket frame with reserved bits {first & 0x70:#x} set")
            opcode, final = first & 0x0F, first & 0x80
            if opcode >= OPCODE_CLOSE:
                messages.append((opcode, payload))
            elif opcode == OPCODE_CONTINUATION:
                if self._fragments is None:
                    raise WebSocketProtocolException("websocket continuation frame without a first fragment")
                self._fragments.append(payload)
                if final:
                    messages.append((self._fragment_opcode, b"".join(self._fragments)))
                    self._fragments = None
            elif not final:
                self._fragments, self._fragment_opcode = [payload], opcode
            else:
                messages.append((opcode, payload))
        return messages, position
