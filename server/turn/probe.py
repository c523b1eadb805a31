"""A STUN Binding request (RFC 8489): the one question sfuctl asks its coturn, "are you up?"."""

from __future__ import annotations

import asyncio
import os
import struct

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, transaction: bytes) -> None:
        self.transaction = transaction
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) >= 20 and not self.answered.done():
            kind, _, cookie = struct.unpack("!HHI", data[:8])
            if kind == BINDING_SUCCESS and cookie == MAGIC_COOKIE and data[8:20] == self.transaction:
                self.answered.set_result(None)


async def stun_answers(host: str, port: int, timeout: float) -> bool:
    """Whether a STUN server answers a Binding request on ``host:port`` (UDP) within ``timeout``."""
    transaction = os.urandom(12)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Answer(transaction), remote_addr=(host, port)
    )
    try:
        transport.sendto(struct.pack("!HHI", BINDING_REQUEST, 0, MAGIC_COOKIE) + transaction)
        await asyncio.wait_for(asyncio.shield(protocol.answered), timeout)
        return True
    except (TimeoutError, OSError):
        return False
    finally:
        transport.close()
