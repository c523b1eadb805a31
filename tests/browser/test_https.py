"""The page over HTTPS (it signals over WSS and joins a call) and over plain HTTP from another
machine (it says camera and microphone need HTTPS, and joins nothing).

Chromium trusts the server's generated certificate by its public-key hash
(``--ignore-certificate-errors-spki-list``): that one certificate, not "any certificate".
"Another machine" is a host name that is not localhost, mapped to 127.0.0.1 inside Chromium
(``--host-resolver-rules``): the page is then not a secure context, and every packet still goes
to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from sfuctl.server.tls.certificate import CERT_NAME, inspect
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Call, new_call
from tests.conftest import RunningServer, start_server

pytestmark = [pytest.mark.worker, pytest.mark.timeout(150)]

OTHER_HOST = "sfu.test"
"""A name that is not localhost, so Chromium treats its http:// pages as not secure."""

Launch = Callable[[list[str]], Awaitable[Browser]]
Open = Callable[[Browser, str, str], Awaitable[Call]]


@pytest.fixture
async def launch() -> AsyncIterator[Launch]:
    browsers: list[Browser] = []
    async with async_playwright() as playwright:

        async def launch_(extra: list[str]) -> Browser:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra], headless=True, timeout=30_000
            )
            browsers.append(browser)
            return browser

        try:
            yield launch_
        finally:
            for browser in browsers:
                await browser.close()


@pytest.fixture
async def open_page() -> AsyncIterator[Open]:
    calls: list[Call] = []

    async def open_(browser: Browser, url: str, label: str) -> Call:
        call = await new_call(browser, label)
        sockets: list[str] = []
        call.page.on("websocket", lambda ws: sockets.append(ws.url))
        call.sockets = sockets  # type: ignore[attr-defined]
        calls.append(call)
        await call.page.goto(url)
        return call

    try:
        yield open_
    finally:
        for call in calls:
            for line in call.log:
                print(line)
            await call.page.context.close()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(tls=True, tls_dir=str(tmp_path))
    yield running
    await running.stop()


async def test_the_https_page_joins_a_call_over_wss(
    tls_server: RunningServer, tmp_path: Path, launch: Launch, open_page: Open
) -> None:
    spki = inspect(tmp_path / CERT_NAME).spki_sha256
    browser = await launch([f"--ignore-certificate-errors-spki-list={spki}"])
    base = tls_server.url
    assert base.startswith("https://127.0.0.1:")
    ada = await open_page(browser, f"{base}/?token={tls_server.token('secure', 'ada', 'Ada')}", "ada")
    grace = await open_page(browser, f"{base}/?token={tls_server.token('secure', 'grace', 'Grace')}", "grace")
    assert await ada.user_id() == "ada" and await grace.user_id() == "grace"
    assert await ada.js("window.isSecureContext && location.protocol") == "https:"
    await ada.wait_media_from("grace")
    await grace.wait_media_from("ada")
    wss = f"wss://127.0.0.1:{tls_server.config.port}/"
    for call in (ada, grace):
        urls: list[str] = call.sockets  # type: ignore[attr-defined]
        assert urls and all(url.startswith(wss) for url in urls), urls


async def test_a_certificate_chromium_does_not_trust_shows_no_page(
    tls_server: RunningServer, launch: Launch, open_page: Open
) -> None:
    browser = await launch([])
    with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
        await open_page(browser, f"{tls_server.url}/", "eve")


async def test_plain_http_from_another_machine_says_https_is_needed_and_joins_nothing(
    server: RunningServer, launch: Launch, open_page: Open, tmp_path: Path
) -> None:
    browser = await launch([f"--host-resolver-rules=MAP {OTHER_HOST} 127.0.0.1"])
    url = f"http://{OTHER_HOST}:{server.config.port}/?token={server.token('plain', 'ada', 'Ada')}"
    call = await open_page(browser, url, "ada")
    await call.wait("sfuctlDebug.state === 'insecure'")
    assert await call.js("window.isSecureContext") is False
    text = await call.page.inner_text("#insecure")
    assert "Camera and microphone need HTTPS" in text and "sfuctl serve --tls" in text, text
    https = f"https://{OTHER_HOST}:{server.config.port}/?token="
    assert (await call.page.get_attribute("#insecure-https", "href") or "").startswith(https)
    assert await call.js("document.querySelector('#lobby').hidden && document.querySelector('#call').hidden")
    await asyncio.sleep(3)  # what a join loop would have done by now: connect, fail, reconnect
    assert call.sockets == []  # type: ignore[attr-defined]
    assert await call.js("sfuctlDebug.state") == "insecure"
    assert not [room for room in server.sfu.registry.all() if not room.closed]
    await call.page.screenshot(path=str(tmp_path / "insecure.png"))


async def test_plain_http_on_this_machine_still_joins(
    server: RunningServer, launch: Launch, open_page: Open
) -> None:
    browser = await launch([])
    call = await open_page(browser, f"{server.url}/?token={server.token('local', 'ada', 'Ada')}", "ada")
    assert await call.user_id() == "ada"
    assert await call.js("window.isSecureContext") is True
