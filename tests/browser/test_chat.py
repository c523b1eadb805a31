"""Chat in the page: over the signaling WebSocket, shown as text (markup in a message or a name
stays literal), an unread badge, and the server's limits said plainly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sfuctl.server.limits import Limits
from tests.browser.conftest import Call, OpenCall
from tests.conftest import RunningServer, start_server

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

MARKUP = '<img src=x onerror="window.pwned=1"><b>bold</b> & <script>window.pwned=2</script>\nline two'
NAME = "Eve <i>Mallory</i>"


async def send(call: Call, text: str) -> None:
    await call.page.fill("#chat-input", text)
    await call.page.press("#chat-input", "Enter")


async def test_chat_reaches_the_other_page_as_text_with_an_unread_badge(
    server: RunningServer, open_call: OpenCall
) -> None:
    eve = await open_call(server.url + "/?token=" + server.token("chat", "eve", NAME), "eve")
    bob = await open_call(server.url + "/?token=" + server.token("chat", "bob", "Bob"), "bob")
    await eve.user_id()
    await bob.user_id()
    await eve.wait("sfuctlDebug.peers().length === 1")

    await eve.page.click("#chat-toggle")
    assert await eve.js("document.querySelector('#chat').hidden") is False
    await send(eve, MARKUP)
    await eve.wait("sfuctlDebug.chat().length === 1")
    assert await eve.js("document.querySelector('#chat-input').value") == ""
    assert (await eve.js("sfuctlDebug.chat()"))[0]["name"] == "You"

    await bob.wait("sfuctlDebug.chat().length === 1")
    message = (await bob.js("sfuctlDebug.chat()"))[0]
    assert message["name"] == NAME  # the name with its markup, as text
    assert message["text"] == MARKUP  # newline kept, nothing interpreted
    assert "<img" not in message["html"] and "&lt;img" in message["html"]
    elements = "#chat-log img, #chat-log b, #chat-log i, #chat-log script"
    assert await bob.js("(css) => document.querySelectorAll(css).length", elements) == 0
    assert await bob.js("window.pwned") is None
    # the panel is closed on Bob's side: a badge counts what he has not read
    assert await bob.js("document.querySelector('#chat').hidden") is True
    assert await bob.page.inner_text("#chat-badge") == "1"
    await send(eve, "second")
    await bob.wait("document.querySelector('#chat-badge').textContent === '2'")
    await bob.page.click("#chat-toggle")
    assert await bob.js("document.querySelector('#chat-badge').hidden") is True
    await send(bob, "hi Eve")
    await eve.wait("sfuctlDebug.chat().some((m) => m.name === 'Bob' && m.text === 'hi Eve')")
    await bob.wait("sfuctlDebug.chat().length === 3")  # his own line comes with the answer, maybe after Eve's
    times = await bob.js("[...document.querySelectorAll('#chat-log time')].map((t) => t.textContent)")
    assert len(times) == 3 and all(":" in t for t in times), times


@pytest.fixture
async def slow_chat() -> AsyncIterator[RunningServer]:
    """A chat rate with no refill to speak of during the test: the burst is all there is."""
    running = await start_server(limits=Limits(chat_per_second=0.01, chat_burst=3, max_chat_chars=500))
    yield running
    await running.stop()


async def test_over_the_limits_the_sender_is_told_and_nobody_gets_it(
    slow_chat: RunningServer, open_call: OpenCall
) -> None:
    server = slow_chat
    ada = await open_call(server.url + "/?token=" + server.token("limits", "ada", "Ada"), "ada")
    bob = await open_call(server.url + "/?token=" + server.token("limits", "bob", "Bob"), "bob")
    await ada.user_id()
    await bob.user_id()
    await ada.wait("sfuctlDebug.peers().length === 1")
    await ada.page.click("#chat-toggle")
    limit = server.config.limits.max_chat_chars
    await send(ada, "x" * (limit + 1))
    await ada.wait("!document.querySelector('#chat-error').hidden")
    error = await ada.page.inner_text("#chat-error")
    assert f"at most {limit}" in error and "Not sent" in error, error
    assert await ada.js("document.querySelector('#chat-input').value.length") == limit + 1  # kept, to shorten

    burst = server.config.limits.chat_burst
    for n in range(burst + 1):
        await send(ada, f"message {n}")
        await ada.wait("document.querySelector('#chat-input').value === '' || "
                       "!document.querySelector('#chat-error').hidden")  # fmt: skip
    await ada.wait("document.querySelector('#chat-error').textContent.includes('too many chat messages')")
    await bob.wait("(n) => sfuctlDebug.chat().length === n", burst)
    texts = [m["text"] for m in await bob.js("sfuctlDebug.chat()")]
    assert texts == [f"message {n}" for n in range(burst)]
