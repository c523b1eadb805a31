"""Runs the server: the ``Sfu`` behind its HTTP(S) adapter on one port, until SIGINT/SIGTERM.

SIGHUP reloads the TLS certificate files (when serving TLS).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from sfuctl.server import gc_pacing
from sfuctl.server.config import ServerConfig
from sfuctl.server.http.app import create_app
from sfuctl.server.sfu import Sfu

log = logging.getLogger("sfuctl.server")

HTTP_SHUTDOWN_SECONDS = 2.0
"""What aiohttp gives handlers still running after the drain (every peer is gone by then)."""


def tune_gc() -> None:
    """Short young collections, start-up state frozen, older generations collected when idle
    (see gc_pacing: with CPython's thresholds they were the latency tail)."""
    gc_pacing.configure()


def install_event_loop_policy() -> None:
    """uvloop where it is installed: the channel and WebSocket hot paths run on it."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@dataclass
class RunningServer:
    """A started ``Sfu`` and its listener; :meth:`stop` closes both."""

    sfu: Sfu
    runner: web.AppRunner
    urls: list[str]

    async def stop(self) -> None:
        try:
            await self.runner.cleanup()
        finally:
            await self.sfu.close()


async def start(config: ServerConfig) -> RunningServer:
    """Workers first (a server that cannot run media does not listen), then the listener."""
    sfu = Sfu(config)
    try:
        await sfu.start()
        runner = web.AppRunner(
            create_app(sfu), access_log=None, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_SECONDS
        )
        await runner.setup()
        try:
            ssl_context = sfu.tls.listener if sfu.tls is not None else None
            await web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context).start()
        except BaseException:
            await runner.cleanup()
            raise
    except BaseException:
        await sfu.close()
        raise
    scheme = "https" if sfu.tls is not None else "http"
    urls = [f"{scheme}://{addr[0]}:{addr[1]}" for addr in runner.addresses]
    return RunningServer(sfu, runner, urls)


def reload_tls(sfu: Sfu) -> None:
    if sfu.tls is None:
        log.info("SIGHUP: nothing to reload (TLS is off)")
    else:
        sfu.tls.reload("SIGHUP")


async def serve(config: ServerConfig, on_ready: Callable[[list[str]], None] | None = None) -> None:
    running = await start(config)
    collector = gc_pacing.IdleCollector(lambda: running.sfu.signaling.requests_received)
    collecting = asyncio.get_running_loop().create_task(collector.run())
    try:
        tune_gc()
        workers = running.sfu.pool.workers
        log.info("listening on %s with %s workers %s", ", ".join(running.urls), len(workers),
                 [w.pid for w in workers])  # fmt: skip
        if on_ready is not None:
            on_ready(running.urls)
        stop, hurry = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal cuts the drain short
            loop.add_signal_handler(sig, lambda: hurry.set() if stop.is_set() else stop.set())
        # SIGHUP (`systemctl reload`, a renewal hook) loads the TLS files now; never a stop.
        loop.add_signal_handler(signal.SIGHUP, reload_tls, running.sfu)
        await stop.wait()
        await running.sfu.drain(skip=hurry)
        log.info("shutting down")
    finally:
        collecting.cancel()
        await running.stop()


def run(config: ServerConfig, on_ready: Callable[[list[str]], None] | None = None) -> None:
    install_event_loop_policy()
    asyncio.run(serve(config, on_ready))
