"""Delivery of webhook events: one bounded queue and one sender task per endpoint.

``emit`` serialises the event once and appends it to each endpoint's queue without waiting, so
signaling never waits on a receiver. Each endpoint sends its events one at a time, in the order
they happened (hence in order per room), each attempt bounded by a timeout; an error or a non-2xx
answer is retried with exponential back-off, up to ``webhook_attempts``, then the event is
dropped. A full queue drops the new event. Both kinds of drops are counted (``/metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from sfuctl.server.limits import Limits
from sfuctl.server.webhooks.events import envelope
from sfuctl.server.webhooks.models import EventType
from sfuctl.server.webhooks.signing import HEADER, sign

log = logging.getLogger("sfuctl.webhooks")

FLUSH_SECONDS = 2.0
"""On shutdown, how long queued events (the rooms' room-finished) may take to go out."""


@dataclass
class WebhookStats:
    """Plain counters, read by the metrics collector at scrape time."""

    delivered: int = 0
    failed_attempts: int = 0
    dropped_queue_full: int = 0
    dropped_attempts: int = 0


class Endpoint:
    def __init__(self, url: str, secret: str, limits: Limits, stats: WebhookStats) -> None:
        self.url = url
        self.fields = {"endpoint": urlsplit(url).netloc}
        """Log fields: the host only, as the URL's path or query may hold a receiver's token."""
        self.secret = secret
        self.limits = limits
        self.stats = stats
        self.queue: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._overflowing = False

    def put(self, body: bytes) -> None:
        if len(self.queue) >= self.limits.webhook_queue:
            self.stats.dropped_queue_full += 1
            if not self._overflowing:  # one line per episode, not one per event
                self._overflowing = True
                log.warning("webhook queue full (%s events): new events are dropped until it drains",
                            len(self.queue), extra=self.fields)  # fmt: skip
            return
        self._overflowing = False
        self.queue.append(body)
        self._idle.clear()
        self._ready.set()

    def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(session))

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            if not self.queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            await self._deliver(session, self.queue[0])
            self.queue.popleft()

    async def _deliver(self, session: aiohttp.ClientSession, body: bytes) -> None:
        limits = self.limits
        for attempt in range(1, limits.webhook_attempts + 1):
            why = await self._attempt(session, body)
            if why is None:
                self.stats.delivered += 1
                return
            self.stats.failed_attempts += 1
            if attempt == limits.webhook_attempts:
                break
            delay = limits.webhook_retry_seconds * 2 ** (attempt - 1)
            log.info("webhook attempt %s failed (%s); retrying in %ss", attempt, why, delay,
                     extra=self.fields)  # fmt: skip
            await asyncio.sleep(delay)
        self.stats.dropped_attempts += 1
        log.warning("webhook event dropped after %s attempts", limits.webhook_attempts, extra=self.fields)

    async def _attempt(self, session: aiohttp.ClientSession, body: bytes) -> str | None:
        """None when the endpoint took the event (2xx); why not otherwise."""
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, body)}
        timeout = aiohttp.ClientTimeout(total=self.limits.webhook_timeout_seconds)
        try:
            async with session.post(self.url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return "timed out"
        except (aiohttp.ClientError, OSError) as error:
            return str(error) or type(error).__name__

    async def wait_idle(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def queued(self) -> int:
        return len(self.queue)


class WebhookDispatcher:
    """The server's EventSink when webhook URLs are configured. :meth:`start` before use."""

    def __init__(self, urls: list[str], secret: str, limits: Limits) -> None:
        self.stats = WebhookStats()
        self.endpoints = [Endpoint(url, secret, limits, self.stats) for url in urls]
        self._session: aiohttp.ClientSession | None = None

    def emit(self, event: EventType, **objects: dict[str, Any]) -> None:
        try:
            body = orjson.dumps(envelope(event, objects))
        except TypeError as error:  # e.g. an appData that is not JSON: a bug, not a reason to raise
            log.error("webhook event %s not sent, cannot serialise it: %s", event, error)
            return
        for endpoint in self.endpoints:
            endpoint.put(body)

    @property
    def queued(self) -> int:
        return sum(endpoint.queued for endpoint in self.endpoints)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        for endpoint in self.endpoints:
            endpoint.start(self._session)

    async def close(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        """Give queued events ``flush_seconds`` (together) to go out, then stop."""
        if self._session is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(e.wait_idle(flush_seconds) for e in self.endpoints)), flush_seconds
            )
        for endpoint in self.endpoints:
            await endpoint.stop()
        await self._session.close()
        self._session = None
