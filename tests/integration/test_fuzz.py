"""10,000 hostile frames on one connection: type-confused, deep, huge and binary.

Every frame is built from a seeded generator (the seed is printed, so a failure replays) around
real ids of the client's own transports and producer, so the requests reach the handlers and the
media controller instead of stopping at the first check. The server must answer each request
with a response that is not ``internal``, log no traceback, keep the connection, and stay
bounded in memory.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import orjson
import psutil
import pytest

from sfuctl.client import SignalingClient, audio_rtp_parameters
from sfuctl.server.limits import Limits
from sfuctl.server.signaling import protocol as p
from tests.conftest import start_server

FRAMES = 10_000
BATCH = 50
SEED = int(os.environ.get("SFUCTL_FUZZ_SEED", "20261201"))

SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308, "", "x", "é☃",
    "\u0000", "a" * 300, "video", "audio", "send", "recv", [], {},
]  # fmt: skip


class Fuzzer:
    def __init__(self, rng: random.Random, ids: dict[str, str], caps: dict[str, Any]) -> None:
        self.rng = rng
        self.ids = ids
        self.caps = caps

    def scalar(self) -> Any:
        return self.rng.choice(SCALARS)

    def deep(self, levels: int) -> str:
        opener, closer = self.rng.choice([('{"a":', "}"), ("[", "]")])
        return opener * levels + "0" + closer * levels

    def value(self, depth: int = 0) -> Any:
        roll = self.rng.random()
        if depth > 4 or roll < 0.5:
            return self.rng.choice([*SCALARS, *self.ids.values()])
        if roll < 0.75:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.rng.choice(["a", "ssrc", "mimeType", "codecs", "id"]): self.value(depth + 1)
                for _ in range(self.rng.randint(0, 4))}  # fmt: skip

    def plausible(self, request_type: str) -> dict[str, Any]:
        """Valid-looking data for the type, with the client's real ids."""
        rtp = audio_rtp_parameters()
        return {
            "create-transport": {"direction": self.rng.choice(["send", "recv"]), "sctp": True},
            "connect-transport": {"transportId": self.ids["send"], "dtlsParameters": {
                "role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "AB:CD"}]}},
            "produce": {"transportId": self.ids["send"], "kind": "audio", "rtpParameters": rtp,
                        "appData": {"k": "v"}},
            "consume": {"transportId": self.ids["recv"], "producerId": self.ids["producer"],
                        "rtpCapabilities": self.caps},
            "resume-consumer": {"consumerId": self.ids["consumer"]},
            "pause-consumer": {"consumerId": self.ids["consumer"]},
            "set-preferred-layers": {"consumerId": self.ids["consumer"], "spatialLayer": 0},
            "close-producer": {"producerId": "nope"},
            "pause-producer": {"producerId": self.ids["producer"]},
            "resume-producer": {"producerId": self.ids["producer"]},
            "restart-ice": {"transportId": self.ids["recv"]},
            "produce-data": {"transportId": self.ids["send"],
                             "sctpStreamParameters": {"streamId": 1, "ordered": True}},
            "consume-data": {"transportId": self.ids["recv"], "dataProducerId": "nope"},
        }.get(request_type, {})  # fmt: skip

    def mutate(self, node: Any, depth: int = 0) -> Any:
        """Replace one value somewhere in ``node`` with something of another type."""
        if not isinstance(node, (dict, list)) or not node or self.rng.random() < 0.3 or depth > 6:
            return self.value()
        if isinstance(node, dict):
            key = self.rng.choice(list(node))
            return {**node, key: self.mutate(node[key], depth + 1)}
        i = self.rng.randrange(len(node))
        return [*node[:i], self.mutate(node[i], depth + 1), *node[i + 1 :]]

    def frame(self, request_id: str) -> tuple[str, bool]:
        """(text, whether a response to request_id is due)."""
        request_type = self.rng.choice([*p.REQUESTS, *p.REQUESTS, "", "x" * 65, "no-such"])
        kind = self.rng.random()
        if kind < 0.55:
            data: Any = self.mutate(self.plausible(request_type))
        elif kind < 0.65:
            data = self.value()
        elif kind < 0.75:  # deep, as text: deeper than a JSON encoder would write
            body = self.plausible(request_type) or {"x": 0}
            key = self.rng.choice(list(body))
            text = orjson.dumps({**body, key: "@@"}).decode()
            text = text.replace('"@@"', self.deep(self.rng.choice([17, 100, 300, 900])))
            return f'{{"type":"{request_type}","requestId":"{request_id}","data":{text}}}', True
        elif kind < 0.82:  # huge, under the frame size limit
            data = {
                **self.plausible(request_type),
                "appData": {"blob": "y" * self.rng.randint(9_000, 200_000)},
            }
        elif kind < 0.9:  # frames that are not requests at all
            junk = self.rng.choice(["[]", "null", '"text"', "7", "{", '{"type":1}', '{"requestId":"r"}'])
            return junk, False
        else:
            data = {**self.plausible(request_type), self.rng.choice(["extra", "__proto__"]): self.value()}
        frame = {"type": request_type, "requestId": request_id, "data": data}
        if self.rng.random() < 0.05:
            frame["requestId"] = self.value()  # a type-confused requestId: answered by an error event
            return orjson.dumps(frame).decode(), False
        return orjson.dumps(frame).decode(), True


async def test_ten_thousand_hostile_frames(caplog: pytest.LogCaptureFixture) -> None:
    fast = {"requests_per_second": 1e6, "request_burst": 1_000_000, "max_transports_per_peer": 1000}
    running = await start_server(limits=Limits(**fast))
    process = psutil.Process(os.getpid())
    try:
        client = SignalingClient()
        await client.connect(running.ws_url, running.token("fuzz", "fuzzer"))
        joined = await client.join()
        send = await client.create_transport("send")
        recv = await client.create_transport("recv")
        producer = await client.produce_audio(send["id"])
        consumer = await client.consume(recv["id"], producer)
        ids = {"send": send["id"], "recv": recv["id"], "producer": producer, "consumer": consumer["id"]}
        fuzzer = Fuzzer(random.Random(SEED), ids, joined["rtpCapabilities"])
        rss_before = process.memory_info().rss
        codes: dict[str, int] = {}
        for start in range(0, FRAMES, BATCH):
            answers = []
            for n in range(start, start + BATCH):
                if n % 97 == 0:
                    assert client.ws is not None
                    await client.ws.send_bytes(os.urandom(fuzzer.rng.randint(1, 2048)))
                    continue
                text, answered = fuzzer.frame(f"f{n}")
                if answered:
                    answers.append(client.request_text(text, f"f{n}"))
                else:
                    await client.send_raw(text)
            for frame in await asyncio.wait_for(asyncio.gather(*answers), 60):
                code = "ok" if frame["ok"] else frame["error"]["code"]
                codes[code] = codes.get(code, 0) + 1
            assert client.close_code is None, f"connection closed ({client.close_code}), seed {SEED}"
        rss_after = process.memory_info().rss
        print(f"\nfuzz seed {SEED}: {sum(codes.values())} responses {codes}; "
              f"server RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")  # fmt: skip
        assert "internal" not in codes, f"seed {SEED}: {codes}"
        tracebacks = [r for r in caplog.records if r.name.startswith("sfuctl") and r.exc_info]
        assert not tracebacks, [r.getMessage() for r in tracebacks[:5]]
        assert (await client.request("leave-room")) == {}
        await client.close()
    finally:
        await running.stop()
