"""Simulcast from Chromium: three layers go up; the layer the server forwards follows the
consumer's preferred layers (set-preferred-layers), chosen by tile size or pinned."""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(150)]

HD = {"width": 1280, "height": 720, "frameRate": 30}


async def test_preferred_layers_change_what_the_consumer_receives(
    server: RunningServer, open_call: OpenCall
) -> None:
    url = server.url + "/?token="
    sender = await open_call(url + server.token("sim", "cam", "Camera"), "sender", video=HD)
    viewer = await open_call(url + server.token("sim", "viewer", "Viewer"), "viewer")
    await sender.user_id()
    await viewer.wait_media_from("cam", frames=10, packets=10)

    # Chromium sends three encodings of the 1280x720 camera (r0 1/4, r1 1/2, r2 full size)
    streams = await sender.wait(
        """async () => {
            const video = (await sfuctlDebug.outbound()).find((p) => p.kind === 'video');
            const live = video ? video.streams.filter((s) => s.framesEncoded > 0) : [];
            return live.length === 3 ? video.streams : false;
        }""",
        timeout=30,
    )
    assert sorted(s["rid"] for s in streams) == ["r0", "r1", "r2"]

    consumer = await viewer.js("sfuctlDebug.consumers().find((c) => c.kind === 'video')")
    assert consumer["type"] == "simulcast"
    # automatic choice: two tiles side by side on a 1280 px page -> the middle layer
    assert await viewer.wait("sfuctlDebug.consumers().find((c) => c.kind === 'video').layer") == 1

    async def received_width(condition: str) -> int:
        width: int = await viewer.wait(
            f"""async () => {{
                const s = (await sfuctlDebug.inbound()).find((s) => s.kind === 'video');
                const w = s ? s.frameWidth : 0;
                return ({condition}) ? w : false;
            }}""",
            timeout=40,
        )
        return width

    await viewer.js("(id) => sfuctlDebug.setPreferredLayers(id, 0, 2)", consumer["id"])
    low = await received_width("w > 0 && w <= 320")
    await viewer.js("(id) => sfuctlDebug.setPreferredLayers(id, 2, 2)", consumer["id"])
    high = await received_width("w >= 960")
    await viewer.js("(id) => sfuctlDebug.setPreferredLayers(id, 1, 2)", consumer["id"])
    middle = await received_width("w > 320 && w < 960")
    assert low < middle < high, (low, middle, high)
    # frames keep being decoded at the new layer
    decoded = await viewer.js(
        "async () => (await sfuctlDebug.inbound()).find((s) => s.kind === 'video').framesDecoded"
    )
    await viewer.wait(
        "async (n) => (await sfuctlDebug.inbound()).find((s) => s.kind === 'video').framesDecoded > n + 10",
        decoded,
    )
