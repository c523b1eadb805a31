"""WebRtcServer: one set of UDP/TCP sockets shared by many WebRtcTransports of a worker.

Sharing ports lets a deployment open a handful of firewall ports instead of one per transport;
the worker tells transports apart by their ICE username fragment and, later, their tuple.
Closing the server closes every transport that listens through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfuctl.server.media.channel import Channel, LateAnswerHandler
from sfuctl.server.media.entity import Entity
from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs_plain import to_plain
from sfuctl.server.media.transport import listen_info_to_fbs, new_id

if TYPE_CHECKING:
    from sfuctl.server.media.webrtc_transport import WebRtcTransport
    from sfuctl.server.media.worker import Worker


def webrtc_server_dump(body: Any) -> dict[str, Any]:
    """A WebRtcServer DumpResponse as mediasoup's dump dict."""
    dump = to_plain(body)
    return {
        "id": dump["id"],
        "udpSockets": dump["udpSockets"] or [],
        "tcpServers": dump["tcpServers"] or [],
        "webRtcTransportIds": dump["webRtcTransportIds"] or [],
        "localIceUsernameFragments": dump["localIceUsernameFragments"] or [],
    }


class WebRtcServer(Entity):
    """Events: ``workerclose``. Observer: ``close``, ``webrtctransporthandled``,
    ``webrtctransportunhandled``.
    """

    kind_name = "webrtc server"

    def __init__(self, server_id: str, worker: Worker, app_data: dict[str, Any] | None) -> None:
        super().__init__(server_id, worker.channel, app_data)
        self.worker = worker
        self.webrtc_transports: dict[str, WebRtcTransport] = {}

    @classmethod
    async def create(
        cls, worker: Worker, listen_infos: list[dict[str, Any]], app_data: dict[str, Any] | None
    ) -> WebRtcServer:
        if not isinstance(listen_infos, list) or not listen_infos:
            raise InvalidInputError("listen_infos must be a non-empty list")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        server_id = new_id()
        request = {
            "webRtcServerId": server_id,
            "listenInfos": [listen_info_to_fbs(info) for info in listen_infos],
        }
        await worker.channel.request(
            Method.WORKER_CREATE_WEBRTCSERVER,
            "",
            RequestBody.Worker_CreateWebRtcServerRequest,
            request,
            on_late=cls.closer(worker.channel, server_id),
        )
        return cls(server_id, worker, app_data)

    @staticmethod
    def closer(channel: Channel, server_id: str) -> LateAnswerHandler:
        """Closes ``server_id`` in the worker, with no object here (a create's late answer)."""
        return lambda: channel.fire(
            Method.WORKER_WEBRTCSERVER_CLOSE,
            "",
            RequestBody.Worker_CloseWebRtcServerRequest,
            {"webRtcServerId": server_id},
        )

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the server's sockets and every transport using them."""
        if not self._set_closed():
            return
        self.closer(self.channel, self.id)()
        for transport in list(self.webrtc_transports.values()):
            transport.listen_server_closed()  # its observer 'close' unhandles it
        self.webrtc_transports.clear()
        self.emit("@close")
        self.observer.emit("close")

    def worker_closed(self) -> None:
        """The worker closed; its routers close the transports, so they are only forgotten here."""
        if not self._set_closed():
            return
        self.webrtc_transports.clear()
        self.emit("workerclose")
        self.observer.emit("close")

    # -- queries ---------------------------------------------------------------------------------

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.WEBRTCSERVER_DUMP)
        return webrtc_server_dump(body)

    # -- transports ------------------------------------------------------------------------------

    def handle_webrtc_transport(self, transport: WebRtcTransport) -> None:
        """Track a transport created on this server until it closes, however it closes."""
        self.webrtc_transports[transport.id] = transport
        self.observer.emit("webrtctransporthandled", transport)
        transport.observer.on("close", lambda: self._unhandle(transport))

    def _unhandle(self, transport: WebRtcTransport) -> None:
        if self.webrtc_transports.pop(transport.id, None) is not None:
            self.observer.emit("webrtctransportunhandled", transport)
