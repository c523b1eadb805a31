"""The REST API as a client uses it: real server, real HTTP, real WebSocket, real workers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sfuctl.server.auth import verify_token
from sfuctl.server.http import models
from tests.conftest import TEST_SECRET, RunningServer, start_server

pytestmark = pytest.mark.worker

API_KEY = "login-api-key-for-tests"
WS_TIMEOUT = 10.0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def login(
    http: aiohttp.ClientSession, server: RunningServer, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(server.url + "/login", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def receive(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    """The next frame of ``wanted`` type (responses are 'response'), skipping others."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=WS_TIMEOUT)
        if frame["type"] == wanted:
            return frame


async def request(ws: aiohttp.ClientWebSocketResponse, kind: str, data: dict[str, Any], rid: str) -> Any:
    await ws.send_json({"type": kind, "requestId": rid, "data": data})
    frame = await receive(ws, "response")
    assert frame["requestId"] == rid
    assert frame["ok"] is True, frame
    return frame["data"]


def admin_headers(server: RunningServer) -> dict[str, str]:
    return {"Authorization": "Bearer " + server.token("any", "root", admin=True)}


# -- login -------------------------------------------------------------------------------------


async def test_open_login_token_verifies_and_joins(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    status, body = await login(http, server, {"userName": "Ada", "roomId": "lobby"})
    assert status == 200, body
    reply = models.LoginResponse.model_validate(body)
    claims = verify_token(reply.token, TEST_SECRET)
    assert (claims.sub, claims.name, claims.room) == (reply.userId, "Ada", "lobby")
    assert (claims.grants.publish, claims.grants.subscribe, claims.grants.admin) == (True, True, False)
    assert reply.expiresAt == claims.exp
    assert abs(reply.expiresAt - (time.time() + server.config.login_ttl_seconds)) < 10
    assert 6 <= len(reply.userId) <= 32 and reply.userId.replace("-", "").replace("_", "").isalnum()

    async with http.ws_connect(server.ws_url + "?token=" + reply.token) as ws:
        joined = await request(ws, "join-room", {}, "1")
        assert joined["roomId"] == "lobby" and joined["userId"] == reply.userId


async def test_login_gives_distinct_user_ids(server: RunningServer, http: aiohttp.ClientSession) -> None:
    ids = {(await login(http, server, {"userName": "Bo", "roomId": "r"}))[1]["userId"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    "body",
    [
        {"userName": "Ada"},
        {"roomId": "lobby"},
        {"userName": "Ada", "roomId": "no spaces"},
        {"userName": "Ada", "roomId": "x" * 65},
        {"userName": "", "roomId": "lobby"},
        {"userName": "   ", "roomId": "lobby"},
        {"userName": "a\nb", "roomId": "lobby"},
        {"userName": "n" * 65, "roomId": "lobby"},
        {"userName": 7, "roomId": "lobby"},
        {"userName": "Ada", "roomId": "lobby", "admin": True},
        ["Ada", "lobby"],
    ],
)
async def test_login_rejects_invalid_bodies(
    server: RunningServer, http: aiohttp.ClientSession, body: Any
) -> None:
    status, reply = await login(http, server, body)
    assert status == 400
    assert reply["error"]["code"] == "bad_request" and reply["error"]["message"]


async def test_login_rejects_malformed_json(server: RunningServer, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post(server.url + "/login", data=b"{not json", headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "bad_request"


async def test_login_apikey_mode(http: aiohttp.ClientSession) -> None:
    running = await start_server(login_mode="apikey", api_key=API_KEY)
    try:
        body = {"userName": "Ada", "roomId": "lobby"}
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            status, reply = await login(http, running, body, headers)
            assert status == 401 and reply["error"]["code"] == "unauthorized", (headers, reply)
        status, reply = await login(http, running, body, {"Authorization": "Bearer " + API_KEY})
        assert status == 200
        assert verify_token(reply["token"], TEST_SECRET).room == "lobby"
    finally:
        await running.stop()


async def test_login_off_mode(http: aiohttp.ClientSession) -> None:
    running = await start_server(login_mode="off")
    try:
        status, reply = await login(http, running, {"userName": "Ada", "roomId": "lobby"})
        assert status == 404 and reply["error"]["code"] == "not_found"
    finally:
        await running.stop()


async def test_rest_errors_are_json(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "/login") as resp:
        assert resp.status == 405 and "POST" in resp.headers["Allow"]
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
    async with http.get(server.url + "/rooms/a/b", headers=admin_headers(server)) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


# -- admin API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/rooms"), ("GET", "/rooms/lobby"), ("DELETE", "/rooms/lobby")]
)
async def test_admin_api_needs_an_admin_token(
    server: RunningServer, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer not.a.jwt"}, 401, "unauthorized"),
        ({"Authorization": "Basic " + server.token("lobby", "u", admin=True)}, 401, "unauthorized"),
        ({"Authorization": "Bearer " + server.token("lobby", "u")}, 403, "forbidden"),
    ]
    for headers, status, code in cases:
        async with http.request(method, server.url + path, headers=headers) as resp:
            assert resp.status == status, (headers, await resp.text())
            assert (await resp.json())["error"]["code"] == code


async def test_admin_sees_and_closes_a_live_room(server: RunningServer, http: aiohttp.ClientSession) -> None:
    admin = admin_headers(server)
    async with http.get(server.url + "/rooms", headers=admin) as resp:
        assert resp.status == 200 and (await resp.json()) == {"rooms": []}

    token = server.token("stage", "u1", "Grace")
    async with http.ws_connect(server.ws_url + "?token=" + token) as ws:
        await request(ws, "join-room", {}, "1")
        transport = await request(ws, "create-transport", {"direction": "send"}, "2")

        async with http.get(server.url + "/rooms", headers=admin) as resp:
            assert resp.status == 200
            rooms = models.RoomList.model_validate(await resp.json()).rooms
        assert [r.roomId for r in rooms] == ["stage"]
        assert (rooms[0].peers, rooms[0].producers, rooms[0].consumers) == (1, 0, 0)
        assert rooms[0].workerPid in [w.pid for w in server.sfu.pool.workers]
        assert abs(rooms[0].createdAt - time.time()) < 60

        async with http.get(server.url + "/rooms/stage", headers=admin) as resp:
            assert resp.status == 200
            detail = models.RoomDetail.model_validate(await resp.json())
        assert detail.roomId == "stage" and detail.workerPid == rooms[0].workerPid
        (peer,) = detail.peers
        assert (peer.userId, peer.userName, peer.producers, peer.consumers) == ("u1", "Grace", [], [])
        (t,) = peer.transports
        assert (t.id, t.iceState, t.dtlsState) == (transport["id"], "new", "new")
        assert detail.bitrateIn == detail.bitrateOut == 0

        async with http.delete(server.url + "/rooms/stage", headers=admin) as resp:
            assert resp.status == 204
        closed = await receive(ws, "room-closed")
        assert closed["data"] == {"reason": "admin"}

    async with http.get(server.url + "/rooms/stage", headers=admin) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.get(server.url + "/rooms", headers=admin) as resp:
        assert (await resp.json()) == {"rooms": []}


async def test_unknown_and_invalid_rooms(server: RunningServer, http: aiohttp.ClientSession) -> None:
    admin = admin_headers(server)
    for method in ("GET", "DELETE"):
        async with http.request(method, server.url + "/rooms/nowhere", headers=admin) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        async with http.request(method, server.url + "/rooms/bad%20name", headers=admin) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"


async def test_login_body_too_large_is_a_json_413(server: RunningServer, http: aiohttp.ClientSession) -> None:
    too_big = b"x" * (server.config.limits.max_message_bytes + 1)
    async with http.post(server.url + "/login", data=too_big) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "payload_too_large"
