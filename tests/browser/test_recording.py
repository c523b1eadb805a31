"""Recording what the conference page sends: Chromium's simulcast VP8 and Opus, recorded into
WebM files that ffprobe reads and ffmpeg decodes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer, start_server
from tests.integration.test_recording import decode_errors

pytestmark = [
    pytest.mark.worker,
    pytest.mark.timeout(150),
    pytest.mark.skipif(not shutil.which("gst-launch-1.0"), reason="needs gst-launch-1.0 (make setup)"),
]

HD = {"width": 1280, "height": 720, "frameRate": 30}


@pytest.fixture
async def recording_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(recordings_dir=str(tmp_path / "recordings"))
    yield running
    await running.stop()


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width", "-of", "json",
         str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(out.stdout)
    return data


async def test_the_pages_simulcast_video_and_audio_are_recorded(
    recording_server: RunningServer, open_call: OpenCall
) -> None:
    server = recording_server
    sender = await open_call(
        server.url + "/?token=" + server.token("rec", "cam", "Camera"), "sender", video=HD
    )
    await sender.user_id()
    await sender.wait(
        """async () => {
            const out = await sfuctlDebug.outbound();
            const video = out.find((p) => p.kind === 'video');
            return video && video.streams.filter((s) => s.framesEncoded > 0).length === 3;
        }""",
        timeout=40,
    )  # three simulcast layers go up
    token = server.token("*", "admin", admin=True)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(server.url + "/rooms/rec/recordings") as resp:
            assert resp.status == 201, await resp.text()
            recording_id = (await resp.json())["id"]
        await asyncio.sleep(4)
        async with http.post(f"{server.url}/rooms/rec/recordings/{recording_id}/stop") as resp:
            stopped = await resp.json()
    assert stopped["state"] == "stopped"
    files = {f["kind"]: f for f in stopped["files"]}
    assert files["video"]["mimeType"] == "video/VP8" and files["audio"]["mimeType"] == "audio/opus"
    directory = Path(server.config.recordings_dir or "") / recording_id
    video = probe(directory / files["video"]["name"])
    assert [s["codec_name"] for s in video["streams"]] == ["vp8"]
    assert video["streams"][0]["width"] == 1280  # the top layer: nothing limits a recorder's bitrate
    assert [s["codec_name"] for s in probe(directory / files["audio"]["name"])["streams"]] == ["opus"]
    for entry in files.values():
        assert 3.4 <= float(probe(directory / entry["name"])["format"]["duration"]) <= 4.8
        assert decode_errors(directory / entry["name"]) == ""
