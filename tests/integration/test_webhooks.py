"""Webhooks end to end: a real aiohttp receiver on 127.0.0.1 gets the events of real sessions.

The signature is checked here with hashlib/hmac directly (as a receiver in another language would),
not with the server's own signing module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sfuctl.server.limits import Limits
from tests.conftest import RunningServer, free_port, start_server
from tests.signaling_client import SignalingClient

pytestmark = pytest.mark.worker

SECRET = "webhook-secret-for-tests-0123456789abcdef"
WAIT = 15.0


def verified(secret: str, header: str, body: bytes, now: float) -> bool:
    """A receiver's check: HMAC-SHA256(secret, "<t>." + body) and no older than 5 minutes."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - timestamp) <= 300 and hmac.compare_digest(expected, fields["v1"])


class Receiver:
    """An HTTP endpoint that records every POST; it may fail the first ones, or hang on them."""

    def __init__(self, fail_first: int = 0, hang: bool = False) -> None:
        self.fail_first = fail_first
        self.hang = hang
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        if self.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 60)
            return web.Response(status=204)
        if len(self.requests) <= self.fail_first:
            return web.Response(status=500, text="not now")
        self.accepted.append(orjson.loads(body))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    started: list[Receiver] = []

    async def make(**options: Any) -> Receiver:
        receiver = Receiver(**options)
        await receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def session(server: RunningServer, room: str, user: str) -> str:
    """join, publish, leave: the producer id."""
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user, f"User {user}"))
    try:
        await client.join()
        transport = await client.create_transport("send")
        producer_id = await client.produce_audio(transport["id"], {"label": "mic"})
        await client.request("leave-room")
    finally:
        await client.close()
    return producer_id


SESSION_EVENTS = [
    "room-started", "participant-joined", "track-published", "track-unpublished", "participant-left",
    "room-finished",
]  # fmt: skip
FAST = {"room_grace_seconds": 0.05, "webhook_retry_seconds": 0.05}


async def test_every_event_of_a_session_in_order_signed_and_retried(receivers: Callable[..., Any]) -> None:
    receiver = await receivers(fail_first=1)
    server = await start_server(webhook_urls=[receiver.url], webhook_secret=SECRET, limits=Limits(**FAST))
    try:
        producer_id = await session(server, "hooks", "ada")
        await until(lambda: len(receiver.accepted) >= 6)
        events = receiver.accepted
        assert [e["event"] for e in events] == SESSION_EVENTS
        assert len({e["id"] for e in events}) == 6
        assert all(e["room"]["id"] == "hooks" for e in events)
        assert events[-1]["room"]["reason"] == "closed"
        assert events[1]["participant"] == {"userId": "ada", "userName": "User ada"}
        track = events[2]["track"]
        assert track == {"id": producer_id, "kind": "audio", "userId": "ada", "appData": {"label": "mic"}}
        assert events[3]["track"] == track and events[3]["participant"]["userId"] == "ada"
        assert [e["createdAt"] for e in events] == sorted(e["createdAt"] for e in events)

        # Answered 500 once: the same body came again, and everything after it in order.
        (first_headers, first_body), (_, second_body) = receiver.requests[:2]
        assert first_body == second_body and orjson.loads(first_body)["event"] == "room-started"
        assert len(receiver.requests) == 7
        now = time.time()
        for headers, body in receiver.requests:
            assert headers["Content-Type"] == "application/json"
            assert verified(SECRET, headers["X-Sfuctl-Signature"], body, now)
        assert not verified("another-secret-another-secret-0000", first_headers["X-Sfuctl-Signature"],
                            first_body, now)  # fmt: skip
        assert not verified(SECRET, first_headers["X-Sfuctl-Signature"], first_body + b" ", now)
        assert not verified(SECRET, first_headers["X-Sfuctl-Signature"], first_body, now + 301)

        metrics = await scrape(server)
        assert metrics[("sfuctl_webhook_delivered_total", ())] == 6
        assert metrics[("sfuctl_webhook_failed_attempts_total", ())] == 1
        assert metrics[("sfuctl_webhook_dropped_total", (("reason", "attempts"),))] == 0
    finally:
        await server.stop()


async def test_a_hanging_receiver_does_not_hold_signaling_or_the_other_endpoint(
    receivers: Callable[..., Any],
) -> None:
    stuck = await receivers(hang=True)
    good = await receivers()
    limits = Limits(**FAST, webhook_queue=3, webhook_timeout_seconds=60)
    server = await start_server(webhook_urls=[stuck.url, good.url], webhook_secret=SECRET, limits=limits)
    try:
        # Many sessions while the first endpoint holds its first request: each completes (bounded).
        for n in range(5):
            await asyncio.wait_for(session(server, f"room{n}", "bob"), WAIT)
        await until(lambda: len(good.accepted) >= 30)
        for n in range(5):  # in order per room (a room's grace may end after the next room started)
            kinds = [e["event"] for e in good.accepted if e["room"]["id"] == f"room{n}"]
            assert kinds == SESSION_EVENTS
        assert len(stuck.requests) == 1  # still waiting on the first event
        metrics = await scrape(server)
        assert metrics[("sfuctl_webhook_dropped_total", (("reason", "queue_full"),))] == 30 - 3
        assert metrics[("sfuctl_webhook_queued", ())] == 3  # the one in flight and two behind it
    finally:
        await server.stop()


async def test_an_endpoint_that_keeps_failing_is_given_up_on_and_counted(
    receivers: Callable[..., Any],
) -> None:
    failing = await receivers(fail_first=1000)
    limits = Limits(webhook_attempts=3, webhook_retry_seconds=0.01)
    server = await start_server(webhook_urls=[failing.url], webhook_secret=SECRET, limits=limits)
    client = SignalingClient()
    try:
        await client.connect(server.ws_url, server.token("flaky", "eve"))
        await client.join()  # room-started + participant-joined, 3 attempts each
        await until(lambda: len(failing.requests) >= 6)
        await until(lambda: server.sfu.webhooks is not None and server.sfu.webhooks.queued == 0)
        metrics = await scrape(server)
        assert metrics[("sfuctl_webhook_dropped_total", (("reason", "attempts"),))] == 2
        assert metrics[("sfuctl_webhook_failed_attempts_total", ())] == 6
        assert metrics[("sfuctl_webhook_delivered_total", ())] == 0
        ids = [orjson.loads(body)["id"] for _, body in failing.requests]
        assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] == ids[5]
    finally:
        await client.close()
        await server.stop()
