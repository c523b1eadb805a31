"""The recording pill follows the server's ``recording-started`` / ``recording-stopped`` events.

The events are sent here by the real server to the real page (a room broadcast); the recorder
that will send them, and the ``recordings`` list of the join-room answer, are built apart.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(90)]


async def test_the_pill_shows_while_any_recording_runs(server: RunningServer, open_call: OpenCall) -> None:
    ada = await open_call(server.url + "/?token=" + server.token("rec", "ada", "Ada"), "ada")
    await ada.user_id()
    assert await ada.js("sfuctlDebug.recordingShown()") is False  # no "recordings" in join-room: none
    room = server.sfu.registry.get("rec")
    assert room is not None
    room.broadcast("recording-started", {"recordingId": "r1", "startedAt": 1})
    await ada.wait("sfuctlDebug.recordingShown()")
    room.broadcast("recording-started", {"recordingId": "r2", "startedAt": 2})
    room.broadcast("recording-stopped", {"recordingId": "r1", "state": "complete"})
    await ada.wait("sfuctlDebug.recordings().join() === 'r2'")
    assert await ada.js("sfuctlDebug.recordingShown()") is True  # r2 still runs
    assert await ada.page.inner_text("#rec") == "Recording"
    room.broadcast("recording-stopped", {"recordingId": "r2", "state": "failed", "reason": "disk full"})
    await ada.wait("!sfuctlDebug.recordingShown()")
