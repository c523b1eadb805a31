"""The recorder process of one track: a ``gst-launch-1.0`` child, its log lines, and its end.

Started in its own process group (a terminal's ^C reaches sfuctl, which stops it in order), with
SIGINT as its parent-death signal: if sfuctl dies, the recorder still finalises its file.
:meth:`RecorderProcess.start` returns once the pipeline plays, that is once its UDP sockets are
bound; :meth:`RecorderProcess.stop` sends SIGINT (EOS: the muxer completes the file), waits a
bounded time, then kills. An exit nobody asked for is reported to ``on_exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sfuctl.recorder")

START_SECONDS = 10.0
"""Bound on the recorder reaching PLAYING (a loaded machine takes a few hundred ms)."""
STOP_SECONDS = 5.0
"""Bound on finalising the file after SIGINT; then SIGKILL (the file so far is kept)."""
PLAYING = "Setting pipeline to PLAYING"
TAIL_LINES = 20
PR_SET_PDEATHSIG = 1


class RecorderError(Exception):
    """The recorder did not start; the message carries its last words."""


def interrupt_with_parent() -> None:
    """In the child, before exec: SIGINT (finalise the file) when sfuctl dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):
        pass


def log_line(line: str, fields: dict[str, Any]) -> None:
    """gst-launch's errors and warnings keep their level; its progress chatter goes to debug."""
    if line.startswith("ERROR"):
        log.error("recorder: %s", line, extra=fields)
    elif line.startswith("WARNING"):
        log.warning("recorder: %s", line, extra=fields)
    else:
        log.debug("recorder: %s", line, extra=fields)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class RecorderProcess:
    def __init__(
        self, argv: list[str], fields: dict[str, Any], on_exit: Callable[[int, str], None] | None = None
    ) -> None:
        self.argv = argv
        self.fields = fields
        """Structured log fields (room, recording, producer)."""
        self.on_exit = on_exit
        """Called with (exit code, last error line) when it ends without :meth:`stop`."""
        self.process: asyncio.subprocess.Process | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._playing = asyncio.Event()
        self._stopping = False
        self._pump: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def last_error(self) -> str:
        errors = [line for line in self.tail if line.startswith(("ERROR", "WARNING"))]
        return errors[-1] if errors else (self.tail[-1] if self.tail else "")

    async def start(self, timeout: float = START_SECONDS) -> None:
        """Spawn it and wait until its pipeline plays; RecorderError (and nothing left) otherwise."""
        pipe = asyncio.subprocess
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=pipe.DEVNULL, stdout=pipe.PIPE, stderr=pipe.STDOUT,
            start_new_session=True, preexec_fn=interrupt_with_parent,
        )  # fmt: skip
        self._pump = asyncio.create_task(self._read(self.process), name="recorder-log")
        exited = asyncio.ensure_future(self.process.wait())
        playing = asyncio.ensure_future(self._playing.wait())
        try:
            await asyncio.wait({exited, playing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            playing.cancel()
        if not self._playing.is_set() or exited.done():
            exited.cancel()
            await self.kill()
            reason = self.last_error() or f"did not start within {timeout:.0f} s"
            raise RecorderError(reason)
        exited.cancel()
        self._watch = asyncio.create_task(self._watch_exit(self.process), name="recorder-watch")
        log.info("recorder started [pid:%s]", self.process.pid, extra=self.fields)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            if not text:
                continue
            self.tail.append(text)
            log_line(text, self.fields)
            if text.startswith(PLAYING):
                self._playing.set()

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if self._pump is not None:  # its last lines (the error) are read before it is reported
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), 1.0)
        if self._stopping:
            return
        log.warning("recorder %s [pid:%s] %s", describe_exit(code), process.pid, self.last_error(),
                    extra=self.fields)  # fmt: skip
        if self.on_exit is not None:
            self.on_exit(code, self.last_error())

    async def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGINT (EOS: the file is finalised), at most ``timeout`` s, then SIGKILL. Its exit code."""
        self._stopping = True
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                log.warning("recorder did not finish its file within %.0f s; killing it", timeout,
                            extra=self.fields)  # fmt: skip
                await self.kill()
        await self._drain()
        log.info("recorder stopped [pid:%s code:%s]", process.pid, process.returncode, extra=self.fields)
        return process.returncode

    async def kill(self) -> None:
        self._stopping = True
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
        await self._drain()

    async def _drain(self) -> None:
        for task in (self._pump, self._watch):
            if task is not None and not task.done():
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 1.0)
