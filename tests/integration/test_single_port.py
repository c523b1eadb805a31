"""Single-port mode: every transport of a worker shares one port, and media still flows."""

from __future__ import annotations

from tests.conftest import free_port, start_server
from tests.media_client import MovingVideoTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer


async def test_transports_share_the_worker_port_and_media_flows() -> None:
    port = free_port()
    running = await start_server(webrtc_server_port=port)
    try:
        with loopback_ice():
            video = MovingVideoTrack()
            alice, bob = Peer([video]), Peer()
            await alice.join(running.ws_url, running.token("single", "alice"))
            await bob.join(running.ws_url, running.token("single", "bob"))
            producer_id = await alice.produce(video)
            _, consumer = await bob.consume(producer_id)
            assert len(await receive_frames(consumer.track, 3)) == 3
            for peer, direction in ((alice, "send"), (bob, "recv")):
                assert {c["port"] for c in peer.transport_infos[direction]["iceCandidates"]} == {port}
            await alice.close()
            await bob.close()
    finally:
        await running.stop()
