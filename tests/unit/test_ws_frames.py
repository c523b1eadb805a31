"""Frames the signaling writer joins into one write: RFC 6455 layout, and the outbox hands over
what is queued, in order, within a byte bound."""

from __future__ import annotations

import struct

from sfuctl.server.signaling.outbox import Outbox
from sfuctl.server.signaling.ws_frames import text_frame, text_frames


def parse(buffer: bytes) -> list[bytes]:
    """Unmasked final text frames, read as RFC 6455 section 5.2 lays them out."""
    payloads = []
    at = 0
    while at < len(buffer):
        first, second = buffer[at], buffer[at + 1]
        assert first == 0x81  # FIN, text
        assert second & 0x80 == 0  # a server never masks
        size, at = second & 0x7F, at + 2
        if size == 126:
            (size,), at = struct.unpack_from("!H", buffer, at), at + 2
        elif size == 127:
            (size,), at = struct.unpack_from("!Q", buffer, at), at + 8
        payloads.append(buffer[at : at + size])
        at += size
    return payloads


def test_each_length_encoding_round_trips() -> None:
    for size in (0, 1, 125, 126, 65535, 65536, 70000):
        payload = b"x" * size
        frame = text_frame(payload)
        assert parse(frame) == [payload]
        assert len(frame) == size + (2 if size < 126 else 4 if size < 65536 else 10)


def test_joined_frames_keep_their_order() -> None:
    payloads = [b'{"a":1}', b"y" * 300, b"z" * 70000, b"{}"]
    assert parse(text_frames(payloads)) == payloads


def test_take_queued_stops_at_the_byte_bound_and_frees_the_room() -> None:
    outbox = Outbox(max_frames=4, max_bytes=1000)
    for frame in (b"a" * 10, b"b" * 20, b"c" * 30, b"d" * 40):
        assert outbox.put(frame)
    assert outbox.take_queued(35) == [b"a" * 10, b"b" * 20]
    assert len(outbox) == 2 and outbox.bytes == 70
    assert outbox.take_queued(0) == []
    assert outbox.take_queued(1000) == [b"c" * 30, b"d" * 40]
    assert len(outbox) == 0 and outbox.bytes == 0
    assert outbox.put(b"e")  # room again for frames
