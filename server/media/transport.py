"""Transport: what WebRTC, plain-RTP and other transports share (produce, consume, data, stats).

A transport owns its producers, consumers, data producers and data consumers; closing it closes
them first. Producers are also registered with the router (through ``router``) so any transport
of the room can consume them.
"""

from __future__ import annotations

import copy
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sfuctl.server.media import ortc
from sfuctl.server.media.channel import LateAnswerHandler
from sfuctl.server.media.consumer import Consumer
from sfuctl.server.media.entity import Entity
from sfuctl.server.media.errors import InvalidInputError, NotFoundError
from sfuctl.server.media.fbs.DataProducer.Type import Type as DataType
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.SctpAssociation.SctpState import SctpState
from sfuctl.server.media.fbs.Transport.Protocol import Protocol
from sfuctl.server.media.fbs.Transport.TraceEventType import TraceEventType
from sfuctl.server.media.fbs_plain import enum_names, to_plain
from sfuctl.server.media.jsonclone import clone
from sfuctl.server.media.producer import Producer, trace_types_to_fbs
from sfuctl.server.media.rtp_fbs import (
    KINDS,
    RTP_TYPE_NAMES,
    RTP_TYPES,
    encoding_to_fbs,
    rtp_mapping_to_fbs,
    rtp_parameters_to_fbs,
)

if TYPE_CHECKING:
    from sfuctl.server.media.data_consumer import DataConsumer
    from sfuctl.server.media.data_producer import DataProducer
    from sfuctl.server.media.router import Router

log = logging.getLogger("sfuctl.transport")

TRACE_TYPES = {
    name.lower(): value for name, value in vars(TraceEventType).items() if not name.startswith("_")
}
sctp_state_name = enum_names(SctpState)
protocol_name = enum_names(Protocol)
_trace_name = enum_names(TraceEventType)
MAX_MID = 100_000_000
SCTP_STREAM_IDS = 65535


def new_id() -> str:
    return str(uuid.uuid4())


def listen_info_to_fbs(info: dict[str, Any]) -> dict[str, Any]:
    """A listen info dict (mediasoup's TransportListenInfo shape) for the worker."""
    if not isinstance(info, dict) or not isinstance(info.get("ip"), str):
        raise InvalidInputError("listen info must be a dict with an 'ip' string")
    protocol = info.get("protocol", "udp")
    if protocol not in ("udp", "tcp"):
        raise InvalidInputError(f"invalid listen info protocol {protocol!r}")
    port_range = info.get("portRange") or {}
    flags = info.get("flags") or {}
    return {
        "protocol": Protocol.UDP if protocol == "udp" else Protocol.TCP,
        "ip": info["ip"],
        "announcedAddress": info.get("announcedAddress") or info.get("announcedIp"),
        "exposeInternalIp": bool(info.get("exposeInternalIp", False)),
        "port": info.get("port") or 0,
        "portRange": {"min": port_range.get("min", 0), "max": port_range.get("max", 0)},
        "flags": {
            "ipv6Only": bool(flags.get("ipv6Only", False)),
            "udpReusePort": bool(flags.get("udpReusePort", False)),
        },
        "sendBufferSize": info.get("sendBufferSize") or 0,
        "recvBufferSize": info.get("recvBufferSize") or 0,
    }


def tuple_to_plain(t: Any) -> dict[str, Any] | None:
    if t is None:
        return None
    local = t["localAddress"]
    out = {
        "localIp": local,
        "localAddress": local,
        "localPort": t["localPort"],
        "protocol": protocol_name(t["protocol"]),
    }
    if t["remoteIp"]:
        out["remoteIp"] = t["remoteIp"]
        out["remotePort"] = t["remotePort"]
    return out


def sctp_stream_parameters_to_fbs(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "streamId": params["streamId"],
        "ordered": params.get("ordered"),
        "maxPacketLifeTime": params.get("maxPacketLifeTime"),
        "maxRetransmits": params.get("maxRetransmits"),
    }


class Transport(Entity):
    """Base of every transport. Events: ``routerclose``, ``listenserverclose``, ``trace``,
    ``sctpstatechange``. Observer: ``close``, ``newproducer``, ``newconsumer``,
    ``newdataproducer``, ``newdataconsumer``, ``trace``, ``sctpstatechange``.
    """

    kind_name = "transport"
    transport_type = "base"

    def __init__(
        self, transport_id: str, router: Router, data: dict[str, Any], app_data: dict[str, Any] | None
    ) -> None:
        super().__init__(transport_id, router.channel, app_data)
        self.router = router
        self.data = data
        # Known only once the remote side has negotiated (a notification), as in mediasoup.
        self.data.pop("sctpNegotiatedCapabilities", None)
        self.producers: dict[str, Producer] = {}
        self.consumers: dict[str, Consumer] = {}
        self.data_producers: dict[str, DataProducer] = {}
        self.data_consumers: dict[str, DataConsumer] = {}
        self._cname_for_producers: str | None = None
        self._next_mid = 0
        self._sctp_stream_ids: bytearray | None = None
        self._next_sctp_stream_id = 0
        self._sctp_max_outbound_streams: int | None = None
        self._listen()

    # -- properties shared by subclasses ---------------------------------------------------------

    @property
    def sctp_parameters(self) -> dict[str, Any] | None:
        params: dict[str, Any] | None = self.data.get("sctpParameters")
        return params

    @property
    def sctp_state(self) -> str | None:
        state: str | None = self.data.get("sctpState")
        return state

    # -- closing ---------------------------------------------------------------------------------

    def _set_closed(self) -> bool:
        if not super()._set_closed():
            return False
        self._mark_closed_states()
        return True

    def _mark_closed_states(self) -> None:
        """States reported after close, whatever closed it (as mediasoup reports them)."""
        if self.data.get("sctpState"):
            self.data["sctpState"] = "closed"

    @staticmethod
    def closer(router: Router, transport_id: str) -> LateAnswerHandler:
        """Closes ``transport_id`` in the worker, with no object here (a create's late answer)."""
        channel, router_id = router.channel, router.id
        return lambda: channel.fire(
            Method.ROUTER_CLOSE_TRANSPORT,
            router_id,
            RequestBody.Router_CloseTransportRequest,
            {"transportId": transport_id},
        )

    def close(self) -> None:
        if not self._set_closed():
            return
        self.closer(self.router, self.id)()
        self._close_children()
        self.emit("@close")
        self.observer.emit("close")

    def router_closed(self) -> None:
        if not self._set_closed():
            return
        self._close_children(notify_router=False)
        self.emit("routerclose")
        self.observer.emit("close")

    def listen_server_closed(self) -> None:
        if not self._set_closed():
            return
        self._close_children()
        self.emit("@listenserverclose")
        self.emit("listenserverclose")
        self.observer.emit("close")

    def _close_children(self, notify_router: bool = True) -> None:
        for producer in list(self.producers.values()):
            producer.transport_closed()
            if notify_router:
                self.router.producers.pop(producer.id, None)
        self.producers.clear()
        for consumer in list(self.consumers.values()):
            consumer.transport_closed()
        self.consumers.clear()
        for data_producer in list(self.data_producers.values()):
            data_producer.transport_closed()
            if notify_router:
                self.router.data_producers.pop(data_producer.id, None)
        self.data_producers.clear()
        for data_consumer in list(self.data_consumers.values()):
            data_consumer.transport_closed()
        self.data_consumers.clear()

    # -- dump / stats ----------------------------------------------------------------------------

    @staticmethod
    def base_dump(base: Any) -> dict[str, Any]:
        dump: dict[str, Any] = to_plain(base, {"sctpState": sctp_state_name, "traceEventTypes": _trace_name})
        for table in ("mapSsrcConsumerId", "mapRtxSsrcConsumerId"):
            dump[table] = {str(e["key"]): e["value"] for e in dump.get(table) or []}
        listener = dump.get("rtpListener") or {}
        for table in ("ssrcTable", "midTable", "ridTable"):
            listener[table] = {str(e["key"]): e["value"] for e in listener.get(table) or []}
        if dump.get("recvRtpHeaderExtensions"):
            dump["recvRtpHeaderExtensions"] = {
                k: v for k, v in dump["recvRtpHeaderExtensions"].items() if v is not None
            }
        sctp = dump.get("sctpParameters")
        if sctp:
            # What mediasoup-client (and pymediasoup) still read, as mediasoup adds them.
            sctp.update(OS=65535, MIS=65535, maxMessageSize=sctp["maxReceiveMessageSize"])
        sctp_listener = dump.get("sctpListener")
        if sctp_listener:
            sctp_listener["streamIdTable"] = {
                str(e["key"]): e["value"] for e in sctp_listener.get("streamIdTable") or []
            }
        return {k: v for k, v in dump.items() if v is not None}

    @staticmethod
    def base_stats(base: Any) -> dict[str, Any]:
        stats: dict[str, Any] = to_plain(base, {"sctpState": sctp_state_name})
        return {k: v for k, v in stats.items() if v is not None}

    async def dump(self) -> dict[str, Any]:
        raise NotImplementedError

    async def get_stats(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    # -- bitrates, traces ------------------------------------------------------------------------

    async def set_max_incoming_bitrate(self, bitrate: int) -> None:
        request = {"maxIncomingBitrate": _non_negative(bitrate, "bitrate")}
        await self._request(
            Method.TRANSPORT_SET_MAX_INCOMING_BITRATE,
            RequestBody.Transport_SetMaxIncomingBitrateRequest,
            request,
        )

    async def set_max_outgoing_bitrate(self, bitrate: int) -> None:
        request = {"maxOutgoingBitrate": _non_negative(bitrate, "bitrate")}
        await self._request(
            Method.TRANSPORT_SET_MAX_OUTGOING_BITRATE,
            RequestBody.Transport_SetMaxOutgoingBitrateRequest,
            request,
        )

    async def set_min_outgoing_bitrate(self, bitrate: int) -> None:
        request = {"minOutgoingBitrate": _non_negative(bitrate, "bitrate")}
        await self._request(
            Method.TRANSPORT_SET_MIN_OUTGOING_BITRATE,
            RequestBody.Transport_SetMinOutgoingBitrateRequest,
            request,
        )

    async def enable_trace_event(self, types: list[str]) -> None:
        request = {"events": trace_types_to_fbs(types, TRACE_TYPES)}
        await self._request(
            Method.TRANSPORT_ENABLE_TRACE_EVENT, RequestBody.Transport_EnableTraceEventRequest, request
        )

    # -- produce / consume -----------------------------------------------------------------------

    async def produce(
        self,
        kind: str,
        rtp_parameters: dict[str, Any],
        *,
        producer_id: str | None = None,
        paused: bool = False,
        key_frame_request_delay: int = 0,
        enable_mediasoup_packet_id_header_extension: bool = False,
        app_data: dict[str, Any] | None = None,
    ) -> Producer:
        """Validate the client's RTP parameters, map them onto the router's, and create the producer."""
        self._check_open()
        if producer_id is not None and producer_id in self.router.producers:
            raise InvalidInputError(f'a Producer with same id "{producer_id}" already exists')
        if kind not in KINDS:
            raise InvalidInputError(f'invalid kind "{kind}"')
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        params = ortc.validate_and_normalize_rtp_parameters(rtp_parameters)
        if not params.get("encodings"):
            params["encodings"] = [{}]
        rtcp = params.setdefault("rtcp", {})
        if self.transport_type != "pipe":
            if self._cname_for_producers is None:
                self._cname_for_producers = rtcp.get("cname") or new_id()[:8]
            rtcp["cname"] = self._cname_for_producers
        elif not rtcp.get("cname"):
            rtcp["cname"] = new_id()[:8]
        caps = self.router.rtp_capabilities_ref
        mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
        consumable = ortc.get_consumable_rtp_parameters(kind, params, caps, mapping)
        producer_id = producer_id or new_id()
        request = {
            "producerId": producer_id,
            "kind": KINDS[kind],
            "rtpParameters": rtp_parameters_to_fbs(dict(params)),
            "rtpMapping": rtp_mapping_to_fbs(dict(mapping)),
            "paused": paused,
            "keyFrameRequestDelay": key_frame_request_delay,
            "enableMediasoupPacketIdHeaderExtension": enable_mediasoup_packet_id_header_extension,
        }
        body = await self._request(
            Method.TRANSPORT_PRODUCE,
            RequestBody.Transport_ProduceRequest,
            request,
            on_late=Producer.closer(self, producer_id),
        )
        producer = Producer(
            producer_id,
            self,
            kind,
            dict(params),
            RTP_TYPE_NAMES[body["type"]],
            dict(consumable),
            paused,
            app_data,
        )
        self.producers[producer.id] = producer
        self.router.producers[producer.id] = producer
        producer.on("@close", lambda: self._forget_producer(producer))
        self.observer.emit("newproducer", producer)
        return producer

    def _forget_producer(self, producer: Producer) -> None:
        self.producers.pop(producer.id, None)
        self.router.producers.pop(producer.id, None)

    async def consume(
        self,
        producer_id: str,
        rtp_capabilities: dict[str, Any],
        *,
        paused: bool = True,
        mid: str | None = None,
        preferred_layers: dict[str, int] | None = None,
        ignore_dtx: bool = False,
        enable_rtx: bool | None = None,
        pipe: bool = False,
        app_data: dict[str, Any] | None = None,
    ) -> Consumer:
        """Create a consumer of a router's producer for a client with ``rtp_capabilities``.

        Starts paused by default (unlike mediasoup's library): the client resumes it once its
        side is ready, so the first packets it gets can start with a key frame.
        """
        self._check_open()
        if not isinstance(producer_id, str) or not producer_id:
            raise InvalidInputError("missing producer_id")
        if mid is not None and (not isinstance(mid, str) or not mid):
            raise InvalidInputError("if given, mid must be non empty string")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        caps = self.router.normalized_capabilities(rtp_capabilities)
        producer = self.router.producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f'Producer with id "{producer_id}" not found')
        if enable_rtx is None:
            enable_rtx = producer.kind == "video"
        rtp_parameters: dict[str, Any]
        if pipe:
            rtp_parameters = dict(
                ortc.get_consumer_rtp_parameters(
                    producer.consumable_rtp_parameters,  # type: ignore[arg-type]
                    caps,
                    pipe=True,
                    enable_rtx=enable_rtx,
                    normalized=True,
                )
            )
            rtp_request = rtp_parameters_to_fbs(rtp_parameters)
        else:
            template = producer.consumer_template(caps, enable_rtx)
            rtp_parameters = clone(template.rtp_parameters)
            encoding = rtp_parameters["encodings"][0]
            encoding["ssrc"] = ssrc = ortc.random_ssrc()
            if "rtx" in encoding:
                encoding["rtx"]["ssrc"] = ssrc + 1
            if mid:
                rtp_parameters["mid"] = mid
            else:
                rtp_parameters["mid"] = str(self._next_mid)
                self._next_mid = (self._next_mid + 1) % MAX_MID
            rtp_request = {
                **template.request,
                "mid": rtp_parameters["mid"],
                "encodings": [encoding_to_fbs(encoding)],
            }
        consumer_id = new_id()
        request = {
            "consumerId": consumer_id,
            "producerId": producer.id,
            "kind": KINDS[producer.kind],
            "rtpParameters": rtp_request,
            "type": RTP_TYPES["pipe" if pipe else producer.type],
            "consumableRtpEncodings": producer.consumable_encodings_request,
            "paused": paused,
            "ignoreDtx": ignore_dtx,
        }
        if preferred_layers:
            request["preferredLayers"] = {
                "spatialLayer": preferred_layers["spatialLayer"],
                "temporalLayer": preferred_layers.get("temporalLayer"),
            }
        status = await self._request(
            Method.TRANSPORT_CONSUME,
            RequestBody.Transport_ConsumeRequest,
            request,
            on_late=Consumer.closer(self, consumer_id),
        )
        consumer = Consumer(
            consumer_id,
            self,
            producer.id,
            producer.kind,
            rtp_parameters,
            "pipe" if pipe else producer.type,
            status,
            app_data,
        )
        self.consumers[consumer.id] = consumer
        consumer.on("@close", lambda: self.consumers.pop(consumer.id, None))
        consumer.on("@producerclose", lambda: self.consumers.pop(consumer.id, None))
        self.observer.emit("newconsumer", consumer)
        return consumer

    # -- data ------------------------------------------------------------------------------------

    async def produce_data(
        self,
        sctp_stream_parameters: dict[str, Any] | None = None,
        *,
        data_producer_id: str | None = None,
        label: str = "",
        protocol: str = "",
        paused: bool = False,
        app_data: dict[str, Any] | None = None,
    ) -> DataProducer:
        from sfuctl.server.media.data_producer import DataProducer

        self._check_open()
        if data_producer_id is not None and data_producer_id in self.router.data_producers:
            raise InvalidInputError(f'a DataProducer with same id "{data_producer_id}" already exists')
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        data_producer_id = data_producer_id or new_id()
        request: dict[str, Any] = {"dataProducerId": data_producer_id}
        if self.transport_type == "direct":
            request["type"] = DataType.DIRECT
        else:
            request["type"] = DataType.SCTP
            params = ortc.validate_and_normalize_sctp_stream_parameters(sctp_stream_parameters)
            request["sctpStreamParameters"] = sctp_stream_parameters_to_fbs(dict(params))
        request.update(label=label, protocol=protocol, paused=paused)
        body = await self._request(
            Method.TRANSPORT_PRODUCE_DATA,
            RequestBody.Transport_ProduceDataRequest,
            request,
            on_late=DataProducer.closer(self, data_producer_id),
        )
        data_producer = DataProducer(data_producer_id, self, body, paused, app_data)
        self.data_producers[data_producer.id] = data_producer
        self.router.data_producers[data_producer.id] = data_producer
        data_producer.on("@close", lambda: self._forget_data_producer(data_producer))
        self.observer.emit("newdataproducer", data_producer)
        return data_producer

    def _forget_data_producer(self, data_producer: DataProducer) -> None:
        self.data_producers.pop(data_producer.id, None)
        self.router.data_producers.pop(data_producer.id, None)

    async def consume_data(
        self,
        data_producer_id: str,
        *,
        ordered: bool | None = None,
        max_packet_life_time: int | None = None,
        max_retransmits: int | None = None,
        paused: bool = False,
        subchannels: list[int] | None = None,
        app_data: dict[str, Any] | None = None,
    ) -> DataConsumer:
        from sfuctl.server.media.data_consumer import DataConsumer
        from sfuctl.server.media.data_producer import subchannels_to_fbs

        self._check_open()
        if not isinstance(data_producer_id, str) or not data_producer_id:
            raise InvalidInputError("missing data_producer_id")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        data_producer = self.router.data_producers.get(data_producer_id)
        if data_producer is None:
            raise NotFoundError(f'DataProducer with id "{data_producer_id}" not found')
        data_consumer_id = new_id()
        request: dict[str, Any] = {"dataConsumerId": data_consumer_id, "dataProducerId": data_producer.id}
        stream_id: int | None = None
        if self.transport_type == "direct":
            request["type"] = DataType.DIRECT
        else:
            request["type"] = DataType.SCTP
            stream_id = self._allocate_sctp_stream_id()
            params: dict[str, Any] = copy.deepcopy(data_producer.sctp_stream_parameters or {"ordered": True})
            params["streamId"] = stream_id
            if ordered is not None:
                params["ordered"] = ordered
                if ordered:
                    params.pop("maxPacketLifeTime", None)
                    params.pop("maxRetransmits", None)
            if not ordered:
                if max_packet_life_time is not None:
                    params["ordered"] = False
                    params["maxPacketLifeTime"] = max_packet_life_time
                if max_retransmits is not None:
                    params["ordered"] = False
                    params["maxRetransmits"] = max_retransmits
            request["sctpStreamParameters"] = sctp_stream_parameters_to_fbs(params)
        request.update(
            label=data_producer.label,
            protocol=data_producer.protocol,
            paused=paused,
            subchannels=subchannels_to_fbs(subchannels),
        )
        try:
            body = await self._request(
                Method.TRANSPORT_CONSUME_DATA,
                RequestBody.Transport_ConsumeDataRequest,
                request,
                on_late=DataConsumer.closer(self, data_consumer_id),
            )
        except Exception:
            self._release_sctp_stream_id(stream_id)
            raise
        data_consumer = DataConsumer(data_consumer_id, self, body, app_data)
        self.data_consumers[data_consumer.id] = data_consumer

        def forget() -> None:
            self.data_consumers.pop(data_consumer.id, None)
            self._release_sctp_stream_id(stream_id)

        data_consumer.on("@close", forget)
        data_consumer.on("@dataproducerclose", forget)
        self.observer.emit("newdataconsumer", data_consumer)
        return data_consumer

    def _allocate_sctp_stream_id(self) -> int:
        if self._sctp_stream_ids is None:
            self._sctp_stream_ids = bytearray(SCTP_STREAM_IDS)
        ids = self._sctp_stream_ids
        if (
            self._sctp_max_outbound_streams is not None
            and self._next_sctp_stream_id + 1 > self._sctp_max_outbound_streams
        ):
            self._next_sctp_stream_id = 0
        for offset in range(len(ids)):
            stream_id = (self._next_sctp_stream_id + offset) % len(ids)
            if not ids[stream_id]:
                ids[stream_id] = 1
                self._next_sctp_stream_id = stream_id + 1
                return stream_id
        raise RuntimeError("no sctpStreamId available")

    def _release_sctp_stream_id(self, stream_id: int | None) -> None:
        if stream_id is not None and self._sctp_stream_ids is not None:
            self._sctp_stream_ids[stream_id] = 0

    # -- notifications shared by transports -----------------------------------------------------

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.TRANSPORT_SCTP_STATE_CHANGE:
            state = sctp_state_name(body["sctpState"])
            self.data["sctpState"] = state
            self._announce("sctpstatechange", state)
        elif event == Event.TRANSPORT_SCTP_NEGOTIATED_CAPABILITIES:
            caps = body["negotiatedCapabilities"]
            self._sctp_max_outbound_streams = caps["negotiatedMaxOutboundStreams"]
            self.data["sctpNegotiatedCapabilities"] = to_plain(caps)
        elif event == Event.TRANSPORT_TRACE:
            trace = to_plain(body, {"type": _trace_name})
            self._announce("trace", trace)
        else:
            self._on_own_notification(event, body)

    def _on_own_notification(self, event: int, body: Any) -> None:
        log.debug("%s ignoring unknown event %s", self.kind_name, event)


def _non_negative(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"{name} must be a non-negative integer")
    return value
