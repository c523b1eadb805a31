"""Chromium <-> Chromium calls through the real server: media both ways, late join, leave."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.conftest import Call, OpenCall
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(150)]


async def join_by_form(call: Call, name: str, room: str) -> str:
    """The lobby flow: name + room, POST /login, join."""
    await call.page.fill("#name", name)
    await call.page.fill("#room", room)
    await call.page.click("#join")
    return await call.user_id()


async def test_two_pages_see_and_hear_each_other_then_a_late_joiner_and_a_leaver(
    server: RunningServer, open_call: OpenCall
) -> None:
    ada = await open_call(server.url + "/", "ada")
    grace = await open_call(server.url + "/?room=standup", "grace")
    ada_id = await join_by_form(ada, "Ada", "standup")
    assert await grace.js("document.querySelector('#room').value") == "standup"  # ?room= fills it in
    grace_id = await join_by_form(grace, "Grace", "standup")

    await ada.wait_media_from(grace_id)
    await grace.wait_media_from(ada_id)
    names = {tile["name"] for tile in await ada.js("sfuctlDebug.tiles()")}
    assert names == {"Ada (you)", "Grace"}

    # a third page joins late (by token) and gets both; both get it
    linus = await open_call(server.url + "/?token=" + server.token("standup", "linus", "Linus"), "linus")
    assert await linus.user_id() == "linus"
    await linus.wait_media_from(ada_id)
    await linus.wait_media_from(grace_id)
    await ada.wait_media_from("linus")
    await grace.wait_media_from("linus")
    for call in (ada, grace, linus):
        assert len(await call.tile_users()) == 3

    # the decoded frame counters keep going up (live media, not a burst at start)
    before = {s["consumerId"]: s["framesDecoded"] for s in await ada.inbound() if s["kind"] == "video"}
    await asyncio.sleep(2)
    after = {s["consumerId"]: s["framesDecoded"] for s in await ada.inbound() if s["kind"] == "video"}
    assert all(after[key] > before[key] for key in before), (before, after)

    # Grace leaves with the button: her tile and consumers go away in the other pages
    await grace.page.click("#leave")
    await grace.wait("sfuctlDebug.state === 'lobby'")
    for call in (ada, linus):
        await call.wait(
            "(user) => !sfuctlDebug.tiles().some((t) => t.userId === user)"
            " && !sfuctlDebug.consumers().some((c) => c.userId === user)",
            grace_id,
            timeout=15,
        )
        assert len(await call.tile_users()) == 2
    await ada.wait_media_from("linus")


async def test_mute_and_camera_off_reach_the_other_page(server: RunningServer, open_call: OpenCall) -> None:
    ada = await open_call(server.url + "/?token=" + server.token("r", "ada", "Ada"), "ada")
    bob = await open_call(server.url + "/?token=" + server.token("r", "bob", "Bob"), "bob")
    await ada.user_id()
    await bob.wait_media_from("ada")

    await ada.page.click("#mic")
    await bob.wait("document.querySelector('[data-user-id=ada]').classList.contains('audio-off')")
    assert await ada.js("sfuctlDebug.producers().find((p) => p.kind === 'audio').paused") is True
    await ada.page.click("#mic")
    await bob.wait("!document.querySelector('[data-user-id=ada]').classList.contains('audio-off')")

    await ada.page.click("#cam")  # camera off: the video producer is closed, the track stopped
    await bob.wait("!sfuctlDebug.consumers().some((c) => c.userId === 'ada' && c.kind === 'video')")
    await bob.wait("!document.querySelector('[data-user-id=ada]').classList.contains('has-video')")
    await ada.page.click("#cam")  # and on again: a new producer, consumed by bob
    await bob.wait_media_from("ada", frames=10, packets=1)
