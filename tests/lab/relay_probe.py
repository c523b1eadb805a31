"""Which peers a TURN client with a valid credential may relay to, asked over TCP (as a client
whose network drops UDP would), run inside a host's namespace:

    python -m tests.lab.relay_probe --server 198.18.0.11:3478 --username U --password P \
        198.18.0.11:40000 198.18.0.20:5000

It allocates a relay and sends one datagram to each peer through it (coturn first binds a
channel, which it grants or refuses), and prints one JSON object: peer -> null (granted, the
datagram relayed) or the STUN error code of the refusal (nothing sent to that peer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from aioice import stun
from aioice.turn import TurnClientTcpProtocol

ANSWER_TIMEOUT = 5.0


def address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def main(args: argparse.Namespace) -> int:
    server = address(args.server)
    transport, client = await asyncio.wait_for(
        asyncio.get_running_loop().create_connection(
            lambda: TurnClientTcpProtocol(
                server, username=args.username, password=args.password, lifetime=600, channel_refresh_time=300
            ),
            *server,
        ),
        ANSWER_TIMEOUT,
    )
    answers: dict[str, int | None] = {}
    try:
        await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
        for peer in args.peers:
            try:
                await asyncio.wait_for(client.send_data(b"relay probe", address(peer)), ANSWER_TIMEOUT)
                answers[peer] = None
            except stun.TransactionFailed as refused:
                answers[peer] = int(refused.response.error_code)
        await asyncio.wait_for(client.delete(), ANSWER_TIMEOUT)
    finally:
        transport.close()
    print(orjson.dumps(answers).decode(), flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", required=True, help="coturn's HOST:PORT (TCP)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("peers", nargs="+", help="HOST:PORT of each peer to ask for")
    sys.exit(asyncio.run(main(parser.parse_args())))
