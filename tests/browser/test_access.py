"""How people get in, and out: invite links that carry no identity, the access key of a server in
apikey mode, the camera only when asked for (and released on leaving), and errors that stop
instead of looping (a bad or expired token, a full room)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser

from sfuctl.server.auth import mint_token
from sfuctl.server.limits import Limits
from tests.browser.conftest import Call, new_call
from tests.conftest import TEST_SECRET, RunningServer, start_server

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

TRACK_LOG = """
(() => {
  // every track getUserMedia hands out, to check later that none is left live
  window.gumTracks = [];
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.gumTracks.push(...stream.getTracks());
    return stream;
  };
})();
"""


class Page(Call):
    """A tab that counts its WebSocket attempts."""

    def __init__(self, call: Call) -> None:
        self.page, self.label, self.log = call.page, call.label, call.log
        self.sockets: list[str] = []
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))


OpenPage = Callable[[str, str], Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """open_page(url, label) -> a page whose WebSocket attempts are counted (``.sockets``)."""
    pages: list[Page] = []

    async def open_(url: str, label: str) -> Page:
        page = Page(await new_call(browser, label))
        await page.page.add_init_script(TRACK_LOG)
        pages.append(page)
        await page.page.goto(url)
        return page

    try:
        yield open_
    finally:
        for call in pages:
            for line in call.log:
                print(line)
            await call.page.context.close()


async def join_by_form(page: Call, name: str, room: str) -> None:
    await page.page.fill("#name", name)
    await page.page.fill("#room", room)
    await page.page.click("#join")


async def lobby_error(page: Call) -> str:
    await page.wait("sfuctlDebug.state === 'lobby' && !document.querySelector('#lobby-error').hidden")
    text: str = await page.page.inner_text("#lobby-error")
    return text


async def test_the_token_leaves_the_address_bar_and_the_invite_link_is_the_room(
    server: RunningServer, open_page: OpenPage
) -> None:
    page = await open_page(f"{server.url}/?token={server.token('standup', 'ada', 'Ada')}", "ada")
    assert await page.user_id() == "ada"
    assert await page.js("location.href") == f"{server.url}/?room=standup"
    assert "token" not in await page.js("location.href + history.state")
    assert await page.js("sfuctlDebug.inviteLink()") == f"{server.url}/?room=standup"
    await page.page.click("#invite")
    await page.wait("!document.querySelector('#banner').hidden")
    assert f"{server.url}/?room=standup" in await page.page.inner_text("#banner")
    # a reconnection still has the token (in memory): drop the socket, the page joins again
    await server.sfu.signaling.drop_all(1012, b"restart")
    await page.wait("sfuctlDebug.state === 'joined'")
    # after leaving, the lobby offers the same room under the same name
    await page.page.click("#leave")
    await page.wait("sfuctlDebug.state === 'lobby'")
    fields = await page.js("['#name', '#room'].map((id) => document.querySelector(id).value)")
    assert fields == ["Ada", "standup"]


@pytest.fixture
async def apikey_server() -> AsyncIterator[RunningServer]:
    running = await start_server(login_mode="apikey", api_key="team-key-0123456789")
    yield running
    await running.stop()


async def test_a_server_in_apikey_mode_gets_its_key_from_the_page(
    apikey_server: RunningServer, open_page: OpenPage
) -> None:
    page = await open_page(f"{apikey_server.url}/?room=team", "ada")
    await page.wait("sfuctlDebug.state === 'lobby'")
    assert await page.js("document.querySelector('#key-row').hidden") is True
    await join_by_form(page, "Ada", "team")
    assert "asks for an access key" in await lobby_error(page)
    assert await page.js("document.querySelector('#key-row').hidden") is False
    await page.page.fill("#key", "wrong")
    await page.page.click("#join")
    await page.wait("document.querySelector('#lobby-error').textContent.includes('refused')")
    await page.page.fill("#key", "team-key-0123456789")
    await page.page.click("#join")
    await page.user_id()
    # kept for this tab's session only (sessionStorage), not in localStorage
    assert await page.js("sessionStorage.getItem('sfuctl.apiKey')") == "team-key-0123456789"
    assert "team-key" not in await page.js("JSON.stringify(localStorage)")
    assert page.sockets and all("team-key" not in url for url in page.sockets)
    # back in the lobby, the field is filled in from the session
    await page.page.click("#leave")
    await page.wait("sfuctlDebug.state === 'lobby'")
    assert await page.js("document.querySelector('#key').value") == "team-key-0123456789"


async def test_the_camera_starts_only_when_asked_and_is_released_after_leave(
    server: RunningServer, open_page: OpenPage
) -> None:
    page = await open_page(f"{server.url}/?room=cam", "ada")
    await page.wait("sfuctlDebug.state === 'lobby'")
    await asyncio.sleep(1)
    assert await page.js("window.gumTracks.length") == 0  # nothing asked for on opening the page
    await page.page.click("#preview-button")
    await page.wait("sfuctlDebug.liveTracks().length === 1")
    await join_by_form(page, "Ada", "cam")
    await page.user_id()
    states = await page.js("window.gumTracks.map((t) => t.kind + ':' + t.readyState)")
    assert states[0] == "video:ended"  # the preview stopped on joining
    assert sorted(states[1:]) == ["audio:live", "video:live"], states
    await page.page.click("#cam")  # camera off and on again: a new track, the old one ended
    await page.page.click("#cam")
    await page.wait("sfuctlDebug.producers().some((p) => p.source === 'camera')")
    await page.page.click("#leave")
    await page.wait("sfuctlDebug.state === 'lobby'")
    states = await page.js("window.gumTracks.map((t) => t.kind + ':' + t.readyState)")
    assert len(states) == 4 and all(state.endswith(":ended") for state in states), states
    assert await page.js("sfuctlDebug.liveTracks()") == []
    assert await page.js("document.querySelector('#preview').srcObject") is None


async def wait_for_retries(page: Page) -> None:
    """Longer than the first reconnection delays (0.5 s, then 1 s): a loop would show by now."""
    await asyncio.sleep(4)


async def test_a_bad_token_is_said_once_and_not_retried(server: RunningServer, open_page: OpenPage) -> None:
    forged, _ = mint_token("another-secret-0123456789-abcdefghijklmnop", "r", "mallory")
    page = await open_page(f"{server.url}/?token={forged}", "mallory")
    message = await lobby_error(page)
    assert "refused this access link" in message, message
    await wait_for_retries(page)
    assert len(page.sockets) == 1, page.sockets
    assert await page.js("sfuctlDebug.state") == "lobby"
    assert await page.js("sfuctlDebug.liveTracks()") == []  # the camera it opened is released
    assert "token" not in await page.js("location.href")


async def test_an_expired_link_says_so_without_connecting(server: RunningServer, open_page: OpenPage) -> None:
    expired, _ = mint_token(TEST_SECRET, "r", "ada", "Ada", ttl=-120)
    page = await open_page(f"{server.url}/?token={expired}", "ada")
    assert "expired" in await lobby_error(page)
    await wait_for_retries(page)
    assert page.sockets == []
    assert await page.js("window.gumTracks.length") == 0  # not even the camera was asked for


@pytest.fixture
async def tiny_rooms() -> AsyncIterator[RunningServer]:
    running = await start_server(limits=Limits(max_peers_per_room=1))
    yield running
    await running.stop()


async def test_a_full_room_is_said_once_and_not_retried(
    tiny_rooms: RunningServer, open_page: OpenPage
) -> None:
    ada = await open_page(f"{tiny_rooms.url}/?token={tiny_rooms.token('small', 'ada', 'Ada')}", "ada")
    await ada.user_id()
    bob = await open_page(f"{tiny_rooms.url}/?token={tiny_rooms.token('small', 'bob', 'Bob')}", "bob")
    message = await lobby_error(bob)
    assert "did not let you in" in message and "is full" in message, message
    await wait_for_retries(bob)
    assert len(bob.sockets) == 1, bob.sockets
    assert await bob.js("sfuctlDebug.liveTracks()") == []
    assert await ada.js("sfuctlDebug.state") == "joined"


async def test_a_watch_only_token_watches_without_a_camera_or_a_retry(
    server: RunningServer, open_page: OpenPage
) -> None:
    ada = await open_page(f"{server.url}/?token={server.token('show', 'ada', 'Ada')}", "ada")
    await ada.user_id()
    viewer = await open_page(
        f"{server.url}/?token={server.token('show', 'vic', 'Vic', publish=False)}", "vic"
    )
    await viewer.wait_media_from("ada")  # receives, although it may not send
    assert await viewer.js("window.gumTracks.length") == 0  # never asked for a camera
    assert await viewer.js("sfuctlDebug.producers()") == []
    await wait_for_retries(viewer)
    assert len(viewer.sockets) == 1 and await viewer.js("sfuctlDebug.state") == "joined"
