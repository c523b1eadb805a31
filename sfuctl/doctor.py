"""`sfuctl doctor` checks: what keeps the appliance from running, and how to fix it.

Nothing here depends on the source tree (the worker is found as the server finds it), so the
checks also run from a packaged binary.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sfuctl.server.auth import AuthError, resolve_secret
from sfuctl.server.config_file import ConfigError, find_config_file, load_file
from sfuctl.server.media.worker_bin import WorkerBinaryNotFound, find_worker_bin

Status = Literal["ok", "warn", "fail"]
LIBRARY_PACKAGES = "apt-get install libuv1 libsrtp2-1 libssl3 libabsl20220623"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class DoctorOptions:
    port: int = 3001
    rtc_min_port: int = 40000
    rtc_max_port: int = 49999
    secret_file: str | None = None
    config_file: str | None = None
    start_worker: bool = True
    extra: list[Callable[[DoctorOptions], Check]] = field(default_factory=list)


def check_worker_binary(_: DoctorOptions) -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound as error:
        return Check("worker binary", "fail", str(error),
                     "set SFUCTL_WORKER_BIN=/path/to/mediasoup-worker (from source: make setup)")  # fmt: skip
    return Check("worker binary", "ok", path)


def check_shared_libraries(_: DoctorOptions) -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound:
        return Check("shared libraries", "fail", "no worker binary to inspect", "see 'worker binary'")
    ldd = shutil.which("ldd")
    if ldd is None:
        return Check("shared libraries", "warn", "ldd not found: cannot inspect", "apt-get install libc-bin")
    result = subprocess.run([ldd, path], capture_output=True, text=True, timeout=10)
    missing = [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]
    if missing:
        return Check("shared libraries", "fail", "missing: " + ", ".join(missing), LIBRARY_PACKAGES)
    if result.returncode != 0:
        return Check("shared libraries", "warn", (result.stderr or result.stdout).strip()[:200], "")
    return Check("shared libraries", "ok", "all resolved")


def check_worker_starts(options: DoctorOptions) -> Check:
    if not options.start_worker:
        return Check("worker starts", "warn", "skipped (--no-start)")
    from sfuctl.server.media.worker import Worker, WorkerSettings

    async def start_and_stop() -> int:
        worker = await Worker.start(WorkerSettings(log_level="error"))
        pid = worker.pid
        worker.close()
        await worker.wait_closed()
        return pid

    try:
        pid = asyncio.run(asyncio.wait_for(start_and_stop(), 15))
    except Exception as error:
        return Check("worker starts", "fail", f"{type(error).__name__}: {error}",
                     "fix the checks above; run the binary by hand to see its error")  # fmt: skip
    return Check("worker starts", "ok", f"ran as pid {pid} and exited cleanly")


def bindable(port: int, kind: socket.SocketKind) -> OSError | None:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as error:
            return error
    return None


def check_port(options: DoctorOptions) -> Check:
    error = bindable(options.port, socket.SOCK_STREAM)
    if error is not None:
        return Check(f"port {options.port}", "fail", error.strerror or str(error),
                     "stop what uses it (is sfuctl already running?), or sfuctl serve --port N")  # fmt: skip
    return Check(f"port {options.port}", "ok", "free")


def check_rtc_ports(options: DoctorOptions) -> Check:
    """Sample the range: a range that is mostly taken leaves transports without ports."""
    low, high = options.rtc_min_port, options.rtc_max_port
    name = f"RTC ports {low}-{high}"
    if not 1024 <= low <= high <= 65535:
        return Check(
            name, "fail", "not a valid range", "use 1024 <= --rtc-min-port <= --rtc-max-port <= 65535"
        )
    step = max(1, (high - low) // 50)
    sample = list(range(low, high + 1, step))
    busy = [port for port in sample if bindable(port, socket.SOCK_DGRAM) is not None]
    if len(busy) == len(sample):
        return Check(name, "fail", "every sampled UDP port is taken", "choose another range")
    if busy:
        return Check(name, "warn", f"{len(busy)}/{len(sample)} sampled UDP ports taken", "")
    return Check(name, "ok", f"{high - low + 1} ports, sampled {len(sample)} free (UDP)")


def check_secret(options: DoctorOptions) -> Check:
    try:
        secret = resolve_secret(None, options.secret_file)
    except AuthError as error:
        if "too short" in str(error):
            return Check("secret", "fail", str(error), "use a secret of 32+ bytes")
        return Check("secret", "warn", "none yet", "`sfuctl serve` creates one on first run")
    return Check("secret", "ok", f"from {secret.source}")


def check_config_file(options: DoctorOptions) -> Check:
    try:
        path = find_config_file(options.config_file)
        if path is None:
            return Check("config file", "ok", "none (defaults, flags and SFUCTL_* only)")
        values = load_file(path)
    except ConfigError as error:
        return Check("config file", "fail", str(error), "fix the file; `sfuctl serve --help` lists the keys")
    return Check("config file", "ok", f"{path} ({len(values)} settings)")


CHECKS: list[Callable[[DoctorOptions], Check]] = [
    check_worker_binary,
    check_shared_libraries,
    check_worker_starts,
    check_port,
    check_rtc_ports,
    check_secret,
    check_config_file,
]


def run_checks(options: DoctorOptions) -> list[Check]:
    return [check(options) for check in [*CHECKS, *options.extra]]
