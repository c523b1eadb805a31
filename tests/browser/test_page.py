"""GET / and /static/*: the built page and its bundle, served by the Python server."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(30)]


async def test_page_and_assets_are_served(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/?room=x") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
        assert '<script src="/static/app.js"></script>' in page
        assert 'href="/static/app.css"' in page
        for name, content_type in (("app.js", "text/javascript"), ("app.css", "text/css")):
            async with http.get(f"{server.url}/static/{name}") as response:
                assert response.status == 200
                assert response.content_type == content_type
                assert response.headers["Cache-Control"] == "no-cache"
                body = await response.read()
                assert len(body) > 1000
        async with http.get(server.url + "/static/app.js") as response:
            assert b"mediasoup" in await response.read()  # the official client is in the bundle
        for bad in ("/static/nope.js", "/static/.hidden", "/static/..%2Fhttp%2Fclient.py", "/static/"):
            async with http.get(server.url + bad) as response:
                assert response.status == 404, bad
