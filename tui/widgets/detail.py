"""The detail pane of the selected room: peers, their producers/consumers, scores, bitrates."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from sfuctl.common import human_bitrate
from sfuctl.server.http.models import ProducerDetail
from sfuctl.tui.data import RoomRow

SPEAKING_BPS = 8_000
"""An audio producer's peer sending above this is shown as (probably) speaking."""


def score_text(scores: list[int]) -> str:
    return ",".join(str(s) for s in scores) if scores else "-"


def producer_state(producer: ProducerDetail) -> str:
    if producer.muted:
        return " [red](muted)[/]"
    return " (paused)" if producer.paused else ""


class RoomDetailView(Static):
    def placeholder(self, text: str = "select a room and press enter") -> None:
        self.update(Text(text, style="dim"))

    def show(self, row: RoomRow | None, room_id: str) -> None:
        if row is None:
            self.placeholder(f"room {room_id!r} is gone")
            return
        detail = row.detail
        if detail is None:
            self.placeholder(f"{room_id}: no details (yet)")
            return
        pids = list(dict.fromkeys(router.workerPid for router in detail.routers)) or [detail.workerPid]
        spread = len(pids) > 1
        where = f"workers {', '.join(map(str, pids))}" if spread else f"worker {detail.workerPid}"
        title = Text.from_markup(
            f"[b]{detail.roomId}[/b]  {where}  peers {len(detail.peers)}  "
            f"in {human_bitrate(detail.bitrateIn)}  out {human_bitrate(detail.bitrateOut)}"
        )
        table = Table(expand=True, show_edge=False, pad_edge=False, box=None)
        for column in ("peer", "sends", "receives", "in", "out"):
            table.add_column(column)
        for peer in detail.peers:
            has_audio = any(p.kind == "audio" and not p.paused for p in peer.producers)
            speaking = " [green]🔊[/]" if has_audio and peer.bitrateIn >= SPEAKING_BPS else ""
            sends = "\n".join(
                f"{p.kind} [dim]{p.id[:8]}[/]{producer_state(p)} score "
                + score_text([s.score for s in p.score])
                for p in peer.producers
            )
            receives = "\n".join(
                f"{c.kind}{' (paused)' if c.paused else ''} score {c.score.score}/{c.score.producerScore}"
                for c in peer.consumers
            )
            table.add_row(
                Text.from_markup(
                    f"{peer.userName} [dim]{peer.userId}[/]{speaking}"
                    + (f"\n[dim]worker {peer.workerPid}[/]" if spread and peer.workerPid else "")
                ),
                Text.from_markup(sends or "-"),
                receives or "-",
                human_bitrate(peer.bitrateIn),
                human_bitrate(peer.bitrateOut),
            )
        body: RenderableType = table if detail.peers else Text("no peers", style="dim")
        self.update(Group(title, body))
