"""The page survives a server restart (reconnects with backoff, rejoins, media flows again) and
restarts ICE on request without losing media."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSCloseCode

import tests.conftest as root_conftest
from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer, process_exists

pytestmark = [pytest.mark.worker, pytest.mark.timeout(150)]


async def stop(running: RunningServer) -> None:
    """Go away as a stopping server does: 1001 to every WebSocket, then close rooms and workers."""
    pids = [w.pid for w in running.sfu.pool.workers]
    await running.sfu.signaling.drop_all(WSCloseCode.GOING_AWAY, b"shutdown")
    await running.stop()
    assert not any(process_exists(pid) for pid in pids)


async def test_page_reconnects_and_rejoins_after_a_server_restart(
    open_call: OpenCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await root_conftest.start_server()
    port = first.config.port
    second: RunningServer | None = None
    first_running = True
    try:
        ada = await open_call(first.url + "/?token=" + first.token("keep", "ada", "Ada"), "ada")
        bob = await open_call(first.url + "/?token=" + first.token("keep", "bob", "Bob"), "bob")
        await ada.wait_media_from("bob")
        await bob.wait_media_from("ada")
        old_consumers = {c["id"] for c in await ada.js("sfuctlDebug.consumers()")}

        await stop(first)
        first_running = False
        await ada.wait("sfuctlDebug.state === 'reconnecting'", timeout=10)
        await bob.wait("sfuctlDebug.state === 'reconnecting'", timeout=10)
        assert await ada.tile_users() == {"local"}  # the remote tiles went with the connection
        await asyncio.sleep(1.5)  # a reconnect attempt or two fails meanwhile (backoff)

        monkeypatch.setattr(root_conftest, "free_port", lambda: port)
        second = await root_conftest.start_server()  # same port, same secret: the tokens still work
        for call, other in ((ada, "bob"), (bob, "ada")):
            await call.wait("sfuctlDebug.state === 'joined'", timeout=30)
            await call.wait_media_from(other, timeout=40)
        new_consumers = {c["id"] for c in await ada.js("sfuctlDebug.consumers()")}
        assert new_consumers and not new_consumers & old_consumers
        assert await ada.tile_users() == {"local", "bob"}
        assert await ada.js("document.getElementById('status').dataset.state") == "joined"
    finally:
        for running, alive in ((first, first_running), (second, second is not None)):
            if alive and running is not None:
                await stop(running)


async def test_restart_ice_keeps_media_flowing(server: RunningServer, open_call: OpenCall) -> None:
    ada = await open_call(server.url + "/?token=" + server.token("ice", "ada", "Ada"), "ada")
    bob = await open_call(server.url + "/?token=" + server.token("ice", "bob", "Bob"), "bob")
    await bob.wait_media_from("ada")
    ufrag_before = await bob.js("sfuctlDebug.pcs().recv.remoteDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]")
    await bob.js("sfuctlDebug.restartIce()")
    await ada.js("sfuctlDebug.restartIce()")
    ufrag_after = await bob.js("sfuctlDebug.pcs().recv.remoteDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]")
    assert ufrag_after != ufrag_before  # new ICE credentials from the server's restart-ice
    frames = await bob.js(
        "async () => (await sfuctlDebug.inbound()).find((s) => s.kind === 'video').framesDecoded"
    )
    await bob.wait(
        "async (n) => (await sfuctlDebug.inbound()).find((s) => s.kind === 'video').framesDecoded > n + 20",
        frames,
    )
    await bob.wait("sfuctlDebug.pcs().recv.connectionState === 'connected'")
