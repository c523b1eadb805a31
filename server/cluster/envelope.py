"""Node-to-node messages: JSON signed with HMAC-SHA256 under the cluster key.

Nothing unauthenticated crosses nodes: a message whose MAC does not verify, or that is older
than ``MAX_AGE`` seconds (a replay of an old one), is dropped before it is parsed further.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import orjson

MAX_AGE = 300.0
MAC_BYTES = 32


class BadMessage(ValueError):
    """Not a message of this cluster (bad MAC, stale, or malformed)."""


@dataclass(frozen=True)
class Message:
    sender: str
    """``node:epoch`` of the node that sent it."""
    kind: str
    data: dict[str, Any]
    sent: float


def seal(key: bytes, sender: str, kind: str, data: dict[str, Any]) -> bytes:
    body = orjson.dumps({"s": sender, "k": kind, "d": data, "t": time.time()})
    return hmac.new(key, body, hashlib.sha256).digest() + body


def open_sealed(key: bytes, raw: bytes) -> Message:
    if len(raw) <= MAC_BYTES:
        raise BadMessage("too short")
    mac, body = raw[:MAC_BYTES], raw[MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise BadMessage("bad MAC (another cluster secret?)")
    try:
        fields = orjson.loads(body)
        message = Message(str(fields["s"]), str(fields["k"]), dict(fields["d"]), float(fields["t"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise BadMessage(f"malformed: {error}") from None
    if abs(time.time() - message.sent) > MAX_AGE:
        raise BadMessage("stale")
    return message
