"""Single-port mode: each worker listens on one UDP+TCP port shared by all its WebRTC transports.

Users behind strict firewalls can then open exactly ``workers`` ports. Worker ``i`` gets port
``base + i``; a replacement worker takes over the port of the worker it replaces.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sfuctl.server.config import ServerConfig
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.media.worker import Worker

log = logging.getLogger("sfuctl.server")


def listen_infos(config: ServerConfig, port: int) -> list[dict[str, Any]]:
    return [{**info, "port": port} for info in config.transport_options()["listen_infos"]]


class SinglePort:
    """Gives every worker of the pool its WebRtcServer, and a replacement the port of the dead one."""

    def __init__(self, pool: WorkerPool, config: ServerConfig) -> None:
        assert config.webrtc_server_port is not None
        self.pool = pool
        self.config = config
        self.base = config.webrtc_server_port
        self.ports: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        pool.on("replaced", self._replaced)

    async def attach_all(self) -> None:
        await asyncio.gather(*(self._attach(w, self.base + i) for i, w in enumerate(self.pool.workers)))

    async def _attach(self, worker: Worker, port: int) -> None:
        self.ports[worker.pid] = port
        await worker.create_webrtc_server(listen_infos(self.config, port))
        tcp = "+tcp" if self.config.enable_tcp else ""
        log.info("worker %s shares port %s (udp%s)", worker.pid, port, tcp)

    def _replaced(self, old: Worker, new: Worker) -> None:
        port = self.ports.pop(old.pid, None)
        if port is not None:
            task = asyncio.get_running_loop().create_task(self._attach(new, port))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
