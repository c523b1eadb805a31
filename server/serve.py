"""Runs the server: worker pool + aiohttp on one port, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from sfuctl.server.config import ServerConfig
from sfuctl.server.drain import drain
from sfuctl.server.http.app import create_app
from sfuctl.server.media.pool import WorkerPool

log = logging.getLogger("sfuctl.server")


GC_THRESHOLDS = (50_000, 20, 10)
"""Young-generation collections every 50,000 allocations instead of 700: each consume allocates
and keeps dozens of dicts (parameters, the consumer), and collections scanning them were half of
the controller's CPU in ``make bench-control``; one young collection stays around a millisecond."""


def tune_gc() -> None:
    """Fewer, cheaper collections: every request allocates many short-lived objects, and full
    collections of a heap holding the whole start-up state were the latency tail."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, schemas) are never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


def install_event_loop_policy() -> None:
    """uvloop where it is installed: the channel and WebSocket hot paths run on it."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve(config: ServerConfig, on_ready: Callable[[list[str]], None] | None = None) -> None:
    pool = WorkerPool(config.workers, config.worker)
    await pool.start()
    tune_gc()
    runner = web.AppRunner(create_app(pool, config), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        urls = [f"http://{addr[0]}:{addr[1]}" for addr in runner.addresses]
        log.info("listening on %s with %s workers %s", ", ".join(urls), len(pool.workers),
                 [w.pid for w in pool.workers])  # fmt: skip
        if on_ready is not None:
            on_ready(urls)
        stop, hurry = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal cuts the drain short
            loop.add_signal_handler(sig, lambda: hurry.set() if stop.is_set() else stop.set())
        await stop.wait()
        await drain(runner.app, config.drain_seconds, skip=hurry)
        log.info("shutting down")
    finally:
        await runner.cleanup()  # closes the rooms and the pool (on_cleanup)


def run(config: ServerConfig, on_ready: Callable[[list[str]], None] | None = None) -> None:
    install_event_loop_policy()
    asyncio.run(serve(config, on_ready))
