"""The recording pill: shown while a real recording of the room runs (started and stopped through
the admin REST API), also to a page that joins while it runs (join-room's ``recordings``)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer, start_server

pytestmark = [
    pytest.mark.worker,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not shutil.which("gst-launch-1.0"), reason="needs gst-launch-1.0 (make setup)"),
]


@pytest.fixture
async def recording_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(recordings_dir=str(tmp_path / "recordings"))
    yield running
    await running.stop()


async def test_the_pill_shows_while_a_recording_runs(
    recording_server: RunningServer, open_call: OpenCall
) -> None:
    server = recording_server
    ada = await open_call(server.url + "/?token=" + server.token("rec", "ada", "Ada"), "ada")
    await ada.user_id()
    assert await ada.js("sfuctlDebug.recordingShown()") is False
    headers = {"Authorization": "Bearer " + server.token("*", "admin", admin=True)}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(server.url + "/rooms/rec/recordings") as resp:
            assert resp.status == 201, await resp.text()
            recording_id = (await resp.json())["id"]
        await ada.wait("sfuctlDebug.recordingShown()")
        assert await ada.page.inner_text("#rec") == "Recording"

        bea = await open_call(server.url + "/?token=" + server.token("rec", "bea", "Bea"), "bea")
        await bea.user_id()
        await bea.wait("sfuctlDebug.recordingShown()")  # from join-room's "recordings"
        assert await bea.js("sfuctlDebug.recordings()") == [recording_id]

        async with http.post(f"{server.url}/rooms/rec/recordings/{recording_id}/stop") as resp:
            assert resp.status == 200, await resp.text()
        await ada.wait("!sfuctlDebug.recordingShown()")
        await bea.wait("!sfuctlDebug.recordingShown()")
