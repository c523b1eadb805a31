"""The /health report: liveness of the process and of each worker, with its resource usage."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict
from typing import Any

import psutil

from sfuctl.server import __version__
from sfuctl.server.media.errors import MediaError
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.media.worker import Worker

HEALTH_REQUEST_TIMEOUT = 2.0


async def worker_health(worker: Worker) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "pid": worker.pid,
        "alive": not worker.closed,
        "routers": len(worker.routers),
        "transports": sum(len(r.transports) for r in worker.routers.values()),
    }
    try:
        usage = await asyncio.wait_for(worker.get_resource_usage(), HEALTH_REQUEST_TIMEOUT)
    except (MediaError, TimeoutError):
        entry["alive"] = False
        return entry
    ru = asdict(usage)
    entry.update(cpuUser=ru["ru_utime"], cpuSystem=ru["ru_stime"], maxRss=ru["ru_maxrss"])
    with contextlib.suppress(psutil.Error):
        # ru_maxrss keeps the parent's high-water mark across exec; the current RSS is what counts.
        entry["rss"] = psutil.Process(worker.pid).memory_info().rss
    return entry


async def health_report(pool: WorkerPool, started_at: float, extra: dict[str, Any]) -> dict[str, Any]:
    """'ok' when every configured worker is alive, 'degraded' while some are missing or stuck."""
    workers = await asyncio.gather(*(worker_health(w) for w in pool.workers))
    alive = sum(1 for w in workers if w["alive"])
    status = "ok" if alive >= pool.size else "degraded"
    return {
        "status": status,
        "version": __version__,
        "uptime": round(time.monotonic() - started_at, 3),
        "workers": workers,
        **extra,
    }
