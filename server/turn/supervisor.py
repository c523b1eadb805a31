"""coturn as a child of sfuctl: started in its own process group, restarted with back-off when
it dies, stopped with the server, and its log lines routed into Python logging (``sfuctl.turn``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from sfuctl.server.turn import config as turnconf
from sfuctl.server.turn.probe import stun_answers

log = logging.getLogger("sfuctl.turn")

BINARY_ENV = "SFUCTL_TURNSERVER_BIN"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PROBE_INTERVAL = 0.2
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_SECONDS = 30.0
"""A coturn that ran this long before dying is restarted at once (the back-off starts over)."""
TAIL_LINES = 20


class TurnStartError(RuntimeError):
    """coturn could not be started; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def find_turnserver() -> str:
    override = os.environ.get(BINARY_ENV)
    found = (
        override
        or shutil.which("turnserver")
        or next((p for p in ("/usr/bin/turnserver", "/usr/sbin/turnserver") if os.access(p, os.X_OK)), None)
    )
    if not found or not os.access(found, os.X_OK):
        where = f"{BINARY_ENV}={override}" if override else "turnserver (coturn)"
        raise TurnStartError(
            f"{where} not found or not executable",
            f"install coturn (`make setup` does: apt-get install coturn), or point {BINARY_ENV} at it",
        )
    return found


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when sfuctl dies, even by SIGKILL (no orphan relay
    keeping the port). Linux only; elsewhere the child just lacks this safety net."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def log_line(line: str) -> None:
    """coturn's own levels are kept for problems; its chatter goes to debug."""
    if "ERROR" in line:
        log.error("coturn: %s", line)
    elif "WARNING" in line:
        log.warning("coturn: %s", line)
    else:
        log.debug("coturn: %s", line)


class TurnSupervisor:
    """One managed coturn. :meth:`start` returns once it answers STUN; :meth:`close` stops it."""

    def __init__(self, config: turnconf.TurnServerConfig) -> None:
        self.config = config
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._state_dir: Path | None = None
        self._conf: Path | None = None
        self._binary = ""
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def status(self) -> dict[str, Any]:
        s = self.config.settings
        return {
            "running": self.running,
            "pid": self.pid if self.running else None,
            "restarts": self.restarts,
            "port": s.port,
            "tlsPort": s.tls_port if self.config.tls else None,
            "relayPorts": f"{s.relay_min_port}-{s.relay_max_port}",
        }

    @property
    def probe_host(self) -> str:
        ip = self.config.settings.listen_ip
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(ip, ip)

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        self._binary = find_turnserver()
        self._state_dir = Path(tempfile.mkdtemp(prefix="sfuctl-turn-"))  # 0700
        self._conf = turnconf.write(self.config, self._state_dir)
        try:
            await self._spawn()
            if not await self._ready(timeout):
                if self.port_in_use:
                    why = "cannot listen: the address is in use"
                elif not self.running:
                    why = "exited"
                else:
                    why = f"did not answer STUN within {timeout:g} s"
                last = " | ".join(list(self.tail)[-3:]) or "no output"
                raise TurnStartError(
                    f"coturn {why} on port {self.config.settings.port} ({last})",
                    "is --turn-port (or the relay range) used by another program? "
                    "`--log-level debug` shows coturn's log",
                )
        except BaseException:
            await self.close()
            raise
        self._watcher = asyncio.create_task(self._watch(), name="turn-supervisor")

    async def _spawn(self) -> None:
        assert self._conf is not None
        pipe = asyncio.subprocess
        self.process = await asyncio.create_subprocess_exec(
            self._binary, "-c", str(self._conf),
            stdin=pipe.DEVNULL, stdout=pipe.PIPE, stderr=pipe.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, not by the terminal's ^C
            preexec_fn=die_with_parent,
        )  # fmt: skip
        self._pumps.add(pump := asyncio.create_task(self._pump(self.process), name="turn-log"))
        pump.add_done_callback(self._pumps.discard)
        log.info("coturn started [pid:%s port:%s]", self.process.pid, self.config.settings.port)

    async def _pump(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self.tail.append(text)
                log_line(text)

    @property
    def port_in_use(self) -> bool:
        """coturn says so, then retries forever: no point waiting for it."""
        return any("Address already in use" in line for line in self.tail)

    async def _ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running or self.port_in_use:
                return False
            if await stun_answers(self.probe_host, self.config.settings.port, PROBE_INTERVAL):
                return True
            await asyncio.sleep(PROBE_INTERVAL)
        return False

    async def _watch(self) -> None:
        """Restart coturn whenever it exits, with a back-off that doubles up to BACKOFF_MAX."""
        backoff = BACKOFF_FIRST
        while not self._closing:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            if self._closing:
                return
            if time.monotonic() - started >= STABLE_SECONDS:
                backoff = BACKOFF_FIRST
            log.warning(
                "coturn exited with %s; restarting in %.1f s [restarts:%s]", code, backoff, self.restarts + 1
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            if self._closing:
                return
            self.restarts += 1
            try:
                await self._spawn()
            except OSError as error:
                log.error("coturn could not be restarted: %s", error)

    async def close(self) -> None:
        """Stop coturn (SIGTERM to its group, SIGKILL after STOP_TIMEOUT) and remove its files."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            log.info("coturn stopped [pid:%s]", process.pid)
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None
