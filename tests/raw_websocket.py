"""A bare WebSocket client on a raw socket, for clients that misbehave on purpose.

It writes masked text frames of any size and reads only when asked to, so it can stop reading
altogether (a small receive buffer makes the server's writes back up quickly). Loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import orjson


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    pad = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(size, "big")
    return head + mask + masked


class RawWebSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, port: int, token: str, receive_buffer: int = 4096) -> RawWebSocket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 5)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), 5)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        return cls(sock)

    async def send_bytes(self, data: bytes) -> None:
        await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(self.sock, data), 10)

    async def send_text(self, text: str | bytes) -> None:
        await self.send_bytes(frame(text.encode() if isinstance(text, str) else text))

    async def request(self, request_type: str, data: Any, request_id: str = "1") -> None:
        """Send a request without waiting for (or reading) its answer."""
        await self.send_text(orjson.dumps({"type": request_type, "requestId": request_id, "data": data}))

    def close(self) -> None:
        self.sock.close()
