"""The cheapest WebRTC endpoint that a mediasoup WebRtcTransport accepts: one UDP socket, ICE
(a controlling agent sending Binding requests with USE-CANDIDATE), a DTLS client handshake, SRTP.

A receiver never decrypts: SRTP leaves the RTP header in clear, so counting packets and reading
sequence numbers and timestamps (for loss, jitter and delay) costs one ``recv_into`` and a 12-byte
unpack. The socket is our own (non-blocking, ``loop.add_reader``) and each wake-up drains it until
it is empty: asyncio's datagram transport would do one ``recvfrom``, one address tuple and one
protocol callback per packet and per loop pass, several times the cost, and at 25,000 packets/s
that made the tool compete with the SFU for the CPU. A sender protects synthetic RTP with the
DTLS-SRTP keys (libsrtp, through pylibsrtp).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from aioice import stun
from aiortc.rtcdtlstransport import SRTP_AES128_CM_SHA1_80, RTCCertificate
from OpenSSL import SSL
from pylibsrtp import Policy, Session

KEEPALIVE_SECONDS = 5.0
"""Binding requests double as ICE consent: mediasoup drops a transport that stops sending them."""
HANDSHAKE_TIMEOUT = 10.0
RTCP_TYPES = range(192, 224)
"""Second byte of RTCP packets (RFC 5761), as opposed to RTP's marker + payload type."""
RECEIVE_BUFFER = 1 << 20
"""SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max): room for bursts while the
tool's loop is busy elsewhere, so a late read is not a kernel drop."""

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
    """RTP counts of one receiver; jitter as RFC 3550 (in RTP clock units).

    With ``origin`` (the ``time.monotonic()`` at which RTP timestamp 0 was due to be sent, the
    sender being paced on an absolute schedule), each packet's delay behind that schedule is kept
    too: publisher lateness + SFU + this tool, i.e. how far behind real time the chain runs.
    """

    clock_rate: int = 48000
    origin: float | None = None
    packets: int = 0
    octets: int = 0
    first_seq: int | None = None
    highest_seq: int = 0
    jitter: float = 0.0
    delay_sum: float = 0.0
    delay_max: float = 0.0
    _transit: float | None = None

    def on_rtp(self, data: bytes | bytearray, size: int, now: float) -> None:
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        self.packets += 1
        self.octets += size
        if self.origin is not None:
            delay = now - self.origin - timestamp / self.clock_rate
            self.delay_sum += delay
            if delay > self.delay_max:
                self.delay_max = delay
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

    @property
    def delay_mean(self) -> float:
        return self.delay_sum / self.packets if self.packets else 0.0


class LiteEndpoint:
    """One WebRtcTransport's client side. ``start`` completes ICE and DTLS."""

    def __init__(self, transport_info: dict[str, Any]) -> None:
        self.info = transport_info
        self.ice = transport_info["iceParameters"]
        candidate = next(c for c in transport_info["iceCandidates"] if c["protocol"] == "udp")
        self.remote = (candidate.get("address") or candidate["ip"], candidate["port"])
        self.local_ufrag = secrets.token_hex(4)
        self.tie_breaker = int.from_bytes(os.urandom(8), "big")
        self.sock: socket.socket | None = None
        self._buffer = bytearray(2048)
        self.send_errors = 0
        """Datagrams the kernel refused (full send buffer): counted, not retried."""
        self.ssl: SSL.Connection | None = None
        self.srtp: Session | None = None
        self.streams: dict[int, ReceiveStats] = {}
        """Receive statistics by SSRC: one transport may carry several consumers."""
        self.origin: float | None = None
        """When the sender's RTP timestamp 0 was due (see ``ReceiveStats.origin``); set before
        the media starts."""
        self.ice_done = asyncio.get_running_loop().create_future()
        self.dtls_done = asyncio.get_running_loop().create_future()
        self._keepalive: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind(("127.0.0.1" if self.remote[0].startswith("127.") else "0.0.0.0", 0))
        loop.add_reader(self.sock.fileno(), self._readable)
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

    @property
    def local_port(self) -> int:
        assert self.sock is not None
        port: int = self.sock.getsockname()[1]
        return port

    def _sendto(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendto(data, self.remote)
        except (BlockingIOError, InterruptedError):
            self.send_errors += 1

    def _binding_request(self) -> None:
        message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        message.attributes["USERNAME"] = f"{self.ice['usernameFragment']}:{self.local_ufrag}"
        message.attributes["PRIORITY"] = 0x6E0001FF
        message.attributes["ICE-CONTROLLING"] = self.tie_breaker
        message.attributes["USE-CANDIDATE"] = None
        message.add_message_integrity(self.ice["password"].encode())
        message.add_fingerprint()
        self._sendto(bytes(message))

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
        assert self.ssl is not None
        while True:
            try:
                data = self.ssl.bio_read(65536)
            except SSL.WantReadError:
                return
            self._sendto(data)

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

    # -- receiving -----------------------------------------------------------------------------

    def _readable(self) -> None:
        """Drain the socket: one wake-up of the loop reads every datagram queued so far."""
        assert self.sock is not None
        recv_into, buffer = self.sock.recv_into, self._buffer
        now = time.monotonic()
        while True:
            try:
                size = recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket: not data
                continue
            if size:
                self._datagram(buffer, size, now)

    def _datagram(self, data: bytearray, size: int, now: float) -> None:
        first = data[0]
        if 128 <= first < 192:  # RTP or RTCP
            if data[1] not in RTCP_TYPES and size >= 12:
                ssrc = int.from_bytes(data[8:12], "big")
                stats = self.streams.get(ssrc)
                if stats is None:
                    stats = self.streams[ssrc] = ReceiveStats(origin=self.origin)
                stats.on_rtp(data, size, now)
        elif 20 <= first < 64:  # DTLS
            if self.ssl is not None:
                self.ssl.bio_write(bytes(data[:size]))
                if not self.dtls_done.done():
                    self._handshake()
        elif first < 4:  # STUN
            if not self.ice_done.done():
                message = stun.parse_message(bytes(data[:size]))
                if message.message_class == stun.Class.RESPONSE:
                    self.ice_done.set_result(None)

    def send_rtp(self, packet: bytes) -> None:
        assert self.srtp is not None
        self._sendto(self.srtp.protect(packet))

    def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
