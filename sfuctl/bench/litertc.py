"""The cheapest WebRTC endpoint that a mediasoup WebRtcTransport accepts: one UDP socket, ICE
(a controlling agent sending Binding requests with USE-CANDIDATE), a DTLS client handshake, SRTP.

A receiver never decrypts: SRTP leaves the RTP header in clear, so counting packets and reading
sequence numbers and timestamps (for loss and jitter) costs one ``recvfrom`` and a 12-byte unpack.
That keeps hundreds of receivers in one Python process far cheaper than the SFU's own forwarding.
A sender protects synthetic RTP with the DTLS-SRTP keys (libsrtp, through pylibsrtp).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import struct
import time
from dataclasses import dataclass
from typing import Any, cast

from aioice import stun
from aiortc.rtcdtlstransport import SRTP_AES128_CM_SHA1_80, RTCCertificate
from OpenSSL import SSL
from pylibsrtp import Policy, Session

KEEPALIVE_SECONDS = 5.0
"""Binding requests double as ICE consent: mediasoup drops a transport that stops sending them."""
HANDSHAKE_TIMEOUT = 10.0
RTCP_TYPES = range(192, 224)
"""Second byte of RTCP packets (RFC 5761), as opposed to RTP's marker + payload type."""

_certificate: Any = None


def certificate() -> Any:
    """One certificate for every endpoint of the run: key generation is the costly part."""
    global _certificate
    if _certificate is None:
        _certificate = RTCCertificate.generateCertificate()
    return _certificate


def dtls_parameters() -> dict[str, Any]:
    fingerprints = [{"algorithm": f.algorithm, "value": f.value} for f in certificate().getFingerprints()]
    return {"role": "client", "fingerprints": fingerprints}


@dataclass
class ReceiveStats:
    """RTP counts of one receiver; jitter as RFC 3550 (in RTP clock units)."""

    clock_rate: int = 48000
    packets: int = 0
    octets: int = 0
    first_seq: int | None = None
    highest_seq: int = 0
    jitter: float = 0.0
    _transit: float | None = None

    def on_rtp(self, data: bytes, now: float) -> None:
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        self.packets += 1
        self.octets += len(data)
        if self.first_seq is None:
            self.first_seq = self.highest_seq = seq
        else:  # extend the 16-bit sequence number across wraps
            cycle = self.highest_seq & ~0xFFFF
            candidate = cycle | seq
            if candidate < self.highest_seq - 0x8000:
                candidate += 0x10000
            self.highest_seq = max(self.highest_seq, candidate)
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            self.jitter += (abs(transit - self._transit) - self.jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        return 0 if self.first_seq is None else self.highest_seq - self.first_seq + 1


class LiteEndpoint(asyncio.DatagramProtocol):
    """One WebRtcTransport's client side. ``start`` completes ICE and DTLS."""

    def __init__(self, transport_info: dict[str, Any]) -> None:
        self.info = transport_info
        self.ice = transport_info["iceParameters"]
        candidate = next(c for c in transport_info["iceCandidates"] if c["protocol"] == "udp")
        self.remote = (candidate.get("address") or candidate["ip"], candidate["port"])
        self.local_ufrag = secrets.token_hex(4)
        self.tie_breaker = int.from_bytes(os.urandom(8), "big")
        self.udp: asyncio.DatagramTransport | None = None
        self.ssl: SSL.Connection | None = None
        self.srtp: Session | None = None
        self.streams: dict[int, ReceiveStats] = {}
        """Receive statistics by SSRC: one transport may carry several consumers."""
        self.ice_done = asyncio.get_running_loop().create_future()
        self.dtls_done = asyncio.get_running_loop().create_future()
        self._keepalive: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        for _ in range(int(HANDSHAKE_TIMEOUT / 0.5)):
            self._binding_request()
            await asyncio.wait([self.ice_done], timeout=0.5)
            if self.ice_done.done():
                break
        await asyncio.wait_for(asyncio.shield(self.ice_done), 0.1)
        context = certificate()._create_ssl_context([SRTP_AES128_CM_SHA1_80])
        self.ssl = SSL.Connection(context)
        self.ssl.set_connect_state()
        self._handshake()
        deadline = loop.time() + HANDSHAKE_TIMEOUT
        while not self.dtls_done.done() and loop.time() < deadline:
            await asyncio.wait([self.dtls_done], timeout=0.3)
            if not self.dtls_done.done():
                self.ssl.DTLSv1_handle_timeout()  # retransmits the last flight
                self._flush()
        await asyncio.wait_for(asyncio.shield(self.dtls_done), 0.1)
        self._keepalive = loop.create_task(self._keep_alive())

    def _binding_request(self) -> None:
        assert self.udp is not None
        message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        message.attributes["USERNAME"] = f"{self.ice['usernameFragment']}:{self.local_ufrag}"
        message.attributes["PRIORITY"] = 0x6E0001FF
        message.attributes["ICE-CONTROLLING"] = self.tie_breaker
        message.attributes["USE-CANDIDATE"] = None
        message.add_message_integrity(self.ice["password"].encode())
        message.add_fingerprint()
        self.udp.sendto(bytes(message), self.remote)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            self._binding_request()

    def _handshake(self) -> None:
        assert self.ssl is not None
        try:
            self.ssl.do_handshake()
        except SSL.WantReadError:
            pass
        else:
            if not self.dtls_done.done():
                self._setup_srtp()
                self.dtls_done.set_result(None)
        self._flush()

    def _flush(self) -> None:
        assert self.ssl is not None and self.udp is not None
        while True:
            try:
                data = self.ssl.bio_read(65536)
            except SSL.WantReadError:
                return
            self.udp.sendto(data, self.remote)

    def _setup_srtp(self) -> None:
        assert self.ssl is not None
        profile = SRTP_AES128_CM_SHA1_80
        material = self.ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
        )
        policy = Policy(
            key=profile.get_key_and_salt(material, 0),  # we are the DTLS client
            ssrc_type=Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=profile.libsrtp_profile,
        )
        self.srtp = Session(policy)

    # -- asyncio -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.udp = cast(asyncio.DatagramTransport, transport)  # selector/uvloop classes do not subclass it

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        first = data[0]
        if 128 <= first < 192:  # RTP or RTCP
            if data[1] not in RTCP_TYPES and len(data) >= 12:
                ssrc = int.from_bytes(data[8:12], "big")
                stats = self.streams.get(ssrc)
                if stats is None:
                    stats = self.streams[ssrc] = ReceiveStats()
                stats.on_rtp(data, time.monotonic())
        elif 20 <= first < 64:  # DTLS
            if self.ssl is not None:
                self.ssl.bio_write(data)
                if not self.dtls_done.done():
                    self._handshake()
        elif first < 4:  # STUN
            if not self.ice_done.done():
                message = stun.parse_message(data)
                if message.message_class == stun.Class.RESPONSE:
                    self.ice_done.set_result(None)

    def send_rtp(self, packet: bytes) -> None:
        assert self.srtp is not None and self.udp is not None
        self.udp.sendto(self.srtp.protect(packet), self.remote)

    def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.udp is not None:
            self.udp.close()
