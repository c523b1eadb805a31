"""Consumer: forwards one producer's media to a client through a transport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfuctl.server.media.entity import TransportChild
from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Consumer.TraceEventType import TraceEventType
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs_plain import enum_names, to_plain
from sfuctl.server.media.producer import trace_types_to_fbs
from sfuctl.server.media.rtp_fbs import RTP_TYPE_NAMES, kind_from_fbs, rtp_parameters_from_fbs
from sfuctl.server.media.stats import rtp_stream_stats

if TYPE_CHECKING:
    from sfuctl.server.media.transport import Transport

TRACE_TYPES = {
    name.lower(): value for name, value in vars(TraceEventType).items() if not name.startswith("_")
}
_trace_name = enum_names(TraceEventType)


def layers_from_fbs(layers: Any) -> dict[str, int] | None:
    if layers is None:
        return None
    out = {"spatialLayer": layers["spatialLayer"]}
    if layers["temporalLayer"] is not None:
        out["temporalLayer"] = layers["temporalLayer"]
    return out


class Consumer(TransportChild):
    """Events: ``transportclose``, ``producerclose``, ``producerpause``, ``producerresume``,
    ``score(dict)``, ``layerschange(dict|None)``, ``trace(dict)``, ``rtp(bytes)``.
    Observer: ``close``, ``pause``, ``resume``, ``score``, ``layerschange``, ``trace``.
    """

    close_method = Method.TRANSPORT_CLOSE_CONSUMER
    close_body_type = RequestBody.Transport_CloseConsumerRequest

    kind_name = "consumer"

    def __init__(
        self,
        consumer_id: str,
        transport: Transport,
        producer_id: str,
        kind: str,
        rtp_parameters: dict[str, Any],
        consumer_type: str,
        status: Any,
        app_data: dict[str, Any] | None,
    ) -> None:
        super().__init__(consumer_id, transport, app_data)
        self.producer_id = producer_id
        self.kind = kind
        self.rtp_parameters = rtp_parameters
        self.type = consumer_type
        self.paused: bool = status["paused"]
        self.producer_paused: bool = status["producerPaused"]
        self.priority = 1
        self.score: dict[str, Any] = to_plain(status["score"]) if status["score"] else {
            "score": 10, "producerScore": 10, "producerScores": []
        }  # fmt: skip
        self.preferred_layers = layers_from_fbs(status["preferredLayers"])
        self.current_layers: dict[str, int] | None = None
        self._listen()

    @classmethod
    def close_request_for(cls, object_id: str) -> dict[str, Any]:
        return {"consumerId": object_id}

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.CONSUMER_DUMP)
        data = body["data"]
        base = data["base"]
        dump = {
            "id": base["id"],
            "type": RTP_TYPE_NAMES[base["type"]],
            "producerId": base["producerId"],
            "kind": kind_from_fbs(base["kind"]),
            "rtpParameters": rtp_parameters_from_fbs(base["rtpParameters"]),
            "consumableRtpEncodings": to_plain(base["consumableRtpEncodings"]),
            "supportedCodecPayloadTypes": base["supportedCodecPayloadTypes"] or [],
            "traceEventTypes": [_trace_name(t) for t in base["traceEventTypes"] or []],
            "paused": base["paused"],
            "producerPaused": base["producerPaused"],
            "priority": base["priority"],
            "rtpStreams": to_plain(data["rtpStreams"], {"kind": kind_from_fbs}),
        }
        for field in ("preferred", "target", "current"):
            for layer in ("Spatial", "Temporal"):
                value = data[f"{field}{layer}Layer"]
                if value is not None:
                    dump[f"{field}{layer}Layer"] = value
        return dump

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.CONSUMER_GET_STATS)
        return [rtp_stream_stats(s) for s in body["stats"] or []]

    async def pause(self) -> None:
        await self._request(Method.CONSUMER_PAUSE)
        was_paused, self.paused = self.paused, True
        if not was_paused and not self.producer_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.CONSUMER_RESUME)
        was_paused, self.paused = self.paused, False
        if was_paused and not self.producer_paused:
            self.observer.emit("resume")

    async def set_preferred_layers(self, spatial_layer: int, temporal_layer: int | None = None) -> None:
        if not isinstance(spatial_layer, int) or isinstance(spatial_layer, bool):
            raise InvalidInputError("spatial_layer must be a number")
        if temporal_layer is not None and (
            not isinstance(temporal_layer, int) or isinstance(temporal_layer, bool)
        ):
            raise InvalidInputError("if given, temporal_layer must be a number")
        request = {"preferredLayers": {"spatialLayer": spatial_layer, "temporalLayer": temporal_layer}}
        body = await self._request(
            Method.CONSUMER_SET_PREFERRED_LAYERS, RequestBody.Consumer_SetPreferredLayersRequest, request
        )
        self.preferred_layers = layers_from_fbs(body["preferredLayers"]) if body is not None else None

    async def set_priority(self, priority: int) -> None:
        if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
            raise InvalidInputError("priority must be a positive number")
        request = {"priority": priority}
        body = await self._request(
            Method.CONSUMER_SET_PRIORITY, RequestBody.Consumer_SetPriorityRequest, request
        )
        self.priority = body["priority"]

    async def unset_priority(self) -> None:
        await self.set_priority(1)

    async def request_key_frame(self) -> None:
        await self._request(Method.CONSUMER_REQUEST_KEY_FRAME)

    async def enable_trace_event(self, types: list[str]) -> None:
        request = {"events": trace_types_to_fbs(types, TRACE_TYPES)}
        await self._request(
            Method.CONSUMER_ENABLE_TRACE_EVENT, RequestBody.Consumer_EnableTraceEventRequest, request
        )

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.CONSUMER_PRODUCER_CLOSE:
            if self._set_closed():
                self.emit("@producerclose")
                self.emit("producerclose")
                self.observer.emit("close")
        elif event == Event.CONSUMER_PRODUCER_PAUSE:
            if not self.producer_paused:
                self.producer_paused = True
                self.emit("producerpause")
                if not self.paused:
                    self.observer.emit("pause")
        elif event == Event.CONSUMER_PRODUCER_RESUME:
            if self.producer_paused:
                self.producer_paused = False
                self.emit("producerresume")
                if not self.paused:
                    self.observer.emit("resume")
        elif event == Event.CONSUMER_SCORE:
            self.score = to_plain(body["score"])
            self._announce("score", self.score)
        elif event == Event.CONSUMER_LAYERS_CHANGE:
            self.current_layers = layers_from_fbs(body["layers"])
            self._announce("layerschange", self.current_layers)
        elif event == Event.CONSUMER_TRACE:
            trace = to_plain(body, {"type": _trace_name})
            self._announce("trace", trace)
        elif event == Event.CONSUMER_RTP and not self.closed:
            self.emit("rtp", bytes(body["data"]))
