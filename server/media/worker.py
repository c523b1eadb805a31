"""One mediasoup-worker process and its channel.

The process is started with posix_spawn (no preexec hook, safe beside threads) with the channel
sockets placed on fds 3 and 4, and watched through a pidfd so that its exit is noticed at once,
whatever the event loop. It gets its own process group: a terminal's Ctrl-C reaches the server,
which closes its workers in order, instead of killing them under it (a worker whose channel
closes, because the server died, exits by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfuctl.server.media import codec
from sfuctl.server.media.channel import DEFAULT_REQUEST_TIMEOUT, Channel
from sfuctl.server.media.emitter import EventEmitter
from sfuctl.server.media.errors import InvalidInputError, InvalidStateError, MediaError, WorkerDiedError
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker_bin import MEDIASOUP_VERSION, find_worker_bin

if TYPE_CHECKING:
    from sfuctl.server.media.webrtc_server import WebRtcServer

log = logging.getLogger("sfuctl.worker")

EXIT_WRONG_SETTINGS = 42
DEFAULT_START_TIMEOUT = 10.0
LOG_LEVELS = ("debug", "warn", "error", "none")
LOG_TAGS = (
    "info", "ice", "dtls", "rtp", "srtp", "rtcp", "rtx", "bwe", "score", "simulcast", "svc",
    "sctp", "message",
)  # fmt: skip


@dataclass
class WorkerSettings:
    """Settings passed to the worker as command-line flags.

    The defaults are the product's (what `sfuctl serve` runs and the README states), not
    mediasoup's own (10000-59999, "error"): the CLI's options and help read them from here.
    """

    log_level: str = "warn"
    log_tags: list[str] = field(default_factory=list)
    rtc_min_port: int = 40000
    rtc_max_port: int = 49999
    dtls_certificate_file: str | None = None
    dtls_private_key_file: str | None = None
    libwebrtc_field_trials: str | None = None
    worker_bin: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """Seconds the worker has to answer a request; then the request fails with a timeout."""
    start_timeout: float = DEFAULT_START_TIMEOUT
    """Seconds a new worker has to announce itself (it takes ~15 ms); then it is killed."""

    def args(self) -> list[str]:
        args = [f"--logLevel={self.log_level}"]
        args += [f"--logTag={tag}" for tag in self.log_tags]
        args += [f"--rtcMinPort={self.rtc_min_port}", f"--rtcMaxPort={self.rtc_max_port}"]
        if self.dtls_certificate_file:
            args.append(f"--dtlsCertificateFile={self.dtls_certificate_file}")
        if self.dtls_private_key_file:
            args.append(f"--dtlsPrivateKeyFile={self.dtls_private_key_file}")
        if self.libwebrtc_field_trials:
            args.append(f"--libwebrtcFieldTrials={self.libwebrtc_field_trials}")
        return args


class WorkerStartError(MediaError):
    """The worker process exited, or did not announce itself in time, at start."""

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class ResourceUsage:
    """getrusage() of the worker process, as the worker reports it (times in ms, RSS in KiB)."""

    ru_utime: int
    ru_stime: int
    ru_maxrss: int
    ru_minflt: int
    ru_majflt: int
    ru_nvcsw: int
    ru_nivcsw: int


class Worker(EventEmitter):
    """A running mediasoup-worker.

    Events: ``died(exit_code)`` when the process ends without :meth:`close`; ``close`` after
    either. ``observer`` emits ``newrouter`` / ``newwebrtcserver`` / ``close``.
    """

    def __init__(self, settings: WorkerSettings, pid: int, channel: Channel, pidfd: int) -> None:
        super().__init__()
        self.settings = settings
        self.pid = pid
        self.channel = channel
        self.closed = False
        self.died = False
        self.exit_code: int | None = None
        self.started_at = time.monotonic()
        self.routers: dict[str, Router] = {}
        self.webrtc_servers: dict[str, WebRtcServer] = {}
        self.observer = EventEmitter()
        self.app_data: dict[str, Any] = {}
        self._pidfd = pidfd
        self._exited = asyncio.get_running_loop().create_future()
        self._reaper: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    async def start(cls, settings: WorkerSettings | None = None) -> Worker:
        """Spawn a worker and wait for its WORKER_RUNNING notification.

        Bounded by ``settings.start_timeout``: a worker that neither announces itself nor exits in
        that time is killed and WorkerStartError raised. Cancelled or failed, the start leaves
        no process behind.
        """
        settings = settings or WorkerSettings()
        if settings.log_level not in LOG_LEVELS:
            raise InvalidInputError(f"invalid log level {settings.log_level!r}")
        if not 0 <= settings.rtc_min_port <= settings.rtc_max_port <= 65535:
            raise InvalidInputError("rtc_min_port/rtc_max_port must satisfy 0 <= min <= max <= 65535")
        if not settings.start_timeout > 0:
            raise InvalidInputError("start_timeout must be a positive number of seconds")
        binary = settings.worker_bin or find_worker_bin()
        codec.load()  # loaded once per process, before the worker can send its first message
        # Our ends first; the worker reads fd 3 and writes fd 4.
        to_worker, worker_in = socket.socketpair()
        from_worker, worker_out = socket.socketpair()
        out_r, out_w = os.pipe()
        env = dict(os.environ, MEDIASOUP_VERSION=MEDIASOUP_VERSION)
        devnull = os.open(os.devnull, os.O_RDONLY)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, out_w, 2),
            (os.POSIX_SPAWN_DUP2, worker_in.fileno(), 3),
            (os.POSIX_SPAWN_DUP2, worker_out.fileno(), 4),
        ]
        try:
            # posix_spawn returns at once; the exit is watched through a pidfd.
            pid = os.posix_spawn(  # noqa: ASYNC221
                binary, [binary, *settings.args()], env, file_actions=actions, setpgroup=0
            )
        except BaseException:
            for sock in (to_worker, from_worker):
                sock.close()
            os.close(out_r)
            raise
        finally:
            for fd in (devnull, out_w):
                os.close(fd)
            worker_in.close()
            worker_out.close()
        pidfd = os.pidfd_open(pid)
        channel = Channel(pid, settings.request_timeout)
        worker = cls(settings, pid, channel, pidfd)
        worker._watch(out_r)
        running: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_worker_event(event: int, _body: Any) -> None:
            if event == Event.WORKER_RUNNING and not running.done():
                running.set_result(None)

        # Subscribed before the channel is read at all: an event loop such as uvloop may deliver
        # the worker's first message before the task that opened the channel resumes.
        channel.add_handler(str(pid), on_worker_event)
        try:
            async with asyncio.timeout(settings.start_timeout):
                await channel.open(to_worker, from_worker)
                await asyncio.wait({running, worker._exited}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            worker._abandon_start(to_worker, from_worker)
            raise WorkerStartError(
                f"mediasoup-worker did not start within {settings.start_timeout} s [pid:{pid}]", None
            ) from None
        except BaseException:
            worker._abandon_start(to_worker, from_worker)
            raise
        if not running.done():
            code = worker.exit_code
            worker._abandon_start(to_worker, from_worker)
            why = "wrong settings" if code == EXIT_WRONG_SETTINGS else "exited at start"
            raise WorkerStartError(f"mediasoup-worker {why} [pid:{pid}, code:{code}]", code)
        channel.remove_handler(str(pid))
        log.info("worker started [pid:%s]", pid)
        return worker

    def _abandon_start(self, to_worker: socket.socket, from_worker: socket.socket) -> None:
        """A start that failed or was cancelled: close the channel, kill the process.

        The pidfd watch reaps it. Sockets that the channel did not take over yet are closed here.
        """
        self.closed = True
        taken = (self.channel._write is not None, self.channel._read is not None)
        self.channel.close()
        for sock, owned_by_channel in zip((to_worker, from_worker), taken, strict=True):
            if not owned_by_channel:
                sock.close()
        if not self._exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _watch(self, out_fd: int) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._pidfd, self._on_process_exit)
        os.set_blocking(out_fd, False)
        pending = bytearray()

        def on_output() -> None:
            try:
                chunk = os.read(out_fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                loop.remove_reader(out_fd)
                os.close(out_fd)
                return
            pending.extend(chunk)
            *lines, rest = pending.split(b"\n")
            pending[:] = rest
            for line in lines:
                if line:
                    log.warning("[pid:%s] (output) %s", self.pid, line.decode("utf-8", "replace"))

        loop.add_reader(out_fd, on_output)
        self.channel.on_eof(self._on_channel_eof)

    def _on_process_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(self.pid, 0)  # the pidfd said it exited (or it was SIGKILLed)
            self.exit_code = os.waitstatus_to_exitcode(status)
        if not self._exited.done():
            self._exited.set_result(self.exit_code)
        if not self.closed:
            log.error("worker died unexpectedly [pid:%s, exit:%s]", self.pid, self.exit_code)
            self._died()

    def _on_channel_eof(self) -> None:
        # The channel already failed every pending request. The process exit, which carries the
        # exit code for 'died', usually follows at once; a worker that only broke its channel is
        # useless all the same, so it is killed after a short grace.
        if self.closed:
            return
        log.error("worker channel ended unexpectedly [pid:%s]", self.pid)
        self._reaper = asyncio.get_running_loop().create_task(self._reap_after_eof())

    async def _reap_after_eof(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), 1.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _died(self) -> None:
        self.closed = True
        self.died = True
        self.channel.close(WorkerDiedError(f"worker {self.pid} died (exit {self.exit_code})"))
        self._close_children()
        self.emit("died", self.exit_code)
        self.emit("close")
        self.observer.emit("close")

    def _close_children(self) -> None:
        for router in list(self.routers.values()):
            router.worker_closed()
        self.routers.clear()
        for server in list(self.webrtc_servers.values()):
            server.worker_closed()
        self.webrtc_servers.clear()

    def close(self) -> None:
        """Ask the worker to exit (it does so after closing everything it holds)."""
        if self.closed:
            return
        self.closed = True
        log.debug("closing worker [pid:%s]", self.pid)
        self._close_children()
        with contextlib.suppress(InvalidStateError):
            self.channel.notify(Event.WORKER_CLOSE)
        self.channel.close()
        self.emit("close")
        self.observer.emit("close")

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the process to exit; SIGKILL it if it takes longer than ``timeout``."""
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
        except TimeoutError:
            log.warning("worker did not exit in %ss, killing it [pid:%s]", timeout, self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            await self._exited
        return self.exit_code

    @property
    def exited(self) -> bool:
        return self._exited.done()

    # -- requests -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.died:
            raise WorkerDiedError(f"worker died [pid:{self.pid}, exit:{self.exit_code}]")
        if self.closed:
            raise InvalidStateError(f"worker closed [pid:{self.pid}]")

    async def dump(self) -> dict[str, Any]:
        self._check_open()
        body = await self.channel.request(Method.WORKER_DUMP)
        handlers = body["channelMessageHandlers"]
        return {
            "pid": body["pid"],
            "webRtcServerIds": body["webRtcServerIds"] or [],
            "routerIds": body["routerIds"] or [],
            "channelMessageHandlers": {
                "channelRequestHandlers": handlers["channelRequestHandlers"] or [],
                "channelNotificationHandlers": handlers["channelNotificationHandlers"] or [],
            },
        }

    async def get_resource_usage(self) -> ResourceUsage:
        self._check_open()
        ru = await self.channel.request(Method.WORKER_GET_RESOURCE_USAGE)
        return ResourceUsage(
            ru_utime=ru["ruUtime"],
            ru_stime=ru["ruStime"],
            ru_maxrss=ru["ruMaxrss"],
            ru_minflt=ru["ruMinflt"],
            ru_majflt=ru["ruMajflt"],
            ru_nvcsw=ru["ruNvcsw"],
            ru_nivcsw=ru["ruNivcsw"],
        )

    async def update_settings(self, log_level: str | None = None, log_tags: list[str] | None = None) -> None:
        self._check_open()
        if log_level is not None and log_level not in LOG_LEVELS:
            raise InvalidInputError(f"invalid log level {log_level!r}")
        request = {"logLevel": log_level, "logTags": log_tags}
        await self.channel.request(
            Method.WORKER_UPDATE_SETTINGS, "", RequestBody.Worker_UpdateSettingsRequest, request
        )

    async def create_router(
        self, media_codecs: list[dict[str, Any]] | None = None, app_data: dict[str, Any] | None = None
    ) -> Router:
        """A router whose RTP capabilities come from ``media_codecs`` (mediasoup's ORTC rules)."""
        self._check_open()
        if media_codecs is not None and not isinstance(media_codecs, list):
            raise InvalidInputError("media_codecs must be a list")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        router = await Router.create(self, media_codecs or [], app_data)
        self.routers[router.id] = router
        router.on("@close", lambda: self.routers.pop(router.id, None))
        self.observer.emit("newrouter", router)
        return router

    async def create_webrtc_server(
        self, listen_infos: list[dict[str, Any]], app_data: dict[str, Any] | None = None
    ) -> WebRtcServer:
        """One set of UDP/TCP ports that every WebRtcTransport of this worker can share."""
        from sfuctl.server.media.webrtc_server import WebRtcServer

        self._check_open()
        server = await WebRtcServer.create(self, listen_infos, app_data)
        self.webrtc_servers[server.id] = server
        server.on("@close", lambda: self.webrtc_servers.pop(server.id, None))
        self.observer.emit("newwebrtcserver", server)
        return server
