"""Sparklines of total bitrate and peers over the last polls."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from sfuctl.common import human_bitrate

HISTORY = 120


class Charts(Vertical):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bitrates: deque[float] = deque(maxlen=HISTORY)
        self.peers: deque[float] = deque(maxlen=HISTORY)

    def compose(self) -> ComposeResult:
        yield Label("bitrate", id="bitrate-label")
        yield Sparkline([], summary_function=max, id="bitrate-chart")
        yield Label("peers", id="peers-label")
        yield Sparkline([], summary_function=max, id="peers-chart")

    def add(self, bitrate: float, peers: int) -> None:
        self.bitrates.append(bitrate)
        self.peers.append(peers)
        self.query_one("#bitrate-label", Label).update(
            f"bitrate (in+out) {human_bitrate(bitrate)}   max {human_bitrate(max(self.bitrates))}"
        )
        self.query_one("#peers-label", Label).update(f"peers {peers}   max {max(self.peers):.0f}")
        self.query_one("#bitrate-chart", Sparkline).data = list(self.bitrates)
        self.query_one("#peers-chart", Sparkline).data = list(self.peers)
