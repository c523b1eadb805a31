"""Shared fixtures: real mediasoup workers, started and reaped per test."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfuctl.server.auth import Grants, mint_token
from sfuctl.server.config import ServerConfig
from sfuctl.server.media.worker import Worker, WorkerSettings
from sfuctl.server.serve import RunningServer as Running
from sfuctl.server.serve import start

FREE_PORTS = range(61000, 65536)
"""Above the workers' RTC ranges (10000-59999 by default) and the kernel's ephemeral ports
(32768-60999), so a port found free here is not taken by a worker or a client meanwhile."""


def free_port() -> int:
    """A loopback port free for both TCP and UDP (WebRtcServers and the HTTP server use both)."""
    for port in random.sample(FREE_PORTS, 500):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 61000-65535")


def process_exists(pid: int) -> bool:
    """True while the pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    w = await Worker.start(WorkerSettings(log_level="warn"))
    yield w
    w.close()
    await w.wait_closed()
    assert not process_exists(w.pid)


TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


class RunningServer:
    """An in-process sfuctl server on a free loopback port (real sockets, real workers), started
    exactly as `sfuctl serve` starts it."""

    def __init__(self, config: ServerConfig, running: Running) -> None:
        self.config = config
        self.running = running
        self.sfu = running.sfu
        self.runner = running.runner
        self.url = f"http://127.0.0.1:{config.port}"
        self.ws_url = f"ws://127.0.0.1:{config.port}/"

    async def stop(self) -> None:
        await self.running.stop()

    def token(self, room: str, user: str, name: str | None = None, **grants: bool) -> str:
        token, _ = mint_token(self.config.secret, room, user, name, grants=Grants(**grants))
        return token


async def start_server(**overrides: Any) -> RunningServer:
    config = ServerConfig(
        host="127.0.0.1",
        port=free_port(),
        workers=overrides.pop("workers", 1),
        secret=TEST_SECRET,
        rtc_listen_ip="127.0.0.1",
        announced_address="127.0.0.1",
        enable_tcp=False,
        worker=overrides.pop("worker", WorkerSettings(log_level="warn")),
        **overrides,
    )
    return RunningServer(config, await start(config))


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    running = await start_server()
    yield running
    pids = [w.pid for w in running.sfu.pool.workers]
    await running.stop()
    assert not any(process_exists(pid) for pid in pids)
