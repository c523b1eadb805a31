"""Data channels through the real worker: one pymediasoup client sends text over SCTP, another
receives it; the server injects messages too (DataProducer.send, DataConsumer.send).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfuctl.server.media.data_producer import DataProducer
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker
from tests.media_client import LISTEN_INFOS, MEDIA_CODECS, MediaClient, loopback_ice, transport_options

TIMEOUT = 20.0


@pytest.fixture
async def router(worker: Worker) -> AsyncIterator[Router]:
    with loopback_ice():
        yield await worker.create_router(MEDIA_CODECS)


def sctp_transport_options(transport: WebRtcTransport) -> dict[str, Any]:
    """transport_options() plus the SCTP fields mediasoup-client requires (OS, MIS, maxMessageSize),
    which mediasoup adds to a transport's sctpParameters and our controller does not (yet)."""
    options = transport_options(transport)
    sctp = dict(options["sctpParameters"])
    sctp.setdefault("OS", 65535)
    sctp.setdefault("MIS", 65535)
    sctp.setdefault("maxMessageSize", sctp["maxReceiveMessageSize"])
    options["sctpParameters"] = sctp
    return options


def on_connect(client_transport: Any, server: WebRtcTransport) -> None:
    @client_transport.on("connect")  # type: ignore[untyped-decorator]
    async def connect(dtls_parameters: Any) -> None:
        await server.connect(dtls_parameters.model_dump(exclude_none=True))


async def open_data_sender(client: MediaClient) -> None:
    """A send transport with SCTP whose 'producedata' creates the server-side DataProducer."""
    server = client.server_send = await client.router.create_webrtc_transport(
        listen_infos=LISTEN_INFOS, enable_sctp=True
    )
    client.send = client.device.createSendTransport(**sctp_transport_options(server))
    on_connect(client.send, server)

    @client.send.on("producedata")  # type: ignore[untyped-decorator]
    async def produce_data(sctpStreamParameters: Any, label: str, protocol: str, appData: Any) -> str:
        data_producer = await server.produce_data(
            sctpStreamParameters.model_dump(exclude_none=True), label=label, protocol=protocol
        )
        return data_producer.id


async def open_data_receiver(client: MediaClient) -> None:
    server = client.server_recv = await client.router.create_webrtc_transport(
        listen_infos=LISTEN_INFOS, enable_sctp=True
    )
    client.recv = client.device.createRecvTransport(**sctp_transport_options(server))
    on_connect(client.recv, server)


async def wait_open(channel: Any) -> None:
    """Until a pymediasoup data producer/consumer's data channel is open."""
    if channel.readyState == "open":
        return
    opened = asyncio.Event()
    channel.once("open", opened.set)
    await asyncio.wait_for(opened.wait(), TIMEOUT)


async def test_text_message_flows_from_one_client_to_another(router: Router) -> None:
    sender, receiver = MediaClient(router), MediaClient(router)
    await sender.load()
    await receiver.load()
    await open_data_sender(sender)
    await open_data_receiver(receiver)
    assert sender.server_send is not None and receiver.server_recv is not None

    client_producer = await sender.send.produceData(label="chat", protocol="text")
    data_producer: DataProducer = router.data_producers[client_producer.id]
    assert (data_producer.label, data_producer.protocol) == ("chat", "text")
    data_consumer = await receiver.server_recv.consume_data(data_producer.id)
    client_consumer = await receiver.recv.consumeData(
        id=data_consumer.id,
        dataProducerId=data_producer.id,
        sctpStreamParameters=data_consumer.sctp_stream_parameters,
        label=data_consumer.label,
        protocol=data_consumer.protocol,
    )
    received: asyncio.Queue[Any] = asyncio.Queue()
    client_consumer.on("message", received.put_nowait)
    await wait_open(client_producer)
    await wait_open(client_consumer)

    client_producer.send("hello through the SFU")
    assert await asyncio.wait_for(received.get(), TIMEOUT) == "hello through the SFU"
    data_producer.send("injected by the server")
    assert await asyncio.wait_for(received.get(), TIMEOUT) == "injected by the server"
    await data_consumer.send(b"\x00\x01binary")
    assert await asyncio.wait_for(received.get(), TIMEOUT) == b"\x00\x01binary"

    producer_stats = (await data_producer.get_stats())[0]
    assert producer_stats["messagesReceived"] == 2  # the client's and the injected one
    consumer_stats = (await data_consumer.get_stats())[0]
    assert consumer_stats["messagesSent"] == 3
    assert receiver.server_recv.sctp_state == "connected"

    await receiver.close()
    await sender.close()
