"""Websocket frames read in bulk: every length encoding, frames split across reads, fragmented
messages with a ping in between, masked frames, and a closed connection."""

from __future__ import annotations

import pytest
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketProtocolException

from collector.frames import OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_TEXT, FrameReader


def frame(payload: bytes, opcode: int = OPCODE_TEXT, final: bool = True) -> bytes:
    """A server's (unmasked) frame."""
    size = len(payload)
    first = (0x80 if final else 0) | opcode
    if size < 126:
        header = bytes((first, size))
    elif size < 65536:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload


class ChunkedSocket:
    """Hands out `data` in the given chunk sizes, then b"" (the peer closed)."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk = data, chunk

    def recv_into(self, buffer: memoryview) -> int:
        size = min(len(buffer), self.chunk, len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


def read_all(reader: FrameReader) -> list[tuple[int, bytes]]:
    messages = []
    with pytest.raises(WebSocketConnectionClosedException):
        while True:
            messages += reader.read()
    return messages


@pytest.mark.parametrize("chunk", [1, 7, 125, 4096, 10**7])
def test_every_length_encoding_arrives_whole_however_the_bytes_are_split(chunk):
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536, b'{"type":"ping"}']
    stream = b"".join(frame(p) for p in payloads) + frame(b"\x00\x01", OPCODE_BINARY)
    messages = read_all(FrameReader(ChunkedSocket(stream, chunk)))
    assert messages == [(OPCODE_TEXT, p) for p in payloads] + [(OPCODE_BINARY, b"\x00\x01")]


def test_a_fragmented_message_is_reassembled_and_a_ping_between_its_fragments_comes_first():
    stream = (frame(b"hello ", final=False) + frame(b"ping!", OPCODE_PING) + frame(b"big ", opcode=0, final=False)
              + frame(b"world", opcode=0) + frame(b"", OPCODE_CLOSE))
    assert read_all(FrameReader(ChunkedSocket(stream, 3))) == [
        (OPCODE_PING, b"ping!"), (OPCODE_TEXT, b"hello big world"), (OPCODE_CLOSE, b"")]


def test_a_masked_frame_is_unmasked():
    masked = ABNF.create_frame("masked text", ABNF.OPCODE_TEXT).format()   # clients mask with a random key
    assert read_all(FrameReader(ChunkedSocket(masked, 5))) == [(OPCODE_TEXT, b"masked text")]


def test_reserved_bits_and_a_stray_continuation_are_protocol_errors():
    with pytest.raises(WebSocketProtocolException, match="reserved"):
        FrameReader(ChunkedSocket(bytes((0xC1, 1)) + b"x", 100)).read()
    with pytest.raises(WebSocketProtocolException, match="continuation"):
        FrameReader(ChunkedSocket(frame(b"x", opcode=0), 100)).read()
