"""Screenshots of a two-party call for the README, from the same headless chromium as the tests.

.venv/bin/python -m tests.browser.screenshots      # writes docs/screenshots/*.png
"""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import async_playwright

import tests.conftest as root_conftest
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT

OUT = ROOT / "docs" / "screenshots"
VIDEO = {"width": 1280, "height": 720, "frameRate": 30}


async def main() -> None:
    server = await root_conftest.start_server()
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            pages = []
            for name in ("Ada Lovelace", "Grace Hopper"):
                context = await browser.new_context(viewport={"width": 1280, "height": 720})
                page = await context.new_page()
                await page.add_init_script(f"window.sfuctlConfig = {json.dumps({'video': VIDEO})};")
                await page.goto(server.url + "/?room=design-review")
                pages.append((name, page))
            await asyncio.sleep(1.5)
            await pages[0][1].fill("#name", pages[0][0])
            await pages[0][1].screenshot(path=str(OUT / "lobby.png"))
            for name, page in pages:
                await page.fill("#name", name)
                await page.click("#join")
                await page.wait_for_function("sfuctlDebug.state === 'joined'", timeout=30_000)
            await asyncio.sleep(10)  # bandwidth estimation ramps up; stats settle
            await pages[0][1].screenshot(path=str(OUT / "call-ada.png"))
            await pages[1][1].screenshot(path=str(OUT / "call-grace.png"))
            await browser.close()
    finally:
        await server.stop()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    asyncio.run(main())
