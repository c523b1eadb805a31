"""Per-server limits. Each guards the service against one peer's excess without touching others."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_message_bytes: int = 256 * 1024
    """Largest WebSocket frame; larger ones close the connection with 1009."""
    max_peers_per_room: int = 100
    max_transports_per_peer: int = 4
    max_producers_per_peer: int = 8
    max_consumers_per_peer: int = 1000
    max_data_producers_per_peer: int = 8
    max_data_consumers_per_peer: int = 1000
    requests_per_second: float = 50.0
    request_burst: int = 100
    """Token bucket per connection: sustained rate and the burst allowed above it."""
    outbound_queue: int = 1024
    """Events buffered for a slow client before it is disconnected."""
    room_grace_seconds: float = 5.0
    """How long an empty room (and its router) is kept for a peer that reconnects."""
    heartbeat_seconds: float = 15.0
    """WebSocket ping interval; a client that does not pong in time is dropped."""
