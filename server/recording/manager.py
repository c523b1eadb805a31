"""The recordings of one server: start, stop, list, serve and delete them.

What the REST API calls, and what ``Sfu`` wires to the rooms: a room being recorded as a whole
tells the manager of each new producer (it joins the recording) and of its closing (the recording
stops). Peers of the room get ``recording-started`` / ``recording-stopped``, webhooks
``recording-started`` / ``recording-finished``. A free-space floor and a bound on concurrent
recordings keep recording from filling the disk or the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfuctl.server.limits import Limits
from sfuctl.server.media.errors import MediaError
from sfuctl.server.recording import pipeline, plugins
from sfuctl.server.recording.disk import DiskFloor
from sfuctl.server.recording.errors import RecordingError, not_found
from sfuctl.server.recording.session import Recording
from sfuctl.server.recording.store import RecordingStore, new_recording_id, valid_file_name, valid_id
from sfuctl.server.recording.track import TrackError, TrackRecorder
from sfuctl.server.webhooks.events import EventSink, NoEvents, room_object

if TYPE_CHECKING:
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.signaling.peer import Peer
    from sfuctl.server.signaling.registry import RoomRegistry
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.recorder")

STOP_ALL_SECONDS = 10.0
"""Bound on stopping every recording at shutdown (each recorder is itself bounded)."""


class RecordingManager:
    def __init__(
        self,
        registry: RoomRegistry,
        limits: Limits,
        directory: Path,
        events: EventSink | None = None,
        binary: str | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.store = RecordingStore(directory)
        self.events: EventSink = events or NoEvents()
        self.binary = binary
        """gst-launch-1.0; None: looked up on PATH when a recording starts."""
        self.recordings: dict[str, Recording] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.disk = DiskFloor(self.store, limits)
        self._missing: tuple[str, asyncio.Future[dict[str, list[str]]]] | None = None
        """(recorder binary, what its GStreamer lacks per MIME type), asked once, at the first start."""

    # -- life cycle ----------------------------------------------------------------------------

    def load(self) -> None:
        """Recordings already on disk (an earlier run's); one cut short by a crash is 'failed'."""
        for data in self.store.load_all():
            try:
                recording = Recording.from_metadata(data)
            except (KeyError, TypeError, ValueError) as error:
                log.warning("skipping recording %s: %s", data.get("id"), error)
                continue
            recording.files = [f for f in recording.files if valid_file_name(f.name)]
            self.recordings[recording.id] = recording
            if data.get("state") != recording.state:  # cut short: say so on disk too
                self.store.save(recording.id, recording.metadata())

    async def close(self) -> None:
        """Stop every running recording (reason ``shutdown``), each file finalised."""
        self.disk.close()
        active = [r for r in self.recordings.values() if r.active]
        ending = [asyncio.ensure_future(self._end(r, "stopped", "shutdown")) for r in active]
        pending = ending + list(self._tasks)  # and those the rooms' closing started (a drain)
        if pending:
            await asyncio.wait(pending, timeout=STOP_ALL_SECONDS)

    # -- queries -------------------------------------------------------------------------------

    def all(self) -> list[Recording]:
        return sorted(self.recordings.values(), key=lambda r: r.started_at)

    def get(self, recording_id: str) -> Recording:
        recording = self.recordings.get(recording_id) if valid_id(recording_id) else None
        if recording is None:
            raise not_found(f"no recording {recording_id!r}")
        return recording

    def file_path(self, recording_id: str, name: str) -> tuple[Path, str]:
        """The file of a recording and its Content-Type; only files the recording lists."""
        recording = self.get(recording_id)
        found = recording.file(name) if valid_file_name(name) else None
        if found is None:
            raise not_found(f"no file {name!r} in recording {recording_id!r}")
        path = self.store.file_path(recording.id, found.name)
        if not path.is_file():
            raise not_found(f"file {name!r} of recording {recording_id!r} is not on disk")
        return path, pipeline.content_type(found.name, found.kind)

    # -- start ---------------------------------------------------------------------------------

    def _recorder_binary(self) -> str:
        binary = self.binary or shutil.which(pipeline.GST_LAUNCH)
        if binary is None:
            raise RecordingError(
                "unavailable",
                f"the recorder ({pipeline.GST_LAUNCH}) is not installed: "
                "apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
                "gstreamer1.0-plugins-bad",
            )
        return binary

    async def start(self, room_id: str, producer_ids: list[str] | None = None) -> Recording:
        """Record the room's producers (those given, or all, now and later) into new files."""
        room = self.registry.get(room_id)
        if room is None or room.closed:
            raise not_found(f"no room {room_id!r}")
        targets: list[tuple[Producer, Peer]] = []
        for producer_id in producer_ids or []:
            owner = room.owner_of_producer(producer_id)
            producer = owner.producers.get(producer_id) if owner is not None else None
            if owner is None or producer is None or producer.closed:
                raise not_found(f"no producer {producer_id!r} in room {room_id!r}")
            codec = str(producer.rtp_parameters["codecs"][0]["mimeType"])
            if pipeline.format_of(codec) is None:
                raise RecordingError(
                    "bad_request",
                    f"producer {producer_id!r} sends {codec}: only {pipeline.RECORDED} are recorded",
                )
            targets.append((producer, owner))
        running = sum(1 for r in self.recordings.values() if r.active)
        if running >= self.limits.max_recordings:
            raise RecordingError(
                "limit_exceeded", f"{running} recordings are running, the limit (max_recordings)"
            )
        tracks = self.running_tracks()
        if producer_ids is not None and tracks + len(targets) > self.limits.max_recording_tracks:
            most = self.limits.max_recording_tracks
            raise RecordingError(
                "limit_exceeded",
                f"{tracks} tracks are recorded already; at most {most} (max_recording_tracks)",
            )
        binary = self._recorder_binary()
        for producer, _owner in targets:
            if why := await self._cannot_record(binary, producer):
                raise RecordingError("unavailable", f"producer {producer.id!r}: {why}")
        self.disk.refuse_below_floor()
        if producer_ids is None:
            targets = [(p, peer) for peer in room.peers.values() for p in peer.producers.values()]
        recording = Recording(
            new_recording_id(), room.id, time.time(), whole_room=producer_ids is None, room=room
        )
        try:
            directory = self.store.create(recording.id)
        except OSError as error:
            raise RecordingError(
                "unavailable",
                f"cannot create {self.store.directory(recording.id)}: {error.strerror or error}",
            ) from None
        self.recordings[recording.id] = recording
        self.binary = binary
        if self not in room.listeners:
            room.listeners.append(self)
        results = await asyncio.gather(
            *(self._add_track(recording, room, p, peer) for p, peer in targets), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        fatal = [str(r) for r in failures if not isinstance(r, TrackError) or r.fatal]
        if fatal or (failures and producer_ids is not None):  # the recorder fails, or not all asked for
            why = (fatal or [str(failures[0])])[0]
            await self._end(recording, "failed", why)
            raise RecordingError("unavailable", why)
        if not recording.active:  # a recorder died already, or the room closed meanwhile
            raise RecordingError("unavailable", recording.reason or "the recording ended at once")
        recording.started_at = time.time()  # when the recorders listen: what the files hold
        self.store.save(recording.id, recording.metadata())
        fields = {"room": room.id, "recording": recording.id, "tracks": len(recording.tracks)}
        log.info("recording started in %s", directory, extra=fields)
        recording.announced = True
        room.recordings.append(recording.id)  # from now on, a peer that joins is told at join-room
        room.broadcast("recording-started", {"recordingId": recording.id, "startedAt": recording.started_at})
        self.events.emit("recording-started", room=room_object(room.id, room.created_at),
                         recording=self._webhook_object(recording))  # fmt: skip
        self.disk.watch(self._active, self._disk_full)
        return recording

    async def _cannot_record(self, binary: str, producer: Producer) -> str | None:
        """Why this host's GStreamer cannot record the producer's codec (a plugin set missing)."""
        if self._missing is None or self._missing[0] != binary:  # tracks starting together share it
            self._missing = (binary, asyncio.ensure_future(plugins.missing_elements(binary)))
        mime_type = str(producer.rtp_parameters["codecs"][0]["mimeType"])
        missing = (await asyncio.shield(self._missing[1])).get(mime_type.lower())
        return plugins.unavailable_reason(mime_type, missing) if missing else None

    def running_tracks(self) -> int:
        return sum(len(r.tracks) for r in self.recordings.values() if r.active)

    async def _add_track(self, recording: Recording, room: Room, producer: Producer, owner: Peer) -> None:
        if producer.id in recording.tracks or any(f.producer_id == producer.id for f in recording.files):
            return
        if self.running_tracks() >= self.limits.max_recording_tracks:
            why = f"producer {producer.id}: {self.limits.max_recording_tracks} tracks are recorded already"
            recording.skipped[producer.id] = why
            log.warning("track not recorded: %s (max_recording_tracks)", why, extra={"room": room.id})
            raise TrackError(why)
        binary = self.binary or self._recorder_binary()
        if unavailable := await self._cannot_record(binary, producer):
            why = f"producer {producer.id}: {unavailable}"
            recording.skipped[producer.id] = why
            log.warning("track not recorded: %s", why, extra={"room": room.id, "recording": recording.id})
            raise TrackError(why)
        track = TrackRecorder(
            room.router_of(owner) or room.router, producer, owner.user_id, self.store.directory(recording.id),
            binary,
            {"room": room.id, "recording": recording.id},
            on_failure=lambda t, why: self._spawn(self._track_failed(recording, t, why)),
            on_ended=lambda t: self._spawn(self._track_ended(recording, t)),
        )  # fmt: skip
        recording.tracks[producer.id] = track
        try:
            recording.files.append(await track.start())
        except TrackError as error:
            recording.tracks.pop(producer.id, None)
            recording.skipped[producer.id] = str(error)
            log.warning("track not recorded: %s", error, extra={"room": room.id, "recording": recording.id})
            raise
        except MediaError as error:  # the producer or the room closed while it was set up
            recording.tracks.pop(producer.id, None)
            recording.skipped[producer.id] = f"producer {producer.id}: {error}"
            raise TrackError(recording.skipped[producer.id]) from None
        if not recording.active:  # stopped while this track started
            self._spawn(self._track_ended(recording, track))

    # -- room events (RoomListener) ------------------------------------------------------------

    def producer_added(self, room: Room, producer: Producer, owner: Peer) -> None:
        """A new producer in a room recorded as a whole joins its recordings."""
        for recording in self.recordings.values():
            if recording.active and recording.whole_room and recording.room is room:
                self._spawn(self._join(recording, room, producer, owner))

    async def _join(self, recording: Recording, room: Room, producer: Producer, owner: Peer) -> None:
        try:
            await self._add_track(recording, room, producer, owner)
        except TrackError as error:
            if error.fatal:  # the recorder itself does not start: this recording cannot go on
                await self._end(recording, "failed", str(error))
            return
        self.store.save(recording.id, recording.metadata())

    def room_closed(self, room: Room, reason: str) -> None:
        """The room's media is going away: its recordings end (files finalised)."""
        state, why = "stopped", "room-closed"
        if reason in ("shutdown", "worker-died"):  # a drain closes the rooms first
            state, why = ("stopped", "shutdown") if reason == "shutdown" else ("failed", "worker-died")
        for recording in self._active():
            if recording.room is room:
                self._spawn(self._end(recording, state, why))

    # -- ends ----------------------------------------------------------------------------------

    async def stop(self, room_id: str, recording_id: str, reason: str = "admin") -> Recording:
        recording = self.get(recording_id)
        if recording.room_id != room_id:
            raise not_found(f"no recording {recording_id!r} in room {room_id!r}")
        await self._end(recording, "stopped", reason)
        return recording

    async def _track_ended(self, recording: Recording, track: TrackRecorder) -> None:
        await track.finish()
        recording.tracks.pop(track.producer.id, None)
        self.store.save(recording.id, recording.metadata())

    async def _track_failed(self, recording: Recording, track: TrackRecorder, why: str) -> None:
        await self._end(recording, "failed", why)

    async def _end(self, recording: Recording, state: str, reason: str) -> None:
        """Finalise every track, then set the end state; the first end wins, later ones wait for it."""
        if recording.state != "recording":
            await recording.ended.wait()  # another end is finishing it (each recorder bounded)
            return
        recording.state = "stopped" if state == "stopped" else "failed"
        recording.reason = reason
        recording.stopped_at = time.time()
        tracks = list(recording.tracks.values())
        await asyncio.gather(*(t.finish() for t in tracks), return_exceptions=True)
        recording.tracks.clear()
        self.store.save(recording.id, recording.metadata())
        recording.ended.set()
        fields = {"room": recording.room_id, "recording": recording.id, "state": recording.state,
                  "reason": reason}  # fmt: skip
        (log.warning if recording.state == "failed" else log.info)("recording ended", extra=fields)
        room, recording.room = recording.room, None
        if room is None:
            return
        if recording.id in room.recordings:
            room.recordings.remove(recording.id)
        if not any(r.room is room for r in self._active()):
            with contextlib.suppress(ValueError):
                room.listeners.remove(self)
        if not recording.announced:  # it never started: nobody was told
            return
        if not room.closed:
            room.broadcast(
                "recording-stopped", {"recordingId": recording.id, "state": recording.state, "reason": reason}
            )
        self.events.emit("recording-finished", room=room_object(room.id, room.created_at),
                         recording=self._webhook_object(recording))  # fmt: skip

    def _webhook_object(self, recording: Recording) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": recording.id,
            "state": recording.state,
            "startedAt": recording.started_at,
        }
        if recording.state != "recording":
            data.update(stoppedAt=recording.stopped_at, reason=recording.reason,
                        files=[f.name for f in recording.files])  # fmt: skip
        return data

    # -- delete --------------------------------------------------------------------------------

    def delete(self, recording_id: str) -> None:
        recording = self.get(recording_id)
        if recording.active:
            raise RecordingError("conflict", f"recording {recording_id!r} is running: stop it first")
        del self.recordings[recording.id]
        self.store.delete(recording.id)
        log.info("recording deleted", extra={"room": recording.room_id, "recording": recording.id})

    # -- disk floor ----------------------------------------------------------------------------

    def _active(self) -> list[Recording]:
        return [r for r in self.recordings.values() if r.active]

    async def _disk_full(self) -> None:
        await asyncio.gather(*(self._end(r, "stopped", "disk-full") for r in self._active()))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording task failed", exc_info=task.exception())
