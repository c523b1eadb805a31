"""Server-to-client WebSocket text frames built here, so that several go out in one write.

Each frame aiohttp sends is one ``write`` to the socket, and on loopback (and on any busy
host) that system call is the largest single cost of an event: a peer leaving its room sends
each other peer ``consumer-closed``, ``producer-closed`` and ``peer-left`` at once. Frames
already queued for a client are therefore joined and written together. RFC 6455 section 5.2:
FIN set, opcode 1 (text), no mask from a server, the length in 7, 7+16 or 7+64 bits.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_TEXT_FIN = 0x81
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final text frame carrying ``payload`` (UTF-8 JSON)."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT_FIN, size)) + payload
    if size < 65536:
        return _LEN16.pack(_TEXT_FIN, 126, size) + payload
    return _LEN64.pack(_TEXT_FIN, 127, size) + payload


def text_frames(payloads: Iterable[bytes]) -> bytes:
    """Frames for ``payloads``, in order, as one buffer."""
    return b"".join(text_frame(payload) for payload in payloads)
