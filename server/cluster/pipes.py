"""Media between nodes: one room's PipeTransports to and from the other nodes.

``Router.pipe_to_router`` does both halves of a pipe in one process; across nodes each node does
its half and the two talk through signed messages (``pipe-open``, ``pipe-produce``, ``pipe-close``,
``pipe-pause``/``pipe-resume``):

* the consuming node (B) creates its PipeTransport in the consumer's router (SRTP and RTX on, on
  its node address) and sends its address and SRTP key; the producing node (A) creates its end in
  the producer's router, connects it to B's and answers with its own; B connects. One such pair
  per (router on B, router on A), made at the first need and shared by every producer after.
* per producer, A makes a pipe consumer of it on its end and answers its RTP parameters; B
  produces with them on its end *with the producer's own id*, so B's peers consume the same id.
* B closes its pipe producer when its last consumer goes and tells A, which closes the pipe
  consumer; A tells B when the producer pauses or resumes; a closed producer closes on both sides
  through the room's ``producer-closed`` event; a dead node's pairs are closed by the other side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfuctl.server.media import shared
from sfuctl.server.media.errors import NotFoundError

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.pipe_transport import PipeTransport
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.router import Router
    from sfuctl.server.media.transport import Transport
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.cluster")

Request = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(member, kind, data) → the member's answer; raises Unavailable."""
Send = Callable[[str, str, dict[str, Any]], None]
"""(member, kind, data): a message that needs no answer."""


@dataclass
class RemoteProducer:
    member: str
    """``node:epoch`` that hosts it."""
    router_id: str
    """Its router there."""
    info: dict[str, Any]
    """What peers are told of it (the ``new-producer`` data)."""


InKey = tuple[str, str]
"""(producer id, router id on this node)."""
PairKey = tuple[str, str, str]
"""(router id on this node, member, router id on that node)."""
OutKey = tuple[str, str, str]
"""(member, router id on that node, router id here)."""


class RemotePipes:
    def __init__(self, room: Room, address: str, request: Request, send: Send) -> None:
        self.room = room
        self.address = address
        self.request = request
        self.send = send
        # consuming side
        self._pairs: dict[PairKey, asyncio.Future[PipeTransport]] = {}
        self._in: dict[InKey, asyncio.Future[Producer]] = {}
        self._in_from: dict[InKey, str] = {}
        self._users: dict[InKey, int] = {}
        # producing side
        self._out_transports: dict[OutKey, PipeTransport] = {}
        self._out: dict[tuple[str, str, str], Consumer] = {}
        """(producer id, member, router id there) → the pipe consumer feeding it."""

    def listen_info(self) -> dict[str, Any]:
        return {"protocol": "udp", "ip": self.address}

    async def _create_end(self, router: Router, member: str) -> PipeTransport:
        return await router.create_pipe_transport(
            listen_info=self.listen_info(), enable_rtx=True, enable_srtp=True, app_data={"node": member}
        )

    # -- consuming side ------------------------------------------------------------------------

    async def consume(self, transport: Transport, remote: RemoteProducer, rtp_capabilities: Any) -> Consumer:
        producer_id = str(remote.info["producerId"])
        release = await self.acquire(producer_id, transport.router, remote)
        try:
            consumer = await transport.consume(producer_id, rtp_capabilities, paused=True)
        except BaseException:
            release()
            raise
        consumer.observer.on("close", release)
        return consumer

    async def acquire(self, producer_id: str, router: Router, remote: RemoteProducer) -> Callable[[], None]:
        key = (producer_id, router.id)
        self._users[key] = self._users.get(key, 0) + 1
        release = shared.once(lambda: self._release(key))

        try:
            await self._ensure(key, router, remote)
        except BaseException:
            release()
            raise
        return release

    async def _ensure(self, key: InKey, router: Router, remote: RemoteProducer) -> None:
        pending = self._in.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._in[key] = pending
            self._in_from[key] = remote.member
            try:
                producer = await self._pipe_in(key[0], router, remote)
            except BaseException as error:
                if self._in.get(key) is pending:
                    del self._in[key]
                    self._in_from.pop(key, None)
                shared.fail(pending, error)
                raise
            if self._in.get(key) is not pending:  # closed meanwhile (producer or node gone)
                producer.close()
                shared.fail(pending, NotFoundError(f"producer {key[0]} closed"))
            else:
                producer.observer.on("close", lambda: self._in_closed(key, pending))
                pending.set_result(producer)
        await asyncio.shield(pending)

    async def _pipe_in(self, producer_id: str, router: Router, remote: RemoteProducer) -> Producer:
        end = await self._pair(router, remote.member, remote.router_id)
        answer = await self.request(
            remote.member,
            "pipe-produce",
            {"room": self.room.id, "producerId": producer_id, "peerRouter": router.id,
             "router": remote.router_id},
        )  # fmt: skip
        try:
            producer = await end.produce(
                str(answer["kind"]),
                answer["rtpParameters"],
                producer_id=producer_id,
                paused=bool(answer["paused"]),
                app_data=dict(answer.get("appData") or {}),
            )
        except BaseException:
            self.send(remote.member, "pipe-close", {"room": self.room.id, "producerId": producer_id,
                                                     "peerRouter": router.id})  # fmt: skip
            raise
        log.info("piped in from node", extra={"room": self.room.id, "producer": producer_id,
                                              "node": remote.member})  # fmt: skip
        return producer

    async def _pair(self, router: Router, member: str, remote_router: str) -> PipeTransport:
        key = (router.id, member, remote_router)
        pending = self._pairs.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pairs[key] = pending
            end: PipeTransport | None = None
            try:
                end = await self._create_end(router, member)
                answer = await self.request(
                    member,
                    "pipe-open",
                    {
                        "room": self.room.id,
                        "router": remote_router,
                        "peerRouter": router.id,
                        "ip": self.address,
                        "port": end.tuple["localPort"],
                        "srtpParameters": end.srtp_parameters,
                    },
                )
                await end.connect(str(answer["ip"]), int(answer["port"]), answer["srtpParameters"])
            except BaseException as error:
                if end is not None:
                    end.close()
                if self._pairs.get(key) is pending:
                    del self._pairs[key]
                shared.fail(pending, error)
                raise
            connected = end
            connected.observer.on("close", lambda: self._pair_closed(key, pending))
            pending.set_result(connected)
        return await asyncio.shield(pending)

    def _pair_closed(self, key: PairKey, pending: asyncio.Future[PipeTransport]) -> None:
        if self._pairs.get(key) is pending:
            del self._pairs[key]

    def _release(self, key: InKey) -> None:
        users = self._users.get(key, 0) - 1
        if users > 0:
            self._users[key] = users
            return
        self._users.pop(key, None)
        pending = self._in.get(key)
        if pending is not None and pending.done():
            self._drop_in(key, tell=True)

    def _drop_in(self, key: InKey, tell: bool) -> None:
        pending = self._in.pop(key, None)
        member = self._in_from.pop(key, None)
        self._users.pop(key, None)
        if pending is None:
            return
        if shared.succeeded(pending):
            pending.result().close()  # its consumers here get producerclose
        if tell and member is not None:
            message = {"room": self.room.id, "producerId": key[0], "peerRouter": key[1]}
            self.send(member, "pipe-close", message)

    def _in_closed(self, key: InKey, pending: asyncio.Future[Producer]) -> None:
        if self._in.get(key) is pending:
            del self._in[key]
            self._in_from.pop(key, None)
            self._users.pop(key, None)

    def producer_closed(self, producer_id: str) -> None:
        """The remote producer closed: its copies here close (their consumers are told)."""
        for key in [k for k in self._in if k[0] == producer_id]:
            self._drop_in(key, tell=False)

    def paused(self, producer_id: str, router_id: str, paused: bool) -> None:
        pending = self._in.get((producer_id, router_id))
        if pending is None or not shared.succeeded(pending):
            return
        producer = pending.result()

        async def follow() -> None:
            try:
                await (producer.pause() if paused else producer.resume())
            except Exception as error:  # closed meanwhile
                log.debug("pipe pause/resume not applied: %s", error)

        asyncio.get_running_loop().create_task(follow())

    # -- producing side ------------------------------------------------------------------------

    async def open_out(self, member: str, data: dict[str, Any]) -> dict[str, Any]:
        """The other node's ``pipe-open``: our end in the producer's router, connected to theirs."""
        router = self._router(str(data["router"]))
        key = (member, str(data["peerRouter"]), router.id)
        previous = self._out_transports.pop(key, None)
        if previous is not None:  # they lost theirs: a new pair replaces it
            previous.close()
        end = await self._create_end(router, member)
        try:
            await end.connect(str(data["ip"]), int(data["port"]), data.get("srtpParameters"))
        except BaseException:
            end.close()
            raise
        self._out_transports[key] = end
        end.observer.on("close", lambda: self._out_transport_closed(key, end))
        return {"ip": self.address, "port": end.tuple["localPort"], "srtpParameters": end.srtp_parameters}

    async def produce_out(self, member: str, data: dict[str, Any]) -> dict[str, Any]:
        """The other node's ``pipe-produce``: a pipe consumer of our producer on the pair's end."""
        producer_id, peer_router = str(data["producerId"]), str(data["peerRouter"])
        end = self._out_transports.get((member, peer_router, str(data["router"])))
        if end is None or end.closed:
            raise NotFoundError("no pipe to that router")
        owner = self.room.owner_of_producer(producer_id)
        if owner is None:
            raise NotFoundError(f"producer {producer_id} not found")
        producer = owner.producers[producer_id]
        key = (producer_id, member, peer_router)
        old = self._out.pop(key, None)
        if old is not None:
            old.close()
        consumer = await end.consume(producer_id)
        self._out[key] = consumer
        message = {"room": self.room.id, "producerId": producer_id, "peerRouter": peer_router}
        consumer.on("producerpause", lambda: self.send(member, "pipe-pause", message))
        consumer.on("producerresume", lambda: self.send(member, "pipe-resume", message))
        consumer.observer.on("close", lambda: self._out_closed(key, consumer))
        return {
            "kind": consumer.kind,
            "rtpParameters": consumer.rtp_parameters,
            "paused": consumer.producer_paused,
            "appData": producer.app_data,
        }

    def _out_closed(self, key: tuple[str, str, str], consumer: Consumer) -> None:
        if self._out.get(key) is consumer:
            del self._out[key]

    def close_out(self, member: str, data: dict[str, Any]) -> None:
        consumer = self._out.pop((str(data["producerId"]), member, str(data["peerRouter"])), None)
        if consumer is not None:
            consumer.close()

    def _out_transport_closed(self, key: OutKey, end: PipeTransport) -> None:
        if self._out_transports.get(key) is end:
            del self._out_transports[key]

    def _router(self, router_id: str) -> Router:
        for router in self.room.media.routers:
            if router.id == router_id and not router.closed:
                return router
        raise NotFoundError(f"router {router_id} is not in room {self.room.id} here")

    # -- nodes going away ----------------------------------------------------------------------

    def member_gone(self, member: str) -> None:
        """The node left the room or died: every pipe to or from it closes."""
        for key in [k for k, m in self._in_from.items() if m == member]:
            self._drop_in(key, tell=False)
        for pair_key in [k for k in self._pairs if k[1] == member]:
            pending = self._pairs.pop(pair_key)
            if shared.succeeded(pending):
                pending.result().close()
        for out_key in [k for k in self._out_transports if k[0] == member]:
            self._out_transports.pop(out_key).close()
        for key3 in [k for k in self._out if k[1] == member]:
            self._out.pop(key3).close()

    def close(self) -> None:
        for member in (
            {m for m in self._in_from.values()}
            | {k[1] for k in self._pairs}
            | {k[0] for k in self._out_transports}
        ):
            self.member_gone(member)

    def counts(self) -> dict[str, int]:
        return {
            "pipeTransports": len(self._pairs) + len(self._out_transports),
            "pipedIn": len(self._in),
            "pipedOut": len(self._out),
        }
