"""Single-port mode: each worker listens on one UDP+TCP port shared by all its WebRTC transports.

Users behind strict firewalls can then open exactly ``workers`` ports. Worker ``i`` gets port
``base + i``; a replacement worker takes over the port of the worker it replaces.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from sfuctl.server.config import ServerConfig
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.media.worker import Worker

log = logging.getLogger("sfuctl.server")


def listen_infos(config: ServerConfig, port: int) -> list[dict[str, Any]]:
    return [{**info, "port": port} for info in config.transport_options()["listen_infos"]]


def setup_webrtc_servers(app: web.Application, pool: WorkerPool, config: ServerConfig) -> None:
    base = config.webrtc_server_port
    if base is None:
        return
    ports: dict[int, int] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def attach(worker: Worker, port: int) -> None:
        ports[worker.pid] = port
        await worker.create_webrtc_server(listen_infos(config, port))
        log.info("worker %s shares port %s (udp%s)", worker.pid, port, "+tcp" if config.enable_tcp else "")

    async def attach_all(_app: web.Application) -> None:
        await asyncio.gather(*(attach(w, base + i) for i, w in enumerate(pool.workers)))

    def replaced(old: Worker, new: Worker) -> None:
        port = ports.pop(old.pid, None)
        if port is not None:
            task = asyncio.get_running_loop().create_task(attach(new, port))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    app.on_startup.append(attach_all)
    pool.on("replaced", replaced)
