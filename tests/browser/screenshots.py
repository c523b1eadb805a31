"""Screenshots of the page for the README, from the same headless chromium as the tests.

.venv/bin/python -m tests.browser.screenshots      # writes docs/screenshots/*.png

The lobby, a two-party call as each side sees it, and a call with a screen share (Chromium's
fake capture: the same ``--auto-select-desktop-capture-source`` as the tests) and the chat open.
"""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Browser, Page, async_playwright

import tests.conftest as root_conftest
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT

OUT = ROOT / "docs" / "screenshots"
VIDEO = {"width": 1280, "height": 720, "frameRate": 30}
CHAT = [
    ("Ada Lovelace", "Sharing the release notes now, shout if the text is too small."),
    ("Grace Hopper", "Reads fine here. Can we go over the <b>migration</b> part first?"),
    ("Ada Lovelace", "Sure, scrolling down."),
]


async def open_page(browser: Browser, url: str, video: dict[str, int] = VIDEO) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    await page.add_init_script(f"window.sfuctlConfig = {json.dumps({'video': video})};")
    await page.goto(url)
    return page


async def wait_js(page: Page, expression: str, timeout: float = 30) -> None:
    """Poll with evaluate (wait_for_function evaluates a string, which the page's CSP refuses)."""
    for _ in range(int(timeout * 4)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(expression)


async def join(page: Page, name: str) -> None:
    await page.fill("#name", name)
    await page.click("#join")
    await wait_js(page, "sfuctlDebug.state === 'joined'")


async def two_party_call(browser: Browser, url: str) -> None:
    pages = [await open_page(browser, url + "/?room=design-review") for _ in range(2)]
    await pages[0].fill("#name", "Ada Lovelace")
    await pages[0].click("#preview-button")
    await asyncio.sleep(1.5)
    await pages[0].screenshot(path=str(OUT / "lobby.png"))
    for page, name in zip(pages, ("Ada Lovelace", "Grace Hopper"), strict=True):
        await join(page, name)
    await asyncio.sleep(10)  # bandwidth estimation ramps up; stats settle
    await pages[0].screenshot(path=str(OUT / "call-ada.png"))
    await pages[1].screenshot(path=str(OUT / "call-grace.png"))
    for page in pages:
        await page.context.close()


async def share_and_chat(browser: Browser, url: str) -> None:
    names = ("Ada Lovelace", "Grace Hopper", "Linus Torvalds")
    small = {"width": 640, "height": 360, "frameRate": 15}
    pages = [await open_page(browser, url + "/?room=release", small) for _ in names]
    for page, name in zip(pages, names, strict=True):
        await join(page, name)
    ada, grace = pages[0], pages[1]
    await ada.click("#share")
    await wait_js(grace, "sfuctlDebug.shares().length === 1")
    await grace.click("#stats")  # statistics off: the screenshot shows the call, not the numbers
    by_name = dict(zip(names, pages, strict=False))
    for page in pages:
        await page.click("#chat-toggle")
    for name, text in CHAT:
        page = by_name[name]
        await page.fill("#chat-input", text)
        await page.press("#chat-input", "Enter")
        await asyncio.sleep(0.5)
    await asyncio.sleep(8)
    await grace.screenshot(path=str(OUT / "call-share-chat.png"))
    for page in pages:
        await page.context.close()


async def main() -> None:
    server = await root_conftest.start_server()
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            await two_party_call(browser, server.url)
            await share_and_chat(browser, server.url)
            await browser.close()
    finally:
        await server.stop()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    asyncio.run(main())
