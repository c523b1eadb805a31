"""aiohttp application: REST routes (and, later, the WebSocket signaling endpoint) on one port."""
