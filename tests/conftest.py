"""Shared fixtures: real mediasoup workers, started and reaped per test."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

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
