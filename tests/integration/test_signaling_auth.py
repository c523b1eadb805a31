"""The handshake: the JWT is checked before the upgrade, and only HS256 with our secret passes."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import TEST_SECRET, RunningServer


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "u1", "name": "User", "room": "r1", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    header = b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{b64(orjson.dumps(payload))}."


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def alg_confusion() -> str:
    """An HS256 token signed with an RSA public key as the HMAC secret (the classic attack)."""
    header = b64(orjson.dumps({"alg": "RS256", "typ": "JWT"}))
    payload = b64(orjson.dumps(claims()))
    import hashlib
    import hmac

    signature = hmac.new(RSA_PUBLIC_PEM, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


REJECTED: dict[str, str | None] = {
    "missing": None,
    "empty": "",
    "garbage": "not-a-jwt",
    "three-garbage-parts": "a.b.c",
    "expired": jwt.encode(claims(exp=int(time.time()) - 3600), TEST_SECRET, algorithm="HS256"),
    "not-yet-valid": jwt.encode(claims(nbf=int(time.time()) + 3600), TEST_SECRET, algorithm="HS256"),
    "wrong-secret": jwt.encode(claims(), "another-secret-that-is-long-enough-000000", algorithm="HS256"),
    "alg-none": unsigned(claims()),
    "hs384": jwt.encode(claims(), TEST_SECRET, algorithm="HS384"),
    "hs512": jwt.encode(claims(), TEST_SECRET, algorithm="HS512"),
    "rs256": jwt.encode(claims(), RSA_KEY, algorithm="RS256"),
    "es256": jwt.encode(claims(), EC_KEY, algorithm="ES256"),
    "alg-confusion": alg_confusion(),
    "no-exp": jwt.encode(claims(exp=None), TEST_SECRET, algorithm="HS256"),
    "no-sub": jwt.encode(claims(sub=None), TEST_SECRET, algorithm="HS256"),
    "no-name": jwt.encode(claims(name=None), TEST_SECRET, algorithm="HS256"),
    "no-room": jwt.encode(claims(room=None), TEST_SECRET, algorithm="HS256"),
    "sub-not-string": jwt.encode(claims(sub=42), TEST_SECRET, algorithm="HS256"),
    "grants-not-object": jwt.encode(claims(grants="admin"), TEST_SECRET, algorithm="HS256"),
    "tampered-payload": (
        lambda t: t.split(".")[0] + "." + b64(orjson.dumps(claims(room="other"))) + "." + t.split(".")[2]
    )(jwt.encode(claims(), TEST_SECRET, algorithm="HS256")),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
async def test_rejected_tokens_get_401_without_upgrade(server: RunningServer, case: str) -> None:
    token = REJECTED[case]
    url = server.ws_url if token is None else f"{server.ws_url}?token={token}"
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": b64(b"0123456789abcdef")}  # fmt: skip
    async with (
        aiohttp.ClientSession() as http,
        http.get(url.replace("ws://", "http://"), headers=headers) as resp,
    ):
        assert resp.status == 401
        assert "Upgrade" not in resp.headers
        body = await resp.json()
        assert body["error"]["code"] == "unauthorized" and body["error"]["message"]


async def test_valid_token_upgrades_and_carries_identity(server: RunningServer) -> None:
    token = jwt.encode(claims(sub="zoe", name="Zoë", room="lobby"), TEST_SECRET, algorithm="HS256")
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.ws_url}?token={token}") as ws:
        await ws.send_json({"type": "join-room", "requestId": "1", "data": {}})
        answer = await ws.receive_json(timeout=10)
        assert answer["ok"] and answer["data"]["roomId"] == "lobby" and answer["data"]["userId"] == "zoe"


async def test_grants_are_enforced(server: RunningServer) -> None:
    token = server.token("r1", "viewer", publish=False)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.ws_url}?token={token}") as ws:
        await ws.send_json({"type": "join-room", "requestId": "1", "data": {}})
        assert (await ws.receive_json(timeout=10))["ok"]
        await ws.send_json({"type": "create-transport", "requestId": "2", "data": {"direction": "send"}})
        answer = await ws.receive_json(timeout=10)
        assert not answer["ok"] and answer["error"]["code"] == "forbidden"
        await ws.send_json({"type": "create-transport", "requestId": "3", "data": {"direction": "recv"}})
        assert (await ws.receive_json(timeout=10))["ok"]
