"""DataProducer against the real worker: the behaviours mediasoup's test-DataProducer checks.

Deviation by design: methods of a closed object fail locally with InvalidStateError (the
project's Entity rule) where mediasoup's fail in the worker with NotFoundError.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from sfuctl.server.media.data_producer import DataProducer
from sfuctl.server.media.errors import InvalidStateError
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker

LISTEN_INFOS = [{"protocol": "udp", "ip": "127.0.0.1"}]

OPTIONS_1: dict[str, Any] = {
    "sctp_stream_parameters": {"streamId": 666},
    "label": "foo",
    "protocol": "bar",
    "app_data": {"foo": 1, "bar": "2"},
}
OPTIONS_2: dict[str, Any] = {
    "sctp_stream_parameters": {"streamId": 777, "maxRetransmits": 3},
    "label": "foo",
    "protocol": "bar",
    "paused": True,
    "app_data": {"foo": 1, "bar": "2"},
}


@dataclass
class Room:
    router: Router
    transport1: WebRtcTransport
    transport2: WebRtcTransport


@pytest.fixture
async def room(worker: Worker) -> Room:
    router = await worker.create_router()
    transports = [
        await router.create_webrtc_transport(listen_infos=LISTEN_INFOS, enable_sctp=True) for _ in range(2)
    ]
    return Room(router, *transports)


def recorder(emitter: Any, event: str) -> list[tuple[Any, ...]]:
    """Calls of ``event`` on ``emitter``, one tuple of arguments each."""
    calls: list[tuple[Any, ...]] = []
    emitter.on(event, lambda *args: calls.append(args))
    return calls


async def test_produce_data_succeeds(room: Room) -> None:
    new_data_producers = recorder(room.transport1.observer, "newdataproducer")
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    assert new_data_producers == [(data_producer,)]
    assert isinstance(data_producer.id, str)
    assert data_producer.closed is False
    assert data_producer.type == "sctp"
    assert data_producer.sctp_stream_parameters == {"streamId": 666, "ordered": True}
    assert data_producer.label == "foo"
    assert data_producer.protocol == "bar"
    assert data_producer.paused is False
    assert data_producer.app_data == {"foo": 1, "bar": "2"}
    dump = await room.router.dump()
    assert dump["mapDataProducerIdDataConsumerIds"] == {data_producer.id: []}
    assert dump["mapDataConsumerIdDataProducerId"] == {}
    transport_dump = await room.transport1.dump()
    assert transport_dump["id"] == room.transport1.id
    assert transport_dump["dataProducerIds"] == [data_producer.id]
    assert transport_dump["dataConsumerIds"] == []


async def test_produce_data_partially_reliable_and_paused_succeeds(room: Room) -> None:
    new_data_producers = recorder(room.transport2.observer, "newdataproducer")
    data_producer = await room.transport2.produce_data(**OPTIONS_2)
    assert new_data_producers == [(data_producer,)]
    assert data_producer.closed is False
    assert data_producer.type == "sctp"
    assert data_producer.sctp_stream_parameters == {"streamId": 777, "ordered": False, "maxRetransmits": 3}
    assert data_producer.label == "foo"
    assert data_producer.protocol == "bar"
    assert data_producer.paused is True
    assert data_producer.app_data == {"foo": 1, "bar": "2"}
    dump = await room.router.dump()
    assert dump["mapDataProducerIdDataConsumerIds"] == {data_producer.id: []}
    assert dump["mapDataConsumerIdDataProducerId"] == {}
    transport_dump = await room.transport2.dump()
    assert transport_dump["dataProducerIds"] == [data_producer.id]
    assert transport_dump["dataConsumerIds"] == []


async def test_sctp_stream_parameters_is_a_copy(room: Room) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    params = data_producer.sctp_stream_parameters
    assert params is not None
    params["streamId"] = 1
    assert data_producer.sctp_stream_parameters == {"streamId": 666, "ordered": True}


@pytest.mark.parametrize("params", [None, {}, {"foo": "foo"}], ids=["missing", "empty", "no-stream-id"])
async def test_produce_data_with_wrong_arguments_raises_type_error(
    room: Room, params: dict[str, Any] | None
) -> None:
    with pytest.raises(TypeError):
        await room.transport1.produce_data(params)


async def test_produce_data_with_already_used_stream_id_raises(room: Room) -> None:
    await room.transport1.produce_data(**OPTIONS_1)
    with pytest.raises(Exception):  # noqa: B017 (mediasoup only promises an Error)
        await room.transport1.produce_data({"streamId": 666})


async def test_produce_data_ordered_with_max_packet_life_time_raises_type_error(room: Room) -> None:
    with pytest.raises(TypeError):
        await room.transport1.produce_data({"streamId": 999, "ordered": True, "maxPacketLifeTime": 4000})


async def test_dump_succeeds(room: Room) -> None:
    data_producer1 = await room.transport1.produce_data(**OPTIONS_1)
    assert await data_producer1.dump() == {
        "id": data_producer1.id,
        "type": "sctp",
        "sctpStreamParameters": {"streamId": 666, "ordered": True},
        "label": "foo",
        "protocol": "bar",
        "paused": False,
    }
    data_producer2 = await room.transport2.produce_data(**OPTIONS_2)
    assert await data_producer2.dump() == {
        "id": data_producer2.id,
        "type": "sctp",
        "sctpStreamParameters": {"streamId": 777, "ordered": False, "maxRetransmits": 3},
        "label": "foo",
        "protocol": "bar",
        "paused": True,
    }


def assert_stats(stats: list[dict[str, Any]], data_producer: DataProducer, messages: int, size: int) -> None:
    assert len(stats) == 1
    assert stats[0]["type"] == "data-producer"
    assert isinstance(stats[0]["timestamp"], int)
    assert stats[0]["label"] == data_producer.label
    assert stats[0]["protocol"] == data_producer.protocol
    assert stats[0]["messagesReceived"] == messages
    assert stats[0]["bytesReceived"] == size


async def test_get_stats_succeeds(room: Room) -> None:
    data_producer1 = await room.transport1.produce_data(**OPTIONS_1)
    assert_stats(await data_producer1.get_stats(), data_producer1, 0, 0)
    data_producer2 = await room.transport2.produce_data(**OPTIONS_2)
    assert_stats(await data_producer2.get_stats(), data_producer2, 0, 0)


async def test_send_counts_as_received(room: Room) -> None:
    """Beyond mediasoup's test: send() injects messages as if the endpoint had sent them."""
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    data_producer.send("hello")
    data_producer.send(b"\x01\x02\x03", subchannels=[1, 2], required_subchannel=1)
    data_producer.send("")  # travels as one placeholder byte under PPID 56
    assert_stats(await data_producer.get_stats(), data_producer, 3, 5 + 3 + 1)


@pytest.mark.parametrize(
    "args",
    [
        {"message": 123},
        {"message": "x", "ppid": -1},
        {"message": "x", "subchannels": [65536]},
        {"message": "x", "required_subchannel": True},
    ],
    ids=["not-str-or-bytes", "bad-ppid", "bad-subchannel", "bad-required-subchannel"],
)
async def test_send_with_wrong_arguments_raises_type_error(room: Room, args: dict[str, Any]) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    with pytest.raises(TypeError):
        data_producer.send(**args)


async def test_pause_and_resume_succeed(room: Room) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    pauses = recorder(data_producer.observer, "pause")
    resumes = recorder(data_producer.observer, "resume")
    await data_producer.pause()
    assert data_producer.paused is True
    assert (await data_producer.dump())["paused"] is True
    await data_producer.resume()
    assert data_producer.paused is False
    assert (await data_producer.dump())["paused"] is False
    # Not awaited one by one: the observer still fires on every actual state change.
    await asyncio.gather(
        data_producer.pause(),
        data_producer.resume(),
        data_producer.pause(),
        data_producer.pause(),
        data_producer.pause(),
        data_producer.resume(),
    )
    assert len(pauses) == 3
    assert len(resumes) == 3


async def test_pause_and_resume_emit_events_in_order(room: Room) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    events: list[str] = []
    data_producer.observer.once("resume", lambda: events.append("resume"))
    data_producer.observer.once("pause", lambda: events.append("pause"))
    await asyncio.gather(data_producer.pause(), data_producer.resume())
    assert events == ["pause", "resume"]
    assert data_producer.paused is False


async def test_close_succeeds(room: Room) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    closes = recorder(data_producer.observer, "close")
    data_producer.close()
    assert len(closes) == 1
    assert data_producer.closed is True
    assert data_producer.id not in room.router.data_producers
    with pytest.raises(InvalidStateError):
        await data_producer.dump()
    dump = await room.router.dump()
    assert dump["mapDataProducerIdDataConsumerIds"] == {}
    assert dump["mapDataConsumerIdDataProducerId"] == {}
    transport_dump = await room.transport1.dump()
    assert transport_dump["dataProducerIds"] == []
    assert transport_dump["dataConsumerIds"] == []


async def test_methods_reject_if_closed(room: Room) -> None:
    data_producer = await room.transport1.produce_data(**OPTIONS_1)
    data_producer.close()
    with pytest.raises(InvalidStateError):
        await data_producer.dump()
    with pytest.raises(InvalidStateError):
        await data_producer.get_stats()
    with pytest.raises(InvalidStateError):
        data_producer.send("foo")


async def test_transport_close_emits_transportclose(room: Room) -> None:
    data_producer = await room.transport2.produce_data(**OPTIONS_2)
    closes = recorder(data_producer.observer, "close")
    transport_closes = recorder(data_producer, "transportclose")
    room.transport2.close()
    assert len(transport_closes) == 1
    assert len(closes) == 1
    assert data_producer.closed is True
    assert data_producer.id not in room.router.data_producers
    with pytest.raises(InvalidStateError):
        await data_producer.dump()
