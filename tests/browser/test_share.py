"""Screen sharing: a second video producer (appData source "screen"), decoded by the other page
and shown large beside the camera tiles; stopped from the button or by the browser's own stop.

The capture is Chromium's fake one: ``--use-fake-ui-for-media-stream`` answers the picker,
``--auto-select-desktop-capture-source`` chooses the screen, the fake device draws the frames.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import Call, OpenCall
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(150)]

SCREEN_FRAMES = """async (frames) => (await sfuctlDebug.inbound())
    .some((s) => s.source === 'screen' && s.framesDecoded >= frames)"""


async def no_share_left(call: Call) -> None:
    await call.wait(
        "sfuctlDebug.shares().length === 0 && !sfuctlDebug.consumers().some((c) => c.source === 'screen')"
        " && !document.querySelector('#main').classList.contains('sharing')"
    )


async def test_a_screen_share_is_decoded_and_shown_large_by_the_other_page(
    server: RunningServer, open_call: OpenCall
) -> None:
    ada = await open_call(server.url + "/?token=" + server.token("share", "ada", "Ada"), "ada")
    bob = await open_call(server.url + "/?token=" + server.token("share", "bob", "Bob"), "bob")
    await ada.user_id()
    await bob.wait_media_from("ada")

    await ada.page.click("#share")  # a real click: getDisplayMedia needs a user gesture
    await ada.wait("sfuctlDebug.producers().some((p) => p.source === 'screen')")
    assert await ada.js("sfuctlDebug.conference.tracks.screen.contentHint") == "detail"
    assert await ada.js("document.querySelector('#share').getAttribute('aria-pressed')") == "true"
    sources = sorted(p["source"] for p in await ada.js("sfuctlDebug.producers()"))
    assert sources == ["camera", "mic", "screen"]  # the camera keeps going beside the screen

    await bob.wait(SCREEN_FRAMES, 30)
    screen = next(s for s in await bob.inbound() if s["source"] == "screen")
    assert screen["codec"] == "VP8" and screen["frameWidth"] > 0
    assert await bob.js("sfuctlDebug.shares()") == [{"userId": "ada", "shown": True, "name": "Ada's screen"}]
    layout = await bob.js(
        """() => {
            const box = (el) => el.getBoundingClientRect();
            const stage = box(document.querySelector('#stage .screen'));
            const tiles = [...document.querySelectorAll('#grid .tile')].map(box);
            return {stage: stage.width * stage.height, right: stage.right,
                    tiles: tiles.map((t) => ({area: t.width * t.height, left: t.left}))};
        }"""
    )
    assert len(layout["tiles"]) == 2
    for tile in layout["tiles"]:
        assert layout["stage"] > 4 * tile["area"], layout  # the screen large...
        assert tile["left"] >= layout["right"], layout  # ...and the camera tiles beside it
    await bob.wait_media_from("ada", frames=30)  # the camera still decodes too

    # Stopped from the button: the producer closes, the other page drops the stage.
    await ada.page.click("#share")
    await no_share_left(bob)
    assert not [p for p in await ada.js("sfuctlDebug.producers()") if p["source"] == "screen"]
    assert await ada.js("sfuctlDebug.liveTracks().length") == 2  # camera and microphone only

    # Again, then stopped by the browser ("Stop sharing" ends the track): the same clean-up.
    await ada.page.click("#share")
    await bob.wait(SCREEN_FRAMES, 10)
    await ada.js("sfuctlDebug.conference.tracks.screen.dispatchEvent(new Event('ended'))")
    await no_share_left(bob)
    await ada.wait("sfuctlDebug.shares().length === 0 && !sfuctlDebug.conference.tracks.screen")
    assert await ada.js("document.querySelector('#share').getAttribute('aria-pressed')") == "false"


async def test_a_late_joiner_sees_a_share_already_running(server: RunningServer, open_call: OpenCall) -> None:
    ada = await open_call(server.url + "/?token=" + server.token("late", "ada", "Ada"), "ada")
    await ada.user_id()
    await ada.page.click("#share")
    await ada.wait("sfuctlDebug.producers().some((p) => p.source === 'screen')")
    assert await ada.js("sfuctlDebug.shares()") == [
        {"userId": "local", "shown": True, "name": "You are sharing your screen"}
    ]
    bob = await open_call(server.url + "/?token=" + server.token("late", "bob", "Bob"), "bob")
    await bob.wait(SCREEN_FRAMES, 20)
    assert [s["userId"] for s in await bob.js("sfuctlDebug.shares()")] == ["ada"]
    await ada.page.click("#leave")  # leaving ends the share for the others too
    await no_share_left(bob)
