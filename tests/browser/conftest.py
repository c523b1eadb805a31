"""Real-browser tests: Debian's chromium driven by Playwright, against an in-process server.

Chromium is the system one (``/usr/bin/chromium``, from apt); Playwright's own browser download
is never used. Fake camera and microphone, no GPU, no sandbox (root), loopback ICE candidates
allowed. Every page exposes ``window.sfuctlDebug`` (see ``web/src/main.js``): its peer
connections, consumers and ``RTCPeerConnection.getStats()`` summaries.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # the server announces 127.0.0.1 only: let WebRTC gather (and pair) loopback candidates
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    # getDisplayMedia: the fake UI picks this source without asking (the fake device feeds it)
    "--auto-select-desktop-capture-source=Entire screen",
]

SMALL_VIDEO = {"width": 640, "height": 360, "frameRate": 15}
"""Enough for media assertions, light on the CPU (three encoders and six decoders on 2 cores)."""


@pytest.fixture(scope="session", autouse=True)
def built_page() -> None:
    """The page's bundle in server/static/: built here when missing or older than web/."""
    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install chromium"
    if subprocess.run(["node", "build.mjs", "--check"], cwd=WEB).returncode == 0:
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to build the page (make setup installs it)"
    if not (WEB / "node_modules" / "mediasoup-client").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=300)
    subprocess.run(["node", "build.mjs"], cwd=WEB, check=True, timeout=120)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # launch() gives every browser a fresh temporary profile (user-data dir)
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield instance
        finally:
            await instance.close()


class Call:
    """One browser tab in a call."""

    def __init__(self, page: Page, label: str) -> None:
        self.page = page
        self.label = label
        self.log: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.log.append(f"[{label}] pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning", "info"):
            self.log.append(f"[{self.label}] {message.type}: {message.text}")

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def wait(self, expression: str, arg: Any = None, timeout: float = 30) -> Any:
        """Poll ``expression`` (awaited in the page, unlike Playwright's wait_for_function, which
        takes a pending Promise for a truthy answer) until it is truthy; return that value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.page.evaluate(expression, arg)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"[{self.label}] still falsy after {timeout} s: {expression}")
            await asyncio.sleep(0.25)

    async def user_id(self) -> str:
        user: str = await self.wait("sfuctlDebug.state === 'joined' && sfuctlDebug.userId")
        return user

    async def inbound(self) -> list[dict[str, Any]]:
        stats: list[dict[str, Any]] = await self.js("sfuctlDebug.inbound()")
        return stats

    async def wait_media_from(
        self, user_id: str, frames: int = 20, packets: int = 50, timeout: float = 40
    ) -> None:
        """inbound-rtp from ``user_id``: video framesDecoded and audio packetsReceived reach the counts."""
        await self.wait(
            """async ([user, frames, packets]) => {
                const mine = (await sfuctlDebug.inbound()).filter((s) => s.userId === user);
                const video = mine.find((s) => s.kind === 'video');
                const audio = mine.find((s) => s.kind === 'audio');
                return Boolean(video && audio && video.framesDecoded >= frames
                    && audio.packetsReceived >= packets);
            }""",
            [user_id, frames, packets],
            timeout=timeout,
        )

    async def tile_users(self) -> set[str]:
        tiles = await self.js("sfuctlDebug.tiles()")
        return {tile["userId"] for tile in tiles}


OpenCall = Callable[..., Awaitable[Call]]


async def new_call(browser: Browser, label: str, video: dict[str, Any] | None = None) -> Call:
    """A page in a fresh browser context (own storage) with the page's test config, not opened yet."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    config = {"video": video or SMALL_VIDEO}
    await page.add_init_script(f"window.sfuctlConfig = {json.dumps(config)};")
    return Call(page, label)


@pytest.fixture
async def open_call(browser: Browser) -> AsyncIterator[OpenCall]:
    """open_call(url, label, video=SMALL_VIDEO) -> Call, in a fresh browser context (own storage)."""
    calls: list[Call] = []

    async def open_(url: str, label: str, video: dict[str, Any] | None = None) -> Call:
        call = await new_call(browser, label, video)
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
