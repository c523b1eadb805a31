"""One lab client, run inside a host's namespace: publish, consume the others, count what decodes.

    python -m tests.lab.peer --ws ws://198.18.0.10:3001/ --token JWT --others 1
    SSL_CERT_FILE=tls-cert.pem python -m tests.lab.peer --ws wss://198.18.0.11:3001/ --token JWT \
        --relay --turn-transport tcp

It publishes a moving picture and a tone, consumes every producer of ``--others`` other peers,
decodes ``--frames`` video frames and audio frames from each, and prints one JSON line: the
counts, the ICE server URLs it used (those of its ``join-room`` answer) and, per transport, which
candidate pair carried the media (the local candidate's type: host, srflx or relay; for a relay,
how it reached the TURN server: udp, tcp or tls). Then it stays in the call until its stdin
closes (so the others can finish), bounded by ``--timeout``.

aiortc uses one TURN URL per connection (the first it can use), where a browser tries them all:
``--turn-transport`` picks which of the given URLs that is, as a client that knows its network
drops UDP would. ``SSL_CERT_FILE`` in its environment trusts a server's self-signed certificate
for both WSS and ``turns:`` (Python's default TLS context reads it; aiohttp makes that context
when it is imported, hence the environment rather than an option).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
from aiortc import RTCIceServer

from tests.media_client import MovingVideoTrack, ToneAudioTrack, receive_frames
from tests.signaling_client import Peer

TURN_SCHEMES = {"udp": ("turn:", "?transport=udp"), "tcp": ("turn:", "?transport=tcp"), "tls": ("turns:", "")}


def selected_pair(transport: Any) -> dict[str, Any]:
    """The nominated ICE pair of a pymediasoup transport (aiortc under it, aioice under that)."""
    pc = transport._handler._pc
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        nominated = getattr(connection, "_nominated", {})
        for pair in nominated.values():
            found = {
                "local": pair.local_candidate.type,
                "localAddress": f"{pair.local_candidate.host}:{pair.local_candidate.port}",
                "remote": f"{pair.remote_candidate.host}:{pair.remote_candidate.port}",
                "protocol": pair.local_candidate.transport,
            }
            if pair.local_candidate.type == "relay":
                found["turn"] = "tls" if connection.turn_ssl else connection.turn_transport
                found["turnServer"] = "{}:{}".format(*connection.turn_server)
            return found
    return {}


def urls_of(servers: list[RTCIceServer]) -> list[str]:
    found: list[str] = []
    for server in servers:
        found += [server.urls] if isinstance(server.urls, str) else server.urls
    return found


def only_turn(servers: list[RTCIceServer], transport: str) -> list[RTCIceServer]:
    """The given TURN URLs that reach the server over ``transport`` (udp, tcp or tls)."""
    scheme, suffix = TURN_SCHEMES[transport]
    kept = []
    for server in servers:
        chosen = [url for url in urls_of([server]) if url.startswith(scheme) and url.endswith(suffix)]
        if chosen:
            kept.append(RTCIceServer(urls=chosen, username=server.username, credential=server.credential))
    return kept


async def wait_for_producers(peer: Peer, count: int, timeout: float) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        while True:
            known = {p["producerId"]: p for p in peer.joined["producers"]}
            for event in peer.signaling.events:
                if event["type"] == "new-producer":
                    known[event["data"]["producerId"]] = event["data"]
            if len(known) >= count:
                return list(known.values())
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(enough(), timeout)


async def main(args: argparse.Namespace) -> int:
    video, audio = MovingVideoTrack(), ToneAudioTrack()
    peer = Peer([video, audio], ice_transport_policy="relay" if args.relay else "all")
    result: dict[str, Any] = {"ok": False}
    try:
        await asyncio.wait_for(peer.join(args.ws, args.token), 20)
        if args.turn_transport:
            peer.ice_servers = only_turn(peer.ice_servers, args.turn_transport)
        await peer.produce(video)
        await peer.produce(audio)
        producers = await wait_for_producers(peer, 2 * args.others, args.timeout)
        counts: dict[str, int] = {}
        for producer in producers:
            _, consumer = await peer.consume(producer["producerId"])
            wanted = args.frames if producer["kind"] == "video" else args.frames * 2
            frames = await receive_frames(consumer.track, wanted, timeout=args.timeout)
            counts[producer["kind"]] = counts.get(producer["kind"], 0) + len(frames)
        result = {
            "ok": True,
            "video_frames": counts.get("video", 0),
            "audio_frames": counts.get("audio", 0),
            "iceServers": urls_of(peer.ice_servers),
            "send": selected_pair(peer.send_transport),
            "recv": selected_pair(peer.recv_transport),
        }
    except Exception as error:  # reported to the test, which shows it
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print(orjson.dumps(result).decode(), flush=True)
    loop = asyncio.get_running_loop()
    try:  # stay in the call until the test says every peer is done
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), args.timeout)
    except TimeoutError:
        pass
    await asyncio.wait_for(peer.close(), 10)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ws", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--others", type=int, default=1)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=40.0)
    parser.add_argument("--relay", action="store_true", help="relay-only ICE (iceTransportPolicy relay)")
    parser.add_argument("--turn-transport", choices=sorted(TURN_SCHEMES), help="the TURN URL to use")
    sys.exit(asyncio.run(main(parser.parse_args())))
