"""Key-frame storms: how many key-frame requests reach a video producer while viewers join.

Every consumer that starts (or resumes) asks its producer for a key frame; in a large room a
stream of joins becomes a stream of PLIs, and each PLI costs the publisher a key frame (several
times a delta frame's size, on its uplink and on every viewer's downlink). mediasoup's
``keyFrameRequestDelay`` on the producer holds requests that come within that many ms of the
previous one and sends one for all of them at the end.

A synthetic publisher (plain RTP over a PlainTransport; one VP8-shaped packet per frame at 30 fps,
a key frame after each PLI or FIR it receives) feeds one producer; ``--viewers`` consumers start
one every ``--interval`` seconds, in the producer's router or behind a pipe in a router of a
second worker. Reported per delay: PLI/FIR received by the publisher, key frames it sent, and how
long each viewer waited from its resume to its first key frame. Run with ``make bench-keyframes``
(or ``python bench/keyframes.py``); it prints a table, and JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker, WorkerSettings

LOCAL = {"protocol": "udp", "ip": "127.0.0.1"}
CODECS: list[dict[str, Any]] = [{"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}]
SSRC = 0x4B46_0001
PT = 96
FPS = 30
PAYLOAD = 1000
RTCP_PSFB = 206
PLI, FIR = 1, 4


@dataclass
class Run:
    delay_ms: int
    piped: bool
    requests: int = 0
    key_frames: int = 0
    waits: list[float] = field(default_factory=list)


class Publisher(asyncio.DatagramProtocol):
    """Sends frames to the producer's transport; a PLI/FIR makes the next frame a key frame."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.key_wanted = True
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        offset = 0
        while offset + 4 <= len(data):  # a compound RTCP packet
            fmt, pt = data[offset] & 0x1F, data[offset + 1]
            length = (struct.unpack_from("!H", data, offset + 2)[0] + 1) * 4
            if pt == RTCP_PSFB and fmt in (PLI, FIR):
                self.run.requests += 1
                self.key_wanted = True
            offset += length

    async def send_frames(self, port: int, stop: asyncio.Event) -> None:
        seq, start = 0, time.monotonic()
        while not stop.is_set():
            key = self.key_wanted
            self.key_wanted = False
            self.run.key_frames += key
            header = struct.pack("!BBHII", 0x80, 0x80 | PT, seq & 0xFFFF, (seq * 3000) & 0xFFFFFFFF, SSRC)
            vp8 = bytes([0x10, 0x00 if key else 0x01]) + bytes(PAYLOAD)
            assert self.transport is not None
            self.transport.sendto(header + vp8, ("127.0.0.1", port))
            seq += 1
            await asyncio.sleep(max(0.0, start + seq / FPS - time.monotonic()))


def is_key_frame(descriptor: int, header: int) -> bool:
    """Our publisher's one-byte VP8 descriptor (start of partition 0) and key-frame bit."""
    return bool(descriptor & 0x10) and not descriptor & 0x07 and not header & 0x01


class Viewers(asyncio.DatagramProtocol):
    """Where every consumer sends: the first key frame of each SSRC after its resume."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.resumed: dict[int, float] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 14 or 200 <= data[1] <= 207:  # RTCP (SR, RR, SDES, BYE, APP, feedback, XR)
            return
        ssrc = struct.unpack_from("!I", data, 8)[0]
        offset = 12 + (data[0] & 0x0F) * 4
        if data[0] & 0x10:  # header extensions
            offset += 4 + struct.unpack_from("!H", data, offset + 2)[0] * 4
        started = self.resumed.get(ssrc)
        if started is not None and len(data) > offset + 1 and is_key_frame(data[offset], data[offset + 1]):
            self.run.waits.append(time.monotonic() - started)
            del self.resumed[ssrc]


async def measure(workers: list[Worker], delay_ms: int, piped: bool, viewers: int, interval: float) -> Run:
    run = Run(delay_ms, piped)
    loop = asyncio.get_running_loop()
    source: Router = await workers[0].create_router(CODECS)
    where: Router = await workers[1].create_router(CODECS) if piped else source
    publisher = Publisher(run)
    pub_transport, _ = await loop.create_datagram_endpoint(lambda: publisher, local_addr=("127.0.0.1", 0))
    sink = Viewers(run)
    sink_transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", 0))
    stop = asyncio.Event()
    try:
        ingest = await source.create_plain_transport(listen_info=dict(LOCAL))
        await ingest.connect("127.0.0.1", pub_transport.get_extra_info("sockname")[1])
        params = {
            "codecs": [
                {
                    "mimeType": "video/VP8",
                    "payloadType": PT,
                    "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"},
                                     {"type": "ccm", "parameter": "fir"}],
                }
            ],
            "encodings": [{"ssrc": SSRC}],
            "rtcp": {"cname": "keyframes"},
        }  # fmt: skip
        producer = await ingest.produce("video", params, key_frame_request_delay=delay_ms)
        sender = loop.create_task(publisher.send_frames(ingest.tuple["localPort"], stop))
        await asyncio.sleep(1.0)  # the stream exists and its first key frame is out
        if piped:
            await source.pipe_to_router(producer_id=producer.id, router=where)
        run.requests = run.key_frames = 0
        sink_port = sink_transport.get_extra_info("sockname")[1]
        for _ in range(viewers):
            out = await where.create_plain_transport(listen_info=dict(LOCAL))
            await out.connect("127.0.0.1", sink_port)
            consumer = await out.consume(producer.id, where.rtp_capabilities, paused=True)
            sink.resumed[consumer.rtp_parameters["encodings"][0]["ssrc"]] = time.monotonic()
            await consumer.resume()
            await asyncio.sleep(interval)
        await asyncio.sleep(2.0)  # the last requests, delayed or retried
        stop.set()
        await sender
    finally:
        stop.set()
        pub_transport.close()
        sink_transport.close()
        source.close()
        where.close()
    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two viewers")
    parser.add_argument("--delays", default="0,200,500,1000", help="keyFrameRequestDelay values, ms")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workers = [await Worker.start(WorkerSettings(log_level="warn")) for _ in range(2)]
    results = []
    try:
        for piped in (False, True):
            for delay in (int(d) for d in args.delays.split(",")):
                run = await measure(workers, delay, piped, args.viewers, args.interval)
                results.append({
                    "keyFrameRequestDelayMs": delay,
                    "piped": piped,
                    "viewers": args.viewers,
                    "requestsToPublisher": run.requests,
                    "keyFramesSent": run.key_frames,
                    "viewersWithKeyFrame": len(run.waits),
                    "waitMs": {q: round(percentile(run.waits, q) * 1000) for q in (50, 95, 100)},
                })  # fmt: skip
    finally:
        for worker in workers:
            worker.close()
        await asyncio.gather(*(w.wait_closed() for w in workers))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.viewers} viewers, one every {args.interval * 1000:.0f} ms; the publisher answers each PLI")
    print("delay ms  piped  PLI/FIR  key frames  viewers served  wait p50/p95/max ms")
    for r in results:
        wait = r["waitMs"]
        print(f"{r['keyFrameRequestDelayMs']:>8}  {'yes' if r['piped'] else 'no':>5}  "
              f"{r['requestsToPublisher']:>7}  {r['keyFramesSent']:>10}  {r['viewersWithKeyFrame']:>14}  "
              f"{wait[50]}/{wait[95]}/{wait[100]}")  # fmt: skip


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    asyncio.run(main())
