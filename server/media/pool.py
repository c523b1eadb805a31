"""The worker pool: N workers, least-loaded placement, and replacement of workers that die."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection
from typing import Protocol

from sfuctl.server.media.emitter import EventEmitter
from sfuctl.server.media.worker import Worker, WorkerSettings

log = logging.getLogger("sfuctl.pool")

RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0)
"""Back-off between attempts to replace a dead worker (the last one repeats)."""


class WorkerPlacement(Protocol):
    """Chooses the worker for a new router. The multi-node registry will implement this too."""

    def pick(self, exclude: Collection[Worker] = ()) -> Worker:
        """The least-loaded live worker not in ``exclude``; RuntimeError when there is none."""
        ...


class WorkerPool(EventEmitter):
    """Starts ``size`` workers and keeps that many alive.

    Events: ``died(worker)`` when a worker dies, ``replaced(old, new)`` when its replacement runs.
    """

    def __init__(self, size: int | None = None, settings: WorkerSettings | None = None) -> None:
        super().__init__()
        self.size = size or os.cpu_count() or 1
        self.settings = settings or WorkerSettings()
        self.workers: list[Worker] = []
        self.closed = False
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start every worker at once; each start is bounded by ``settings.start_timeout``.

        If one fails, the ones that did start are closed again and its error is raised: a pool
        is either complete or not started at all.
        """
        results = await asyncio.gather(
            *(Worker.start(self.settings) for _ in range(self.size)), return_exceptions=True
        )
        workers = [r for r in results if isinstance(r, Worker)]
        errors = [r for r in results if not isinstance(r, Worker)]
        if errors:
            for worker in workers:
                worker.close()
            await asyncio.gather(*(w.wait_closed() for w in workers))
            raise errors[0]
        for worker in workers:
            self._adopt(worker)

    def _adopt(self, worker: Worker) -> None:
        self.workers.append(worker)
        worker.on("died", lambda _code: self._on_died(worker))

    def _on_died(self, worker: Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        self.emit("died", worker)
        if not self.closed:
            task = asyncio.get_running_loop().create_task(self._replace(worker))
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)

    async def _replace(self, dead: Worker) -> None:
        for attempt in range(1_000_000):
            await asyncio.sleep(RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)])
            if self.closed:
                return
            try:
                worker = await Worker.start(self.settings)
            except Exception as error:
                log.error("could not replace worker %s (attempt %s): %s", dead.pid, attempt + 1, error)
                continue
            if self.closed:
                worker.close()
                await worker.wait_closed()
                return
            self._adopt(worker)
            log.info("worker %s replaced by %s", dead.pid, worker.pid)
            self.emit("replaced", dead, worker)
            return

    @staticmethod
    def load(worker: Worker) -> int:
        """Routers weigh little; transports (peers' connections) carry the media load."""
        return sum(1 + len(router.transports) for router in worker.routers.values())

    def pick(self, exclude: Collection[Worker] = ()) -> Worker:
        alive = [w for w in self.workers if not w.closed and w not in exclude]
        if not alive:
            raise RuntimeError("no live worker in the pool" + (" outside those given" if exclude else ""))
        return min(alive, key=self.load)

    async def close(self) -> None:
        """Close every worker and wait until each process has exited."""
        self.closed = True
        for task in list(self._restarts):
            task.cancel()
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.close()
        await asyncio.gather(*(w.wait_closed() for w in workers))
