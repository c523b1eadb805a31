"""Browser security headers: the page and its assets carry a strict CSP (own scripts only, the
WebSocket to its own origin), no framing, nosniff, no Referer; the page still works under its
CSP (a call with media, a screen share and chat, and not one violation reported), and so do the
API documents with their own policies."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Browser

from tests.browser.conftest import Call, OpenCall, new_call
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

CSP_WATCH = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


async def test_the_page_and_its_assets_carry_the_headers(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/?room=x", "/static/app.js", "/static/app.css", "/static/nope.js"):
            async with http.get(server.url + path) as response:
                headers = response.headers
                assert headers["X-Content-Type-Options"] == "nosniff", path
                assert headers["Referrer-Policy"] == "no-referrer", path
                csp = directives(headers["Content-Security-Policy"])
                assert csp["default-src"] == ["'self'"], path
                assert csp["script-src"] == ["'self'"], path  # no inline script, no eval, no CDN
                assert csp["connect-src"] == ["'self'"], path  # not ws: wss: (any host)
                assert csp["frame-ancestors"] == ["'none'"], path
                assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], path
        # the API documents keep their own policies, and cannot be framed either
        async with http.get(server.url + "/docs") as response:
            csp = directives(response.headers["Content-Security-Policy"])
            assert "'unsafe-inline'" in csp["script-src"]  # Swagger UI's own policy, untouched
            assert csp["frame-ancestors"] == ["'none'"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(server.url + "/asyncapi", headers={"Accept": "text/html"}) as response:
            csp = directives(response.headers["Content-Security-Policy"])
            assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        async with http.get(server.url + "/health") as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def violations(call: Call) -> list[str]:
    found: list[str] = await call.js("window.cspViolations")
    console = [line for line in call.log if "Content Security Policy" in line or "Refused to" in line]
    return found + console


async def test_a_call_works_under_the_csp_without_a_single_violation(
    server: RunningServer, browser: Browser
) -> None:
    calls: list[Call] = []
    try:
        for user in ("ada", "bob"):
            call = await new_call(browser, user)
            calls.append(call)
            await call.page.add_init_script(CSP_WATCH)
            await call.page.goto(f"{server.url}/?token={server.token('csp', user, user.title())}")
        ada, bob = calls
        await ada.user_id()
        await bob.wait_media_from("ada")  # the signaling WebSocket passed connect-src 'self'
        await ada.wait_media_from("bob")
        await ada.page.click("#share")
        await bob.wait("async () => (await sfuctlDebug.inbound()).some((s) => s.source === 'screen'"
                       " && s.framesDecoded > 5)")  # fmt: skip
        await ada.page.click("#chat-toggle")
        await ada.page.fill("#chat-input", "under CSP")
        await ada.page.press("#chat-input", "Enter")
        await bob.wait("sfuctlDebug.chat().length === 1")
        await ada.page.click("#stats")
        await ada.page.click("#leave")
        await ada.wait("sfuctlDebug.state === 'lobby'")
        await ada.page.click("#preview-button")
        await ada.wait("sfuctlDebug.liveTracks().length === 1")
        for call in calls:
            assert await violations(call) == [], call.label
        # the check is live: an inline script is refused and reported
        inject = "Object.assign(document.createElement('script'), {textContent: 'window.x = 1'})"
        await bob.js(f"document.body.append({inject})")
        await bob.wait("window.cspViolations.length > 0")
        assert await bob.js("window.x") is None
    finally:
        for call in calls:
            for line in call.log:
                print(line)
            await call.page.context.close()


async def test_the_page_cannot_be_framed(server: RunningServer, open_call: OpenCall) -> None:
    """Even by a page of its own origin (served here by Playwright at /framer)."""
    framer = await open_call("about:blank", "framer")
    html = f'<!doctype html><iframe src="{server.url}/?room=x"></iframe>'
    await framer.page.route("**/framer", lambda route: route.fulfill(body=html, content_type="text/html"))
    await framer.page.goto(server.url + "/framer")
    for _ in range(50):  # bounded: until the frame has settled on the page or on an error page
        frames = framer.page.frames
        if len(frames) > 1 and frames[1].url != "about:blank":
            break
        await framer.page.wait_for_timeout(200)
    inner = framer.page.frames[1]
    await framer.page.wait_for_timeout(500)
    assert inner.url.startswith("chrome-error://"), inner.url  # refused: frame-ancestors 'none'
    assert await inner.evaluate("() => document.getElementById('lobby')") is None
