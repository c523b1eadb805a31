"""The server's garbage collection: older generations collected between bursts, never during one.

With CPython's own thresholds, the state of 500 peers (kept alive through a burst of requests)
was promoted generation by generation, until a collection of the middle generation scanned all
of it in the middle of a benchmark's third run: a 1.1 s stall of every request in flight.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from sfuctl.server import gc_pacing
from sfuctl.server.serve import tune_gc

BURST_OBJECTS = 450_000
"""Containers a 500-peer signaling run keeps alive until its peers leave (measured: ~280,000
tracked objects of peer state, plus what requests allocate meanwhile)."""


class Load:
    """What the collector reads: a request count and a CPU clock, moved by the test."""

    def __init__(self) -> None:
        self.requests = 0
        self.cpu_seconds = 0.0

    def busy(self) -> None:
        self.requests += 1
        self.cpu_seconds += 1.0


@pytest.fixture
def server_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    tune_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.collect()


def recording(collections: list[int]) -> Callable[[str, dict[str, int]], None]:
    """A gc callback that appends the generation of every collection that starts."""

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    return record


@pytest.mark.usefixtures("server_gc")
def test_older_generations_are_collected_between_bursts_not_during_them() -> None:
    load = Load()
    collector = gc_pacing.IdleCollector(lambda: load.requests, cpu=lambda: load.cpu_seconds)
    during: list[int] = []
    record = recording(during)
    for _ in range(3):  # three benchmark runs against one server
        gc.callbacks.append(record)
        try:
            kept: list[list[list[int]]] = []
            for _ in range(BURST_OBJECTS // 2000):
                kept.extend([[]] for _ in range(1000))
                load.busy()
                collector.tick()
        finally:
            gc.callbacks.remove(record)
        del kept  # the peers leave
        for _ in range(gc_pacing.IDLE_TICKS):
            collector.tick()
    assert during.count(0) >= 3 * BURST_OBJECTS // gc_pacing.YOUNG - 3
    assert [g for g in during if g > 0] == [], "an old generation was collected in the middle of a burst"
    assert collector.collected, "nothing was collected while idle"


@pytest.mark.usefixtures("server_gc")
def test_idle_collection_waits_for_quiet_and_for_something_to_collect() -> None:
    load = Load()
    collector = gc_pacing.IdleCollector(lambda: load.requests, cpu=lambda: load.cpu_seconds)
    gc.collect()
    for _ in range(gc_pacing.IDLE_TICKS * 2):
        assert collector.tick() is None  # idle, but no young collection since the last one
    kept = [[[]] for _ in range(gc_pacing.YOUNG * 2)]
    load.busy()
    assert gc.get_count()[1] > 0
    for _ in range(gc_pacing.IDLE_TICKS - 1):
        assert collector.tick() is None
    load.busy()  # a request arrives: idleness starts over
    for _ in range(gc_pacing.IDLE_TICKS - 1):
        assert collector.tick() is None
    load.cpu_seconds += 1.0  # busy without requests (e.g. worker notifications): not idle either
    for _ in range(gc_pacing.IDLE_TICKS):
        assert collector.tick() is None
    assert collector.tick() == 1  # the middle generation first: what survived since
    del kept
    gc.collect(0)  # more young collections since
    for _ in range(gc_pacing.IDLE_TICKS - 1):
        collector.tick()
    assert collector.tick() == 2  # then all of them: garbage promoted earlier is there
    assert list(collector.collected) == [1, 2]
