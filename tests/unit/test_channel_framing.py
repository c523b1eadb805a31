"""Framing of the worker channel: 4-byte little-endian length + payload."""

from __future__ import annotations

import struct

import pytest

from sfuctl.server.media.channel import FrameDecoder


def frame(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


def test_one_message_in_one_read() -> None:
    assert FrameDecoder().feed(frame(b"hello")) == [b"hello"]


def test_several_messages_in_one_read() -> None:
    data = frame(b"a") + frame(b"bb") + frame(b"") + frame(b"ccc")
    assert FrameDecoder().feed(data) == [b"a", b"bb", b"", b"ccc"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_partial_reads_byte_by_byte(chunk: int) -> None:
    data = frame(b"first message") + frame(b"second") + frame(b"x" * 300)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(data), chunk):
        out += decoder.feed(data[i : i + chunk])
    assert out == [b"first message", b"second", b"x" * 300]


def test_length_prefix_split_across_reads() -> None:
    decoder = FrameDecoder()
    data = frame(b"payload")
    assert decoder.feed(data[:2]) == []
    assert decoder.feed(data[2:6]) == []
    assert decoder.feed(data[6:]) == [b"payload"]


def test_oversize_frame_is_rejected_and_buffer_reset() -> None:
    decoder = FrameDecoder(max_len=64)
    with pytest.raises(ValueError, match="exceeds"):
        decoder.feed(struct.pack("<I", 100) + b"x" * 10)
    # The decoder recovers for the next, well-formed frame.
    assert decoder.feed(frame(b"ok")) == [b"ok"]


def test_exactly_max_len_is_accepted() -> None:
    decoder = FrameDecoder(max_len=16)
    assert decoder.feed(frame(b"x" * 12)) == [b"x" * 12]
