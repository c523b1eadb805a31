"""PipeTransport: plain RTP (optionally SRTP) between two routers, in one worker or two.

A pipe carries a producer from the router it lives in to another router, where a producer of
the same id is fed by it (see :meth:`Router.pipe_to_router`). Its consumers take no client
capabilities: they forward every encoding of the producer with the router's own parameters
(ORTC's pipe consumer parameters), so the far router can serve its consumers any layer.
"""

from __future__ import annotations

from typing import Any

from sfuctl.server.media import ortc
from sfuctl.server.media.consumer import Consumer
from sfuctl.server.media.errors import InvalidInputError, NotFoundError
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.plain_transport import MAX_PORT, srtp_parameters_to_fbs, srtp_parameters_to_plain
from sfuctl.server.media.rtp_fbs import KINDS, RTP_TYPES, rtp_parameters_to_fbs
from sfuctl.server.media.transport import Transport, new_id, tuple_to_plain


def pipe_transport_data(dump: Any) -> dict[str, Any]:
    """A PipeTransport DumpResponse as mediasoup's dump dict (absent fields left out)."""
    data = Transport.base_dump(dump["base"])
    data.update(
        tuple=tuple_to_plain(dump["tuple"]),
        rtx=bool(dump["rtx"]),
        srtpParameters=srtp_parameters_to_plain(dump["srtpParameters"]),
    )
    return {k: v for k, v in data.items() if v is not None}


def connect_request(ip: Any, port: Any, srtp_parameters: Any) -> dict[str, Any]:
    """Type checks only; the worker decides whether SRTP parameters fit the transport."""
    if not isinstance(ip, str) or not ip:
        raise InvalidInputError("ip must be a non-empty string")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= MAX_PORT
    ):
        raise InvalidInputError("if given, port must be a port number")
    request: dict[str, Any] = {"ip": ip, "port": port}
    if srtp_parameters is not None:
        request["srtpParameters"] = srtp_parameters_to_fbs(srtp_parameters)
    return request


class PipeTransport(Transport):
    """Events: ``sctpstatechange(str)`` and ``trace(dict)`` (also on observer), plus the base
    transport's. ``observer`` ``close`` is what a pipe pair listens to, to close its other end.
    """

    kind_name = "pipe transport"
    transport_type = "pipe"

    @property
    def tuple(self) -> dict[str, Any]:
        local: dict[str, Any] = self.data["tuple"]
        return local

    @property
    def rtx(self) -> bool:
        """Whether its consumers send RTX and answer NACKs (``enable_rtx`` at creation)."""
        return bool(self.data.get("rtx"))

    @property
    def srtp_parameters(self) -> dict[str, Any] | None:
        """The local SRTP key to give the other end's ``connect`` (``enable_srtp`` only)."""
        params: dict[str, Any] | None = self.data.get("srtpParameters")
        return params

    @property
    def sctp_negotiated_capabilities(self) -> dict[str, Any] | None:
        caps: dict[str, Any] | None = self.data.get("sctpNegotiatedCapabilities")
        return caps

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.TRANSPORT_DUMP)
        return pipe_transport_data(body)

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.TRANSPORT_GET_STATS)
        stats = self.base_stats(body["base"])
        stats.update(type="pipe-transport", tuple=tuple_to_plain(body["tuple"]))
        return [stats]

    async def connect(
        self, ip: str, port: int | None = None, srtp_parameters: dict[str, Any] | None = None
    ) -> None:
        """The other end's address (its ``tuple``) and, with SRTP, its key; once only."""
        self._check_open()
        request = connect_request(ip, port, srtp_parameters)
        body = await self._request(
            Method.PIPETRANSPORT_CONNECT, RequestBody.PipeTransport_ConnectRequest, request
        )
        if body is not None and body["tuple"] is not None:
            self.data["tuple"] = tuple_to_plain(body["tuple"])

    async def consume(
        self,
        producer_id: str,
        rtp_capabilities: dict[str, Any] | None = None,
        *,
        paused: bool = False,
        mid: str | None = None,
        preferred_layers: dict[str, int] | None = None,
        ignore_dtx: bool = False,
        enable_rtx: bool | None = None,
        pipe: bool = True,
        app_data: dict[str, Any] | None = None,
    ) -> Consumer:
        """A pipe consumer of a router's producer: every encoding, the router's parameters.

        Only ``producer_id`` and ``app_data`` apply (as in mediasoup); the other arguments exist
        for the signature of :meth:`Transport.consume` and are refused when set.
        """
        self._check_open()
        if rtp_capabilities is not None or mid is not None or preferred_layers or paused or ignore_dtx:
            raise InvalidInputError("a pipe consumer takes only producer_id and app_data")
        if not isinstance(producer_id, str) or not producer_id:
            raise InvalidInputError("missing producer_id")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        producer = self.router.producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f'Producer with id "{producer_id}" not found')
        rtp_parameters = dict(
            ortc.get_pipe_consumer_rtp_parameters(
                producer.consumable_rtp_parameters,  # type: ignore[arg-type]
                enable_rtx=self.rtx,
            )
        )
        consumer_id = new_id()
        request = {
            "consumerId": consumer_id,
            "producerId": producer.id,
            "kind": KINDS[producer.kind],
            "rtpParameters": rtp_parameters_to_fbs(rtp_parameters),
            "type": RTP_TYPES["pipe"],
            "consumableRtpEncodings": producer.consumable_encodings_request,
        }
        status = await self._request(
            Method.TRANSPORT_CONSUME,
            RequestBody.Transport_ConsumeRequest,
            request,
            on_late=Consumer.closer(self, consumer_id),
        )
        # As mediasoup: a pipe consumer starts with a perfect score, not the worker's first one.
        status = {**status, "score": None, "preferredLayers": None}
        consumer = Consumer(
            consumer_id, self, producer.id, producer.kind, rtp_parameters, "pipe", status, app_data
        )
        self.consumers[consumer.id] = consumer
        consumer.on("@close", lambda: self.consumers.pop(consumer.id, None))
        consumer.on("@producerclose", lambda: self.consumers.pop(consumer.id, None))
        self.observer.emit("newconsumer", consumer)
        return consumer
