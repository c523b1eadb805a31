"""sfuctl rooms kick / mute / unmute / close-producer: the real CLI against an in-process server
with two pymediasoup peers exchanging real media."""

from __future__ import annotations

import json

import pytest

from sfuctl.server.signaling.connection import CLOSE_KICKED
from tests.cli.test_cli_server import sfuctl
from tests.conftest import RunningServer
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer, RequestError

pytestmark = pytest.mark.worker


async def test_mute_unmute_close_producer_and_kick_from_the_cli(server: RunningServer) -> None:
    with loopback_ice():
        video, tone = MovingVideoTrack(), ToneAudioTrack()
        alice, bob = Peer([video]), Peer([tone])
        try:
            await alice.join(server.ws_url, server.token("cli", "alice"))
            await bob.join(server.ws_url, server.token("cli", "bob"))
            video_id = await alice.produce(video)
            audio_id = await bob.produce(tone)
            _, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

            # The 8-character start that `rooms show` prints is enough.
            muted = await sfuctl("rooms", "mute", "cli", video_id[:8], "--url", server.url)
            assert muted.exit_code == 0, muted.output
            assert f"muted producer {video_id}" in muted.stderr and "alice" in muted.stderr
            assert (await alice.signaling.wait_event("producer-muted"))["producerId"] == video_id
            assert (await bob.signaling.wait_event("producer-paused"))["producerId"] == video_id
            with pytest.raises(RequestError) as refused:
                await alice.signaling.request("resume-producer", {"producerId": video_id})
            assert refused.value.code == "forbidden"
            shown = json.loads((await sfuctl("rooms", "show", "cli", "--url", server.url, "--json")).stdout)
            alices = next(p for p in shown["peers"] if p["userId"] == "alice")
            assert alices["producers"][0]["muted"] is True

            unmuted = await sfuctl("rooms", "unmute", "cli", video_id, "--url", server.url, "--json")
            assert unmuted.exit_code == 0, unmuted.output
            assert json.loads(unmuted.stdout) == {
                "producerId": video_id, "userId": "alice", "muted": False, "paused": False,
            }  # fmt: skip
            assert (await alice.signaling.wait_event("producer-unmuted"))["producerId"] == video_id
            assert (await bob.signaling.wait_event("producer-resumed"))["producerId"] == video_id
            assert len(await receive_frames(consumer.track, 3)) == 3

            closed = await sfuctl("rooms", "close-producer", "cli", video_id, "--url", server.url)
            assert closed.exit_code == 0, closed.output
            assert (await bob.signaling.wait_event("consumer-closed"))["producerId"] == video_id
            assert (await alice.signaling.wait_event("producer-closed"))["producerId"] == video_id

            kicked = await sfuctl("rooms", "kick", "cli", "bob", "--url", server.url)
            assert kicked.exit_code == 0, kicked.output
            assert "kicked 'bob'" in kicked.stderr
            assert (await bob.signaling.wait_event("room-closed"))["reason"] == "kicked"
            assert await bob.signaling.wait_closed() == CLOSE_KICKED
            assert (await alice.signaling.wait_event("peer-left"))["userId"] == "bob"
            await alice.signaling.wait_event("producer-closed", lambda d: d["producerId"] == audio_id)
        finally:
            await alice.close()
            await bob.close()


async def test_moderation_errors_are_one_line_with_a_hint_and_an_exit_code(server: RunningServer) -> None:
    with loopback_ice():
        tone = ToneAudioTrack()
        alice = Peer([tone])
        try:
            await alice.join(server.ws_url, server.token("errs", "alice"))
            await alice.produce(tone)
            await alice.produce(ToneAudioTrack())

            gone = await sfuctl("rooms", "kick", "errs", "nobody", "--url", server.url)
            assert gone.exit_code == 5
            assert gone.stderr.startswith("error: no peer 'nobody' in room 'errs'")
            assert "hint: `sfuctl rooms show ROOM`" in gone.stderr
            no_room = await sfuctl("rooms", "mute", "nope", "abc", "--url", server.url)
            assert no_room.exit_code == 5 and "no room 'nope'" in no_room.stderr
            no_producer = await sfuctl("rooms", "mute", "errs", "zzzz", "--url", server.url)
            assert no_producer.exit_code == 5 and "no producer 'zzzz'" in no_producer.stderr
            ambiguous = await sfuctl("rooms", "close-producer", "errs", "", "--url", server.url)
            assert ambiguous.exit_code == 2 and "start of 2 producer ids" in ambiguous.stderr
            eve = server.token("errs", "eve")
            refused = await sfuctl("rooms", "kick", "errs", "alice", "--url", server.url, "--token", eve)
            assert refused.exit_code == 4 and "hint:" in refused.stderr
            assert [line for line in refused.stderr.splitlines() if line.startswith("error:")] == [
                "error: the server refused the credentials: this token has no admin grant"
            ]
            assert "alice" in server.sfu.registry.rooms["errs"].peers
        finally:
            await alice.close()
