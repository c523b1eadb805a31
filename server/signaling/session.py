"""One connection's requests: validated by the protocol models, checked against the peer's own
objects and grants, then carried out on the media controller.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from sfuctl.server.limits import Limits
from sfuctl.server.media.errors import (
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    RequestTimeoutError,
    UnsupportedError,
    WorkerDiedError,
    WorkerError,
)
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.rate import TokenBucket
from sfuctl.server.signaling import protocol as p
from sfuctl.server.signaling.peer import Peer
from sfuctl.server.signaling.registry import RoomLimitError, RoomRegistry
from sfuctl.server.signaling.room import Room, Unavailable
from sfuctl.server.turn.credentials import NO_ICE_SERVERS, IceServers
from sfuctl.server.webhooks.events import EventSink, NoEvents, participant_object, room_object, track_object

log = logging.getLogger("sfuctl.signaling")


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Refused in chat text (newline and tab are kept): nothing invisible reaches the other screens."""

PORTS_EXHAUSTED = "no more available ports"
"""How the worker says that its RTC port range is used up (RTC::PortManager)."""


class SignalingError(Exception):
    def __init__(self, code: p.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(code: p.ErrorCode, message: str) -> SignalingError:
    return SignalingError(code, message)


def validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(x) for x in item["loc"]) or "data"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


Handler = Callable[[Any], Awaitable[dict[str, Any]]]


class Closable(Protocol):
    def close(self) -> None: ...


class Session:
    """The server side of one WebSocket: a peer and its request handlers."""

    def __init__(
        self,
        peer: Peer,
        room_id: str,
        registry: RoomRegistry,
        limits: Limits,
        transport_options: dict[str, Any],
        ice_servers: IceServers = NO_ICE_SERVERS,
        events: EventSink | None = None,
    ) -> None:
        self.peer = peer
        self.events: EventSink = events or NoEvents()
        self.room_id = room_id
        self.registry = registry
        self.limits = limits
        self.transport_options = transport_options
        self.ice_servers = ice_servers
        self.chat_bucket = TokenBucket(limits.chat_per_second, limits.chat_burst)
        self._handlers: dict[str, Handler] = {
            "join-room": self.join_room,
            "create-transport": self.create_transport,
            "connect-transport": self.connect_transport,
            "produce": self.produce,
            "consume": self.consume,
            "resume-consumer": self.resume_consumer,
            "pause-consumer": self.pause_consumer,
            "close-producer": self.close_producer,
            "pause-producer": self.pause_producer,
            "resume-producer": self.resume_producer,
            "set-preferred-layers": self.set_preferred_layers,
            "restart-ice": self.restart_ice,
            "produce-data": self.produce_data,
            "consume-data": self.consume_data,
            "leave-room": self.leave_room,
            "chat": self.chat,
        }

    # -- dispatch --------------------------------------------------------------------------------

    async def handle(self, request_type: str, data: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(request_type)
        model = p.REQUESTS.get(request_type)
        if handler is None or model is None:
            raise fail(p.ErrorCode.UNKNOWN_TYPE, f"unknown request type {request_type!r}")
        try:
            payload = model.model_validate(data)
        except ValidationError as error:
            raise fail(p.ErrorCode.BAD_REQUEST, validation_message(error)) from None
        if request_type not in ("join-room", "leave-room") and not self.peer.joined:
            raise fail(p.ErrorCode.NOT_JOINED, "join the room first")
        try:
            return await handler(payload)
        except SignalingError:
            raise
        except InvalidInputError as error:  # the controller's (or worker's) check of client input
            raise fail(p.ErrorCode.BAD_REQUEST, str(error)) from None
        except RequestTimeoutError:
            log.warning("worker timeout", extra=self._fields(request_type))
            raise fail(p.ErrorCode.TIMEOUT, "the media server did not answer in time") from None
        except WorkerDiedError:
            raise fail(p.ErrorCode.WORKER_DIED, "the media server of this room stopped") from None
        except NotFoundError as error:
            raise fail(p.ErrorCode.NOT_FOUND, str(error)) from None
        except Unavailable as error:  # another node of the cluster, or Redis, did not answer
            raise fail(p.ErrorCode.UNAVAILABLE, str(error)) from None
        except UnsupportedError as error:
            code = p.ErrorCode.CANNOT_CONSUME if request_type == "consume" else p.ErrorCode.BAD_REQUEST
            raise fail(code, str(error)) from None
        except InvalidStateError as error:
            raise fail(p.ErrorCode.NOT_FOUND, str(error)) from None
        except WorkerError as error:
            # The worker refused the request with its own reason (a reused SSRC or MID, connect
            # called twice): the request does not fit, the server is fine.
            log.info("worker refused: %s", error, extra=self._fields(request_type))
            raise fail(p.ErrorCode.BAD_REQUEST, str(error)) from None
        except Exception:
            log.exception("request failed", extra=self._fields(request_type))
            raise fail(p.ErrorCode.INTERNAL, "internal error") from None

    def _fields(self, request_type: str) -> dict[str, Any]:
        """Structured log fields of a line about one request."""
        return {"room": self.room_id, "user": self.peer.user_id, "type": request_type}

    # -- lookups that enforce ownership -----------------------------------------------------------

    @property
    def room(self) -> Room:
        room = self.peer.room
        if room is None:
            raise fail(p.ErrorCode.NOT_JOINED, "join the room first")
        return room

    def _own(self, attribute: str, object_id: str, what: str) -> Any:
        found = getattr(self.peer, attribute).get(object_id)
        if found is not None and not found.closed:
            return found
        if self.room.owns_elsewhere(attribute, object_id, self.peer):
            raise fail(p.ErrorCode.FORBIDDEN, f"{what} {object_id} belongs to another peer")
        raise fail(p.ErrorCode.NOT_FOUND, f"{what} {object_id} not found")

    def _transport(self, transport_id: str) -> WebRtcTransport:
        transport: WebRtcTransport = self._own("transports", transport_id, "transport")
        return transport

    def _need(self, grant: str) -> None:
        if not getattr(self.peer.grants, grant):
            raise fail(p.ErrorCode.FORBIDDEN, f"the token does not grant {grant!r}")

    def _check_limit(self, current: int, limit: int, what: str) -> None:
        if current >= limit:
            raise fail(p.ErrorCode.LIMIT_EXCEEDED, f"at most {limit} {what} per peer")

    def _check_app_data(self, app_data: dict[str, Any]) -> None:
        """appData is echoed to every peer of the room: its size is bounded before anything is made."""
        size = len(orjson.dumps(app_data))
        if size > self.limits.max_app_data_bytes:
            raise fail(
                p.ErrorCode.BAD_REQUEST, f"appData is {size} bytes; at most {self.limits.max_app_data_bytes}"
            )

    def _still_joined(self, created: Closable) -> None:
        """After an await: a peer that left (or was dropped) meanwhile does not keep what it made."""
        if self.peer.room is None or self.peer.closed:
            created.close()
            raise fail(p.ErrorCode.NOT_JOINED, "left the room")

    # -- handlers ------------------------------------------------------------------------------

    async def join_room(self, _: p.JoinRoom) -> dict[str, Any]:
        peer = self.peer
        if peer.joined:
            raise fail(p.ErrorCode.ALREADY_JOINED, "already in the room")
        if sum(len(room.peers) for room in self.registry.all()) >= self.limits.max_peers:
            raise fail(
                p.ErrorCode.LIMIT_EXCEEDED, f"this server has its maximum of {self.limits.max_peers} peers"
            )
        try:
            room = await self.registry.get_or_create(self.room_id)
        except RoomLimitError as error:
            raise fail(p.ErrorCode.LIMIT_EXCEEDED, str(error)) from None
        except Unavailable as error:
            raise fail(p.ErrorCode.UNAVAILABLE, str(error)) from None
        if peer.closed:  # the connection went away while the router was being created
            self.registry.release(room)
            raise fail(p.ErrorCode.NOT_JOINED, "connection closed")
        if room.peer_count() >= self.limits.max_peers_per_room:
            self.registry.release(room)
            raise fail(
                p.ErrorCode.LIMIT_EXCEEDED, f"room {room.id} is full ({self.limits.max_peers_per_room} peers)"
            )
        if room.link is not None:
            try:
                room.link.admit(peer.user_id)
            except Unavailable as error:
                self.registry.release(room)
                raise fail(p.ErrorCode.UNAVAILABLE, str(error)) from None
        others = [other for other in room.peers_info() if other["userId"] != peer.user_id]
        producers = room.producers_info()
        room.peers[peer.user_id] = peer
        peer.room = room
        room.broadcast("peer-joined", {"userId": peer.user_id, "userName": peer.user_name}, exclude=peer)
        log.info("join", extra={"room": room.id, "user": peer.user_id, "peers": len(room.peers)})
        self.events.emit("participant-joined", room=room_object(room.id, room.created_at),
                         participant=participant_object(peer.user_id, peer.user_name))  # fmt: skip
        return {
            "roomId": room.id,
            "userId": peer.user_id,
            "rtpCapabilities": room.router.rtp_capabilities,
            "peers": others,
            "producers": producers,
            "iceServers": self.ice_servers.for_user(peer.user_id),
            "recordings": list(room.recordings),
        }

    async def leave_room(self, _: p.LeaveRoom | None = None) -> dict[str, Any]:
        self.leave()
        return {}

    def leave(self) -> None:
        """Close all the peer's objects and tell the others, at once. Safe to call more than once."""
        peer = self.peer
        room = peer.room
        if room is None:
            return
        peer.close_media()  # each producer's close tells the others 'producer-closed' (see produce)
        peer.room = None
        if room.peers.get(peer.user_id) is peer:
            del room.peers[peer.user_id]
        room.broadcast("peer-left", {"userId": peer.user_id})
        log.info("leave", extra={"room": room.id, "user": peer.user_id, "peers": len(room.peers)})
        self.events.emit("participant-left", room=room_object(room.id, room.created_at),
                         participant=participant_object(peer.user_id, peer.user_name))  # fmt: skip
        self.registry.release(room)

    async def create_transport(self, req: p.CreateTransport) -> dict[str, Any]:
        self._need("publish" if req.direction == "send" else "subscribe")
        self._check_limit(len(self.peer.transports), self.limits.max_transports_per_peer, "transports")
        if sum(room.transport_count() for room in self.registry.all()) >= self.limits.max_transports:
            raise fail(
                p.ErrorCode.LIMIT_EXCEEDED,
                f"this server has its maximum of {self.limits.max_transports} transports; try again later",
            )
        router = await self.room.router_for(self.peer)  # where the room places this peer
        servers = [s for s in router.worker.webrtc_servers.values() if not s.closed]
        where: dict[str, Any] = {"webrtc_server": servers[0]} if servers else self.transport_options
        try:
            transport = await router.create_webrtc_transport(
                **where, enable_sctp=req.sctp, app_data={"direction": req.direction}
            )
        except WorkerError as error:
            if PORTS_EXHAUSTED in str(error):
                log.warning("no free media port", extra={"room": self.room_id, "user": self.peer.user_id})
                raise fail(
                    p.ErrorCode.LIMIT_EXCEEDED, "no media port is free on this server; try again later"
                ) from None
            raise
        self._still_joined(transport)
        self.peer.transports[transport.id] = transport
        transport.on("@close", lambda: self.peer.transports.pop(transport.id, None))
        result: dict[str, Any] = {
            "id": transport.id,
            "iceParameters": transport.ice_parameters,
            "iceCandidates": transport.ice_candidates,
            "dtlsParameters": transport.dtls_parameters,
        }
        if transport.sctp_parameters is not None:
            result["sctpParameters"] = transport.sctp_parameters
        return result

    async def connect_transport(self, req: p.ConnectTransport) -> dict[str, Any]:
        await self._transport(req.transportId).connect(req.dtlsParameters)
        return {}

    async def restart_ice(self, req: p.TransportRef) -> dict[str, Any]:
        return {"iceParameters": await self._transport(req.transportId).restart_ice()}

    async def produce(self, req: p.Produce) -> dict[str, Any]:
        self._need("publish")
        transport = self._transport(req.transportId)
        if transport.app_data.get("direction") != "send":
            raise fail(p.ErrorCode.BAD_REQUEST, "produce needs a send transport")
        self._check_limit(len(self.peer.producers), self.limits.max_producers_per_peer, "producers")
        self._check_app_data(req.appData)
        delay = self.limits.key_frame_request_delay_ms if req.kind == "video" else 0
        producer = await transport.produce(
            req.kind, req.rtpParameters, key_frame_request_delay=delay, app_data=req.appData
        )
        self._still_joined(producer)
        peer, room = self.peer, self.room
        peer.producers[producer.id] = producer
        track = track_object(producer.id, producer.kind, peer.user_id, producer.app_data)
        participant = participant_object(peer.user_id, peer.user_name)

        def closed() -> None:
            peer.muted.discard(producer.id)
            if peer.producers.pop(producer.id, None) is not None and peer.room is not None:
                peer.room.broadcast("producer-closed", {"producerId": producer.id}, exclude=peer)
                self.events.emit("track-unpublished", room=room_object(room.id, room.created_at),
                                 participant=participant, track=track)  # fmt: skip

        producer.on("@close", closed)
        producer.on("transportclose", closed)
        room.observe_in_background(producer)
        room.broadcast("new-producer", room.producer_info(producer, peer), exclude=peer)
        room.producer_added(producer, peer)
        self.events.emit("track-published", room=room_object(room.id, room.created_at),
                         participant=participant, track=track)  # fmt: skip
        log.info(
            "produce",
            extra={"room": room.id, "user": peer.user_id, "kind": req.kind, "producer": producer.id},
        )
        return {"id": producer.id}

    async def consume(self, req: p.Consume) -> dict[str, Any]:
        self._need("subscribe")
        transport = self._transport(req.transportId)
        if transport.app_data.get("direction") != "recv":
            raise fail(p.ErrorCode.BAD_REQUEST, "consume needs a recv transport")
        room = self.room
        if not room.has_producer(req.producerId):
            raise fail(p.ErrorCode.NOT_FOUND, f"producer {req.producerId} not found in this room")
        self._check_limit(len(self.peer.consumers), self.limits.max_consumers_per_peer, "consumers")
        # Incompatible capabilities raise UnsupportedError, answered as cannot_consume by handle().
        consumer = await room.consume(transport, req.producerId, req.rtpCapabilities)  # piped if need be
        self._still_joined(consumer)
        peer = self.peer
        peer.consumers[consumer.id] = consumer
        consumer.on("@close", lambda: peer.consumers.pop(consumer.id, None))
        consumer.on("transportclose", lambda: peer.consumers.pop(consumer.id, None))

        def producer_closed() -> None:
            peer.consumers.pop(consumer.id, None)
            peer.event("consumer-closed", {"consumerId": consumer.id, "producerId": consumer.producer_id})

        consumer.on("producerclose", producer_closed)
        consumer.on(
            "producerpause", lambda: peer.event("producer-paused", {"producerId": consumer.producer_id})
        )
        consumer.on(
            "producerresume", lambda: peer.event("producer-resumed", {"producerId": consumer.producer_id})
        )
        # Debug, not info: a peer consumes everyone else's tracks, so at info this line was most of
        # the log and ~5 % of the controller's CPU under load (joins, publishes, leaves stay info).
        log.debug("consume", extra={"room": room.id, "user": peer.user_id, "producer": req.producerId,
                                    "consumer": consumer.id})  # fmt: skip
        return {
            "id": consumer.id,
            "producerId": consumer.producer_id,
            "kind": consumer.kind,
            "rtpParameters": consumer.rtp_parameters,
            "type": consumer.type,
            "producerPaused": consumer.producer_paused,
        }

    async def resume_consumer(self, req: p.ConsumerRef) -> dict[str, Any]:
        await self._own("consumers", req.consumerId, "consumer").resume()
        return {}

    async def pause_consumer(self, req: p.ConsumerRef) -> dict[str, Any]:
        await self._own("consumers", req.consumerId, "consumer").pause()
        return {}

    async def set_preferred_layers(self, req: p.SetPreferredLayers) -> dict[str, Any]:
        consumer = self._own("consumers", req.consumerId, "consumer")
        await consumer.set_preferred_layers(req.spatialLayer, req.temporalLayer)
        return {}

    async def close_producer(self, req: p.ProducerRef) -> dict[str, Any]:
        self._own("producers", req.producerId, "producer").close()
        return {}

    async def pause_producer(self, req: p.ProducerRef) -> dict[str, Any]:
        await self._own("producers", req.producerId, "producer").pause()
        return {}

    async def resume_producer(self, req: p.ProducerRef) -> dict[str, Any]:
        producer = self._own("producers", req.producerId, "producer")
        if req.producerId in self.peer.muted:
            raise fail(p.ErrorCode.FORBIDDEN, f"producer {req.producerId} is muted by an admin")
        await producer.resume()
        return {}

    async def produce_data(self, req: p.ProduceData) -> dict[str, Any]:
        self._need("publish")
        transport = self._transport(req.transportId)
        if transport.sctp_parameters is None:
            raise fail(p.ErrorCode.BAD_REQUEST, "the transport was created without sctp")
        self._check_limit(
            len(self.peer.data_producers), self.limits.max_data_producers_per_peer, "data producers"
        )
        self._check_app_data(req.appData)
        data_producer = await transport.produce_data(
            req.sctpStreamParameters, label=req.label, protocol=req.protocol, app_data=req.appData
        )
        self._still_joined(data_producer)
        peer, room = self.peer, self.room
        peer.data_producers[data_producer.id] = data_producer
        data_producer.on("@close", lambda: peer.data_producers.pop(data_producer.id, None))
        data_producer.on("transportclose", lambda: peer.data_producers.pop(data_producer.id, None))
        room.broadcast(
            "new-data-producer",
            {"dataProducerId": data_producer.id, "userId": peer.user_id, "label": data_producer.label},
            exclude=peer,
        )
        return {"id": data_producer.id}

    async def consume_data(self, req: p.ConsumeData) -> dict[str, Any]:
        self._need("subscribe")
        transport = self._transport(req.transportId)
        if transport.sctp_parameters is None:
            raise fail(p.ErrorCode.BAD_REQUEST, "the transport was created without sctp")
        room = self.room
        if not any(req.dataProducerId in peer.data_producers for peer in room.peers.values()):
            raise fail(p.ErrorCode.NOT_FOUND, f"data producer {req.dataProducerId} not found in this room")
        self._check_limit(
            len(self.peer.data_consumers), self.limits.max_data_consumers_per_peer, "data consumers"
        )
        data_consumer = await room.consume_data(transport, req.dataProducerId)
        self._still_joined(data_consumer)
        peer = self.peer
        peer.data_consumers[data_consumer.id] = data_consumer
        for event in ("@close", "transportclose", "dataproducerclose"):
            data_consumer.on(event, lambda: peer.data_consumers.pop(data_consumer.id, None))
        return {
            "id": data_consumer.id,
            "dataProducerId": data_consumer.data_producer_id,
            "sctpStreamParameters": data_consumer.sctp_stream_parameters,
            "label": data_consumer.label,
            "protocol": data_consumer.protocol,
        }

    async def chat(self, req: p.Chat) -> dict[str, Any]:
        """Relay a text message to the room: bounded in size and rate before anyone gets it."""
        text = req.text
        if not text.strip():
            raise fail(p.ErrorCode.BAD_REQUEST, "text: the message is empty")
        if CONTROL_CHARACTERS.search(text):
            raise fail(p.ErrorCode.BAD_REQUEST, "text: control characters other than newline and tab")
        if len(text) > self.limits.max_chat_chars:
            raise fail(
                p.ErrorCode.BAD_REQUEST,
                f"text: the message has {len(text)} characters; at most {self.limits.max_chat_chars}",
            )
        if not self.chat_bucket.take():
            wait = self.chat_bucket.retry_after()
            raise fail(p.ErrorCode.LIMIT_EXCEEDED, f"too many chat messages; wait {wait:.1f} s")
        peer = self.peer
        message = {"userId": peer.user_id, "userName": peer.user_name, "text": text,
                   "ts": int(time.time() * 1000)}  # fmt: skip
        self.room.broadcast("chat", message, exclude=peer)
        return message


def response_ok(request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response", "requestId": request_id, "ok": True, "data": data}


def response_error(request_id: str, code: p.ErrorCode, message: str) -> dict[str, Any]:
    return {
        "type": "response",
        "requestId": request_id,
        "ok": False,
        "error": {"code": code.value, "message": message},
    }


def error_event(code: p.ErrorCode, message: str) -> dict[str, Any]:
    return {"type": "error", "data": {"code": code.value, "message": message}}
