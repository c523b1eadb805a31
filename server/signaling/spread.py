"""A room's routers across workers, and the pipes that make every producer available in each.

A room starts with one router (the *main* one, which also hosts the room's active-speaker
observer). A peer's transports go on the room's main router while it holds fewer than
``consumers_per_router`` consumers; past that, on the room's router on the least-loaded other
worker that still has room, else on a new router on the least-loaded worker without one of this
room, else (every worker full) on the room's router with the fewest consumers.

A producer lives in its owner's router. A consumer in another router gets it through
``pipe_to_router``, which creates there a producer of the same id, at its first need; the pipe is
closed when its last consumer there goes. Peers therefore see the same ids and events wherever
their transports are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

import psutil

from sfuctl.server.media import shared
from sfuctl.server.media.errors import InvalidStateError, NotFoundError

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.data_consumer import DataConsumer
    from sfuctl.server.media.router import Router
    from sfuctl.server.media.transport import Transport
    from sfuctl.server.media.worker import Worker

log = logging.getLogger("sfuctl.signaling")

RouterFactory = Callable[["Collection[Worker]"], Awaitable["Router"]]
"""Opens a router of the room on the least-loaded worker not among those given (RuntimeError if
there is none)."""

Release = Callable[[], None]
PipeKey = tuple[str, str]
"""(producer or data producer id, id of the router it is piped into)."""


class WorkerCpu:
    """Recent CPU of each worker process, in % of one core, read at most once a second."""

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._processes: dict[int, psutil.Process] = {}
        self._last: dict[int, tuple[float, float]] = {}

    def __call__(self, worker: Worker) -> float:
        now = time.monotonic()
        last = self._last.get(worker.pid)
        if last is not None and now - last[0] < self.min_interval:
            return last[1]
        try:
            process = self._processes.get(worker.pid)
            if process is None:
                process = self._processes[worker.pid] = psutil.Process(worker.pid)
            percent = process.cpu_percent(None)  # since the previous reading (0.0 the first time)
        except psutil.Error:
            self._processes.pop(worker.pid, None)
            percent = 0.0
        self._last[worker.pid] = (now, percent)
        return percent


def consumer_count(router: Router) -> int:
    """Consumers in a router, pipe consumers included (each costs the worker a send)."""
    return sum(len(transport.consumers) for transport in router.transports.values())


class RoomRouters:
    def __init__(
        self,
        main: Router,
        new_router: RouterFactory | None,
        consumers_per_router: int,
        cpu: Callable[[Worker], float] | None = None,
        cpu_percent: float = 100.0,
    ) -> None:
        self.routers: list[Router] = [main]
        """Live routers of the room, the main one first."""
        self.assigned: dict[str, Router] = {}
        """The router of each peer (by user id) that has created a transport."""
        self.consumers_per_router = consumers_per_router
        self.cpu = cpu
        """The recent CPU of a worker (% of one core); None: CPU is not considered."""
        self.cpu_percent = cpu_percent
        """A router whose worker is this busy takes no new peer while another worker may."""
        self.new_router = new_router
        """Opens another router for the room (set by the registry); None: the room never spreads."""
        self._placing = asyncio.Lock()
        self._pipes: dict[PipeKey, asyncio.Future[None]] = {}
        self._pipe_consumers: dict[PipeKey, Any] = {}
        """The source side of each pipe (a pipe consumer): closing it closes the far producer."""
        self._users: dict[PipeKey, int] = {}
        self._expected: dict[str, int] = {}
        """Consumers each placed peer was expected to make (the room's producers then)."""

    @property
    def main(self) -> Router:
        return self.routers[0]

    # -- placement -----------------------------------------------------------------------------

    async def router_for(self, user_id: str, expected_consumers: int = 0) -> Router:
        """The peer's router: the one it has, or one placed now (one placement at a time, so two
        joins do not each open a router). ``expected_consumers``: what the peer will likely
        consume (the room's producers), counted before it does so that a burst of joins does
        not all land on a router that looks empty."""
        router = self.assigned.get(user_id)
        if router is not None and not router.closed:
            return router
        async with self._placing:
            router = self.assigned.get(user_id)
            if router is None or router.closed:
                router = await self._place()
                self.assigned[user_id] = router
                self._expected[user_id] = expected_consumers
            return router

    def load(self, router: Router) -> int:
        """Consumers in the router, or those its peers are expected to make if that is more."""
        expected = sum(self._expected.get(u, 0) for u, r in self.assigned.items() if r is router)
        return max(consumer_count(router), expected)

    def _busy(self, router: Router) -> bool:
        """Full by consumers, or (with peers of the room already) on a worker short of CPU."""
        if self.load(router) >= self.consumers_per_router:
            return True
        has_peers = any(r is router for r in self.assigned.values())
        return self.cpu is not None and has_peers and self.cpu(router.worker) >= self.cpu_percent

    async def _place(self) -> Router:
        live = [r for r in self.routers if not r.closed]
        if not live:
            raise InvalidStateError("the room has no router left")
        if not self._busy(live[0]):
            return live[0]
        others = [r for r in live[1:] if not self._busy(r)]
        if others:
            cpu = self.cpu or (lambda _worker: 0.0)
            return min(others, key=lambda r: (cpu(r.worker), worker_load(r.worker), self.load(r)))
        if self.new_router is not None:
            try:
                router = await self.new_router({r.worker for r in live})
            except RuntimeError:
                pass  # every live worker already holds a router of this room
            else:
                self.routers.append(router)
                log.info("room spreads", extra={"router": router.id, "worker": router.worker.pid,
                                                "routers": len(self.routers)})  # fmt: skip
                return router
        return min(live, key=self.load)

    def prune(self, user_ids: Collection[str]) -> None:
        """Forget peers not in ``user_ids``; close the routers (not the main one) no peer uses.

        Closing a router closes its pipe transports, and with them their other ends.
        """
        for user_id in [u for u in self.assigned if u not in user_ids]:
            del self.assigned[user_id]
            self._expected.pop(user_id, None)
        used = set(map(id, self.assigned.values()))
        for router in self.routers[1:]:
            if id(router) not in used:
                self.routers.remove(router)
                self._forget_router(router)
                router.close()

    def router_lost(self, router: Router) -> list[str]:
        """A router's worker died: forget it; the user ids of the peers that were on it."""
        if router in self.routers:
            self.routers.remove(router)
        users = [user for user, r in self.assigned.items() if r is router]
        for user in users:
            del self.assigned[user]
            self._expected.pop(user, None)
        self._forget_router(router)
        return users

    def _forget_router(self, router: Router) -> None:
        for key in [k for k in self._pipes if k[1] == router.id]:
            self._drop(key)

    # -- pipes -----------------------------------------------------------------------------------

    async def acquire(self, object_id: str, router: Router, *, data: bool = False) -> Release:
        """Make a producer (or data producer) of the room available in ``router``; the returned
        function says the caller no longer needs it (the pipe closes with its last user)."""
        key = (object_id, router.id)
        self._users[key] = self._users.get(key, 0) + 1
        release = shared.once(lambda: self._release(key))

        try:
            piped = await self._ensure(key, router, data)
        except BaseException:
            release()
            raise
        if not piped:
            release()  # it lives there: nothing to hold
            return lambda: None
        return release

    async def _ensure(self, key: PipeKey, router: Router, data: bool) -> bool:
        """Whether the object is (now) piped into ``router``; False if it lives there."""
        object_id = key[0]
        pending = self._pipes.get(key)
        if pending is None:
            if object_id in (router.data_producers if data else router.producers):
                return False
            source = self._source_of(object_id, data)
            if source is None:
                raise NotFoundError(f"{'data producer' if data else 'producer'} {object_id} not found")
            pending = asyncio.get_running_loop().create_future()
            self._pipes[key] = pending
            try:
                if data:
                    result = await source.pipe_to_router(data_producer_id=object_id, router=router)
                else:
                    result = await source.pipe_to_router(producer_id=object_id, router=router)
            except BaseException as error:
                if self._pipes.get(key) is pending:
                    del self._pipes[key]
                shared.fail(pending, error)
                raise
            near = result.pipe_data_consumer if data else result.pipe_consumer
            far = result.pipe_data_producer if data else result.pipe_producer
            assert near is not None and far is not None
            if self._pipes.get(key) is not pending:  # its router went away meanwhile
                near.close()
                shared.fail(pending, NotFoundError("the router closed"))
            else:
                self._pipe_consumers[key] = near
                far.observer.on("close", lambda: self._closed(key, pending))
                pending.set_result(None)
        await asyncio.shield(pending)
        return True

    def _source_of(self, object_id: str, data: bool) -> Router | None:
        """The router where the producer itself (not a pipe's copy) lives."""
        for router in self.routers:
            if router.closed:
                continue
            found = (router.data_producers if data else router.producers).get(object_id)
            if found is not None:
                transport = router.transports.get(found.transport_id)
                if transport is not None and transport.transport_type != "pipe":
                    return router
        return None

    def _release(self, key: PipeKey) -> None:
        users = self._users.get(key, 0) - 1
        if users > 0:
            self._users[key] = users
            return
        self._users.pop(key, None)
        pending = self._pipes.get(key)
        if pending is not None and pending.done():
            self._drop(key)

    def _drop(self, key: PipeKey) -> None:
        self._pipes.pop(key, None)
        self._users.pop(key, None)
        near = self._pipe_consumers.pop(key, None)
        if near is not None:
            near.close()  # closes the far producer, which closes its consumers

    def _closed(self, key: PipeKey, pending: asyncio.Future[None]) -> None:
        """The far producer closed (its source closed, or a router): forget the pipe."""
        if self._pipes.get(key) is pending:
            del self._pipes[key]
            self._users.pop(key, None)
            self._pipe_consumers.pop(key, None)

    def pipe_count(self) -> int:
        return len(self._pipe_consumers)

    # -- consuming through the pipes ------------------------------------------------------------

    async def consume(self, transport: Transport, producer_id: str, rtp_capabilities: Any) -> Consumer:
        """A paused consumer of a room's producer, wherever it lives."""
        release = await self.acquire(producer_id, transport.router)
        try:
            consumer = await transport.consume(producer_id, rtp_capabilities, paused=True)
        except BaseException:
            release()
            raise
        consumer.observer.on("close", release)
        return consumer

    async def consume_data(self, transport: Transport, data_producer_id: str) -> DataConsumer:
        release = await self.acquire(data_producer_id, transport.router, data=True)
        try:
            data_consumer = await transport.consume_data(data_producer_id)
        except BaseException:
            release()
            raise
        data_consumer.observer.on("close", release)
        return data_consumer


def worker_load(worker: Worker) -> int:
    """The pool's measure: routers and their transports."""
    return sum(1 + len(router.transports) for router in worker.routers.values())
