"""The channel's codec: plain dicts to and from the worker's FlatBuffers messages.

Two implementations of one contract (see codec_py for the dict shape): the native extension
(``_codec``, built at set-up from server/media/native/codec.cpp), and the pure-Python fallback,
used with one warning when the extension cannot be imported. ``SFUCTL_CODEC=native|python``
selects one explicitly (the test suite runs the conformance tests on both).
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from typing import Any, Protocol

from sfuctl.server.media.codec_py import PythonCodec

ENV = "SFUCTL_CODEC"
KINDS = ("native", "python")

log = logging.getLogger("sfuctl.codec")


class Codec(Protocol):
    def encode(self, message: dict[str, Any], /) -> bytes:
        """The root table (a Message), size-prefixed as the channel sends it."""

    def decode(self, frame: bytes, /) -> dict[str, Any]:
        """A received root table (without size prefix); ValueError when it is invalid."""


def schema() -> bytes:
    """The worker's binary schema, generated at set-up from the pinned mediasoup's fbs files."""
    return resources.files("sfuctl.server.media.fbs").joinpath("message.bfbs").read_bytes()


_instances: dict[str, Codec] = {}
"""One codec of each kind per process, shared by every channel: loading the schema is not free
(tens of ms in Python), and a worker's first notification must not wait for it. Sharing is safe:
encode and decode run to completion without releasing the GIL or calling back into Python."""


def native() -> Codec:
    """The native codec; ImportError when the extension is not built or does not load."""
    codec = _instances.get("native")
    if codec is None:
        from sfuctl.server.media import _codec  # type: ignore[attr-defined]

        codec = _instances["native"] = _codec.Schema(schema())
    return codec


def python() -> Codec:
    codec = _instances.get("python")
    if codec is None:
        codec = _instances["python"] = PythonCodec(schema())
    return codec


_chosen: dict[str, str] = {}


def load(kind: str | None = None) -> Codec:
    """A codec of ``kind`` (default: $SFUCTL_CODEC, else native with the fallback on failure)."""
    kind = kind or os.environ.get(ENV) or ""
    if kind not in ("", *KINDS):
        raise ValueError(f"{ENV} must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "python":
        return python()
    if kind == "native":
        return native()
    try:
        return native()
    except ImportError as error:
        if "fallback" not in _chosen:
            _chosen["fallback"] = str(error)
            log.warning("native channel codec unavailable, using the pure-Python one (slower): %s", error)
        return python()


def name(codec: Codec) -> str:
    """Which implementation ``codec`` is ("native" or "python")."""
    return "python" if isinstance(codec, PythonCodec) else "native"
