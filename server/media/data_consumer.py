"""DataConsumer: forwards one data producer's messages to a client over a transport's SCTP stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfuctl.server.media.data_producer import (
    data_type_name,
    is_uint16,
    message_payload,
    sctp_stream_parameters_from_fbs,
    subchannels_to_fbs,
)
from sfuctl.server.media.entity import TransportChild
from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method

if TYPE_CHECKING:
    from sfuctl.server.media.transport import Transport


def subchannels_from_fbs(vector: Any) -> list[int]:
    """A uint16 vector (None when absent) as a list."""
    return list(vector) if vector is not None else []


class DataConsumer(TransportChild):
    """Events: ``transportclose``, ``dataproducerclose``, ``dataproducerpause``, ``dataproducerresume``,
    ``message(bytes, ppid)``, ``bufferedamountlow(int)``, ``sctpsendbufferfull``.
    Observer: ``close``, ``pause``, ``resume``.
    """

    close_method = Method.TRANSPORT_CLOSE_DATACONSUMER
    close_body_type = RequestBody.Transport_CloseDataConsumerRequest

    kind_name = "data consumer"

    def __init__(
        self, data_consumer_id: str, transport: Transport, body: Any, app_data: dict[str, Any] | None
    ) -> None:
        super().__init__(data_consumer_id, transport, app_data)
        self.data_producer_id: str = body["dataProducerId"]
        self.type = data_type_name(body["type"])
        self._sctp_stream_parameters = sctp_stream_parameters_from_fbs(body["sctpStreamParameters"])
        self.label: str = body["label"]
        self.protocol: str = body["protocol"]
        self.paused: bool = body["paused"]
        self.data_producer_paused: bool = body["dataProducerPaused"]
        self._subchannels = subchannels_from_fbs(body["subchannels"])
        self.buffered_amount_low_threshold: int = body["bufferedAmountLowThreshold"]
        self._listen()

    @property
    def sctp_stream_parameters(self) -> dict[str, Any] | None:
        params = self._sctp_stream_parameters
        return dict(params) if params is not None else None

    @property
    def subchannels(self) -> list[int]:
        return list(self._subchannels)

    @classmethod
    def close_request_for(cls, object_id: str) -> dict[str, Any]:
        return {"dataConsumerId": object_id}

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.DATACONSUMER_DUMP)
        return {
            "id": body["id"],
            "dataProducerId": body["dataProducerId"],
            "type": data_type_name(body["type"]),
            "sctpStreamParameters": sctp_stream_parameters_from_fbs(body["sctpStreamParameters"]),
            "label": body["label"],
            "protocol": body["protocol"],
            "bufferedAmount": body["bufferedAmount"],
            "bufferedAmountLowThreshold": body["bufferedAmountLowThreshold"],
            "paused": body["paused"],
            "dataProducerPaused": body["dataProducerPaused"],
            "subchannels": subchannels_from_fbs(body["subchannels"]),
        }

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.DATACONSUMER_GET_STATS)
        return [
            {
                "type": "data-consumer",
                "timestamp": body["timestamp"],
                "label": body["label"],
                "protocol": body["protocol"],
                "messagesSent": body["messagesSent"],
                "bytesSent": body["bytesSent"],
                "bufferedAmount": body["bufferedAmount"],
            }
        ]

    async def pause(self) -> None:
        await self._request(Method.DATACONSUMER_PAUSE)
        was_paused, self.paused = self.paused, True
        if not was_paused and not self.data_producer_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.DATACONSUMER_RESUME)
        was_paused, self.paused = self.paused, False
        if was_paused and not self.data_producer_paused:
            self.observer.emit("resume")

    async def get_buffered_amount(self) -> int:
        """Bytes queued in the SCTP stack for this consumer, not yet sent to the endpoint."""
        body = await self._request(Method.DATACONSUMER_GET_BUFFERED_AMOUNT)
        amount: int = body["bufferedAmount"]
        return amount

    async def set_buffered_amount_low_threshold(self, threshold: int) -> None:
        """Below this many buffered bytes the worker notifies 'bufferedamountlow' (for flow control)."""
        if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold < 2**32:
            raise InvalidInputError("threshold must be an unsigned 32-bit integer")
        request = {"threshold": threshold}
        await self._request(
            Method.DATACONSUMER_SET_BUFFERED_AMOUNT_LOW_THRESHOLD,
            RequestBody.DataConsumer_SetBufferedAmountLowThresholdRequest,
            request,
        )
        self.buffered_amount_low_threshold = threshold

    async def send(self, message: str | bytes, ppid: int | None = None) -> int:
        """Send a message from the server to this consumer's endpoint; returns the buffered amount.

        The worker accepts it on SCTP data consumers only (WorkerTypeError otherwise), and fails it
        when the SCTP send buffer is full.
        """
        payload_ppid, data = message_payload(message, ppid)
        request = {"ppid": payload_ppid, "data": data}
        body = await self._request(Method.DATACONSUMER_SEND, RequestBody.DataConsumer_SendRequest, request)
        amount: int = body["bufferedAmount"]
        return amount

    async def set_subchannels(self, subchannels: list[int]) -> None:
        if subchannels is None:
            raise InvalidInputError("subchannels must be a list")
        request = {"subchannels": subchannels_to_fbs(subchannels)}
        body = await self._request(
            Method.DATACONSUMER_SET_SUBCHANNELS, RequestBody.DataConsumer_SetSubchannelsRequest, request
        )
        self._subchannels = subchannels_from_fbs(body["subchannels"])

    async def add_subchannel(self, subchannel: int) -> None:
        request = {"subchannel": _subchannel(subchannel)}
        body = await self._request(
            Method.DATACONSUMER_ADD_SUBCHANNEL, RequestBody.DataConsumer_AddSubchannelRequest, request
        )
        self._subchannels = subchannels_from_fbs(body["subchannels"])

    async def remove_subchannel(self, subchannel: int) -> None:
        request = {"subchannel": _subchannel(subchannel)}
        body = await self._request(
            Method.DATACONSUMER_REMOVE_SUBCHANNEL, RequestBody.DataConsumer_RemoveSubchannelRequest, request
        )
        self._subchannels = subchannels_from_fbs(body["subchannels"])

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.DATACONSUMER_DATAPRODUCER_CLOSE:
            if self._set_closed():
                self.emit("@dataproducerclose")
                self.emit("dataproducerclose")
                self.observer.emit("close")
        elif event == Event.DATACONSUMER_DATAPRODUCER_PAUSE:
            self._on_data_producer_paused(True)
        elif event == Event.DATACONSUMER_DATAPRODUCER_RESUME:
            self._on_data_producer_paused(False)
        elif event == Event.DATACONSUMER_MESSAGE and not self.closed:
            self.emit("message", bytes(body["data"]), body["ppid"])
        elif event == Event.DATACONSUMER_BUFFERED_AMOUNT_LOW:
            self.emit("bufferedamountlow", body["bufferedAmount"])
        elif event == Event.DATACONSUMER_SCTP_SENDBUFFER_FULL:
            self.emit("sctpsendbufferfull")

    def _on_data_producer_paused(self, paused: bool) -> None:
        """Producer pause/resume; the observer only sees it while this consumer itself runs."""
        if self.data_producer_paused == paused:
            return
        self.data_producer_paused = paused
        self.emit("dataproducerpause" if paused else "dataproducerresume")
        if not self.paused:
            self.observer.emit("pause" if paused else "resume")


def _subchannel(subchannel: int) -> int:
    if not is_uint16(subchannel):
        raise InvalidInputError("subchannel must be an integer in 0..65535")
    return subchannel
