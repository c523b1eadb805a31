"""The rooms table: sortable (s, or click a header), filtered by the app, keeps the cursor's room."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.widgets import DataTable

from sfuctl.common import human_bitrate
from sfuctl.tui.data import RoomRow

COLUMNS: list[tuple[str, str, Callable[[RoomRow], object]]] = [
    ("room", "room", lambda r: r.room_id),
    ("peers", "peers", lambda r: r.summary.peers),
    ("producers", "producers", lambda r: r.summary.producers),
    ("consumers", "consumers", lambda r: r.summary.consumers),
    ("in", "in", lambda r: r.bitrate_in),
    ("out", "out", lambda r: r.bitrate_out),
    ("worker", "worker", lambda r: r.summary.workerPid),
]
SORT_KEYS = {key: get for _, key, get in COLUMNS}


def worker_text(row: RoomRow) -> str:
    """The main router's worker, and how many more routers a room spread over has."""
    more = row.summary.routers - 1
    return f"{row.summary.workerPid} +{more}" if more > 0 else str(row.summary.workerPid)


class RoomsTable(DataTable[str]):
    BINDINGS = [Binding("enter", "select_cursor", "details")]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.sort_column = "room"
        self.sort_reverse = False
        self.rows_shown: list[RoomRow] = []

    def on_mount(self) -> None:
        self.add_columns_with_arrow()

    def add_columns_with_arrow(self) -> None:
        for label, key, _ in COLUMNS:
            arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_column else ""
            self.add_column(label + arrow, key=key)

    @property
    def cursor_room(self) -> str | None:
        if not self.rows_shown or not 0 <= self.cursor_row < len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row].room_id

    def sort_by(self, column: str) -> None:
        """The same column again flips the order."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column not in ("room", "worker")

    def cycle_sort(self) -> None:
        keys = [key for _, key, _ in COLUMNS]
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        self.sort_reverse = self.sort_column not in ("room", "worker")

    def show(self, rows: list[RoomRow]) -> None:
        keep = self.cursor_room
        get = SORT_KEYS[self.sort_column]
        ordered = sorted(rows, key=lambda r: (get(r), r.room_id), reverse=self.sort_reverse)
        self.rows_shown = ordered
        self.clear(columns=True)
        self.add_columns_with_arrow()
        for row in ordered:
            self.add_row(
                row.room_id,
                str(row.summary.peers),
                str(row.summary.producers),
                str(row.summary.consumers),
                human_bitrate(row.bitrate_in),
                human_bitrate(row.bitrate_out),
                worker_text(row),
                key=row.room_id,
            )
        if keep is not None:
            for index, row in enumerate(ordered):
                if row.room_id == keep:
                    self.move_cursor(row=index, animate=False)
                    break
