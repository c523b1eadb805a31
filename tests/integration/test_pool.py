"""The worker pool: start N, place on the least loaded, replace the dead."""

from __future__ import annotations

import asyncio
import os
import signal

from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.media.worker import Worker
from tests.conftest import process_exists


async def test_pool_starts_n_workers_and_closes_them_all() -> None:
    pool = WorkerPool(3)
    await pool.start()
    pids = [w.pid for w in pool.workers]
    assert len(set(pids)) == 3 and all(process_exists(p) for p in pids)
    await pool.close()
    assert pool.workers == []
    assert not any(process_exists(p) for p in pids)


async def test_dead_worker_is_reported_and_replaced() -> None:
    pool = WorkerPool(2)
    await pool.start()
    try:
        died: asyncio.Queue[Worker] = asyncio.Queue()
        replaced: asyncio.Queue[tuple[Worker, Worker]] = asyncio.Queue()
        pool.on("died", died.put_nowait)
        pool.on("replaced", lambda old, new: replaced.put_nowait((old, new)))
        victim = pool.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert (await asyncio.wait_for(died.get(), 5)) is victim
        old, new = await asyncio.wait_for(replaced.get(), 10)
        assert old is victim and new in pool.workers and new.pid != victim.pid
        assert len(pool.workers) == 2 and victim not in pool.workers
        assert (await new.dump())["pid"] == new.pid
        assert pool.pick() in pool.workers
    finally:
        await pool.close()
