"""The shape check every request's ``data`` passes before anything is validated or created.

The frame size bounds how much a client sends; this bounds how deep it nests. Deep values broke
the server in two ways: orjson refuses to encode past 254 levels, so an appData echoed to a room
failed mid-broadcast, and recursive copies of 900-level rtpParameters overflowed the stack. One
iterative walk (no recursion, containers only) refuses both at the edge, in microseconds.
"""

from __future__ import annotations

from typing import Any


def too_deep(value: Any, max_depth: int) -> bool:
    """Whether objects and arrays nest deeper than ``max_depth`` levels (``value`` is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, level = pop()
        if level > max_depth:
            return True
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                push((child, level + 1))
    return False


REMEMBERED_KEYS = 4
"""Top-level keys whose last checked value a :class:`DepthGuard` keeps (one connection's memory)."""


class DepthGuard:
    """:func:`too_deep` for one connection's requests, skipping a value equal to one it checked.

    A client sends the same capabilities (≈ 5 KB, hundreds of containers) with every consume:
    walking them cost ≈ 40 µs a time, comparing with the last one ≈ 5 µs. Equal values nest
    equally deep, and the comparison's own recursion is bounded by the remembered value, which
    passed. Memory: at most ``REMEMBERED_KEYS`` values, each within the frame size."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self._checked: dict[str, Any] = {}

    def too_deep(self, data: dict[str, Any]) -> bool:
        """Whether ``data`` (an object: level 1) nests deeper than ``max_depth`` levels."""
        checked = self._checked
        for key, value in data.items():
            kind = type(value)
            if kind is not dict and kind is not list:
                continue
            if key in checked and checked[key] == value:
                continue
            if too_deep(value, self.max_depth - 1):
                return True
            if key not in checked and len(checked) >= REMEMBERED_KEYS:
                checked.clear()
            checked[key] = value
        return False
