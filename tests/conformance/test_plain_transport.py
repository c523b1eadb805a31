"""mediasoup's test-PlainTransport behaviours, against the real worker, plus plain RTP ingest.

Deviation kept on purpose: methods of a closed transport raise InvalidStateError locally instead
of asking the worker (which would answer NotFoundError, as in mediasoup).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfuctl.server.media.errors import InvalidStateError, MediaError
from sfuctl.server.media.plain_transport import (
    PlainTransport,
    srtp_crypto_suite_to_fbs,
    srtp_parameters_to_fbs,
)
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from tests.conftest import free_port

MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"useinbandfec": 1, "foo": "bar"},
    },
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {
            "level-asymmetry-allowed": 1,
            "packetization-mode": 1,
            "profile-level-id": "4d0032",
            "foo": "bar",
        },
        "rtcpFeedback": [],
    },
]
LOCAL = {"protocol": "udp", "ip": "127.0.0.1"}
KEY_40 = "ZnQ3eWJraDg0d3ZoYzM5cXN1Y2pnaHU5NWxrZTVv"
KEY_60 = "YTdjcDBvY2JoMGY5YXNlNDc0eDJsdGgwaWRvNnJsamRrdG16aWVpZHphdHo="
MULTICAST_IP = "224.0.0.1"


@pytest.fixture
async def router(worker: Worker) -> AsyncIterator[Router]:
    yield await worker.create_router(MEDIA_CODECS)


async def plain(router: Router, **kwargs: Any) -> PlainTransport:
    return await router.create_plain_transport(listen_info=dict(LOCAL), **kwargs)


# -- creation ------------------------------------------------------------------------------------


async def test_create_plain_transport_succeeds(router: Router) -> None:
    first = await router.create_plain_transport(
        listen_info={**LOCAL, "portRange": {"min": 2000, "max": 3000}}
    )
    assert (await router.dump())["transportIds"] == [first.id]
    new_transports: list[Any] = []
    router.observer.once("newtransport", new_transports.append)

    transport = await router.create_plain_transport(
        listen_info={**LOCAL, "announcedAddress": "9.9.9.1", "portRange": {"min": 2000, "max": 3000}},
        enable_sctp=True,
        app_data={"foo": "bar"},
    )

    assert new_transports == [transport]
    assert isinstance(transport.id, str)
    assert transport.closed is False
    assert transport.transport_type == "plain"
    assert transport.app_data == {"foo": "bar"}
    assert transport.tuple["localIp"] == "9.9.9.1"
    assert transport.tuple["localAddress"] == "9.9.9.1"
    assert 2000 <= transport.tuple["localPort"] <= 3000
    assert transport.tuple["protocol"] == "udp"
    assert transport.rtcp_tuple is None
    assert transport.sctp_parameters is not None
    assert (
        transport.sctp_parameters.items()
        >= {
            "port": 5000,
            "maxSendMessageSize": 262144,
            "maxReceiveMessageSize": 262144,
            "sendBufferSize": 2000000,
            "perStreamSendQueueLimit": 2000000,
            "maxReceiverWindowBufferSize": 5242880,
            "isDataChannel": False,
        }.items()
    )
    assert transport.sctp_state == "new"
    assert transport.srtp_parameters is None

    dump = await transport.dump()
    assert dump["id"] == transport.id
    assert dump["producerIds"] == []
    assert dump["consumerIds"] == []
    assert dump["tuple"] == transport.tuple
    assert dump.get("rtcpTuple") == transport.rtcp_tuple
    assert dump["sctpParameters"] == transport.sctp_parameters
    assert dump["sctpState"] == "new"
    assert "recvRtpHeaderExtensions" in dump
    assert isinstance(dump["rtpListener"], dict)

    transport.close()
    assert transport.closed is True
    assert transport.sctp_state == "closed"


async def test_create_plain_transport_with_separate_rtcp_port_succeeds(router: Router) -> None:
    assert isinstance(await plain(router), PlainTransport)
    rtp_port, rtcp_port = free_port(), free_port()

    transport = await router.create_plain_transport(
        listen_info={**LOCAL, "port": rtp_port}, rtcp_listen_info={**LOCAL, "port": rtcp_port}
    )

    assert transport.closed is False
    assert transport.app_data == {}
    assert transport.tuple == {
        "localIp": "127.0.0.1",
        "localAddress": "127.0.0.1",
        "localPort": rtp_port,
        "protocol": "udp",
    }
    assert transport.rtcp_tuple == {
        "localIp": "127.0.0.1",
        "localAddress": "127.0.0.1",
        "localPort": rtcp_port,
        "protocol": "udp",
    }
    assert transport.sctp_parameters is None
    assert transport.sctp_state is None
    dump = await transport.dump()
    assert dump["id"] == transport.id
    assert dump["tuple"] == transport.tuple
    assert dump["rtcpTuple"] == transport.rtcp_tuple
    assert "sctpState" not in dump


async def test_create_plain_transport_without_listen_info_raises_type_error(router: Router) -> None:
    with pytest.raises(TypeError):
        await router.create_plain_transport()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "listen_info",
    [
        pytest.param({**LOCAL, "portRange": {"min": 4000, "max": 3000}}, id="port range min > max"),
        pytest.param({"protocol": "udp", "ip": "123"}, id="invalid ip"),
        pytest.param({"protocol": "udp", "ip": ["127.0.0.1"]}, id="ip not a string"),
        pytest.param({"protocol": "tcp", "ip": "127.0.0.1"}, id="tcp"),
    ],
)
async def test_create_plain_transport_with_wrong_listen_info_raises_type_error(
    router: Router, listen_info: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        await router.create_plain_transport(listen_info=listen_info)


async def test_create_plain_transport_with_wrong_app_data_raises_type_error(router: Router) -> None:
    with pytest.raises(TypeError):
        await plain(router, app_data="NOT-AN-OBJECT")


async def test_create_plain_transport_with_non_bindable_ip_raises(router: Router) -> None:
    with pytest.raises(MediaError):
        await router.create_plain_transport(listen_info={"protocol": "udp", "ip": "8.8.8.8"})


async def test_create_plain_transport_with_fixed_port_succeeds(router: Router) -> None:
    port = free_port()
    transport = await router.create_plain_transport(listen_info={**LOCAL, "port": port})
    assert transport.tuple["localPort"] == port


# -- SRTP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "srtp_parameters",
    [
        pytest.param(None, id="missing"),
        pytest.param(1, id="not a dict"),
        pytest.param({"keyBase64": KEY_40}, id="missing cryptoSuite"),
        pytest.param({"cryptoSuite": "AES_CM_128_HMAC_SHA1_80"}, id="missing keyBase64"),
        pytest.param({"cryptoSuite": "FOO", "keyBase64": KEY_40}, id="unknown cryptoSuite"),
        pytest.param({"cryptoSuite": 123, "keyBase64": KEY_40}, id="cryptoSuite not a string"),
        pytest.param(
            {"cryptoSuite": "AES_CM_128_HMAC_SHA1_80", "keyBase64": []}, id="keyBase64 not a string"
        ),
    ],
)
async def test_connect_with_wrong_srtp_parameters_raises_type_error(
    router: Router, srtp_parameters: Any
) -> None:
    transport = await plain(router, enable_srtp=True)
    with pytest.raises(TypeError):
        await transport.connect(ip="127.0.0.2", port=9999, srtp_parameters=srtp_parameters)


async def test_create_plain_transport_with_srtp_succeeds(router: Router) -> None:
    transport = await plain(router, enable_srtp=True)
    assert transport.srtp_parameters is not None
    assert transport.srtp_parameters["cryptoSuite"] == "AES_CM_128_HMAC_SHA1_80"
    assert len(transport.srtp_parameters["keyBase64"]) == 40

    result = await transport.connect(  # type: ignore[func-returns-value]
        ip="127.0.0.2",
        port=9999,
        srtp_parameters={"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": KEY_60},
    )

    assert result is None
    assert transport.srtp_parameters["cryptoSuite"] == "AEAD_AES_256_GCM"
    assert len(transport.srtp_parameters["keyBase64"]) == 60


async def test_connect_with_srtp_and_comedia_needs_no_address(router: Router) -> None:
    transport = await plain(router, enable_srtp=True, comedia=True)
    assert transport.srtp_parameters is not None
    assert transport.srtp_parameters["cryptoSuite"] == "AES_CM_128_HMAC_SHA1_80"
    assert len(transport.srtp_parameters["keyBase64"]) == 40
    assert transport.tuple["localAddress"] == "127.0.0.1"
    assert transport.tuple["protocol"] == "udp"
    assert "remoteIp" not in transport.tuple

    await transport.connect(srtp_parameters={"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": KEY_60})

    assert transport.srtp_parameters["cryptoSuite"] == "AEAD_AES_256_GCM"
    assert len(transport.srtp_parameters["keyBase64"]) == 60
    assert "remoteIp" not in transport.tuple


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AEAD_AES_256_GCM", 0),
        ("AEAD_AES_128_GCM", 1),
        ("AES_CM_128_HMAC_SHA1_80", 2),
        ("AES_CM_128_HMAC_SHA1_32", 3),
    ],
)
def test_srtp_crypto_suite_to_fbs(name: str, value: int) -> None:
    assert srtp_crypto_suite_to_fbs(name) == value
    assert srtp_parameters_to_fbs({"cryptoSuite": name, "keyBase64": KEY_40})["cryptoSuite"] == value


def test_srtp_crypto_suite_to_fbs_rejects_unknown_suite() -> None:
    with pytest.raises(TypeError, match="invalid SrtpCryptoSuite"):
        srtp_crypto_suite_to_fbs("FOO")


# -- socket flags ----------------------------------------------------------------------------------


def multicast_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((MULTICAST_IP, 0))
        port: int = sock.getsockname()[1]
        return port


async def test_two_transports_on_same_port_with_udp_reuse_port_succeed(router: Router) -> None:
    port = multicast_port()
    info = {"protocol": "udp", "ip": MULTICAST_IP, "port": port}
    # ipv6Only is ignored for an IPv4 address.
    await router.create_plain_transport(
        listen_info={**info, "flags": {"udpReusePort": True, "ipv6Only": True}}
    )
    await router.create_plain_transport(listen_info={**info, "flags": {"udpReusePort": True}})


async def test_two_transports_on_same_port_without_udp_reuse_port_fail(router: Router) -> None:
    info = {"protocol": "udp", "ip": MULTICAST_IP, "port": multicast_port(), "flags": {"udpReusePort": False}}
    await router.create_plain_transport(listen_info=info)
    with pytest.raises(MediaError):
        await router.create_plain_transport(listen_info=info)


# -- stats and connect ---------------------------------------------------------------------------

ZERO_COUNTERS = (
    "bytesReceived recvBitrate bytesSent sendBitrate rtpBytesReceived rtpRecvBitrate rtpBytesSent "
    "rtpSendBitrate rtxBytesReceived rtxRecvBitrate rtxBytesSent rtxSendBitrate probationBytesSent "
    "probationSendBitrate"
).split()


async def test_get_stats_succeeds(router: Router) -> None:
    transport = await plain(router)

    stats = await transport.get_stats()

    assert isinstance(stats, list)
    assert len(stats) == 1
    assert stats[0]["type"] == "plain-rtp-transport"
    assert stats[0]["transportId"] == transport.id
    assert isinstance(stats[0]["timestamp"], int)
    assert {key: stats[0][key] for key in ZERO_COUNTERS} == dict.fromkeys(ZERO_COUNTERS, 0)
    assert stats[0]["tuple"]["localIp"] == "127.0.0.1"
    assert stats[0]["tuple"]["localAddress"] == "127.0.0.1"
    assert isinstance(stats[0]["tuple"]["localPort"], int)
    assert stats[0]["tuple"]["protocol"] == "udp"
    assert "rtcpTuple" not in stats[0]


async def test_connect_succeeds_once(router: Router) -> None:
    transport = await plain(router, rtcp_mux=False)

    await transport.connect(ip="1.2.3.4", port=1234, rtcp_port=1235)
    with pytest.raises(MediaError):
        await transport.connect(ip="1.2.3.4", port=1234, rtcp_port=1235)

    assert transport.tuple["remoteIp"] == "1.2.3.4"
    assert transport.tuple["remotePort"] == 1234
    assert transport.tuple["protocol"] == "udp"
    assert transport.rtcp_tuple is not None
    assert transport.rtcp_tuple["remoteIp"] == "1.2.3.4"
    assert transport.rtcp_tuple["remotePort"] == 1235
    assert transport.rtcp_tuple["protocol"] == "udp"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(
            {
                "ip": "127.0.0.2",
                "port": 9998,
                "rtcp_port": 9999,
                "srtp_parameters": {"cryptoSuite": "AES_CM_128_HMAC_SHA1_80", "keyBase64": KEY_40},
            },
            id="srtp parameters without srtp",
        ),
        pytest.param({}, id="nothing"),
        pytest.param({"ip": "::::1234"}, id="invalid ip"),
        pytest.param({"ip": "127.0.0.1", "port": 1234}, id="missing rtcp port without rtcp mux"),
        pytest.param({"ip": "127.0.0.1", "rtcp_port": 1235}, id="missing port"),
        pytest.param({"ip": "127.0.0.1", "port": "chicken", "rtcp_port": 1235}, id="port not a number"),
    ],
)
async def test_connect_with_wrong_arguments_raises_type_error(router: Router, kwargs: dict[str, Any]) -> None:
    transport = await plain(router, rtcp_mux=False)
    with pytest.raises(TypeError):
        await transport.connect(**kwargs)


# -- closing -------------------------------------------------------------------------------------


async def test_methods_raise_if_closed(router: Router) -> None:
    transport = await plain(router)
    closes: list[None] = []
    transport.observer.once("close", lambda: closes.append(None))

    transport.close()

    assert len(closes) == 1
    assert transport.closed is True
    assert transport.id not in router.transports
    with pytest.raises(InvalidStateError):
        await transport.dump()
    with pytest.raises(InvalidStateError):
        await transport.get_stats()
    with pytest.raises(InvalidStateError):
        await transport.connect()
    assert transport.id not in (await router.dump())["transportIds"]


async def test_emits_routerclose_if_router_is_closed(router: Router) -> None:
    transport = await plain(router, enable_sctp=True)
    closes: list[None] = []
    transport.observer.once("close", lambda: closes.append(None))
    router_closed = asyncio.get_running_loop().create_future()
    transport.once("routerclose", lambda: router_closed.set_result(None))

    router.close()
    await asyncio.wait_for(router_closed, 1)

    assert len(closes) == 1
    assert transport.closed is True
    assert transport.sctp_state == "closed"
    with pytest.raises(InvalidStateError):
        await transport.dump()


async def test_emits_routerclose_if_worker_is_closed(router: Router, worker: Worker) -> None:
    transport = await plain(router)
    closes: list[None] = []
    transport.observer.once("close", lambda: closes.append(None))
    router_closed = asyncio.get_running_loop().create_future()
    transport.once("routerclose", lambda: router_closed.set_result(None))

    worker.close()
    await asyncio.wait_for(router_closed, 1)

    assert len(closes) == 1
    assert transport.closed is True
    with pytest.raises(InvalidStateError):
        await transport.dump()


# -- media: plain RTP into a producer --------------------------------------------------------------

OPUS_PT = 111
OPUS_SSRC = 0x11223344
RTP_PACKETS = 10


def opus_rtp_packet(seq: int) -> bytes:
    """RTP v2, no extension, opus payload type, fixed SSRC, 20 ms (960 samples) per packet."""
    header = struct.pack("!BBHII", 0x80, OPUS_PT, seq, seq * 960, OPUS_SSRC)
    return header + bytes([0xF8, 0xFF, 0xFE])  # a tiny opus frame (TOC + padding bytes)


async def producer_packet_count(producer: Any, expected: int) -> int:
    """Poll the producer's inbound stats until it has counted ``expected`` packets (or 2 s pass)."""
    count = 0
    for _ in range(40):
        stats = await producer.get_stats()
        count = sum(s["packetCount"] for s in stats if s["type"] == "inbound-rtp")
        if count >= expected:
            break
        await asyncio.sleep(0.05)
    return count


async def test_plain_rtp_packets_reach_producer(worker: Worker) -> None:
    router = await worker.create_router([MEDIA_CODECS[0]])
    transport = await router.create_plain_transport(listen_info=dict(LOCAL), comedia=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        local_port = sender.getsockname()[1]
        await transport.connect(ip="127.0.0.1", port=local_port)
        assert transport.tuple["remotePort"] == local_port
        producer = await transport.produce(
            "audio",
            {
                "codecs": [
                    {"mimeType": "audio/opus", "payloadType": OPUS_PT, "clockRate": 48000, "channels": 2}
                ],
                "encodings": [{"ssrc": OPUS_SSRC}],
            },
        )
        destination = (transport.tuple["localAddress"], transport.tuple["localPort"])
        for seq in range(RTP_PACKETS):
            sender.sendto(opus_rtp_packet(seq), destination)

        count = await producer_packet_count(producer, RTP_PACKETS)

    assert count == RTP_PACKETS
    stats = await transport.get_stats()
    assert stats[0]["rtpBytesReceived"] > 0


def next_event(emitter: Any, event: str) -> asyncio.Future[Any]:
    """A future of the first argument of the next ``event``."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def resolve(value: Any) -> None:
        if not future.done():
            future.set_result(value)

    emitter.once(event, resolve)
    return future


async def test_comedia_learns_remote_tuple_from_first_packet(router: Router) -> None:
    transport = await plain(router, comedia=True)
    tuples = next_event(transport, "tuple")
    observed = next_event(transport.observer, "tuple")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        sender.sendto(opus_rtp_packet(0), ("127.0.0.1", transport.tuple["localPort"]))

        learnt = await asyncio.wait_for(tuples, 2)

        assert learnt["remoteIp"] == "127.0.0.1"
        assert learnt["remotePort"] == sender.getsockname()[1]
    assert await asyncio.wait_for(observed, 1) == learnt
    assert transport.tuple == learnt
