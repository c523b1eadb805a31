"""Garbage collection paced by the load: short young collections always, old ones when idle.

A peer's objects live until it leaves (each consume keeps dozens of containers) and form
reference cycles (callbacks registered on the objects they close over), so the cyclic collector
is what frees them. CPython collects an older generation by scanning every object that survived
since its last collection of it: with 500 peers connected one such collection took 0.9 s of
CPU, and every request in flight waited for it (the 1.1 s stall of the signaling benchmark).

So the automatic collector runs young collections only, small enough to stay short (a few ms);
the older generations are collected here when the process has been idle for a moment (the
signaling load comes in bursts: joins, then quiet calls). Under load that never pauses, CPython
still collects them after ``VALVE`` young collections, so garbage stays bounded as before.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("sfuctl.server")

YOUNG = 10_000
"""Allocations between young collections: each scans at most this many new objects (a few ms)."""
VALVE = 100
"""Young collections before CPython collects the middle generation itself: the same 1,000,000
allocations as the former (50,000, 20) thresholds, so sustained load collects as often as before."""
FULL_EVERY = 10
"""Middle-generation collections between CPython's own full collections (its default ratio)."""

TICK_SECONDS = 0.1
IDLE_TICKS = 3
"""Consecutive idle ticks (300 ms) before an old-generation collection runs."""
IDLE_CPU_SHARE = 0.05
"""A tick is idle when no request came and the process used less than this share of a core
(a process starved of CPU on a busy host also uses little: requests are what tells them apart)."""

CpuClock = Callable[[], float]
Activity = Callable[[], int]
"""A count that grows with the load (requests received so far)."""


def configure() -> None:
    """Objects alive after start-up (modules, schemas) are never scanned again; young
    collections every ``YOUNG`` allocations; the older generations mostly left to ``IdleCollector``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, VALVE, FULL_EVERY)


class IdleCollector:
    """Once idle for ``IDLE_TICKS`` ticks after young collections happened, collects the middle
    generation (what survived since: cheap), or everything if the previous idle collection was
    already that (the garbage of peers that left after being promoted is in the oldest one)."""

    def __init__(
        self, activity: Activity, cpu: CpuClock = time.process_time, tick: float = TICK_SECONDS
    ) -> None:
        self.activity = activity
        self.cpu = cpu
        self.tick_seconds = tick
        self.collected: deque[int] = deque(maxlen=64)
        """Generations of the latest collections run here, in order (for tests and logs)."""
        self._last_cpu = cpu()
        self._last_activity = activity()
        self._idle_ticks = 0

    def tick(self) -> int | None:
        """One check; the generation collected, or None."""
        cpu, activity = self.cpu(), self.activity()
        busy = activity != self._last_activity or cpu - self._last_cpu >= IDLE_CPU_SHARE * self.tick_seconds
        self._last_cpu, self._last_activity = cpu, activity
        self._idle_ticks = 0 if busy else self._idle_ticks + 1
        _, young_collections, middle_collections = gc.get_count()
        if self._idle_ticks < IDLE_TICKS or young_collections == 0:
            return None
        generation = 2 if middle_collections > 0 else 1
        started = time.perf_counter()
        found = gc.collect(generation)
        self.collected.append(generation)
        self._last_cpu = self.cpu()  # its own CPU is not load
        self._idle_ticks = 0
        log.debug("idle collection of generation %s: %s objects freed in %.1f ms", generation, found,
                  (time.perf_counter() - started) * 1000)  # fmt: skip
        return generation

    async def run(self) -> None:
        """Tick forever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.tick_seconds)
            self.tick()
