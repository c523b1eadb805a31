"""One lab client, run inside a host's namespace: publish, consume the others, count what decodes.

    python -m tests.lab.peer --ws ws://198.18.0.10:3001/ --token JWT --others 1

It publishes a moving picture and a tone, consumes every producer of ``--others`` other peers,
decodes ``--frames`` video frames and audio frames from each, and prints one JSON line: the
counts and, per transport, which candidate pair carried the media (the local candidate's type:
host, srflx or relay, and the remote address). Then it stays in the call until its stdin closes
(so the others can finish), bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from tests.media_client import MovingVideoTrack, ToneAudioTrack, receive_frames
from tests.signaling_client import Peer


def selected_pair(transport: Any) -> dict[str, Any]:
    """The nominated ICE pair of a pymediasoup transport (aiortc under it, aioice under that)."""
    pc = transport._handler._pc
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        nominated = getattr(connection, "_nominated", {})
        for pair in nominated.values():
            return {
                "local": pair.local_candidate.type,
                "localAddress": f"{pair.local_candidate.host}:{pair.local_candidate.port}",
                "remote": f"{pair.remote_candidate.host}:{pair.remote_candidate.port}",
                "protocol": pair.local_candidate.transport,
            }
    return {}


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
    peer = Peer([video, audio])
    result: dict[str, Any] = {"ok": False}
    try:
        await asyncio.wait_for(peer.join(args.ws, args.token), 20)
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
    sys.exit(asyncio.run(main(parser.parse_args())))
