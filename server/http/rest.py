"""REST API: ``POST /login`` for self-service tokens, and the admin room API.

Bodies and path parameters are validated by the models of ``server.http.models`` (the same ones
the OpenAPI document is generated from), so what the docs promise is what the server checks.
Every error of these routes, the router's 404/405 included, is a JSON ``ErrorResponse``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from redis.exceptions import RedisError

from sfuctl.server.auth import AuthError, Grants, mint_token, verify_token
from sfuctl.server.http.app import error_response, json_response
from sfuctl.server.http.models import (
    ClusterRoomSummary,
    ConsumerDetail,
    ErrorCode,
    LoginRequest,
    LoginResponse,
    ObjectId,
    PeerDetail,
    ProducerDetail,
    ProducerModeration,
    RoomDetail,
    RoomId,
    RoomList,
    RoomNode,
    RoomSummary,
    RouterDetail,
    TransportDetail,
)
from sfuctl.server.media.errors import MediaError
from sfuctl.server.rate import KeyedBuckets
from sfuctl.server.signaling.moderation import ModerationNotFound
from sfuctl.server.signaling.room import Unavailable
from sfuctl.server.signaling.spread import consumer_count

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.webrtc_transport import WebRtcTransport
    from sfuctl.server.sfu import Sfu
    from sfuctl.server.signaling.peer import Peer
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

STATS_TIMEOUT = 2.0
"""A stuck worker must not hang the admin API: its transports then count as 0 b/s."""

ROOM_ID = TypeAdapter(RoomId)
OBJECT_ID = TypeAdapter(ObjectId)

STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    409: ErrorCode.CONFLICT,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.TOO_MANY_REQUESTS,
    503: ErrorCode.UNAVAILABLE,
}


class ApiError(Exception):
    """Raised by handlers and helpers; turned into an ``ErrorResponse`` by the middleware."""

    def __init__(self, status: int, code: ErrorCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


# -- plumbing ----------------------------------------------------------------------------------


def is_rest_path(path: str) -> bool:
    return path in ("/login", "/rooms", "/recordings", "/nodes") or path.startswith(
        ("/rooms/", "/recordings/")
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """REST clients get JSON errors, also for aiohttp's own 404/405/413 and for crashes."""
    if not is_rest_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        return api_error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = STATUS_CODES.get(error.status, ErrorCode.INTERNAL)
        response = error_response(error.status, code, error.reason)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("REST request failed: %s %s", request.method, request.path)
        return error_response(500, ErrorCode.INTERNAL, "internal error")


def api_error_response(error: ApiError) -> web.Response:
    response = error_response(error.status, error.code, error.message)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


def validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body in one step (pydantic reports malformed JSON too)."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(400, ErrorCode.BAD_REQUEST, validation_message(error)) from None


def room_id_param(request: web.Request) -> str:
    try:
        return ROOM_ID.validate_python(request.match_info["roomId"])
    except ValidationError as error:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"roomId: {error.errors()[0]['msg']}") from None


def id_param(request: web.Request, name: str) -> str:
    try:
        return OBJECT_ID.validate_python(request.match_info[name])
    except ValidationError as error:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{name}: {error.errors()[0]['msg']}") from None


def bearer_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# -- the routes --------------------------------------------------------------------------------


class RestApi:
    """/login and the admin room API of one server."""

    def __init__(self, sfu: Sfu) -> None:
        self.sfu = sfu
        limits = sfu.config.limits
        self.logins = KeyedBuckets(limits.logins_per_minute / 60, limits.login_burst)
        """Per client address as the socket sees it (behind a proxy: the proxy's, see README)."""

    def check_login_allowed(self, request: web.Request) -> None:
        config = self.sfu.config
        if config.login_mode == "off":
            raise ApiError(404, ErrorCode.NOT_FOUND, "login is disabled on this server")
        if config.login_mode == "apikey":
            given = bearer_token(request)
            expected = config.api_key
            if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(401, ErrorCode.UNAUTHORIZED, "login needs 'Authorization: Bearer <api key>'")

    async def login(self, request: web.Request) -> web.Response:
        """Self-service token: a fresh user id in the named room, may publish and subscribe."""
        self.check_login_allowed(request)
        bucket = self.logins.bucket(request.remote or "")
        if not bucket.take():
            raise ApiError(429, ErrorCode.TOO_MANY_REQUESTS, "too many logins from this address; slow down",
                           retry_after=bucket.retry_after())  # fmt: skip
        body = await read_body(request, LoginRequest)
        config = self.sfu.config
        user_id = secrets.token_urlsafe(8)
        grants = Grants(publish=True, subscribe=True, admin=False)
        token, claims = mint_token(
            config.secret, body.roomId, user_id, body.userName, ttl=config.login_ttl_seconds, grants=grants
        )
        url = await self.sfu.cluster.place(body.roomId) if self.sfu.cluster is not None else None
        response = LoginResponse(token=token, userId=user_id, expiresAt=claims["exp"], url=url)
        return json_response(response.model_dump(exclude_none=True))

    def require_admin(self, handler: Handler) -> Handler:
        """401 without a valid token, 403 with a valid token that lacks the admin grant."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                claims = verify_token(bearer_token(request), self.sfu.config.secret)
            except AuthError as error:
                raise ApiError(401, ErrorCode.UNAUTHORIZED, str(error)) from None
            if not claims.grants.admin:
                raise ApiError(403, ErrorCode.FORBIDDEN, "this token has no admin grant")
            return await handler(request)

        return guarded

    def live_room(self, room_id: str) -> Room:
        room = self.sfu.registry.get(room_id)
        if room is None or room.closed:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no room {room_id!r}")
        return room

    async def list_rooms(self, _request: web.Request) -> web.Response:
        rooms = sorted(self.sfu.registry.all(), key=lambda room: room.created_at)
        summaries = [room_summary(room) for room in rooms if not room.closed]
        if self.sfu.cluster is None:
            return json_response(RoomList(rooms=summaries).model_dump(exclude_none=True))
        try:
            spread = await self.sfu.cluster.rooms()
        except (Unavailable, RedisError, OSError) as error:  # this node's rooms still show
            log.warning("cluster rooms not listed: %s", error)
            return json_response(RoomList(rooms=summaries).model_dump(exclude_none=True))
        for summary in summaries:
            found = spread.pop(summary.roomId, None)
            if found is not None:
                summary.nodes = [RoomNode(**node) for node in found["nodes"]]
        elsewhere = [
            ClusterRoomSummary(roomId=room_id, peers=found["peers"],
                               nodes=[RoomNode(**node) for node in found["nodes"]])
            for room_id, found in sorted(spread.items())
        ]  # fmt: skip
        return json_response(RoomList(rooms=summaries, elsewhere=elsewhere).model_dump(exclude_none=True))

    async def get_room(self, request: web.Request) -> web.Response:
        room = self.live_room(room_id_param(request))
        peers = await asyncio.gather(*(peer_detail(peer, room) for peer in list(room.peers.values())))
        detail = RoomDetail(
            roomId=room.id,
            workerPid=room.worker_pid,
            createdAt=room.created_at,
            peers=list(peers),
            routers=router_details(room),
            bitrateIn=sum(peer.bitrateIn for peer in peers),
            bitrateOut=sum(peer.bitrateOut for peer in peers),
            activeSpeaker=room.active_speaker,
        )
        return json_response(detail.model_dump())

    async def delete_room(self, request: web.Request) -> web.Response:
        """Close the room for everyone, on every node: each peer gets ``room-closed {reason: "admin"}``."""
        await moderated(self.sfu.admin.close_room(room_id_param(request)))
        return web.Response(status=204)

    # -- moderation (the target may be on another node of the cluster) ----------------------------

    async def kick_peer(self, request: web.Request) -> web.Response:
        """The peer gets ``room-closed {reason: "kicked"}`` and is disconnected; the others ``peer-left``."""
        await moderated(self.sfu.admin.kick(room_id_param(request), id_param(request, "userId")))
        return web.Response(status=204)

    async def mute_producer(self, request: web.Request) -> web.Response:
        room_id, producer_id = room_id_param(request), id_param(request, "producerId")
        state = await moderated(self.sfu.admin.mute(room_id, producer_id))
        return json_response(ProducerModeration.model_validate(state).model_dump())

    async def unmute_producer(self, request: web.Request) -> web.Response:
        room_id, producer_id = room_id_param(request), id_param(request, "producerId")
        state = await moderated(self.sfu.admin.unmute(room_id, producer_id))
        return json_response(ProducerModeration.model_validate(state).model_dump())

    async def close_producer(self, request: web.Request) -> web.Response:
        room_id, producer_id = room_id_param(request), id_param(request, "producerId")
        await moderated(self.sfu.admin.close_producer(room_id, producer_id))
        return web.Response(status=204)


async def moderated(action: Awaitable[T]) -> T:
    """An admin action's outcome: 404 when no node has its target, 503 when the cluster cannot tell."""
    try:
        return await action
    except ModerationNotFound as error:
        raise ApiError(404, ErrorCode.NOT_FOUND, str(error)) from None
    except Unavailable as error:
        raise ApiError(503, ErrorCode.UNAVAILABLE, str(error)) from None


# -- the admin API's views ---------------------------------------------------------------------


def room_summary(room: Room) -> RoomSummary:
    peers = list(room.peers.values())
    return RoomSummary(
        roomId=room.id,
        peers=len(peers),
        producers=sum(len(peer.producers) for peer in peers),
        consumers=sum(len(peer.consumers) for peer in peers),
        workerPid=room.worker_pid,
        createdAt=room.created_at,
        routers=len(room.media.routers),
    )


def router_details(room: Room) -> list[RouterDetail]:
    main = room.router
    return [
        RouterDetail(
            routerId=router.id,
            workerPid=router.worker.pid,
            main=router is main,
            peers=sum(1 for r in room.media.assigned.values() if r is router),
            consumers=consumer_count(router),
            pipeTransports=sum(1 for t in router.transports.values() if t.transport_type == "pipe"),
        )
        for router in room.media.routers
        if not router.closed
    ]


async def transport_bitrates(transport: WebRtcTransport) -> tuple[int, int]:
    """(in, out) bits per second; 0 for a transport closed meanwhile or a worker too slow to say."""
    try:
        stats = await asyncio.wait_for(transport.get_stats(), STATS_TIMEOUT)
    except (MediaError, TimeoutError):
        return 0, 0
    return (
        sum(int(entry.get("recvBitrate", 0)) for entry in stats),
        sum(int(entry.get("sendBitrate", 0)) for entry in stats),
    )


def producer_detail(producer: Producer, muted: bool = False) -> ProducerDetail:
    return ProducerDetail.model_validate(
        {
            "id": producer.id,
            "kind": producer.kind,
            "paused": producer.paused,
            "muted": muted,
            "score": producer.score,
        }
    )


def consumer_detail(consumer: Consumer) -> ConsumerDetail:
    return ConsumerDetail.model_validate(
        {
            "id": consumer.id,
            "producerId": consumer.producer_id,
            "kind": consumer.kind,
            "paused": consumer.paused,
            "producerPaused": consumer.producer_paused,
            "score": consumer.score,
        }
    )


async def transport_detail(transport: WebRtcTransport) -> TransportDetail:
    bitrate_in, bitrate_out = await transport_bitrates(transport)
    return TransportDetail(
        id=transport.id,
        iceState=transport.ice_state,
        dtlsState=transport.dtls_state,
        bitrateIn=bitrate_in,
        bitrateOut=bitrate_out,
    )


async def peer_detail(peer: Peer, room: Room) -> PeerDetail:
    transports = await asyncio.gather(*(transport_detail(t) for t in list(peer.transports.values())))
    router = room.router_of(peer)
    return PeerDetail(
        userId=peer.user_id,
        userName=peer.user_name,
        workerPid=router.worker.pid if router is not None and not router.closed else None,
        producers=[producer_detail(pr, pr.id in peer.muted) for pr in list(peer.producers.values())],
        consumers=[consumer_detail(consumer) for consumer in list(peer.consumers.values())],
        transports=list(transports),
        bitrateIn=sum(t.bitrateIn for t in transports),
        bitrateOut=sum(t.bitrateOut for t in transports),
    )


def setup_routes(app: web.Application, sfu: Sfu) -> None:
    """Register /login and the admin room API."""
    api = RestApi(sfu)
    app.middlewares.append(json_errors)
    app.router.add_post("/login", api.login)
    app.router.add_get("/rooms", api.require_admin(api.list_rooms), allow_head=False)
    app.router.add_get("/rooms/{roomId}", api.require_admin(api.get_room), allow_head=False)
    app.router.add_delete("/rooms/{roomId}", api.require_admin(api.delete_room))
    app.router.add_delete("/rooms/{roomId}/peers/{userId}", api.require_admin(api.kick_peer))
    producer = "/rooms/{roomId}/producers/{producerId}"
    app.router.add_delete(producer, api.require_admin(api.close_producer))
    app.router.add_post(producer + "/mute", api.require_admin(api.mute_producer))
    app.router.add_post(producer + "/unmute", api.require_admin(api.unmute_producer))
    from sfuctl.server.http import nodes, recordings  # they build on this module's helpers

    recordings.setup_routes(app, api)
    nodes.setup_routes(app, api)
