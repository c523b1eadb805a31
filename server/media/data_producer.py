"""DataProducer: a data channel (SCTP stream) a client sends into a transport; data consumers get it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfuctl.server.media.entity import TransportChild
from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.DataProducer.Type import Type as DataType
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs_plain import enum_names

if TYPE_CHECKING:
    from sfuctl.server.media.transport import Transport

data_type_name = enum_names(DataType)
"""DataProducer.Type and DataConsumer.Type share values: 'sctp' / 'direct'."""

PPID_STRING = 51
PPID_BINARY = 53
PPID_STRING_EMPTY = 56
PPID_BINARY_EMPTY = 57


def sctp_stream_parameters_from_fbs(params: Any) -> dict[str, Any] | None:
    """mediasoup's shape: unset optional fields are absent, not None."""
    if params is None:
        return None
    out: dict[str, Any] = {"streamId": params["streamId"], "ordered": params["ordered"]}
    if params["maxPacketLifeTime"] is not None:
        out["maxPacketLifeTime"] = params["maxPacketLifeTime"]
    if params["maxRetransmits"] is not None:
        out["maxRetransmits"] = params["maxRetransmits"]
    return out


def message_payload(message: str | bytes, ppid: int | None) -> tuple[int, bytes]:
    """The (PPID, bytes) to send, per WebRTC data channel rules (RFC 8831).

    SCTP cannot carry an empty message, so empty ones travel as one placeholder byte under the
    "empty" PPIDs (56 string, 57 binary) that receivers know to read as empty.
    """
    if not isinstance(message, str | bytes):
        raise InvalidInputError("message must be a str or bytes")
    if ppid is not None and (not isinstance(ppid, int) or isinstance(ppid, bool) or not 0 <= ppid < 2**32):
        raise InvalidInputError("if given, ppid must be an unsigned 32-bit integer")
    is_str = isinstance(message, str)
    if ppid is None:
        if is_str:
            ppid = PPID_STRING if message else PPID_STRING_EMPTY
        else:
            ppid = PPID_BINARY if message else PPID_BINARY_EMPTY
    if ppid == PPID_STRING_EMPTY:
        return ppid, b" "
    if ppid == PPID_BINARY_EMPTY:
        return ppid, b"\x00"
    return ppid, message.encode() if isinstance(message, str) else bytes(message)


def subchannels_to_fbs(subchannels: list[int] | None) -> list[int] | None:
    """Subchannels are uint16 on the wire; refuse what would not fit instead of wrapping it."""
    if subchannels is None:
        return None
    if not isinstance(subchannels, list) or not all(is_uint16(s) for s in subchannels):
        raise InvalidInputError("subchannels must be a list of integers in 0..65535")
    return subchannels


def is_uint16(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF


class DataProducer(TransportChild):
    """Events: ``transportclose``. Observer: ``close``, ``pause``, ``resume``."""

    close_method = Method.TRANSPORT_CLOSE_DATAPRODUCER
    close_body_type = RequestBody.Transport_CloseDataProducerRequest

    kind_name = "data producer"

    def __init__(
        self,
        data_producer_id: str,
        transport: Transport,
        body: Any,
        paused: bool,
        app_data: dict[str, Any] | None,
    ) -> None:
        super().__init__(data_producer_id, transport, app_data)
        self.type = data_type_name(body["type"])
        self._sctp_stream_parameters = sctp_stream_parameters_from_fbs(body["sctpStreamParameters"])
        self.label: str = body["label"]
        self.protocol: str = body["protocol"]
        self.paused = paused

    @property
    def sctp_stream_parameters(self) -> dict[str, Any] | None:
        """A copy, so callers cannot alter what consumers of this producer are built from."""
        params = self._sctp_stream_parameters
        return dict(params) if params is not None else None

    @classmethod
    def close_request_for(cls, object_id: str) -> dict[str, Any]:
        return {"dataProducerId": object_id}

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.DATAPRODUCER_DUMP)
        return {
            "id": body["id"],
            "type": data_type_name(body["type"]),
            "sctpStreamParameters": sctp_stream_parameters_from_fbs(body["sctpStreamParameters"]),
            "label": body["label"],
            "protocol": body["protocol"],
            "paused": body["paused"],
        }

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.DATAPRODUCER_GET_STATS)
        return [
            {
                "type": "data-producer",
                "timestamp": body["timestamp"],
                "label": body["label"],
                "protocol": body["protocol"],
                "messagesReceived": body["messagesReceived"],
                "bytesReceived": body["bytesReceived"],
            }
        ]

    async def pause(self) -> None:
        await self._request(Method.DATAPRODUCER_PAUSE)
        was_paused, self.paused = self.paused, True
        if not was_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.DATAPRODUCER_RESUME)
        was_paused, self.paused = self.paused, False
        if was_paused:
            self.observer.emit("resume")

    def send(
        self,
        message: str | bytes,
        ppid: int | None = None,
        subchannels: list[int] | None = None,
        required_subchannel: int | None = None,
        ignored_subchannel: int | None = None,
    ) -> None:
        """Inject a message as if the producing endpoint had sent it (reaches every data consumer).

        Only consumers subscribed to one of ``subchannels`` get it (all, if None); a consumer must
        also have ``required_subchannel`` and must not have ``ignored_subchannel``.
        """
        self._check_open()
        for name, value in (("required", required_subchannel), ("ignored", ignored_subchannel)):
            if value is not None and not is_uint16(value):
                raise InvalidInputError(f"if given, {name}_subchannel must be an integer in 0..65535")
        payload_ppid, data = message_payload(message, ppid)
        notification = {
            "ppid": payload_ppid,
            "data": data,
            "subchannels": subchannels_to_fbs(subchannels),
            "requiredSubchannel": required_subchannel,
            "ignoredSubchannel": ignored_subchannel,
        }
        self.channel.notify(
            Event.DATAPRODUCER_SEND, self.id, NotificationBody.DataProducer_SendNotification, notification
        )
