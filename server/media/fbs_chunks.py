"""Pre-built FlatBuffers tables, spliced into requests instead of being packed again.

Packing with the pure-Python flatbuffers builder dominated the controller's cost per consume:
every consumer request re-encodes the same codecs (with their parameter unions), header
extensions and the producer's encodings. A FlatBuffers table is position independent (its
references are relative offsets), so a table packed once in a scratch builder can be copied
into any later request, provided its end keeps the alignment it had in the scratch buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flatbuffers
import orjson

CACHE_SIZE = 512


class Chunk:
    """A finished table: its bytes, the alignment they need, and the table's offset from their end.

    Has the object API's ``Pack(builder)``, so it can stand wherever a generated ``...T`` object
    is packed (e.g. as an element of ``RtpParametersT.codecs``).
    """

    __slots__ = ("align", "data", "root")

    def __init__(self, data: bytes, align: int, root: int) -> None:
        self.data = data
        self.align = align
        self.root = root

    @classmethod
    def of(cls, table: Any) -> Chunk:
        builder = flatbuffers.Builder(256)
        root = table.Pack(builder)
        builder.Prep(builder.minalign, 0)  # the chunk's end, as the scratch buffer's, is aligned
        return cls(bytes(builder.Bytes[builder.Head() :]), builder.minalign, root)

    def Pack(self, builder: flatbuffers.Builder) -> int:
        builder.Prep(self.align, 0)
        end: int = builder.Offset()
        size = len(self.data)
        builder.Prep(1, size)  # room for the bytes (grows the buffer if needed)
        builder.head -= size
        builder.Bytes[builder.head : builder.head + size] = self.data
        return end + self.root


_cache: dict[bytes, Chunk] = {}


def cached(kind: str, value: Any, make: Callable[[Any], Any]) -> Chunk:
    """The chunk of ``make(value)``, packed once per distinct ``value`` (by JSON content)."""
    key = kind.encode() + orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    chunk = _cache.get(key)
    if chunk is None:
        chunk = Chunk.of(make(value))
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = chunk
    return chunk
