"""Recording end to end: pymediasoup publishers, the real worker, GStreamer's recorder, and the
files checked with ffprobe and decoded with ffmpeg."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sfuctl.server.limits import Limits
from tests.conftest import RunningServer, process_exists, start_server
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not (shutil.which("gst-launch-1.0") and shutil.which("ffprobe")),
        reason="needs gst-launch-1.0 and ffprobe (make setup installs them)",
    ),
]

RECORD_SECONDS = 5.0


@pytest.fixture
async def recording_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(recordings_dir=str(tmp_path / "recordings"))
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def admin(
    http: aiohttp.ClientSession,
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    token = server.token("*", "admin", admin=True)
    all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with http.request(method, server.url + path, json=body, headers=all_headers) as resp:
        if resp.status == 204:
            return 204, None
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.read()


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration,format_name:stream=codec_name,width,height",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def complete(path: Path) -> bool:
    """Finalised: the container states its duration (a file cut short does not)."""
    return float(ffprobe(path)["format"].get("duration", 0)) > 0


def decode_errors(path: Path) -> str:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


async def publisher(
    server: RunningServer, room: str, user: str, video_codec: str | None = None
) -> tuple[Peer, str, str]:
    """A peer sending a moving picture (VP8, or ``video_codec``) and a tone (Opus)."""
    video, tone = MovingVideoTrack(), ToneAudioTrack()
    peer = Peer([video, tone])
    await peer.join(server.ws_url, server.token(room, user))
    return peer, await peer.produce(video, video_codec), await peer.produce(tone)


async def test_a_recording_of_vp8_and_opus_gives_webm_files_that_play(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server = recording_server
    with loopback_ice():
        alice, video_id, audio_id = await publisher(server, "rec", "alice")
        bob = Peer()
        carol = Peer()
        try:
            await bob.join(server.ws_url, server.token("rec", "bob"))
            assert bob.joined["recordings"] == []

            status, started = await admin(http, server, "POST", "/rooms/rec/recordings")
            began = time.monotonic()
            assert status == 201, started
            assert set(started) == {"id", "roomId", "state", "startedAt"}
            assert started["roomId"] == "rec" and started["state"] == "recording"
            recording_id = started["id"]
            event = await bob.signaling.wait_event("recording-started")
            assert event == {"recordingId": recording_id, "startedAt": started["startedAt"]}
            assert (await alice.signaling.wait_event("recording-started"))["recordingId"] == recording_id
            joined = await carol.join(server.ws_url, server.token("rec", "carol"))
            assert joined["recordings"] == [recording_id]  # a late joiner knows

            await asyncio.sleep(RECORD_SECONDS)
            recorded = time.monotonic() - began
            status, stopped = await admin(http, server, "POST", f"/rooms/rec/recordings/{recording_id}/stop")
            assert status == 200, stopped
            assert stopped["id"] == recording_id and stopped["state"] == "stopped"
            stop_event = await bob.signaling.wait_event("recording-stopped")
            assert stop_event == {"recordingId": recording_id, "state": "stopped", "reason": "admin"}
            # The room goes on: bob gets alice's video (not decoded while recording: the test's own
            # encoders and decoders share two cores with the server, and a stalled sender is what
            # the file would then show).
            _, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

            files = {f["kind"]: f for f in stopped["files"]}
            assert set(files) == {"audio", "video"}
            assert files["video"]["producerId"] == video_id and files["audio"]["producerId"] == audio_id
            assert files["video"]["userId"] == "alice" and files["video"]["mimeType"] == "video/VP8"
            directory = Path(server.config.recordings_dir or "") / recording_id
            for kind, codec in (("video", "vp8"), ("audio", "opus")):
                entry = files[kind]
                path = directory / entry["name"]
                assert entry["name"].endswith(".webm") and path.stat().st_size == entry["bytes"] > 0
                probe = ffprobe(path)
                assert [s["codec_name"] for s in probe["streams"]] == [codec]
                assert "webm" in probe["format"]["format_name"]
                duration = float(probe["format"]["duration"])
                assert abs(duration - recorded) <= 0.1 * recorded, (kind, duration, recorded)
                assert entry["durationMs"] == round(duration * 1000)
                assert decode_errors(path) == ""
        finally:
            for peer in (alice, bob, carol):
                await peer.close()


async def test_a_room_with_h264_and_vp8_publishers_records_both(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """H264 goes into Matroska (.mkv), VP8 and Opus into WebM, in one whole-room recording; a
    recording of the H264 producer alone is taken too."""
    server = recording_server
    with loopback_ice():
        alice, vp8_id, _ = await publisher(server, "mixed", "alice")
        bob, h264_id, _ = await publisher(server, "mixed", "bob", "video/H264")
        try:
            status, started = await admin(http, server, "POST", "/rooms/mixed/recordings")
            began = time.monotonic()
            assert status == 201, started
            await asyncio.sleep(RECORD_SECONDS)
            recorded = time.monotonic() - began
            status, stopped = await admin(
                http, server, "POST", f"/rooms/mixed/recordings/{started['id']}/stop"
            )
            assert status == 200 and stopped["state"] == "stopped", stopped
            assert stopped["skipped"] == []
            files = {f["producerId"]: f for f in stopped["files"]}
            assert len(files) == 4  # two videos, two tones
            assert files[h264_id]["mimeType"] == "video/H264" and files[h264_id]["userId"] == "bob"
            assert files[h264_id]["name"].endswith(".mkv") and files[vp8_id]["name"].endswith(".webm")
            directory = Path(server.config.recordings_dir or "") / started["id"]
            for entry in files.values():
                path = directory / entry["name"]
                probe = ffprobe(path)
                (stream,) = probe["streams"]
                expected = {"video/H264": "h264", "video/VP8": "vp8", "audio/opus": "opus"}
                assert stream["codec_name"] == expected[entry["mimeType"]], entry
                if entry["kind"] == "video":
                    assert (stream["width"], stream["height"]) == (320, 240), entry
                container = "matroska" if entry["name"].endswith(".mkv") else "webm"
                assert container in probe["format"]["format_name"], entry
                duration = float(probe["format"]["duration"])
                assert abs(duration - recorded) <= 0.1 * recorded, (entry, duration, recorded)
                assert decode_errors(path) == "", entry

            url = f"/recordings/{started['id']}/files/{files[h264_id]['name']}"
            auth = {"Authorization": f"Bearer {server.token('*', 'admin', admin=True)}"}
            async with http.get(server.url + url, headers=auth) as resp:
                assert resp.status == 200 and resp.content_type == "video/x-matroska"
                assert len(await resp.read()) == files[h264_id]["bytes"]

            # Named alone, the H264 producer is recorded too.
            status, alone = await admin(
                http, server, "POST", "/rooms/mixed/recordings", {"producerIds": [h264_id]}
            )
            assert status == 201, alone
            await asyncio.sleep(2)
            status, stopped = await admin(http, server, "POST", f"/rooms/mixed/recordings/{alone['id']}/stop")
            (entry,) = stopped["files"]
            assert entry["producerId"] == h264_id and entry["name"].endswith(".mkv")
            path = Path(server.config.recordings_dir or "") / alone["id"] / entry["name"]
            assert complete(path) and decode_errors(path) == ""
        finally:
            await alice.close()
            await bob.close()


def picture_sizes(path: Path) -> list[str]:
    """The size of every decoded frame, in order (ffmpeg's showinfo)."""
    result = subprocess.run(
        ["ffmpeg", "-i", str(path), "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return re.findall(r" s:(\d+x\d+) ", result.stderr)


async def test_an_h264_sender_that_changes_its_picture_size_gives_one_valid_file(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """The new parameter sets travel in the stream (avc3): the recorder goes on, the file plays."""
    server = recording_server
    with loopback_ice():
        video = MovingVideoTrack()
        bob = Peer([video])
        try:
            await bob.join(server.ws_url, server.token("resize", "bob"))
            h264_id = await bob.produce(video, "video/H264")
            status, started = await admin(
                http, server, "POST", "/rooms/resize/recordings", {"producerIds": [h264_id]}
            )
            assert status == 201, started
            await asyncio.sleep(2.5)
            video.size = (640, 480)
            await asyncio.sleep(2.5)
            status, stopped = await admin(
                http, server, "POST", f"/rooms/resize/recordings/{started['id']}/stop"
            )
            assert status == 200 and stopped["state"] == "stopped", stopped
            (entry,) = stopped["files"]
            path = Path(server.config.recordings_dir or "") / started["id"] / entry["name"]
            assert complete(path) and decode_errors(path) == ""
            sizes = picture_sizes(path)
            assert sizes[0] == "320x240" and sizes[-1] == "640x480", sorted(set(sizes))
        finally:
            await bob.close()


async def test_a_killed_h264_recorder_leaves_a_file_that_plays(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """Why Matroska rather than MP4: cut short, without its duration, the file still plays."""
    server = recording_server
    with loopback_ice():
        video = MovingVideoTrack()
        bob = Peer([video])
        try:
            await bob.join(server.ws_url, server.token("cut", "bob"))
            h264_id = await bob.produce(video, "video/H264")
            status, started = await admin(
                http, server, "POST", "/rooms/cut/recordings", {"producerIds": [h264_id]}
            )
            assert status == 201, started
            recording = server.sfu.recordings.recordings[started["id"]]
            await asyncio.sleep(3)  # more than the jitter buffer holds: something is in the file
            pid = recording.tracks[h264_id].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await wait_for(lambda: recording.state == "failed")
            (entry,) = recording.files
            path = Path(server.config.recordings_dir or "") / started["id"] / entry.name
            assert not complete(path)  # no duration: cut short
            (stream,) = ffprobe(path)["streams"]
            assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 240)
            assert picture_sizes(path) and decode_errors(path) == ""
        finally:
            await bob.close()


def packet_times(path: Path) -> list[float]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return [float(line) for line in result.stdout.split()]


async def test_a_paused_producer_leaves_a_gap_in_its_file_not_a_jump_back(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """A pause longer than the jitter buffer's 3 s resync threshold: the frames after it are
    stamped from their arrival on, so the file's time goes on (a jump back to 0 before)."""
    server = recording_server
    with loopback_ice():
        bob, video_id, audio_id = await publisher(server, "pause", "bob", "video/H264")
        try:
            status, started = await admin(http, server, "POST", "/rooms/pause/recordings")
            began = time.monotonic()
            assert status == 201, started
            await asyncio.sleep(1.5)
            for producer_id in (video_id, audio_id):
                await bob.signaling.request("pause-producer", {"producerId": producer_id})
            await asyncio.sleep(4)
            for producer_id in (video_id, audio_id):
                await bob.signaling.request("resume-producer", {"producerId": producer_id})
            await asyncio.sleep(1.5)
            recorded = time.monotonic() - began
            status, stopped = await admin(
                http, server, "POST", f"/rooms/pause/recordings/{started['id']}/stop"
            )
            assert status == 200 and len(stopped["files"]) == 2, stopped
            for entry in stopped["files"]:
                path = Path(server.config.recordings_dir or "") / started["id"] / entry["name"]
                steps = [b - a for a, b in itertools.pairwise(packet_times(path))]
                assert min(steps) > 0 and max(steps) > 3, entry  # forwards only, over the pause
                duration = float(ffprobe(path)["format"]["duration"])
                assert abs(duration - recorded) <= 0.1 * recorded, (entry, duration, recorded)
                assert decode_errors(path) == "", entry
        finally:
            await bob.close()


def plugins_without(element: str, directory: Path) -> Path:
    """A plugin directory with every GStreamer plugin of this host but the one holding ``element``."""
    found = subprocess.run(["gst-inspect-1.0", element], capture_output=True, text=True, timeout=30)
    holder = Path(re.search(r"Filename\s+(\S+)", found.stdout)[1])  # type: ignore[index]
    directory.mkdir()
    for plugin in holder.parent.glob("*.so"):
        if plugin != holder:
            (directory / plugin.name).symlink_to(plugin)
    return directory


async def test_without_h264parse_h264_is_skipped_and_the_rest_recorded(
    recording_server: RunningServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host with GStreamer's base and good plugins only: its real GStreamer, made to see every
    plugin but the one holding h264parse."""
    some = plugins_without("h264parse", tmp_path / "plugins")
    monkeypatch.setenv("GST_PLUGIN_SYSTEM_PATH_1_0", str(some))
    monkeypatch.setenv("GST_REGISTRY_1_0", str(tmp_path / "registry.bin"))
    server = recording_server
    with loopback_ice():
        alice, vp8_id, _ = await publisher(server, "noparse", "alice")
        bob, h264_id, bob_audio_id = await publisher(server, "noparse", "bob", "video/H264")
        try:
            status, body = await admin(
                http, server, "POST", "/rooms/noparse/recordings", {"producerIds": [h264_id]}
            )
            assert status == 503 and "h264parse" in body["error"]["message"], body
            assert "gstreamer1.0-plugins-bad" in body["error"]["message"]
            status, started = await admin(http, server, "POST", "/rooms/noparse/recordings")
            assert status == 201, started
            await asyncio.sleep(1.5)
            status, stopped = await admin(
                http, server, "POST", f"/rooms/noparse/recordings/{started['id']}/stop"
            )
            assert status == 200 and stopped["state"] == "stopped", stopped
            (skipped,) = stopped["skipped"]
            assert skipped["producerId"] == h264_id and "h264parse" in skipped["reason"]
            recorded = {f["producerId"] for f in stopped["files"]}
            assert vp8_id in recorded and bob_audio_id in recorded and len(recorded) == 3
        finally:
            await alice.close()
            await bob.close()


async def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_rest_api_lists_serves_ranges_and_deletes(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server = recording_server
    with loopback_ice():
        alice, video_id, _audio_id = await publisher(server, "api", "alice")
        try:
            status, started = await admin(
                http, server, "POST", "/rooms/api/recordings", {"producerIds": [video_id]}
            )
            assert status == 201, started
            recording_id = started["id"]
            status, listed = await admin(http, server, "GET", "/recordings")
            assert status == 200
            async with http.get(server.url + "/metrics") as resp:
                metrics = await resp.text()
            assert 'sfuctl_recordings{state="recording"} 1.0' in metrics
            assert "sfuctl_recording_tracks 1.0" in metrics
            (summary,) = [r for r in listed["recordings"] if r["id"] == recording_id]
            assert summary["state"] == "recording" and summary["roomId"] == "api"
            # A running recording cannot be deleted.
            status, body = await admin(http, server, "DELETE", f"/recordings/{recording_id}")
            assert status == 409 and body["error"]["code"] == "conflict"
            await asyncio.sleep(2)
            status, stopped = await admin(http, server, "POST", f"/rooms/api/recordings/{recording_id}/stop")
            assert status == 200 and stopped["state"] == "stopped"
            (entry,) = stopped["files"]  # only the producer asked for
            assert entry["producerId"] == video_id and stopped["wholeRoom"] is False
            # Stopping again answers the same state.
            again = await admin(http, server, "POST", f"/rooms/api/recordings/{recording_id}/stop")
            assert again[0] == 200 and again[1]["state"] == "stopped"

            status, detail = await admin(http, server, "GET", f"/recordings/{recording_id}")
            assert status == 200 and detail["files"] == stopped["files"]
            assert detail["reason"] == "admin" and detail["stoppedAt"] >= detail["startedAt"]
            url = f"/recordings/{recording_id}/files/{entry['name']}"
            token = server.token("*", "admin", admin=True)
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(server.url + url, headers=auth) as resp:
                assert resp.status == 200 and resp.content_type == "video/webm"
                whole = await resp.read()
                assert len(whole) == entry["bytes"]
                assert "attachment" in resp.headers["Content-Disposition"]
            async with http.get(server.url + url, headers={**auth, "Range": "bytes=100-199"}) as resp:
                assert resp.status == 206
                assert resp.headers["Content-Range"] == f"bytes 100-199/{entry['bytes']}"
                assert await resp.read() == whole[100:200]
            async with http.get(server.url + url) as resp:  # admin only
                assert resp.status == 401

            assert (await admin(http, server, "DELETE", f"/recordings/{recording_id}"))[0] == 204
            assert (await admin(http, server, "GET", f"/recordings/{recording_id}"))[0] == 404
            assert (await admin(http, server, "GET", url))[0] == 404
            assert not (Path(server.config.recordings_dir or "") / recording_id).exists()
            assert (await admin(http, server, "DELETE", f"/recordings/{recording_id}"))[0] == 404
        finally:
            await alice.close()


async def test_bad_input_is_refused_before_anything_is_made(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server = recording_server
    with loopback_ice():
        alice, _video_id, _ = await publisher(server, "bad", "alice")
        try:
            status, body = await admin(http, server, "POST", "/rooms/nope/recordings")
            assert status == 404 and "nope" in body["error"]["message"]
            status, body = await admin(
                http, server, "POST", "/rooms/bad/recordings", {"producerIds": ["nope"]}
            )
            assert status == 404 and "nope" in body["error"]["message"]
            for wrong in ({"producerIds": []}, {"producerIds": "x"}, {"other": 1}, [1]):
                status, body = await admin(http, server, "POST", "/rooms/bad/recordings", wrong)
                assert status == 400 and body["error"]["code"] == "bad_request", wrong
            assert (await admin(http, server, "POST", "/rooms/bad%20room/recordings"))[0] == 400
            for path in (
                "/recordings/nope",
                "/recordings/rec-XYZ",
                "/recordings/..%2F..%2Fetc",
                "/rooms/bad/recordings/nope/stop",
            ):
                status, _ = await admin(http, server, "GET" if "stop" not in path else "POST", path)
                assert status in (400, 404), path
            assert (await admin(http, server, "GET", "/recordings/rec-0123456789abcdef"))[0] == 404
            assert not await asyncio.to_thread(
                os.path.exists, server.config.recordings_dir or ""
            )  # nothing made

            status, started = await admin(http, server, "POST", "/rooms/bad/recordings")
            recording_id = started["id"]
            await admin(http, server, "POST", f"/rooms/bad/recordings/{recording_id}/stop")
            for name in ("recording.json", "..%2Frecording.json", ".hidden", "a%00b", "x" * 200):
                status, _ = await admin(http, server, "GET", f"/recordings/{recording_id}/files/{name}")
                assert status in (400, 404), name
            # The right room only.
            assert (await admin(http, server, "POST", f"/rooms/other/recordings/{recording_id}/stop"))[
                0
            ] == 404
        finally:
            await alice.close()


async def test_a_killed_recorder_fails_the_recording_and_nothing_else(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server = recording_server
    with loopback_ice():
        alice, video_id, _audio_id = await publisher(server, "crash", "alice")
        bob = Peer()
        try:
            await bob.join(server.ws_url, server.token("crash", "bob"))
            _, consumer = await bob.consume(video_id)
            status, started = await admin(http, server, "POST", "/rooms/crash/recordings")
            assert status == 201
            recording_id = started["id"]
            recording = server.sfu.recordings.recordings[recording_id]
            await asyncio.sleep(3)  # more than the jitter buffer holds: something is in the file
            pid = recording.tracks[video_id].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

            stopped = await bob.signaling.wait_event("recording-stopped")
            assert stopped["recordingId"] == recording_id and stopped["state"] == "failed"
            assert "killed by SIGKILL" in stopped["reason"] and video_id in stopped["reason"]
            status, detail = await admin(http, server, "GET", f"/recordings/{recording_id}")
            assert detail["state"] == "failed" and detail["reason"] == stopped["reason"]
            directory = Path(server.config.recordings_dir or "") / recording_id
            for entry in detail["files"]:  # the file so far is kept, the other one finalised
                assert (directory / entry["name"]).stat().st_size == entry["bytes"] > 0
            audio = next(f for f in detail["files"] if f["kind"] == "audio")
            assert decode_errors(directory / audio["name"]) == ""
            assert not any(process_exists(t.pid or 0) for t in recording.tracks.values())

            # The room and its peers are fine, and a new recording starts.
            assert len(await receive_frames(consumer.track, 5)) == 5
            assert await alice.produce(MovingVideoTrack())
            status, again = await admin(http, server, "POST", "/rooms/crash/recordings")
            assert status == 201, again
            assert (await admin(http, server, "POST", f"/rooms/crash/recordings/{again['id']}/stop"))[
                0
            ] == 200
        finally:
            await alice.close()
            await bob.close()


async def test_later_producers_join_and_a_closed_producer_ends_its_file(
    recording_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server = recording_server
    with loopback_ice():
        alice, video_id, audio_id = await publisher(server, "later", "alice")
        dave = Peer([(late := MovingVideoTrack())])
        try:
            status, started = await admin(http, server, "POST", "/rooms/later/recordings")
            assert status == 201, started
            recording_id = started["id"]
            recording = server.sfu.recordings.recordings[recording_id]
            await dave.join(server.ws_url, server.token("later", "dave"))
            assert dave.joined["recordings"] == [recording_id]
            late_id = await dave.produce(late)
            await wait_for(lambda: late_id in recording.tracks)
            await asyncio.sleep(2)
            await alice.signaling.request("close-producer", {"producerId": audio_id})
            await wait_for(lambda: audio_id not in recording.tracks)
            await asyncio.sleep(1)
            _status, stopped = await admin(
                http, server, "POST", f"/rooms/later/recordings/{recording_id}/stop"
            )
            files = {f["producerId"]: f for f in stopped["files"]}
            assert set(files) == {video_id, audio_id, late_id}
            assert files[late_id]["userId"] == "dave"
            assert files[audio_id]["endedAt"] < files[video_id]["endedAt"]  # ended when it closed
            directory = Path(server.config.recordings_dir or "") / recording_id
            for entry in files.values():
                assert complete(directory / entry["name"]), entry
        finally:
            await alice.close()
            await dave.close()


async def test_the_disk_floor_and_the_recording_limit(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = await start_server(recordings_dir=str(tmp_path / "recordings"))
    limits = server.config.limits
    limits.max_recordings = 1
    with loopback_ice():
        alice, video_id, _ = await publisher(server, "disk", "alice")
        try:
            status, started = await admin(http, server, "POST", "/rooms/disk/recordings")
            assert status == 201
            status, body = await admin(http, server, "POST", "/rooms/disk/recordings")
            assert status == 429 and "max_recordings" in body["error"]["message"]
            limits.max_recordings, limits.max_recording_tracks = 2, 2  # two tracks run already
            status, body = await admin(
                http, server, "POST", "/rooms/disk/recordings", {"producerIds": [video_id]}
            )
            assert status == 429 and "max_recording_tracks" in body["error"]["message"]
            await asyncio.sleep(1)
            # Less free space than the floor now: the recording stops cleanly, files complete.
            limits.recording_min_free_bytes = shutil.disk_usage(tmp_path).free + 10**15
            stopped = await alice.signaling.wait_event("recording-stopped")
            assert stopped == {"recordingId": started["id"], "state": "stopped", "reason": "disk-full"}
            status, detail = await admin(http, server, "GET", f"/recordings/{started['id']}")
            assert detail["state"] == "stopped" and detail["reason"] == "disk-full"
            directory = tmp_path / "recordings" / started["id"]
            for entry in detail["files"]:
                assert complete(directory / entry["name"])
            status, body = await admin(http, server, "POST", "/rooms/disk/recordings")
            assert status == 507 and body["error"]["code"] == "insufficient_storage"
        finally:
            await alice.close()
            await server.stop()


async def test_a_drain_and_shutdown_finish_running_recordings(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server = await start_server(recordings_dir=str(tmp_path / "recordings"))
    with loopback_ice():
        alice, _, _ = await publisher(server, "down", "alice")
        try:
            status, started = await admin(http, server, "POST", "/rooms/down/recordings")
            await asyncio.sleep(1)
            pids = [t.pid for t in server.sfu.recordings.recordings[started["id"]].tracks.values()]
            await server.sfu.drain(0.5)  # what SIGTERM does first: the rooms close ("shutdown")
        finally:
            await server.stop()
            await alice.close()
    assert not any(process_exists(pid or 0) for pid in pids)
    metadata = json.loads((tmp_path / "recordings" / started["id"] / "recording.json").read_text())
    assert metadata["state"] == "stopped" and metadata["reason"] == "shutdown"
    for entry in metadata["files"]:
        assert complete(tmp_path / "recordings" / started["id"] / entry["name"])
    # The next server lists it.
    again = await start_server(recordings_dir=str(tmp_path / "recordings"))
    try:
        status, detail = await admin(http, again, "GET", f"/recordings/{started['id']}")
        assert status == 200 and detail["reason"] == "shutdown"
    finally:
        await again.stop()


async def test_webhooks_and_the_end_of_the_room(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """A real receiver gets recording-started and recording-finished (signed, as every event); an
    admin closing the room stops its recording with reason room-closed."""
    from tests.integration.test_webhooks import SECRET, Receiver, until, verified

    receiver = Receiver()
    await receiver.start()
    server = await start_server(
        recordings_dir=str(tmp_path / "recordings"), webhook_urls=[receiver.url], webhook_secret=SECRET
    )
    with loopback_ice():
        alice, _, _ = await publisher(server, "hooks", "alice")
        try:
            status, started = await admin(http, server, "POST", "/rooms/hooks/recordings")
            assert status == 201
            await asyncio.sleep(1)
            assert (await admin(http, server, "DELETE", "/rooms/hooks"))[0] == 204
            recording = server.sfu.recordings.recordings[started["id"]]
            await wait_for(lambda: recording.state == "stopped")
            assert recording.reason == "room-closed" and len(recording.files) == 2

            def events() -> list[dict[str, Any]]:
                return [e for e in receiver.accepted if e["event"].startswith("recording-")]

            await until(lambda: len(events()) == 2)
            began, finished = events()
            assert began["event"] == "recording-started" and began["room"]["id"] == "hooks"
            assert began["recording"] == {
                "id": started["id"],
                "state": "recording",
                "startedAt": started["startedAt"],
            }
            assert finished["event"] == "recording-finished"
            assert (
                finished["recording"]["state"] == "stopped"
                and finished["recording"]["reason"] == "room-closed"
            )
            assert sorted(finished["recording"]["files"]) == sorted(f.name for f in recording.files)
            for headers, body in receiver.requests:
                assert verified(SECRET, headers["X-Sfuctl-Signature"], body, time.time())
        finally:
            await alice.close()
            await server.stop()
            await receiver.stop()


async def test_a_recorder_that_does_not_start_fails_the_recording(
    recording_server: RunningServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server = recording_server
    broken = tmp_path / "gst-launch-1.0"
    broken.write_text(
        "#!/bin/sh\necho 'ERROR: pipeline could not be constructed: no element \"webmmux\".'\nexit 1\n"
    )
    broken.chmod(0o755)
    server.sfu.recordings.binary = str(broken)
    with loopback_ice():
        alice, _, _ = await publisher(server, "broken", "alice")
        try:
            status, body = await admin(http, server, "POST", "/rooms/broken/recordings")
            assert status == 503 and "no element" in body["error"]["message"], body
            (failed,) = server.sfu.recordings.all()
            assert failed.state == "failed" and failed.tracks == {}
            room = server.sfu.registry.get("broken")
            assert (
                room is not None
                and room.recordings == []
                and room.router.transports.keys()
                == {t for peer in room.peers.values() for t in peer.transports}
            )  # no plain transport left behind
            assert await alice.produce(ToneAudioTrack())  # the room goes on
        finally:
            await alice.close()


async def test_a_producer_on_another_worker_of_a_spread_room_is_recorded(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The room's main router is full after one consumer, so carol lands on the other worker: her
    video is recorded from her own router, like alice's from the main one."""
    server = await start_server(
        workers=2,
        recordings_dir=str(tmp_path / "recordings"),
        limits=Limits(consumers_per_router=1, room_grace_seconds=0.2),
    )
    try:
        with loopback_ice():
            alice, alice_video, _ = await publisher(server, "spread", "alice")
            bob = Peer()
            await bob.join(server.ws_url, server.token("spread", "bob"))
            await bob.consume(alice_video)  # the main router holds its one consumer
            carol, carol_video, _ = await publisher(server, "spread", "carol")
            room = server.sfu.registry.get("spread")
            assert room is not None and room.media.assigned["carol"] is not room.media.assigned["alice"]
            try:
                status, started = await admin(http, server, "POST", "/rooms/spread/recordings")
                assert status == 201, started
                await asyncio.sleep(3)
                status, stopped = await admin(
                    http, server, "POST", f"/rooms/spread/recordings/{started['id']}/stop"
                )
                assert status == 200 and stopped["state"] == "stopped", stopped
                videos = {f["producerId"]: f for f in stopped["files"] if f["kind"] == "video"}
                assert set(videos) == {alice_video, carol_video}
                directory = Path(server.config.recordings_dir or "") / started["id"]
                for entry in videos.values():
                    assert (
                        complete(directory / entry["name"]) and decode_errors(directory / entry["name"]) == ""
                    )
            finally:
                for peer in (alice, bob, carol):
                    await peer.close()
    finally:
        await server.stop()
