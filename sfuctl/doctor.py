"""`sfuctl doctor`: find what keeps the appliance from running, and say how to fix it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from server.media.worker_bin import WorkerBinaryNotFound, find_worker_bin


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_worker_binary() -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound as error:
        return Check("worker binary", False, str(error), "make setup  (or set SFUCTL_WORKER_BIN)")
    return Check("worker binary", True, path)


def check_shared_libraries() -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound:
        return Check("shared libraries", False, "no worker binary to inspect", "make setup")
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    missing = [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]
    if missing:
        return Check(
            "shared libraries", False, "missing: " + ", ".join(missing),
            "apt-get install libuv1 libsrtp2-1 libssl3 libabsl20220623",
        )  # fmt: skip
    return Check("shared libraries", True, "all resolved")


def check_worker_starts() -> Check:
    from server.media.worker import Worker

    async def start_and_stop() -> int:
        worker = await Worker.start()
        pid = worker.pid
        worker.close()
        await worker.wait_closed()
        return pid

    try:
        pid = asyncio.run(start_and_stop())
    except Exception as error:
        return Check("worker starts", False, f"{type(error).__name__}: {error}", "make setup")
    return Check("worker starts", True, f"ran as pid {pid} and exited cleanly")


def check_port(port: int = 3001) -> Check:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as error:
            return Check(f"port {port}", False, str(error), "stop what uses it, or sfuctl serve --port N")
    return Check(f"port {port}", True, "free")


CHECKS: list[Callable[[], Check]] = [
    check_worker_binary,
    check_shared_libraries,
    check_worker_starts,
    check_port,
]


def run_doctor(console: Console) -> bool:
    table = Table(title="sfuctl doctor")
    for column in ("check", "", "detail", "fix"):
        table.add_column(column)
    results = [check() for check in CHECKS]
    for r in results:
        table.add_row(r.name, "[green]ok[/]" if r.ok else "[red]FAIL[/]", r.detail, r.fix)
    console.print(table)
    return all(r.ok for r in results)
