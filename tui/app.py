"""`sfuctl top`: a live dashboard of one server (Textual).

The app polls its ``Source`` every ``interval`` seconds. A failed poll never raises out of the
app: it shows the banner, keeps the last data on screen, and the next poll tries again.
"""

from __future__ import annotations

import logging

from rich.markup import escape
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Label

from sfuctl.common import CliError
from sfuctl.tui.data import RoomRow, Snapshot, Source
from sfuctl.tui.widgets.charts import Charts
from sfuctl.tui.widgets.confirm import ConfirmScreen
from sfuctl.tui.widgets.detail import RoomDetailView
from sfuctl.tui.widgets.nodes import NodesTable
from sfuctl.tui.widgets.pick import PickScreen
from sfuctl.tui.widgets.rooms import RoomsTable
from sfuctl.tui.widgets.status import ConnectionBanner, StatusBar
from sfuctl.tui.widgets.workers import WorkersTable

log = logging.getLogger("sfuctl.top")


class Dashboard(App[None]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "sfuctl top"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("r", "refresh", "refresh"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("enter", "details", "details", show=True, priority=False),
        Binding("s", "sort", "sort"),
        Binding("c", "close_room", "close room"),
        Binding("k", "kick", "kick peer"),
        Binding("m", "mute", "mute/unmute"),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self, source: Source, interval: float = 1.0, poll: bool = True) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.auto_poll = poll
        self.snapshot: Snapshot | None = None
        self.last_ok: float | None = None
        self.detail_room: str | None = None
        self.filter_text = ""
        self._polling = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield ConnectionBanner(id="banner")
        with Horizontal(id="top-row"):
            with Vertical(id="workers-pane"):
                yield Label("workers", classes="pane-title")
                yield WorkersTable(id="workers")
            yield Charts(id="charts")
        with Vertical(id="nodes-pane"):  # shown in a cluster only
            yield Label("nodes", classes="pane-title", id="nodes-title")
            yield NodesTable(id="nodes")
        with Horizontal(id="bottom-row"):
            with Vertical(id="rooms-pane"):
                yield Label("rooms", classes="pane-title", id="rooms-title")
                yield Input(placeholder="filter rooms (esc clears)", id="filter")
                yield RoomsTable(id="rooms")
            with Vertical(id="detail-pane"):
                yield Label("room detail", classes="pane-title")
                yield RoomDetailView(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        # Kept as references: App.query_one searches the active screen, which may be the modal.
        self.status = self.query_one(StatusBar)
        self.banner = self.query_one(ConnectionBanner)
        self.workers_table = self.query_one(WorkersTable)
        self.charts = self.query_one(Charts)
        self.nodes_pane = self.query_one("#nodes-pane", Vertical)
        self.nodes_title = self.query_one("#nodes-title", Label)
        self.nodes_table = self.query_one(NodesTable)
        self.rooms_title = self.query_one("#rooms-title", Label)
        self.rooms = self.query_one(RoomsTable)
        self.detail = self.query_one(RoomDetailView)
        self.filter_box = self.query_one("#filter", Input)
        self.status.waiting(self.source.url)
        self.detail.placeholder()
        self.rooms.focus()
        if self.auto_poll:
            self.set_interval(self.interval, self.poll)
            self.call_later(self.poll)

    async def on_unmount(self) -> None:
        await self.source.aclose()

    # -- polling -----------------------------------------------------------------------------------

    async def poll(self) -> None:
        if self._polling:
            return
        self._polling = True
        try:
            snapshot = await self.source.fetch()
        except CliError as error:
            self.connection_lost(error.message, error.hint)
            return
        except Exception as error:  # a bad reply must not take the dashboard down
            log.debug("poll failed", exc_info=True)
            self.connection_lost(f"bad reply from {self.source.url}: {type(error).__name__}: {error}", "")
            return
        finally:
            self._polling = False
        if not self.is_running:
            return
        self.last_ok = snapshot.taken_at
        self.banner.clear()
        self.show(snapshot)

    def connection_lost(self, message: str, hint: str) -> None:
        if self.is_running:
            self.banner.report(message, hint, self.interval, self.last_ok)

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        health = snapshot.health
        self.status.show(self.source.url, health, snapshot.taken_at)
        self.workers_table.show(health)
        self.charts.add(sum(r.bitrate_in + r.bitrate_out for r in snapshot.rooms), health.peers)
        self.show_nodes(snapshot)
        self.show_rooms()

    def show_nodes(self, snapshot: Snapshot) -> None:
        """A cluster's nodes between the workers and the rooms; a single node's layout has none."""
        clustered = snapshot.health.cluster is not None
        self.nodes_pane.set_class(clustered, "-visible")
        if not clustered:
            return
        if snapshot.nodes is not None:
            self.nodes_table.show(snapshot.nodes)
        if snapshot.nodes_error:  # the last list stays, under a title that says why it is old
            self.nodes_title.update(f"nodes: [yellow]{escape(snapshot.nodes_error)}[/]")
        else:
            self.nodes_title.update(f"nodes ({len(self.nodes_table.nodes_shown)})")

    def show_rooms(self) -> None:
        if self.snapshot is None:
            return
        rooms = [r for r in self.snapshot.rooms if self.filter_text.lower() in r.room_id.lower()]
        title = f"rooms ({len(rooms)}/{len(self.snapshot.rooms)})" if self.filter_text else "rooms"
        if self.snapshot.rooms_error:
            title = f"rooms: [yellow]{self.snapshot.rooms_error}[/]"
        self.rooms_title.update(title)
        self.rooms.show(rooms)
        if self.detail_room is not None:
            self.detail.show(self.room(self.detail_room), self.detail_room)

    def room(self, room_id: str) -> RoomRow | None:
        rooms = self.snapshot.rooms if self.snapshot else []
        return next((r for r in rooms if r.room_id == room_id), None)

    # -- actions -----------------------------------------------------------------------------------

    async def action_refresh(self) -> None:
        await self.poll()

    def action_filter(self) -> None:
        box = self.filter_box
        box.add_class("-visible")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        box.value = ""
        box.remove_class("-visible")
        self.rooms.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.show_rooms()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.rooms.focus()

    def action_sort(self) -> None:
        self.rooms.cycle_sort()
        self.show_rooms()

    @on(DataTable.HeaderSelected, "#rooms")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.rooms.sort_by(str(event.column_key.value))
        self.show_rooms()

    def action_details(self) -> None:
        room_id = self.rooms.cursor_room
        if room_id is not None:
            self.detail_room = room_id
            self.detail.show(self.room(room_id), room_id)

    @on(DataTable.RowSelected, "#rooms")
    def row_selected(self) -> None:
        self.action_details()

    def action_close_room(self) -> None:
        room_id = self.rooms.cursor_room
        if room_id is None:
            self.notify("no room selected", severity="warning")
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.source.close_room(room_id)
            except CliError as error:
                self.notify(f"could not close {room_id}: {error.message}", severity="error")
                return
            self.notify(f"closed room {room_id}")
            await self.poll()

        self.push_screen(ConfirmScreen(f"Close room {room_id!r} and disconnect everyone in it?"), answered)

    # -- moderation (on the room under the cursor) -----------------------------------------------

    def cursor_detail(self) -> RoomRow | None:
        room_id = self.rooms.cursor_room
        row = self.room(room_id) if room_id is not None else None
        if row is None or row.detail is None:
            self.notify("no room selected (or no details yet)", severity="warning")
            return None
        return row

    def action_kick(self) -> None:
        row = self.cursor_detail()
        if row is None or row.detail is None:
            return
        room_id = row.room_id
        peers = [(peer.userId, f"{peer.userName} ({peer.userId})") for peer in row.detail.peers]
        if not peers:
            self.notify(f"no peers in {room_id}", severity="warning")
            return

        async def confirmed(yes: bool | None, user_id: str) -> None:
            if not yes:
                return
            try:
                await self.source.kick(room_id, user_id)
            except CliError as error:
                self.notify(f"could not kick {user_id}: {error.message}", severity="error")
                return
            self.notify(f"kicked {user_id} from {room_id}")
            await self.poll()

        def picked(user_id: str | None) -> None:
            if user_id is None:
                return
            question = f"Kick {user_id!r} out of room {room_id!r}? (they may join again)"
            self.push_screen(
                ConfirmScreen(question, yes_label="Kick (y)"), lambda yes: confirmed(yes, user_id)
            )

        self.push_screen(PickScreen(f"kick which peer of {room_id}?", peers), picked)

    def action_mute(self) -> None:
        row = self.cursor_detail()
        if row is None or row.detail is None:
            return
        room_id = row.room_id
        muted = {p.id: p.muted for peer in row.detail.peers for p in peer.producers}
        choices = [
            (p.id, f"{peer.userName} {p.kind} {p.id[:8]}{'  (muted: pick to unmute)' if p.muted else ''}")
            for peer in row.detail.peers
            for p in peer.producers
        ]
        if not choices:
            self.notify(f"no producers in {room_id}", severity="warning")
            return

        async def picked(producer_id: str | None) -> None:
            if producer_id is None:
                return
            mute = not muted.get(producer_id, False)
            try:
                await self.source.mute(room_id, producer_id, mute)
            except CliError as error:
                self.notify(f"could not change {producer_id[:8]}: {error.message}", severity="error")
                return
            self.notify(f"{'muted' if mute else 'unmuted'} {producer_id[:8]} in {room_id}")
            await self.poll()

        self.push_screen(PickScreen(f"mute or unmute which producer of {room_id}?", choices), picked)
