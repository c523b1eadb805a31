"""The free-space floor of the recordings dir: no recording starts below it, and while anything
records it is checked every second; below it, every running recording stops cleanly (its files
finalised, reason ``disk-full``) before the disk fills up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sfuctl.server.limits import Limits
from sfuctl.server.recording.errors import RecordingError
from sfuctl.server.recording.store import RecordingStore

log = logging.getLogger("sfuctl.recorder")

CHECK_SECONDS = 1.0
"""How often free space is checked while something records."""


class DiskFloor:
    def __init__(self, store: RecordingStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        """Read at each check: a changed ``recording_min_free_bytes`` counts at once."""
        self._task: asyncio.Task[None] | None = None

    def refuse_below_floor(self) -> None:
        free = self.store.free_bytes()
        floor = self.limits.recording_min_free_bytes
        if free < floor:
            raise RecordingError(
                "insufficient_storage",
                f"only {free // 1_000_000} MB free under {self.store.root}; recording needs "
                f"{floor // 1_000_000} MB (limit recording_min_free_bytes)",
            )

    def watch(self, active: Callable[[], list[Any]], on_full: Callable[[], Awaitable[None]]) -> None:
        """Check while ``active()`` is not empty; below the floor, await ``on_full()``."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._check(active, on_full), name="recording-disk")

    async def _check(self, active: Callable[[], list[Any]], on_full: Callable[[], Awaitable[None]]) -> None:
        while active():
            await asyncio.sleep(CHECK_SECONDS)
            try:
                free = self.store.free_bytes()
            except OSError as error:
                log.warning("cannot read the free space of %s: %s", self.store.root, error)
                continue
            if free < self.limits.recording_min_free_bytes and active():
                log.warning("%d MB free under %s: stopping %d recording(s)", free // 1_000_000,
                            self.store.root, len(active()))  # fmt: skip
                await on_full()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
