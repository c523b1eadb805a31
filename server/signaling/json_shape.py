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
