"""WebSocket signaling: rooms, peers, and the request/event protocol clients speak."""
