"""Shared fixtures: real mediasoup workers, started and reaped per test."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from server.auth import Grants, mint_token
from server.config import ServerConfig
from server.http import keys
from server.http.app import create_app
from server.media.pool import WorkerPool
from server.media.worker import Worker, WorkerSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    """An in-process sfuctl server on a free loopback port (real sockets, real workers)."""

    def __init__(self, config: ServerConfig, runner: web.AppRunner) -> None:
        self.config = config
        self.runner = runner
        self.app = runner.app
        self.url = f"http://127.0.0.1:{config.port}"
        self.ws_url = f"ws://127.0.0.1:{config.port}/"

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
        worker=WorkerSettings(log_level="warn"),
        **overrides,
    )
    pool = WorkerPool(config.workers, config.worker)
    await pool.start()
    runner = web.AppRunner(create_app(pool, config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    return RunningServer(config, runner)


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    running = await start_server()
    yield running
    pids = [w.pid for w in running.app[keys.POOL].workers]
    await running.runner.cleanup()
    assert not any(process_exists(pid) for pid in pids)
