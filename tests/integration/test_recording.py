"""Recording end to end: pymediasoup publishers, the real worker, GStreamer's recorder, and the
files checked with ffprobe and decoded with ffmpeg."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, start_server
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
        ["ffprobe", "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def decode_errors(path: Path) -> str:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


async def publisher(server: RunningServer, room: str, user: str) -> tuple[Peer, str, str]:
    video, tone = MovingVideoTrack(), ToneAudioTrack()
    peer = Peer([video, tone])
    await peer.join(server.ws_url, server.token(room, user))
    return peer, await peer.produce(video), await peer.produce(tone)


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
            _, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

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
            # The room goes on: bob still gets alice's video.
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
