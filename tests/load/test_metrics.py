"""`GET /metrics` scraped during a real session (pymediasoup peers, real media)."""

from __future__ import annotations

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningServer
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer, RequestError


async def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_follow_a_real_session(server: RunningServer) -> None:
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        alice, bob = Peer([video, audio]), Peer()
        await alice.join(server.ws_url, server.token("m", "alice"))
        video_id = await alice.produce(video)
        audio_id = await alice.produce(audio)
        await bob.join(server.ws_url, server.token("m", "bob"))
        _, video_consumer = await bob.consume(video_id)
        _, audio_consumer = await bob.consume(audio_id)
        await receive_frames(video_consumer.track, 5)
        await receive_frames(audio_consumer.track, 5)
        try:
            await bob.signaling.request("close-producer", {"producerId": "nope"})
        except RequestError as error:
            assert error.code == "not_found"

        m = await scrape(server)
        assert m[("sfuctl_rooms", ())] == 1
        assert m[("sfuctl_peers", ())] == 2
        assert m[("sfuctl_transports", ())] == 2  # alice's send, bob's recv
        assert m[("sfuctl_producers", (("kind", "video"),))] == 1
        assert m[("sfuctl_producers", (("kind", "audio"),))] == 1
        assert m[("sfuctl_consumers", (("kind", "video"),))] == 1
        assert m[("sfuctl_consumers", (("kind", "audio"),))] == 1
        assert m[("sfuctl_requests_total", (("type", "join-room"),))] == 2
        assert m[("sfuctl_requests_total", (("type", "consume"),))] == 2
        assert m[("sfuctl_request_duration_seconds_count", (("type", "produce"),))] == 2
        assert m[("sfuctl_request_errors_total", (("code", "not_found"), ("type", "close-producer")))] == 1
        assert m[("sfuctl_transport_received_bytes_total", ())] > 0  # alice's media, in
        assert m[("sfuctl_transport_sent_bytes_total", ())] > 0  # to bob, out
        workers = [labels for (name, labels) in m if name == "sfuctl_worker_alive"]
        assert len(workers) == 1
        assert m[("sfuctl_worker_alive", workers[0])] == 1
        assert m[("sfuctl_worker_rss_bytes", workers[0])] > 0
        # The kernel counts CPU in clock ticks (10 ms): a worker that forwarded a few frames may
        # show 0.0 on a busy host, so compare with the process's own reading, not with zero.
        times = psutil.Process(int(dict(workers[0])["pid"])).cpu_times()
        assert 0 <= m[("sfuctl_worker_cpu_seconds_total", workers[0])] <= times.user + times.system
        assert not any("alice" in str(labels) or "bob" in str(labels) for _, labels in m)

        await bob.close()
        await alice.close()
        m = await scrape(server)
        assert m[("sfuctl_peers", ())] == 0
        assert m[("sfuctl_consumers", (("kind", "video"),))] == 0
