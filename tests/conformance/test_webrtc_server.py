"""mediasoup's test-WebRtcServer behaviours, against the real worker.

Deviation kept on purpose: methods of a closed server raise InvalidStateError locally instead of
asking the worker (mediasoup: NotFoundError, or WorkerClosedError once the worker is closed).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sfuctl.server.media.errors import InvalidStateError, MediaError
from sfuctl.server.media.webrtc_server import WebRtcServer
from sfuctl.server.media.worker import Worker, WorkerSettings
from tests.conftest import free_port


def udp(port: int | None = None, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"protocol": "udp", "ip": "127.0.0.1", **extra}
    if port is not None:
        info["port"] = port
    return info


def tcp(port: int | None = None, **extra: Any) -> dict[str, Any]:
    return {**udp(port, **extra), "protocol": "tcp"}


def recorder(emitter: Any, event: str) -> list[tuple[Any, ...]]:
    """The argument tuples of every ``event`` emitted from now on."""
    calls: list[tuple[Any, ...]] = []
    emitter.on(event, lambda *args: calls.append(args))
    return calls


async def assert_worker_dump_has_only(worker: Worker, server: WebRtcServer) -> None:
    assert await worker.dump() == {
        "pid": worker.pid,
        "webRtcServerIds": [server.id],
        "routerIds": [],
        "channelMessageHandlers": {"channelRequestHandlers": [server.id], "channelNotificationHandlers": []},
    }


def assert_closes_with_worker(worker: Worker, server: WebRtcServer) -> None:
    assert list(worker.webrtc_servers) == [server.id]
    worker.close()
    assert server.closed is True
    assert worker.webrtc_servers == {}


# -- creation ------------------------------------------------------------------------------------


async def test_create_webrtc_server_succeeds(worker: Worker) -> None:
    new_servers = recorder(worker.observer, "newwebrtcserver")
    port1, port2 = free_port(), free_port()

    server = await worker.create_webrtc_server(
        [udp(port1), tcp(port2, announcedAddress="foo.bar.org")], app_data={"foo": 123}
    )

    assert new_servers == [(server,)]
    assert isinstance(server.id, str)
    assert server.closed is False
    assert server.app_data == {"foo": 123}
    await assert_worker_dump_has_only(worker, server)
    assert await server.dump() == {
        "id": server.id,
        "udpSockets": [{"ip": "127.0.0.1", "port": port1}],
        "tcpServers": [{"ip": "127.0.0.1", "port": port2}],
        "webRtcTransportIds": [],
        "localIceUsernameFragments": [],
    }
    assert_closes_with_worker(worker, server)


async def test_create_webrtc_server_with_port_range_succeeds(worker: Worker) -> None:
    new_servers = recorder(worker.observer, "newwebrtcserver")
    port1, port2 = free_port(), free_port()

    server = await worker.create_webrtc_server(
        [
            udp(portRange={"min": port1, "max": port1}),
            tcp(announcedAddress="1.2.3.4", portRange={"min": port2, "max": port2}),
        ],
        app_data={"foo": 123},
    )

    assert new_servers == [(server,)]
    assert server.closed is False
    assert server.app_data == {"foo": 123}
    await assert_worker_dump_has_only(worker, server)
    dump = await server.dump()
    assert dump["udpSockets"] == [{"ip": "127.0.0.1", "port": port1}]
    assert dump["tcpServers"] == [{"ip": "127.0.0.1", "port": port2}]
    assert dump["webRtcTransportIds"] == []
    assert dump["localIceUsernameFragments"] == []
    assert_closes_with_worker(worker, server)


async def test_create_webrtc_server_without_port_succeeds(worker: Worker) -> None:
    new_servers = recorder(worker.observer, "newwebrtcserver")

    server = await worker.create_webrtc_server(
        [udp(), tcp(announcedAddress="1.2.3.4")], app_data={"foo": 123}
    )

    assert new_servers == [(server,)]
    assert server.app_data == {"foo": 123}
    await assert_worker_dump_has_only(worker, server)
    dump = await server.dump()
    assert dump["id"] == server.id
    for sockets in (dump["udpSockets"], dump["tcpServers"]):
        assert len(sockets) == 1
        assert sockets[0]["ip"] == "127.0.0.1"
        assert isinstance(sockets[0]["port"], int) and sockets[0]["port"] > 0
    assert dump["webRtcTransportIds"] == []
    assert dump["localIceUsernameFragments"] == []
    assert_closes_with_worker(worker, server)


async def test_create_webrtc_server_without_listen_infos_raises_type_error(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.create_webrtc_server()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "listen_infos",
    [
        pytest.param("NOT-AN-ARRAY", id="not a list"),
        pytest.param(["NOT-AN-OBJECT"], id="item not a dict"),
        pytest.param([], id="empty"),
    ],
)
async def test_create_webrtc_server_with_wrong_listen_infos_raises_type_error(
    worker: Worker, listen_infos: Any
) -> None:
    with pytest.raises(TypeError):
        await worker.create_webrtc_server(listen_infos)
    assert worker.webrtc_servers == {}


async def test_create_webrtc_server_with_wrong_app_data_raises_type_error(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.create_webrtc_server([udp()], app_data="NOT-AN-OBJECT")  # type: ignore[arg-type]


async def test_create_webrtc_server_with_unavailable_listen_infos_raises(worker: Worker) -> None:
    port1, port2 = free_port(), free_port()

    with pytest.raises(MediaError):  # an IP this host does not have
        await worker.create_webrtc_server([udp(port1), {"protocol": "udp", "ip": "1.2.3.4", "port": port2}])
    with pytest.raises(MediaError):  # the same UDP port twice
        await worker.create_webrtc_server([udp(port1), udp(port1, announcedAddress="1.2.3.4")])
    await worker.create_webrtc_server([udp(port1)])

    worker2 = await Worker.start(WorkerSettings(log_level="warn"))
    try:
        with pytest.raises(MediaError):  # the same UDP port in another worker
            await worker2.create_webrtc_server([udp(port1)])
    finally:
        worker2.close()
        await worker2.wait_closed()


async def test_create_webrtc_server_raises_if_worker_is_closed(worker: Worker) -> None:
    worker.close()
    with pytest.raises(InvalidStateError):
        await worker.create_webrtc_server([udp(free_port())])


# -- closing -------------------------------------------------------------------------------------


async def test_close_succeeds(worker: Worker) -> None:
    server = await worker.create_webrtc_server([udp(free_port())])
    closes = recorder(server.observer, "close")

    server.close()

    with pytest.raises(InvalidStateError):
        await server.dump()
    assert len(closes) == 1
    assert server.closed is True
    assert worker.webrtc_servers == {}
    assert (await worker.dump())["webRtcServerIds"] == []


async def test_emits_workerclose_if_worker_is_closed(worker: Worker) -> None:
    server = await worker.create_webrtc_server([tcp(free_port())])
    closes = recorder(server.observer, "close")
    worker_closed = asyncio.get_running_loop().create_future()
    server.once("workerclose", lambda: worker_closed.set_result(None))

    worker.close()
    await asyncio.wait_for(worker_closed, 1)

    assert len(closes) == 1
    assert server.closed is True
    with pytest.raises(InvalidStateError):
        await server.dump()


# -- WebRtcTransports on a server ----------------------------------------------------------------


async def test_webrtc_transport_on_server_succeeds_and_transport_is_closed(worker: Worker) -> None:
    port1, port2 = free_port(), free_port()
    server = await worker.create_webrtc_server(
        [udp(port1), tcp(port2, announcedAddress="media1.foo.org", exposeInternalIp=True)]
    )
    handled = recorder(server.observer, "webrtctransporthandled")
    unhandled = recorder(server.observer, "webrtctransportunhandled")
    router = await worker.create_router()
    new_transports = recorder(router.observer, "newtransport")

    # UDP disabled, so every ICE candidate is TCP.
    transport = await router.create_webrtc_transport(
        webrtc_server=server, enable_udp=False, app_data={"foo": "bar"}
    )

    assert (await router.dump())["transportIds"] == [transport.id]
    assert handled == [(transport,)]
    assert new_transports == [(transport,)]
    assert transport.closed is False
    assert transport.app_data == {"foo": "bar"}
    candidates = transport.ice_candidates
    assert len(candidates) == 2
    for candidate, address in zip(candidates, ["media1.foo.org", "127.0.0.1"], strict=True):
        assert candidate["address"] == address
        assert candidate["ip"] == address
        assert candidate["port"] == port2
        assert candidate["protocol"] == "tcp"
        assert candidate["type"] == "host"
        assert candidate["tcpType"] == "passive"
    assert candidates[0]["priority"] > candidates[1]["priority"]
    assert transport.ice_state == "new"
    assert transport.ice_selected_tuple is None
    assert list(server.webrtc_transports) == [transport.id]
    assert list(router.transports) == [transport.id]
    dump = await server.dump()
    assert dump["udpSockets"] == [{"ip": "127.0.0.1", "port": port1}]
    assert dump["tcpServers"] == [{"ip": "127.0.0.1", "port": port2}]
    assert dump["webRtcTransportIds"] == [transport.id]
    assert [f["webRtcTransportId"] for f in dump["localIceUsernameFragments"]] == [transport.id]

    transport.close()

    assert transport.closed is True
    assert unhandled == [(transport,)]
    assert server.webrtc_transports == {}
    assert router.transports == {}
    dump = await server.dump()
    assert dump["udpSockets"] == [{"ip": "127.0.0.1", "port": port1}]
    assert dump["tcpServers"] == [{"ip": "127.0.0.1", "port": port2}]
    assert dump["webRtcTransportIds"] == []
    assert dump["localIceUsernameFragments"] == []


async def test_webrtc_transport_on_server_succeeds_and_server_is_closed(worker: Worker) -> None:
    port1, port2 = free_port(), free_port()
    server = await worker.create_webrtc_server([udp(port1), tcp(port2)])
    handled = recorder(server.observer, "webrtctransporthandled")
    unhandled = recorder(server.observer, "webrtctransportunhandled")
    router = await worker.create_router()

    transport = await router.create_webrtc_transport(webrtc_server=server, app_data={"foo": "bar"})

    assert handled == [(transport,)]
    assert (await router.dump())["transportIds"] == [transport.id]
    assert transport.app_data == {"foo": "bar"}
    candidates = transport.ice_candidates
    assert len(candidates) == 2
    assert [(c["ip"], c["port"], c["protocol"], c["type"]) for c in candidates] == [
        ("127.0.0.1", port1, "udp", "host"),
        ("127.0.0.1", port2, "tcp", "host"),
    ]
    assert "tcpType" not in candidates[0]
    assert candidates[1]["tcpType"] == "passive"
    assert transport.ice_state == "new"
    assert transport.ice_selected_tuple is None
    assert list(server.webrtc_transports) == [transport.id]
    assert list(router.transports) == [transport.id]
    dump = await server.dump()
    assert dump["webRtcTransportIds"] == [transport.id]
    assert [f["webRtcTransportId"] for f in dump["localIceUsernameFragments"]] == [transport.id]

    # An ICE restart adds a username fragment for the same transport.
    await transport.restart_ice()
    dump = await server.dump()
    assert dump["udpSockets"] == [{"ip": "127.0.0.1", "port": port1}]
    assert dump["tcpServers"] == [{"ip": "127.0.0.1", "port": port2}]
    assert dump["webRtcTransportIds"] == [transport.id]
    assert [f["webRtcTransportId"] for f in dump["localIceUsernameFragments"]] == [transport.id] * 2

    closes = recorder(server.observer, "close")
    listen_server_closes = recorder(transport, "listenserverclose")
    server.close()

    assert server.closed is True
    assert len(closes) == 1
    assert len(listen_server_closes) == 1
    assert unhandled == [(transport,)]
    assert transport.closed is True
    assert transport.ice_state == "closed"
    assert transport.ice_selected_tuple is None
    assert transport.dtls_state == "closed"
    assert transport.sctp_state is None
    assert server.webrtc_transports == {}
    assert router.transports == {}
    assert await worker.dump() == {
        "pid": worker.pid,
        "webRtcServerIds": [],
        "routerIds": [router.id],
        "channelMessageHandlers": {"channelRequestHandlers": [router.id], "channelNotificationHandlers": []},
    }
    router_dump = await router.dump()
    assert router_dump["id"] == router.id
    assert router_dump["transportIds"] == []


async def test_webrtc_transport_on_server_is_unhandled_when_router_closes(worker: Worker) -> None:
    server = await worker.create_webrtc_server([udp(free_port())])
    unhandled = recorder(server.observer, "webrtctransportunhandled")
    router = await worker.create_router()
    transport = await router.create_webrtc_transport(webrtc_server=server)

    router.close()

    assert transport.closed is True
    assert unhandled == [(transport,)]
    assert server.webrtc_transports == {}
    assert (await server.dump())["webRtcTransportIds"] == []


async def test_create_webrtc_transport_on_closed_server_raises(worker: Worker) -> None:
    server = await worker.create_webrtc_server([udp(free_port())])
    router = await worker.create_router()
    server.close()
    with pytest.raises(InvalidStateError):
        await router.create_webrtc_transport(webrtc_server=server)
