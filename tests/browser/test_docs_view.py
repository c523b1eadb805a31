"""The API documents in a browser: the AsyncAPI view (Markdown rendered, a table of contents, the
schemas collapsed, a readable length) and Swagger UI, each under its own CSP with no violation."""

from __future__ import annotations

import pytest

from sfuctl.server.signaling import protocol
from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(90)]

WATCH = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective));
"""


async def test_the_asyncapi_view_is_short_rendered_and_navigable(
    server: RunningServer, open_call: OpenCall
) -> None:
    view = await open_call("about:blank", "asyncapi")
    await view.page.add_init_script(WATCH)
    await view.page.goto(server.url + "/asyncapi")  # a browser's Accept: the HTML view
    assert await view.js("document.contentType") == "text/html"
    text: str = await view.js("document.body.innerText")
    assert "`" not in text, [line for line in text.splitlines() if "`" in line][:5]
    toc = await view.js("[...document.querySelectorAll('#toc a')].map((a) => a.textContent)")
    assert toc[: len(protocol.REQUESTS) + len(protocol.EVENTS)] == [*protocol.REQUESTS, *protocol.EVENTS]
    height = await view.js("document.documentElement.scrollHeight")
    assert height < 9000, height  # was ~19,000 px of raw schemas
    assert await view.js("document.querySelectorAll('details[open]').length") == 0
    # a schema link opens its schema (the page's one script, allowed by its hash)
    await view.page.click("#request-chat ~ ul a[href='#schema-Chat']")
    await view.wait("document.getElementById('schema-Chat').open")
    assert await view.js("window.cspViolations") == []
    assert not [line for line in view.log if "Content Security Policy" in line]


async def test_swagger_ui_still_renders_under_the_headers(server: RunningServer, open_call: OpenCall) -> None:
    docs = await open_call("about:blank", "docs")
    await docs.page.add_init_script(WATCH)
    await docs.page.goto(server.url + "/docs")
    await docs.wait("document.querySelectorAll('.opblock').length >= 5")
    assert "sfuctl REST API" in await docs.page.inner_text(".info")
    assert await docs.js("window.cspViolations") == []
    assert not [line for line in docs.log if "Content Security Policy" in line]
