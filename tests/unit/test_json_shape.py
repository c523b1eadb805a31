"""The nesting check at the edge, and its per-connection memory of values already checked."""

from __future__ import annotations

from typing import Any

from sfuctl.server.signaling.json_shape import REMEMBERED_KEYS, DepthGuard, too_deep


def nested(levels: int) -> Any:
    """Objects and arrays, alternating, ``levels`` deep."""
    value: Any = {}
    for level in range(levels - 1):
        value = {"a": value} if level % 2 else [value]
    return value


def test_the_guard_agrees_with_the_walk_at_every_depth() -> None:
    for max_depth in (1, 2, 5, 16):
        guard = DepthGuard(max_depth)
        for levels in range(1, 20):
            data = {"x": 1, "caps": nested(levels)}
            assert guard.too_deep(data) == too_deep(data, max_depth), (max_depth, levels)
            assert guard.too_deep(data) == too_deep(data, max_depth)  # again: now remembered


def test_a_value_that_differs_from_the_remembered_one_is_walked_again() -> None:
    guard = DepthGuard(5)
    assert not guard.too_deep({"caps": {"codecs": [{"p": {}}]}})  # 5 levels: fine
    assert guard.too_deep({"caps": {"codecs": [{"p": {"x": []}}]}})  # 6 levels, same key
    assert not guard.too_deep({"caps": {"codecs": [{"p": {}}]}})


def test_the_memory_is_bounded() -> None:
    guard = DepthGuard(8)
    for i in range(100):
        assert not guard.too_deep({f"k{i}": [i]})
    assert len(guard._checked) <= REMEMBERED_KEYS
