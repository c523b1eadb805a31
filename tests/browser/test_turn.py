"""The page uses the iceServers of join-room: relay-only, its media goes through the managed coturn."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser

from sfuctl.server.turn.settings import TurnSettings
from tests.browser.conftest import SMALL_VIDEO, Call
from tests.conftest import RunningServer, free_port, start_server
from tests.turn.test_coturn import RELAY, SECRET

pytestmark = [
    pytest.mark.worker,
    pytest.mark.timeout(150),
    pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn is not installed (make setup)"),
]

SELECTED_PAIR = """async () => {
  const pc = sfuctlDebug.pcs().send;
  if (!pc) return null;
  const stats = [...(await pc.getStats()).values()];
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport && stats.find((s) => s.id === transport.selectedCandidatePairId);
  const local = pair && stats.find((s) => s.id === pair.localCandidateId);
  return local && pair.state === 'succeeded' ? {type: local.candidateType, bytes: pair.bytesSent} : null;
}"""


@pytest.fixture
async def turn_server() -> AsyncIterator[RunningServer]:
    turn = TurnSettings(
        enabled=True, port=free_port(), listen_ip="127.0.0.1",
        relay_min_port=RELAY[0], relay_max_port=RELAY[1], secret=SECRET,
    )  # fmt: skip
    running = await start_server(turn=turn)
    yield running
    await running.stop()


async def relay_only_page(browser: Browser, url: str, label: str) -> Call:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    config: dict[str, Any] = {"video": SMALL_VIDEO, "iceTransportPolicy": "relay"}
    await page.add_init_script(f"window.sfuctlConfig = {json.dumps(config)};")
    await page.goto(url)
    return Call(page, label)


async def test_relay_only_pages_call_through_coturn(turn_server: RunningServer, browser: Browser) -> None:
    ada = await relay_only_page(
        browser, f"{turn_server.url}/?token={turn_server.token('turn', 'ada', 'Ada')}", "ada"
    )
    grace = await relay_only_page(
        browser, f"{turn_server.url}/?token={turn_server.token('turn', 'grace', 'Grace')}", "grace"
    )
    try:
        await ada.user_id()
        await grace.user_id()
        configured = await ada.js("sfuctlDebug.pcs().send.getConfiguration()")
        assert configured["iceTransportPolicy"] == "relay"
        [server] = configured["iceServers"]
        assert server["urls"][0] == f"turn:127.0.0.1:{turn_server.config.turn.port}?transport=udp"
        assert server["username"].endswith(":ada")
        await ada.wait_media_from("grace")
        await grace.wait_media_from("ada")
        for call in (ada, grace):
            selected = await call.wait(SELECTED_PAIR)
            assert selected["type"] == "relay", selected
        room = turn_server.sfu.registry.get("turn")
        assert room is not None
        for transport in room.peers["ada"].transports.values():
            selected_tuple = transport.ice_selected_tuple
            assert selected_tuple is not None and RELAY[0] <= selected_tuple["remotePort"] <= RELAY[1]
    finally:
        for call in (ada, grace):
            for line in call.log:
                print(line)
            await call.page.context.close()
