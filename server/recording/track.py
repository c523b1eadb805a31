"""One recorded track: a PlainTransport and a consumer of the producer, feeding a recorder.

The order avoids a file that starts without a key frame: the consumer is created paused, the
recorder is started and listens, only then is the transport connected to it and the consumer
resumed, and a key frame requested (again shortly after, and periodically: a loss between the
worker and the recorder would otherwise damage the picture until the sender's next key frame).
The transport is plain RTP without comedia (the worker sends to the recorder's ports, given by
``connect``) and with RTCP apart from RTP (``rtcpMux`` off), so the worker's sender reports do
not reach the depayloader. The consumer's capabilities leave out the video-orientation header
extension (the picture is recorded as sent), transport-wide congestion control (nobody answers
it, which would throttle the stream) and RTX.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfuctl.server.media.errors import MediaError
from sfuctl.server.recording import pipeline
from sfuctl.server.recording.probe import duration_ms
from sfuctl.server.recording.recorder import RecorderError, RecorderProcess

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.plain_transport import PlainTransport
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.router import Router

log = logging.getLogger("sfuctl.recorder")

RECORDER_IP = "127.0.0.1"
"""The recorder runs on the worker's host and takes RTP over loopback."""
KEYFRAME_AT = (0.0, 1.0, 3.0)
"""Key frame requests after the start (seconds): the first one may beat the recorder's socket."""
KEYFRAME_SECONDS = 10.0
"""Then one every so often, so a lost packet damages at most this much of the picture."""
START_ATTEMPTS = 3
"""A port picked free may be taken before the recorder binds it: try again with others."""
DROPPED_EXTENSIONS = (
    "urn:3gpp:video-orientation",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
)
KEPT_FEEDBACK = {("nack", ""), ("nack", "pli"), ("ccm", "fir")}


class TrackError(Exception):
    """This producer cannot be recorded (its codec, or the recorder did not start); safe to show."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal
        """The recorder itself failed (not this producer): the recording cannot go on."""


def recorder_capabilities(router_caps: dict[str, Any]) -> dict[str, Any]:
    """The router's capabilities narrowed to what the recorder takes (see the module docstring)."""
    codecs = []
    for codec in router_caps.get("codecs", []):
        if pipeline.format_of(str(codec.get("mimeType", ""))) is None:
            continue  # RTX and codecs without a recording pipeline
        feedback = [
            fb
            for fb in codec.get("rtcpFeedback", [])
            if (fb.get("type"), fb.get("parameter", "")) in KEPT_FEEDBACK
        ]
        codecs.append({**codec, "rtcpFeedback": feedback})
    extensions = [
        ext for ext in router_caps.get("headerExtensions", []) if ext.get("uri") not in DROPPED_EXTENSIONS
    ]
    return {"codecs": codecs, "headerExtensions": extensions}


def free_udp_ports(count: int, ip: str = RECORDER_IP) -> list[int]:
    """Ports the kernel says are free now (held together, so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((ip, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class TrackFile:
    """A finished (or growing) track file, as the API lists it."""

    name: str
    producer_id: str
    user_id: str
    kind: str
    mime_type: str
    started_at: float
    ended_at: float | None = None
    bytes: int = 0
    duration_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "producerId": self.producer_id,
            "userId": self.user_id,
            "kind": self.kind,
            "mimeType": self.mime_type,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "bytes": self.bytes,
            "durationMs": self.duration_ms,
        }


def file_name(producer: Producer, extension: str) -> str:
    return f"{producer.kind}-{producer.id}.{extension}"


class TrackRecorder:
    def __init__(
        self,
        router: Router,
        producer: Producer,
        user_id: str,
        directory: Path,
        binary: str,
        fields: dict[str, Any],
        on_failure: Callable[[TrackRecorder, str], None],
        on_ended: Callable[[TrackRecorder], None],
    ) -> None:
        self.router = router
        self.producer = producer
        self.user_id = user_id
        self.directory = directory
        self.binary = binary
        self.fields = {**fields, "producer": producer.id, "user": user_id}
        self.on_failure = on_failure
        """The recorder died by itself: the recording fails (with this reason)."""
        self.on_ended = on_ended
        """The producer (or the room) went away: this track's file is complete."""
        self.transport: PlainTransport | None = None
        self.consumer: Consumer | None = None
        self.process: RecorderProcess | None = None
        self.file: TrackFile | None = None
        self._keyframes: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[TrackFile | None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> TrackFile:
        """Record the producer from now on; TrackError (and nothing left behind) if it cannot be."""
        codec = self.producer.rtp_parameters["codecs"][0]
        fmt = pipeline.format_of(str(codec["mimeType"]))
        if fmt is None:
            raise TrackError(
                f"producer {self.producer.id}: {codec['mimeType']} cannot be recorded ({pipeline.RECORDED})"
            )
        try:
            await self._start(fmt)
        except BaseException:
            await self._teardown(kill=True)
            raise
        assert self.file is not None
        return self.file

    async def _start(self, fmt: pipeline.Format) -> None:
        self.transport = transport = await self.router.create_plain_transport(
            listen_info={"protocol": "udp", "ip": RECORDER_IP}, rtcp_mux=False, comedia=False,
            app_data={"recording": self.fields.get("recording")},
        )  # fmt: skip
        self.consumer = consumer = await transport.consume(
            self.producer.id,
            recorder_capabilities(self.router.rtp_capabilities),
            paused=True,
            enable_rtx=False,
        )
        consumer.on("producerclose", self._ended)
        consumer.on("transportclose", self._ended)
        codec = consumer.rtp_parameters["codecs"][0]
        name = file_name(self.producer, fmt.extension)
        path = self.directory / name
        last: RecorderError | None = None
        for _ in range(START_ATTEMPTS):
            rtp_port, rtcp_port = free_udp_ports(2)
            argv = pipeline.command(
                codec, consumer.kind, RECORDER_IP, rtp_port, rtcp_port, str(path), self.binary
            )
            process = RecorderProcess(argv, self.fields, on_exit=self._exited)
            try:
                await process.start()
            except RecorderError as error:
                last = error
                continue
            self.process = process
            break
        if self.process is None:
            raise TrackError(f"the recorder of producer {self.producer.id} did not start: {last}", fatal=True)
        if consumer.closed:  # the producer closed meanwhile
            raise TrackError(f"producer {self.producer.id} closed")
        await transport.connect(ip=RECORDER_IP, port=rtp_port, rtcp_port=rtcp_port)
        self.file = TrackFile(
            name, self.producer.id, self.user_id, self.producer.kind, str(codec["mimeType"]), time.time()
        )
        await consumer.resume()
        if consumer.kind == "video":
            self._keyframes = asyncio.create_task(
                self._request_key_frames(consumer), name="recorder-keyframes"
            )
        log.info("recording track", extra={**self.fields, "file": name})

    async def _request_key_frames(self, consumer: Consumer) -> None:
        started = time.monotonic()
        schedule = [*KEYFRAME_AT]
        while not consumer.closed:
            if schedule:
                await asyncio.sleep(max(0.0, started + schedule.pop(0) - time.monotonic()))
            else:
                await asyncio.sleep(KEYFRAME_SECONDS)
            with contextlib.suppress(MediaError):
                await consumer.request_key_frame()

    def _exited(self, code: int, last_line: str) -> None:
        from sfuctl.server.recording.recorder import describe_exit

        why = f"the recorder of {self.producer.kind} track {self.producer.id} {describe_exit(code)}"
        self.on_failure(self, f"{why}: {last_line}" if last_line else why)

    def _ended(self) -> None:
        """The producer closed, or the room (its router) did: complete the file."""
        if self._finishing is None and self.file is not None:  # not while it starts (or fails to)
            self.on_ended(self)

    def finish(self) -> asyncio.Task[TrackFile | None]:
        """Stop the recorder (the file is finalised) and drop the transport. Once; awaitable."""
        if self._finishing is None:
            self._finishing = asyncio.create_task(self._finish(), name="recorder-finish")
        return self._finishing

    async def _finish(self) -> TrackFile | None:
        await self._teardown(kill=False)
        if self.file is not None:
            self.file.ended_at = time.time()
            path = self.directory / self.file.name
            with contextlib.suppress(OSError):
                self.file.bytes = path.stat().st_size
            self.file.duration_ms = await duration_ms(path)
        return self.file

    async def _teardown(self, kill: bool) -> None:
        if self._keyframes is not None:
            self._keyframes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keyframes
        if self.process is not None:
            if kill:
                await self.process.kill()
            else:
                await self.process.stop()
        if self.transport is not None and not self.transport.closed:
            self.transport.close()
