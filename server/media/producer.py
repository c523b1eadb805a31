"""Producer: an RTP source a client sends into a transport; consumers receive from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfuctl.server.media import ortc
from sfuctl.server.media.entity import TransportChild
from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Producer.TraceEventType import TraceEventType
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs_plain import enum_names, to_plain
from sfuctl.server.media.rtp_fbs import (
    RTP_TYPE_NAMES,
    encoding_to_fbs,
    kind_from_fbs,
    rtp_parameters_from_fbs,
    rtp_parameters_to_fbs,
)
from sfuctl.server.media.stats import rtp_stream_stats

if TYPE_CHECKING:
    from sfuctl.server.media.transport import Transport

TRACE_TYPES = {
    name.lower(): value for name, value in vars(TraceEventType).items() if not name.startswith("_")
}
_trace_name = enum_names(TraceEventType)
CONSUMER_TEMPLATES = 16
"""Distinct (capabilities, RTX) pairs remembered per producer (a room has a handful)."""


@dataclass(frozen=True, slots=True)
class ConsumerTemplate:
    """What every regular consumer of one producer for one set of capabilities shares.

    The ORTC intersection and its conversion for the worker were most of a consume's cost and
    give the same result each time; only the SSRCs (random) and the MID differ per consumer.
    """

    caps: Any
    """The normalised capabilities it was made for; held so that their id keys it safely."""
    rtp_parameters: dict[str, Any]
    """Mediasoup's shape, with the first consumer's SSRCs; copied per consumer."""
    request: dict[str, Any]
    """``rtp_parameters`` for the worker (read-only, shared): codecs, header extensions, RTCP."""


def trace_types_to_fbs(types: list[str], table: dict[str, int]) -> list[int]:
    """Unknown names are ignored, as mediasoup does."""
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise InvalidInputError("types must be a list of strings")
    return [table[t] for t in types if t in table]


class Producer(TransportChild):
    """Events: ``transportclose``, ``score(list)``, ``videoorientationchange(dict)``, ``trace(dict)``.
    Observer: ``close``, ``pause``, ``resume``, ``score``, ``videoorientationchange``, ``trace``.
    """

    close_method = Method.TRANSPORT_CLOSE_PRODUCER
    close_body_type = RequestBody.Transport_CloseProducerRequest

    kind_name = "producer"

    def __init__(
        self,
        producer_id: str,
        transport: Transport,
        kind: str,
        rtp_parameters: dict[str, Any],
        producer_type: str,
        consumable_rtp_parameters: dict[str, Any],
        paused: bool,
        app_data: dict[str, Any] | None,
    ) -> None:
        super().__init__(producer_id, transport, app_data)
        self.kind = kind
        self.rtp_parameters = rtp_parameters
        self.type = producer_type
        self.consumable_rtp_parameters = consumable_rtp_parameters
        self.paused = paused
        self.score: list[dict[str, Any]] = []
        self.consumable_encodings_request = [
            encoding_to_fbs(e) for e in consumable_rtp_parameters.get("encodings") or []
        ]
        """The consumable encodings for the worker, sent with every consume of this producer."""
        self._consumer_templates: dict[tuple[int, bool], ConsumerTemplate] = {}
        self._listen()

    def consumer_template(self, caps: Any, enable_rtx: bool) -> ConsumerTemplate:
        """The regular (not pipe) consumer parameters for normalised ``caps``, computed once."""
        key = (id(caps), enable_rtx)
        template = self._consumer_templates.get(key)
        if template is None or template.caps is not caps:
            params = dict(
                ortc.get_consumer_rtp_parameters(
                    self.consumable_rtp_parameters,  # type: ignore[arg-type]
                    caps,
                    pipe=False,
                    enable_rtx=enable_rtx,
                    normalized=True,
                )
            )
            template = ConsumerTemplate(caps, params, rtp_parameters_to_fbs(params))
            if len(self._consumer_templates) >= CONSUMER_TEMPLATES:
                self._consumer_templates.pop(next(iter(self._consumer_templates)))
            self._consumer_templates[key] = template
        return template

    @classmethod
    def close_request_for(cls, object_id: str) -> dict[str, Any]:
        return {"producerId": object_id}

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.PRODUCER_DUMP)
        return {
            "id": body["id"],
            "kind": kind_from_fbs(body["kind"]),
            "type": RTP_TYPE_NAMES[body["type"]],
            "rtpParameters": rtp_parameters_from_fbs(body["rtpParameters"]),
            "rtpMapping": to_plain(body["rtpMapping"]),
            "rtpStreams": to_plain(body["rtpStreams"], {"kind": kind_from_fbs}),
            "traceEventTypes": [_trace_name(t) for t in body["traceEventTypes"] or []],
            "paused": body["paused"],
        }

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.PRODUCER_GET_STATS)
        return [rtp_stream_stats(s) for s in body["stats"] or []]

    async def pause(self) -> None:
        await self._request(Method.PRODUCER_PAUSE)
        was_paused, self.paused = self.paused, True
        if not was_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.PRODUCER_RESUME)
        was_paused, self.paused = self.paused, False
        if was_paused:
            self.observer.emit("resume")

    async def enable_trace_event(self, types: list[str]) -> None:
        request = {"events": trace_types_to_fbs(types, TRACE_TYPES)}
        await self._request(
            Method.PRODUCER_ENABLE_TRACE_EVENT, RequestBody.Producer_EnableTraceEventRequest, request
        )

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.PRODUCER_SCORE:
            self.score = to_plain(body["scores"]) or []
            self._announce("score", self.score)
        elif event == Event.PRODUCER_VIDEO_ORIENTATION_CHANGE:
            orientation = to_plain(body)
            self._announce("videoorientationchange", orientation)
        elif event == Event.PRODUCER_TRACE:
            trace = to_plain(body, {"type": _trace_name})
            self._announce("trace", trace)
