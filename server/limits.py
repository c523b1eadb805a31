"""Per-server limits. Each guards the service against one peer's excess without touching others."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_message_bytes: int = 256 * 1024
    """Largest WebSocket frame; larger ones close the connection with 1009."""
    max_json_depth: int = 16
    """Deepest nesting of a request's ``data`` (mediasoup's own structures need 6)."""
    max_app_data_bytes: int = 8 * 1024
    """Largest ``appData`` of a producer or data producer (as JSON); it is echoed to the room."""
    max_rooms: int = 1000
    """Rooms open at once on this server."""
    max_peers: int = 2000
    """Peers joined at once on this server, all rooms together."""
    max_transports: int = 4000
    """WebRTC transports on this server (each holds a media port of the RTC range)."""
    logins_per_minute: float = 30.0
    login_burst: int = 10
    """POST /login per client address: sustained rate and the burst allowed above it."""
    max_peers_per_room: int = 100
    consumers_per_router: int = 500
    """Consumers a room's router takes before new peers of the room go on a router of another
    worker (the room spreads; producers reach it through pipes). mediasoup's guidance is about 500
    consumers per worker (one core)."""
    spread_cpu_percent: float = 85.0
    """A room's router whose worker used this much of a core (over the last second or more) takes
    no new peer of the room either: they go on a router of the room on another worker."""
    key_frame_request_delay_ms: int = 200
    """A video producer sends one key-frame request for all those its consumers make within this
    many ms of the previous one (mediasoup's keyFrameRequestDelay; 0: each at once). Measured
    (bench/keyframes.py, 30 viewers joining 100 ms apart): 30 requests to the publisher at 0, 16
    at 200 ms, 7 at 500 ms; the wait for a first key frame p50 21 / 100 / 228 ms. Viewers
    joining one after the other (sfuctl bench join) see first frames p50 97-128 / 196 / 488 ms."""
    max_transports_per_peer: int = 4
    max_producers_per_peer: int = 8
    max_consumers_per_peer: int = 1000
    max_data_producers_per_peer: int = 8
    max_data_consumers_per_peer: int = 1000
    requests_per_second: float = 50.0
    request_burst: int = 100
    """Token bucket per connection: sustained rate and the burst allowed above it."""
    max_chat_chars: int = 2000
    """Longest chat message (characters of text); it is relayed to every peer of the room."""
    chat_per_second: float = 1.0
    chat_burst: int = 5
    """Chat messages per connection: sustained rate and the burst allowed above it."""
    outbound_queue: int = 1024
    """Frames buffered for a slow client before it is dropped."""
    max_outbox_bytes: int = 4 * 1024 * 1024
    """Bytes buffered for a slow client before it is dropped: memory per client, bounded."""
    room_grace_seconds: float = 5.0
    """How long an empty room (and its router) is kept for a peer that reconnects."""
    heartbeat_seconds: float = 15.0
    """WebSocket ping interval; a client that does not pong in time, or whose socket takes no
    byte for this long, is dropped."""
    turn_allocations_per_user: int = 12
    """Concurrent TURN relays of one peer (coturn ``user-quota``): each transport allocates one
    per TURN URL it tries, and an ICE restart allocates again."""
    turn_allocations: int = 1000
    """Concurrent TURN relays on this server (coturn ``total-quota``); each holds a relay port."""
    webhook_queue: int = 1000
    """Events waiting per webhook endpoint; past it new events for that endpoint are dropped (counted)."""
    webhook_attempts: int = 5
    """Delivery attempts of one event (the first included) before it is dropped (counted)."""
    webhook_timeout_seconds: float = 5.0
    """Bound of one delivery attempt (connect, send, answer)."""
    webhook_retry_seconds: float = 1.0
    """Wait before the first retry; doubled at each next one (1, 2, 4, 8 s by default)."""
    max_recordings: int = 4
    """Recordings running at once on this server (each runs one recorder process per track)."""
    max_recording_tracks: int = 32
    """Tracks recorded at once, all recordings together (one recorder process each); a whole-room
    recording skips the tracks past it (listed in its ``skipped``)."""
    recording_min_free_bytes: int = 500_000_000
    """Free space the recordings dir must keep: below it no recording starts, and the running
    ones stop cleanly (reason ``disk-full``)."""
