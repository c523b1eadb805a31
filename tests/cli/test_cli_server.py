"""sfuctl token/health/rooms against a real in-process server with real joined clients.

The CLI is synchronous (it runs its own event loop), so it is invoked in a thread while the
server keeps running on the test's loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from typer.testing import CliRunner

from sfuctl.cli import app
from sfuctl.server.auth import verify_token
from tests.conftest import TEST_SECRET, RunningServer
from tests.signaling_client import SignalingClient

ENV = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_TOKEN": None, "SFUCTL_URL": None, "COLUMNS": "160"}


async def sfuctl(*args: str, input: str | None = None) -> Any:
    runner = CliRunner(env=ENV)
    return await asyncio.to_thread(runner.invoke, app, list(args), input)


async def joined(server: RunningServer, room: str, user: str) -> SignalingClient:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user))
    await client.request("join-room")
    return client


async def test_minted_token_verifies_with_the_server_secret_and_joins(server: RunningServer) -> None:
    result = await sfuctl("token", "--room", "lobby", "--user", "ada", "--name", "Ada")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    claims = verify_token(token, server.config.secret)
    assert (claims.sub, claims.name, claims.room) == ("ada", "Ada", "lobby")
    client = SignalingClient()
    await client.connect(server.ws_url, token)
    try:
        reply = await client.request("join-room")
        assert reply["roomId"] == "lobby" and reply["userId"] == "ada"
    finally:
        await client.close()


async def test_health_summary_and_json(server: RunningServer) -> None:
    pid = server.sfu.pool.workers[0].pid
    result = await sfuctl("health", "--url", server.url)
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and str(pid) in result.stdout
    data = json.loads((await sfuctl("health", "--url", server.url, "--json")).stdout)
    assert data["status"] == "ok" and data["workers"][0]["pid"] == pid
    assert (await sfuctl("health", "--url", server.url, "-q")).stdout == ""


async def test_health_exits_1_when_the_server_is_draining(server: RunningServer) -> None:
    server.sfu.signaling.draining = True
    result = await sfuctl("health", "--url", server.url)
    assert result.exit_code == 1
    assert "draining" in result.stdout


async def test_rooms_list_show_and_close_kick_a_joined_client(server: RunningServer) -> None:
    client = await joined(server, "standup", "bob")
    try:
        listing = await sfuctl("rooms", "--url", server.url)
        assert listing.exit_code == 0, listing.output
        assert "standup" in listing.stdout
        data = json.loads((await sfuctl("rooms", "--url", server.url, "--json")).stdout)
        assert [(r["roomId"], r["peers"]) for r in data["rooms"]] == [("standup", 1)]
        assert json.loads((await sfuctl("rooms", "list", "--url", server.url, "--json")).stdout) == data

        shown = await sfuctl("rooms", "show", "standup", "--url", server.url)
        assert shown.exit_code == 0 and "bob" in shown.stdout
        detail = json.loads((await sfuctl("rooms", "show", "standup", "--url", server.url, "--json")).stdout)
        assert detail["roomId"] == "standup" and detail["peers"][0]["userId"] == "bob"

        declined = await sfuctl("rooms", "close", "standup", "--url", server.url, input="n\n")
        assert declined.exit_code == 1 and "aborted" in declined.stderr
        assert server.sfu.registry.get("standup") is not None

        closed = await sfuctl("rooms", "close", "standup", "--yes", "--url", server.url)
        assert closed.exit_code == 0, closed.output
        event = await client.wait_event("room-closed")
        assert event["reason"] == "admin"
        after = json.loads((await sfuctl("rooms", "--url", server.url, "--json")).stdout)
        assert after["rooms"] == []
    finally:
        await client.close()


async def test_rooms_close_after_confirmation(server: RunningServer) -> None:
    client = await joined(server, "retro", "eve")
    try:
        result = await sfuctl("rooms", "close", "retro", "--url", server.url, input="y\n")
        assert result.exit_code == 0, result.output
        assert (await client.wait_event("room-closed"))["reason"] == "admin"
    finally:
        await client.close()


async def test_rooms_errors_have_exit_codes(server: RunningServer) -> None:
    missing = await sfuctl("rooms", "show", "nope", "--url", server.url)
    assert missing.exit_code == 5 and "no room" in missing.stderr
    not_admin = server.token("x", "y")
    refused = await sfuctl("rooms", "--url", server.url, "--token", not_admin)
    assert refused.exit_code == 4 and "admin grant" in refused.stderr and "hint:" in refused.stderr
    admin = server.token("x", "y", admin=True)
    assert (await sfuctl("rooms", "--url", server.url, "--token", admin)).exit_code == 0
    runner = CliRunner(env={**ENV, "SFUCTL_SECRET": None, "SFUCTL_SECRET_FILE": "/nonexistent"})
    no_secret = await asyncio.to_thread(runner.invoke, app, ["rooms", "--url", server.url])
    assert no_secret.exit_code == 2 and "--token" in no_secret.stderr
