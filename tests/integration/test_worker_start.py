"""Start-up of workers and pools: it always ends, either running or with a clear error.

The server runs on uvloop (serve.py), whose I/O callbacks may run before a task awaiting the same
loop iteration resumes: a worker's first notification can then be read before the code that
spawned it subscribes to it. These tests start workers under both loops, many times.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.media.worker import Worker, WorkerSettings, WorkerStartError
from sfuctl.server.media.worker_bin import find_worker_bin

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {
    "asyncio": None,
    "uvloop": uvloop.new_event_loop,
}

POOL_STARTS = {"uvloop": 1000, "asyncio": 250}
"""uvloop is what the server runs on (and where the race showed); asyncio is checked more briefly."""
POOL_SIZE = 2
BATCH = 4
"""Pools started at once: a small batch, so the workers' spawns interleave as in a server start."""
START_BOUND = 20.0
"""What the test allows one pool start (far above a normal one) before it calls it a hang."""


def run(loop: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_thousand_pool_starts_never_hang(loop: str) -> None:
    hung: list[int] = []
    failed: list[str] = []
    workers: list[Worker] = []
    total = POOL_STARTS[loop]

    async def start_one(index: int) -> None:
        pool = WorkerPool(POOL_SIZE, WorkerSettings(log_level="warn"))
        try:
            await asyncio.wait_for(pool.start(), START_BOUND)
        except TimeoutError:
            hung.append(index)
        except Exception as error:  # a clear error is not a hang, but must not happen here either
            failed.append(f"{index}: {type(error).__name__}: {error}")
        workers.extend(pool.workers)
        await pool.close()

    async def main() -> None:
        for first in range(0, total, BATCH):
            await asyncio.gather(*(start_one(i) for i in range(first, min(first + BATCH, total))))
            if hung or failed:  # one is enough to fail; the rest would only take longer
                return

    run(loop, main)
    started = len(workers) // POOL_SIZE
    print(f"[{loop}] {started} pool starts of {POOL_SIZE} workers: {len(hung)} hung, {len(failed)} failed")
    assert not hung, f"pool starts {hung} hung (of {started} started)"
    assert not failed, failed[:5]
    assert len(workers) == total * POOL_SIZE
    assert all(w.exited for w in workers)  # each closed pool's processes exited and were reaped


def silent_binary(tmp_path: Path) -> str:
    """An executable that runs but never speaks the channel: a worker that never announces itself."""
    script = tmp_path / "silent-worker"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def spawned_children() -> set[int]:
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    return {int(pid) for pid in children}


async def test_a_worker_that_never_announces_itself_fails_start_in_time(tmp_path: Path) -> None:
    before = spawned_children()
    settings = WorkerSettings(worker_bin=silent_binary(tmp_path), start_timeout=0.5)
    with pytest.raises(WorkerStartError, match=r"did not start within 0.5 s") as info:
        await asyncio.wait_for(Worker.start(settings), 10)
    assert info.value.exit_code is None
    # The silent process was killed and reaped, not left behind.
    for _ in range(100):
        if not spawned_children() - before:
            break
        await asyncio.sleep(0.05)
    assert not spawned_children() - before


def half_silent_binary(tmp_path: Path) -> str:
    """The first start runs the real worker, the later ones stay silent (mkdir is atomic)."""
    script = tmp_path / "half-silent-worker"
    lock = tmp_path / "first-started"
    script.write_text(
        f'#!/bin/sh\nif mkdir "{lock}" 2>/dev/null; then exec "{find_worker_bin()}" "$@"; fi\nexec sleep 30\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


async def test_a_pool_whose_worker_never_starts_fails_and_closes_the_others(tmp_path: Path) -> None:
    before = spawned_children()
    pool = WorkerPool(2, WorkerSettings(worker_bin=half_silent_binary(tmp_path), start_timeout=1.0))
    with pytest.raises(WorkerStartError, match="did not start"):
        await asyncio.wait_for(pool.start(), 10)
    assert pool.workers == []
    for _ in range(100):
        if not spawned_children() - before:
            break
        await asyncio.sleep(0.05)
    assert not spawned_children() - before


async def test_a_cancelled_start_leaves_no_process(tmp_path: Path) -> None:
    before = spawned_children()
    settings = WorkerSettings(worker_bin=silent_binary(tmp_path), start_timeout=30)
    task = asyncio.get_running_loop().create_task(Worker.start(settings))
    for _ in range(100):
        if spawned_children() - before:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    for _ in range(100):
        if not spawned_children() - before:
            break
        await asyncio.sleep(0.05)
    assert not spawned_children() - before
