"""`sfuctl top` driven by Textual's pilot against a real server with real joined peers."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Label, Static

from sfuctl.api import admin_token_source
from sfuctl.common import CliError, ExitCode
from sfuctl.server.config import ServerConfig
from sfuctl.server.http.models import Health
from sfuctl.server.limits import Limits
from sfuctl.server.serve import start
from sfuctl.tui.app import Dashboard
from sfuctl.tui.data import ApiSource, Snapshot
from sfuctl.tui.widgets.confirm import ConfirmScreen
from sfuctl.tui.widgets.detail import RoomDetailView
from sfuctl.tui.widgets.rooms import RoomsTable
from sfuctl.tui.widgets.status import ConnectionBanner
from sfuctl.tui.widgets.workers import WorkersTable
from tests.conftest import RunningServer, start_server
from tests.signaling_client import SignalingClient

SIZE = (150, 45)


def dashboard(server: RunningServer) -> Dashboard:
    tokens = admin_token_source(server.token("*", "admin", admin=True))
    return Dashboard(ApiSource(server.url, tokens), interval=0.2)


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not reached in time")


async def join(server: RunningServer, room: str, user: str) -> SignalingClient:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user))
    await client.request("join-room")
    return client


def text_of(widget: Static) -> str:
    """What the widget shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def rooms_shown(app: Dashboard) -> list[str]:
    return [row.room_id for row in app.query_one(RoomsTable).rows_shown]


def worker_pids_shown(app: Dashboard) -> list[str]:
    table = app.query_one(WorkersTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def restart_on(config: ServerConfig) -> RunningServer:
    return RunningServer(config, await start(config))


async def test_worker_pid_and_room_appear(server: RunningServer) -> None:
    client = await join(server, "lobby", "ada")
    pid = str(server.sfu.pool.workers[0].pid)
    try:
        app = dashboard(server)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: pid in worker_pids_shown(app) and "lobby" in rooms_shown(app))
            assert not app.query_one("#nodes-pane").display  # a single node: no nodes panel
            await pilot.press("enter")
            await until(pilot, lambda: "ada" in text_of(app.query_one(RoomDetailView)))
            assert not app.query_one(ConnectionBanner).visible_now
    finally:
        await client.close()


async def test_server_stopped_shows_banner_then_recovers() -> None:
    server = await start_server()
    client = await join(server, "lobby", "ada")
    app = dashboard(server)
    running = server
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "lobby" in rooms_shown(app))
            await client.close()
            await server.stop()
            banner = app.query_one(ConnectionBanner)
            await until(pilot, lambda: banner.visible_now)
            assert "cannot reach" in text_of(banner)
            assert "lobby" in rooms_shown(app)  # the last data stays on screen
            await pilot.pause(0.5)  # more failed polls: still running
            assert app.is_running
            running = await restart_on(server.config)
            await until(pilot, lambda: not banner.visible_now)
            await until(pilot, lambda: rooms_shown(app) == [])
    finally:
        await running.stop()


async def test_sort_filter_details_and_close_with_confirmation(server: RunningServer) -> None:
    clients = [
        await join(server, "alpha", "a1"),
        await join(server, "beta", "b1"),
        await join(server, "beta", "b2"),
    ]
    try:
        app = dashboard(server)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: rooms_shown(app) == ["alpha", "beta"])
            await pilot.press("s")  # sort by peers, most first
            await until(pilot, lambda: rooms_shown(app) == ["beta", "alpha"])
            assert app.query_one(RoomsTable).sort_column == "peers"

            await pilot.press("slash", "a", "l")
            await until(pilot, lambda: rooms_shown(app) == ["alpha"])
            await pilot.press("enter")  # leaves the filter box
            await pilot.press("enter")  # details of the row under the cursor
            await until(pilot, lambda: "a1" in text_of(app.query_one(RoomDetailView)))
            await pilot.press("escape")
            await until(pilot, lambda: rooms_shown(app) == ["beta", "alpha"])

            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            assert app.query_one(RoomsTable).cursor_room == "alpha"  # the cursor stayed on its room
            assert server.sfu.registry.get("alpha") is not None

            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            assert (await clients[0].wait_event("room-closed"))["reason"] == "admin"
            await until(pilot, lambda: rooms_shown(app) == ["beta"])
            assert all(event["type"] != "room-closed" for c in clients[1:] for event in c.events)
    finally:
        for client in clients:
            await client.close()


class BrokenSource:
    """Replies that are wrong in every way a server (or a proxy in front of it) can be wrong."""

    url = "http://test"

    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self) -> Snapshot:
        self.calls += 1
        if self.calls % 3 == 1:
            raise ValueError("garbage")
        if self.calls % 3 == 2:
            raise CliError("unexpected reply (Health status)", "hint", ExitCode.BAD_REPLY)
        health = Health(status="ok", version="9", uptime=1, workers=[], rooms=0, peers=0)
        return Snapshot(health, rooms_error="no admin token: rooms are not shown")

    async def close_room(self, room_id: str) -> None:
        raise CliError("nope", "", ExitCode.REFUSED)

    async def kick(self, room_id: str, user_id: str) -> None:
        raise CliError("nope", "", ExitCode.REFUSED)

    async def mute(self, room_id: str, producer_id: str, muted: bool) -> None:
        raise CliError("nope", "", ExitCode.REFUSED)

    async def aclose(self) -> None:
        pass


async def test_bad_replies_never_crash_the_dashboard() -> None:
    source = BrokenSource()
    app = Dashboard(source, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: source.calls >= 7)
        await pilot.press("c", "k", "m", "r", "s", "enter")
        assert app.is_running
        assert "no admin token" in text_of(app.query_one("#rooms-title", Label))


async def test_kick_with_confirmation_and_mute_toggle(server: RunningServer) -> None:
    from sfuctl.tui.widgets.pick import PickScreen

    stay, leave = await join(server, "mod", "stay"), await join(server, "mod", "leave")
    try:
        transport = await stay.create_transport("send")
        producer_id = await stay.produce_audio(transport["id"])
        app = dashboard(server)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: (row := app.room("mod")) is not None and row.detail is not None)
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, PickScreen))
            await pilot.press("enter")  # the one producer
            assert (await stay.wait_event("producer-muted"))["producerId"] == producer_id
            await pilot.press("enter")  # details: the producer shows as muted
            await until(pilot, lambda: "(muted)" in text_of(app.query_one(RoomDetailView)))
            await pilot.press("m", "enter")  # again: unmute
            assert (await stay.wait_event("producer-unmuted"))["producerId"] == producer_id

            await pilot.press("k")
            await until(pilot, lambda: isinstance(app.screen, PickScreen))
            await pilot.press("down", "enter")  # the second peer: "leave"
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            assert "leave" in server.sfu.registry.rooms["mod"].peers
            await pilot.press("k", "down", "enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            assert (await leave.wait_event("room-closed"))["reason"] == "kicked"
            assert (await stay.wait_event("peer-left"))["userId"] == "leave"
            assert list(server.sfu.registry.rooms["mod"].peers) == ["stay"]
    finally:
        await stay.close()
        await leave.close()


async def test_a_room_spread_over_two_workers_shows_both() -> None:
    server = await start_server(workers=2, limits=Limits(consumers_per_router=1))
    clients: list[SignalingClient] = []
    try:
        for user in ("pub", "first", "second"):
            client = SignalingClient()
            clients.append(client)
            await client.connect(server.ws_url, server.token("wide", user))
            await client.join()
        pub, first, second = clients
        send = await pub.create_transport("send")
        audio = await pub.produce_audio(send["id"])
        recv = await first.create_transport("recv")
        await first.consume(recv["id"], audio)
        await second.create_transport("recv")  # the main router is full: on the other worker
        pids = [str(w.pid) for w in server.sfu.pool.workers]
        app = dashboard(server)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "wide" in rooms_shown(app))
            table = app.query_one(RoomsTable)
            await until(pilot, lambda: str(table.get_row_at(0)[-1]).endswith(" +1"))
            await pilot.press("enter")
            shown = app.query_one(RoomDetailView)
            await until(pilot, lambda: "workers" in text_of(shown))
            assert all(pid in text_of(shown) for pid in pids)
    finally:
        for client in clients:
            await client.close()
        await server.stop()
