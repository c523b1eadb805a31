"""Every Redis key of the cluster (one prefix, ``sfuctl:``). A member is ``node:epoch``.

Each key a node writes is refreshed by its heartbeat and expires after the node TTL when it stops
(the room streams after ``STREAM_TTL_FACTOR`` TTLs), so a dead node's state goes by itself.
"""

from __future__ import annotations

PREFIX = "sfuctl:"
STREAM_TTL_FACTOR = 10
STREAM_MAXLEN = 10000


def node(node_id: str) -> str:
    """Hash: epoch, url, address, load (JSON). Expires with the heartbeat."""
    return f"{PREFIX}node:{node_id}"


def nodes() -> str:
    """Sorted set: node id → expiry time of its last heartbeat (for listing)."""
    return f"{PREFIX}nodes"


def rooms() -> str:
    """Sorted set: room id → expiry time (refreshed by every node hosting it)."""
    return f"{PREFIX}rooms"


def room_nodes(room_id: str) -> str:
    """Sorted set: member → expiry time, the members hosting the room."""
    return f"{PREFIX}room:{room_id}:nodes"


def room_prefix(room_id: str) -> str:
    return f"{PREFIX}room:{room_id}:"


def peers(room_id: str, member: str) -> str:
    """Hash: user id → peer-joined data, a member's peers of the room."""
    return f"{room_prefix(room_id)}peers:{member}"


def producers(room_id: str, member: str) -> str:
    """Hash: producer id → new-producer data (plus its router), a member's producers of the room."""
    return f"{room_prefix(room_id)}producers:{member}"


def events(room_id: str) -> str:
    """Stream: the room's order; it gives each room message its id and keeps only the last one."""
    return f"{room_prefix(room_id)}events"


def member_rooms(member: str) -> str:
    """Set: the rooms a member hosts (what its next incarnation removes)."""
    return f"{PREFIX}member:{member}:rooms"


INBOX_PREFIX = f"{PREFIX}member:"
INBOX_SUFFIX = ":inbox"


def inbox(member: str) -> str:
    """Stream: every message to one member: its rooms' messages (with their id in the room's
    order) and messages to it alone (pipe requests and answers)."""
    return f"{INBOX_PREFIX}{member}{INBOX_SUFFIX}"
