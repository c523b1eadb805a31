"""A real redis-server and `sfuctl serve --redis` nodes (separate processes, ports) on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sfuctl.server.auth import mint_token
from tests.conftest import TEST_SECRET, free_port
from tests.redis_server import RedisServer

SFUCTL = str(Path(sys.executable).parent / "sfuctl")
NODE_TTL = 3.0
"""Short, so that a killed node is found dead quickly in the tests."""


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


class Node:
    """One `sfuctl serve` node of the cluster."""

    def __init__(self, name: str, redis_url: str, tmp: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/"
        self.log = tmp / f"{name}.log"
        self.args = [
            SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--rtc-ip", "127.0.0.1", "--announced-address", "127.0.0.1", "--no-tcp",
            "--redis", redis_url, "--node-id", name, "--node-address", "127.0.0.1",
            "--node-ttl", str(NODE_TTL), "--log-level", "info",
        ]  # fmt: skip
        self.env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, SFUCTL_STATE_DIR=str(tmp / name))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def wait_ready(self, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            assert self.proc is not None and self.proc.poll() is None, self.output()
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"node {self.name} did not answer /health in {deadline} s\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def token(self, room: str, user: str, name: str | None = None) -> str:
        return mint_token(TEST_SECRET, room, user, name)[0]

    def kill(self) -> None:
        """SIGKILL the node (its worker, in the same group, dies with it as on a host crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
async def cluster(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[Node]]:
    """Three nodes on one Redis."""
    nodes = [Node(name, redis_server.url, tmp_path) for name in ("n1", "n2", "n3")]
    try:
        for node in nodes:
            node.start()
        await asyncio.gather(*(asyncio.to_thread(node.wait_ready) for node in nodes))
        yield nodes
    finally:
        for node in nodes:
            node.stop()
