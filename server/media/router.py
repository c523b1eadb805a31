"""Router: one media room inside a worker. Its transports' producers can be consumed by any of them."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from sfuctl.server.media import ortc, shared
from sfuctl.server.media.channel import Channel, LateAnswerHandler
from sfuctl.server.media.entity import Entity
from sfuctl.server.media.errors import InvalidInputError, InvalidStateError, NotFoundError
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.WebRtcTransport.Listen import Listen
from sfuctl.server.media.fbs_plain import to_plain
from sfuctl.server.media.jsonclone import clone
from sfuctl.server.media.transport import Transport, listen_info_to_fbs, new_id
from sfuctl.server.media.webrtc_transport import WebRtcTransport, webrtc_transport_data

if TYPE_CHECKING:
    from sfuctl.server.media.active_speaker_observer import ActiveSpeakerObserver
    from sfuctl.server.media.audio_level_observer import AudioLevelObserver
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.data_consumer import DataConsumer
    from sfuctl.server.media.data_producer import DataProducer
    from sfuctl.server.media.pipe_transport import PipeTransport
    from sfuctl.server.media.plain_transport import PlainTransport
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.rtp_observer import RtpObserver
    from sfuctl.server.media.webrtc_server import WebRtcServer
    from sfuctl.server.media.worker import Worker

log = logging.getLogger("sfuctl.router")

CAPS_CACHE_SIZE = 64
"""Distinct client capabilities remembered per router (a handful of browser versions)."""

_router_caps: dict[bytes, dict[str, Any]] = {}
"""Router capabilities by media codecs (sorted JSON): every room of a server has the same."""


def router_capabilities(media_codecs: list[Any]) -> dict[str, Any]:
    """A router's own copy of the capabilities for ``media_codecs``, generated once per distinct
    codecs: generating them took ~1 ms, on the join of the first peer of every room."""
    try:
        key: bytes | None = orjson.dumps(media_codecs, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        key = None  # not JSON-shaped: the generator says what is wrong
    caps = _router_caps.get(key) if key is not None else None
    if caps is None:
        caps = dict(ortc.generate_router_rtp_capabilities(copy.deepcopy(media_codecs)))
        if key is not None:
            if len(_router_caps) >= CAPS_CACHE_SIZE:
                _router_caps.pop(next(iter(_router_caps)))
            _router_caps[key] = caps
    return clone(caps)


SCTP_DEFAULTS: dict[str, int] = {
    "maxSendMessageSize": 262144,
    "maxReceiveMessageSize": 262144,
    "sctpSendBufferSize": 2_000_000,
    "sctpPerStreamSendQueueLimit": 2_000_000,
    "sctpMaxReceiverWindowBufferSize": 5_242_880,
    "sctpDefaultStreamBufferedAmountLowThreshold": 1024,
}


def transport_options(
    *,
    enable_sctp: bool,
    sctp: dict[str, int] | None,
    is_data_channel: bool,
    initial_available_outgoing_bitrate: int | None = None,
    direct: bool = False,
) -> dict[str, Any]:
    """The base options every transport type sends (SCTP limits fall back to mediasoup's defaults)."""
    values = {**SCTP_DEFAULTS, **(sctp or {})}
    unknown = set(values) - set(SCTP_DEFAULTS)
    if unknown:
        raise InvalidInputError(f"unknown SCTP option(s): {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {
        "direct": direct,
        "initialAvailableOutgoingBitrate": initial_available_outgoing_bitrate,
        "enableSctp": enable_sctp,
        "isDataChannel": is_data_channel,
    }
    for key, value in values.items():
        if not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"SCTP option {key} must be a non-negative integer")
        options[key] = value
    return options


PIPE_LISTEN_INFO: dict[str, Any] = {"protocol": "udp", "ip": "127.0.0.1"}
"""Where pipe transports listen unless told otherwise (both routers are on this host)."""

PipePair = dict[str, "PipeTransport"]
"""The two ends of a pipe between two routers, by router id."""


@dataclass(frozen=True, slots=True)
class PipeToRouterResult:
    """What :meth:`Router.pipe_to_router` made: a pipe consumer in this router and the producer
    it feeds in the other (or the data pair)."""

    pipe_consumer: Consumer | None = None
    pipe_producer: Producer | None = None
    pipe_data_consumer: DataConsumer | None = None
    pipe_data_producer: DataProducer | None = None


def _pairs(entries: list[dict[str, Any]] | None, field: str) -> dict[str, Any]:
    return {e["key"]: e[field] for e in entries or []}


class Router(Entity):
    """Events: ``workerclose``. Observer: ``close``, ``newtransport``, ``newrtpobserver``."""

    kind_name = "router"

    def __init__(
        self,
        router_id: str,
        worker: Worker,
        rtp_capabilities: dict[str, Any],
        app_data: dict[str, Any] | None,
    ) -> None:
        super().__init__(router_id, worker.channel, app_data)
        self.worker = worker
        self._rtp_capabilities = rtp_capabilities
        self.transports: dict[str, Transport] = {}
        self._pipe_ids: set[str] = set()
        """Which of ``transports`` are pipes to other routers (counted apart without a walk)."""
        self.producers: dict[str, Producer] = {}
        self.data_producers: dict[str, DataProducer] = {}
        self.rtp_observers: dict[str, RtpObserver] = {}
        self._caps_cache: dict[bytes, Any] = {}
        self._pipe_pairs: dict[str, asyncio.Future[PipePair]] = {}
        """The pipe transport pair to each other router, by its id (created once, shared)."""
        self._pipe_tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def create(cls, worker: Worker, media_codecs: list[Any], app_data: dict[str, Any] | None) -> Router:
        caps = router_capabilities(media_codecs)
        router_id = new_id()
        await worker.channel.request(
            Method.WORKER_CREATE_ROUTER,
            "",
            RequestBody.Worker_CreateRouterRequest,
            {"routerId": router_id},
            on_late=cls.closer(worker.channel, router_id),
        )
        return cls(router_id, worker, caps, app_data)

    @staticmethod
    def closer(channel: Channel, router_id: str) -> LateAnswerHandler:
        """Closes ``router_id`` in the worker, with no object here (a create's late answer)."""
        return lambda: channel.fire(
            Method.WORKER_CLOSE_ROUTER, "", RequestBody.Worker_CloseRouterRequest, {"routerId": router_id}
        )

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        """A copy: the router's capabilities are what clients load their device with."""
        return clone(self._rtp_capabilities)

    @property
    def rtp_capabilities_ref(self) -> Any:
        """The router's own capabilities, for read-only use on hot paths (no copy)."""
        return self._rtp_capabilities

    def update_media_codecs(self, media_codecs: list[Any]) -> None:
        """New router capabilities for clients that load them from now on; existing producers
        and consumers keep what they negotiated."""
        self._rtp_capabilities = dict(ortc.generate_router_rtp_capabilities(clone(media_codecs)))
        self._caps_cache.clear()

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._set_closed():
            return
        self.closer(self.channel, self.id)()
        self._close_children()
        self.emit("@close")
        self.observer.emit("close")

    def worker_closed(self) -> None:
        if not self._set_closed():
            return
        self._close_children()
        self.emit("workerclose")
        self.observer.emit("close")

    def _close_children(self) -> None:
        for transport in list(self.transports.values()):
            transport.router_closed()
        self.transports.clear()
        self._pipe_ids.clear()
        self.producers.clear()
        for observer in list(self.rtp_observers.values()):
            observer.router_closed()
        self.rtp_observers.clear()
        self.data_producers.clear()

    # -- queries ---------------------------------------------------------------------------------

    async def dump(self) -> dict[str, Any]:
        body = to_plain(await self._request(Method.ROUTER_DUMP))
        return {
            "id": body["id"],
            "transportIds": body["transportIds"],
            "rtpObserverIds": body["rtpObserverIds"],
            "mapProducerIdConsumerIds": _pairs(body["mapProducerIdConsumerIds"], "values"),
            "mapConsumerIdProducerId": _pairs(body["mapConsumerIdProducerId"], "value"),
            "mapProducerIdObserverIds": _pairs(body["mapProducerIdObserverIds"], "values"),
            "mapDataProducerIdDataConsumerIds": _pairs(body["mapDataProducerIdDataConsumerIds"], "values"),
            "mapDataConsumerIdDataProducerId": _pairs(body["mapDataConsumerIdDataProducerId"], "value"),
        }

    def can_consume(self, producer_id: str, rtp_capabilities: dict[str, Any]) -> bool:
        """Whether a client with these capabilities can receive the producer (False if unknown)."""
        producer = self.producers.get(producer_id)
        if producer is None:
            return False
        try:
            caps = self.normalized_capabilities(rtp_capabilities)
        except InvalidInputError:
            return False
        return ortc.can_consume(producer.consumable_rtp_parameters, caps, normalized=True)  # type: ignore[arg-type]

    def normalized_capabilities(self, rtp_capabilities: Any) -> Any:
        """Validated, normalised endpoint capabilities; read-only, shared, cached by content.

        A room's clients send the same capabilities on every consume (and mostly the same as
        each other), and validating them was the largest cost of a consume.
        """
        try:
            key = orjson.dumps(rtp_capabilities, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            return ortc.validate_and_normalize_rtp_capabilities(rtp_capabilities)
        cache = self._caps_cache
        caps = cache.get(key)
        if caps is None:
            caps = ortc.validate_and_normalize_rtp_capabilities(rtp_capabilities)
            if len(cache) >= CAPS_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[key] = caps
        return caps

    # -- transports ------------------------------------------------------------------------------

    @property
    def non_pipe_transport_count(self) -> int:
        """Transports other than pipes to other routers (peers', recorders'), in O(1): the
        transport limit is checked on every create-transport, across every room."""
        return len(self.transports) - len(self._pipe_ids)

    def _adopt(self, transport: Transport) -> None:
        self.transports[transport.id] = transport
        if transport.transport_type == "pipe":
            self._pipe_ids.add(transport.id)

        def forget() -> None:
            self.transports.pop(transport.id, None)
            self._pipe_ids.discard(transport.id)

        transport.on("@close", forget)
        transport.on("@listenserverclose", forget)
        self.observer.emit("newtransport", transport)

    async def create_webrtc_transport(
        self,
        *,
        listen_infos: list[dict[str, Any]] | None = None,
        webrtc_server: WebRtcServer | None = None,
        enable_udp: bool | None = None,
        enable_tcp: bool | None = None,
        prefer_udp: bool = False,
        prefer_tcp: bool = False,
        initial_available_outgoing_bitrate: int = 600_000,
        enable_sctp: bool = False,
        sctp_options: dict[str, int] | None = None,
        ice_consent_timeout: int = 30,
        app_data: dict[str, Any] | None = None,
    ) -> WebRtcTransport:
        """Listen on ``listen_infos`` (its own ports) or share a WebRtcServer's ports."""
        self._check_open()
        if webrtc_server is None and listen_infos is None:
            raise InvalidInputError("missing webrtc_server and listen_infos (one of them is mandatory)")
        if webrtc_server is not None and listen_infos is not None:
            raise InvalidInputError("only one of webrtc_server and listen_infos must be given")
        if listen_infos is not None and (not isinstance(listen_infos, list) or not listen_infos):
            raise InvalidInputError("listen_infos must be a non-empty list")
        if webrtc_server is not None and webrtc_server.closed:
            raise InvalidStateError("webrtc_server is closed")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        if enable_udp is None:
            enable_udp = True
        if enable_tcp is None:
            enable_tcp = webrtc_server is not None
        options: dict[str, Any] = {
            "base": transport_options(
                enable_sctp=enable_sctp,
                sctp=sctp_options,
                is_data_channel=True,
                initial_available_outgoing_bitrate=initial_available_outgoing_bitrate,
            ),
            "enableUdp": enable_udp,
            "enableTcp": enable_tcp,
            "preferUdp": prefer_udp,
            "preferTcp": prefer_tcp,
            "iceConsentTimeout": ice_consent_timeout,
        }
        if webrtc_server is not None:
            options["listenType"] = Listen.ListenServer
            options["listen"] = {"webRtcServerId": webrtc_server.id}
        else:
            options["listenType"] = Listen.ListenIndividual
            options["listen"] = {"listenInfos": [listen_info_to_fbs(i) for i in listen_infos or []]}
        transport_id = new_id()
        request = {"transportId": transport_id, "options": options}
        method = (
            Method.ROUTER_CREATE_WEBRTCTRANSPORT_WITH_SERVER
            if webrtc_server is not None
            else Method.ROUTER_CREATE_WEBRTCTRANSPORT
        )
        body = await self._request(
            method,
            RequestBody.Router_CreateWebRtcTransportRequest,
            request,
            on_late=Transport.closer(self, transport_id),
        )
        transport = WebRtcTransport(transport_id, self, webrtc_transport_data(body), app_data)
        self._adopt(transport)
        if webrtc_server is not None:
            webrtc_server.handle_webrtc_transport(transport)
        return transport

    async def create_plain_transport(
        self,
        *,
        listen_info: dict[str, Any],
        rtcp_listen_info: dict[str, Any] | None = None,
        rtcp_mux: bool = True,
        comedia: bool = False,
        enable_sctp: bool = False,
        sctp_options: dict[str, int] | None = None,
        enable_srtp: bool = False,
        srtp_crypto_suite: str = "AES_CM_128_HMAC_SHA1_80",
        app_data: dict[str, Any] | None = None,
    ) -> PlainTransport:
        """Plain RTP/RTCP (optionally SRTP) for ingest, recording and cheap load generation."""
        from sfuctl.server.media.plain_transport import (
            PlainTransport,
            plain_transport_data,
            srtp_crypto_suite_to_fbs,
        )

        self._check_open()
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        if rtcp_mux and rtcp_listen_info is not None:
            rtcp_mux = False  # a separate RTCP port was asked for
        options = {
            "base": transport_options(enable_sctp=enable_sctp, sctp=sctp_options, is_data_channel=False),
            "listenInfo": listen_info_to_fbs(listen_info),
            "rtcpListenInfo": listen_info_to_fbs(rtcp_listen_info) if rtcp_listen_info else None,
            "rtcpMux": rtcp_mux,
            "comedia": comedia,
            "enableSrtp": enable_srtp,
            "srtpCryptoSuite": srtp_crypto_suite_to_fbs(srtp_crypto_suite),
        }
        transport_id = new_id()
        request = {"transportId": transport_id, "options": options}
        body = await self._request(
            Method.ROUTER_CREATE_PLAINTRANSPORT,
            RequestBody.Router_CreatePlainTransportRequest,
            request,
            on_late=Transport.closer(self, transport_id),
        )
        transport = PlainTransport(transport_id, self, plain_transport_data(body), app_data)
        self._adopt(transport)
        return transport

    async def create_pipe_transport(
        self,
        *,
        listen_info: dict[str, Any] | None = None,
        enable_sctp: bool = False,
        sctp_options: dict[str, int] | None = None,
        enable_rtx: bool = False,
        enable_srtp: bool = False,
        app_data: dict[str, Any] | None = None,
    ) -> PipeTransport:
        """One end of a pipe to another router (UDP only; see :meth:`pipe_to_router`)."""
        from sfuctl.server.media.pipe_transport import PipeTransport, pipe_transport_data

        self._check_open()
        if listen_info is None:
            raise InvalidInputError("missing listen_info")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        options = {
            "base": transport_options(enable_sctp=enable_sctp, sctp=sctp_options, is_data_channel=False),
            "listenInfo": listen_info_to_fbs(listen_info),
            "enableRtx": bool(enable_rtx),
            "enableSrtp": bool(enable_srtp),
        }
        transport_id = new_id()
        request = {"transportId": transport_id, "options": options}
        body = await self._request(
            Method.ROUTER_CREATE_PIPETRANSPORT,
            RequestBody.Router_CreatePipeTransportRequest,
            request,
            on_late=Transport.closer(self, transport_id),
        )
        transport = PipeTransport(transport_id, self, pipe_transport_data(body), app_data)
        self._adopt(transport)
        return transport

    # -- pipes to other routers ------------------------------------------------------------------

    async def pipe_to_router(
        self,
        *,
        router: Router,
        producer_id: str | None = None,
        data_producer_id: str | None = None,
        keep_id: bool = True,
        listen_info: dict[str, Any] | None = None,
        enable_sctp: bool = True,
        sctp_options: dict[str, int] | None = None,
        enable_rtx: bool = False,
        enable_srtp: bool = False,
    ) -> PipeToRouterResult:
        """Make a producer (or data producer) of this router available in ``router``.

        As mediasoup 3.27: one pipe transport pair per pair of routers, created once even when
        asked concurrently from either side; a pipe consumer here feeds a producer there (with the
        same id unless ``keep_id`` is false, which two routers of one worker need). The far
        producer follows pause and resume, and closing either of the two closes the other.
        """
        if producer_id is None and data_producer_id is None:
            raise InvalidInputError("missing producer_id or data_producer_id")
        if producer_id is not None and data_producer_id is not None:
            raise InvalidInputError("just producer_id or data_producer_id can be given")
        if not isinstance(router, Router):
            raise InvalidInputError("missing router")
        if router is self:
            raise InvalidInputError("cannot use this Router as destination")
        self._check_open()
        router._check_open()
        producer = data_producer = None
        if producer_id is not None:
            producer = self.producers.get(producer_id)
            if producer is None:
                raise NotFoundError("Producer not found")
        else:
            data_producer = self.data_producers.get(data_producer_id or "")
            if data_producer is None:
                raise NotFoundError("DataProducer not found")
        local, remote = await self._pipe_pair(
            router,
            listen_info=dict(listen_info or PIPE_LISTEN_INFO),
            enable_sctp=enable_sctp,
            sctp_options=sctp_options,
            enable_rtx=enable_rtx,
            enable_srtp=enable_srtp,
        )
        if producer is not None:
            return await self._pipe_producer(producer, local, remote, keep_id)
        assert data_producer is not None
        return await self._pipe_data_producer(data_producer, local, remote, keep_id)

    async def _pipe_pair(self, router: Router, **options: Any) -> tuple[PipeTransport, PipeTransport]:
        """The pair to ``router``: the cached one, or one created (and registered on both
        routers before the first await, so a concurrent call from either side shares it)."""
        pending = self._pipe_pairs.get(router.id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pipe_pairs[router.id] = pending
            router._add_pipe_pair(self.id, pending)
            try:
                pending.set_result(await self._create_pipe_pair(router, options))
            except BaseException as error:
                self._pipe_pairs.pop(router.id, None)
                shared.fail(pending, error)
                raise
        pair = await asyncio.shield(pending)
        return pair[self.id], pair[router.id]

    async def _create_pipe_pair(self, router: Router, options: dict[str, Any]) -> PipePair:
        created = await asyncio.gather(
            self.create_pipe_transport(**options),
            router.create_pipe_transport(**options),
            return_exceptions=True,
        )
        ends = [t for t in created if not isinstance(t, BaseException)]
        try:
            for outcome in created:
                if isinstance(outcome, BaseException):
                    raise outcome
            local, remote = ends
            await asyncio.gather(
                local.connect(
                    remote.tuple["localAddress"], remote.tuple["localPort"], remote.srtp_parameters
                ),
                remote.connect(local.tuple["localAddress"], local.tuple["localPort"], local.srtp_parameters),
            )
        except BaseException as error:
            log.error("pipe_to_router: could not create the pipe transport pair: %s", error)
            for end in ends:
                end.close()
            raise

        def local_closed() -> None:
            remote.close()
            self._pipe_pairs.pop(router.id, None)

        def remote_closed() -> None:
            local.close()
            self._pipe_pairs.pop(router.id, None)

        local.observer.on("close", local_closed)
        remote.observer.on("close", remote_closed)
        return {self.id: local, router.id: remote}

    def _add_pipe_pair(self, router_id: str, pending: asyncio.Future[PipePair]) -> None:
        """The other router of a pair being created registers it here (mediasoup's
        addPipeTransportPair); its end's close forgets it."""
        if router_id in self._pipe_pairs:
            raise InvalidStateError("a pipe transport pair to that router already exists here")
        self._pipe_pairs[router_id] = pending

        def settled(future: asyncio.Future[PipePair]) -> None:
            if future.cancelled() or future.exception() is not None:
                if self._pipe_pairs.get(router_id) is future:
                    del self._pipe_pairs[router_id]
                return
            end = future.result()[self.id]
            end.observer.on("close", lambda: self._forget_pipe_pair(router_id, future))

        pending.add_done_callback(settled)

    def _forget_pipe_pair(self, router_id: str, future: asyncio.Future[PipePair]) -> None:
        if self._pipe_pairs.get(router_id) is future:
            del self._pipe_pairs[router_id]

    def pipe_transport_pairs(self) -> dict[str, PipeTransport]:
        """This router's end of each established pipe, by the other router's id."""
        ends: dict[str, PipeTransport] = {}
        for router_id, future in self._pipe_pairs.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                ends[router_id] = future.result()[self.id]
        return ends

    async def _pipe_producer(
        self, producer: Producer, local: PipeTransport, remote: PipeTransport, keep_id: bool
    ) -> PipeToRouterResult:
        pipe_consumer: Consumer | None = None
        pipe_producer: Producer | None = None
        try:
            pipe_consumer = await local.consume(producer.id)
            pipe_producer = await remote.produce(
                pipe_consumer.kind,
                clone(pipe_consumer.rtp_parameters),
                producer_id=producer.id if keep_id else new_id(),
                paused=pipe_consumer.producer_paused,
                app_data=producer.app_data,
            )
            if producer.closed:
                raise NotFoundError("original Producer closed")
            if pipe_producer.paused != producer.paused:
                await (pipe_producer.pause() if producer.paused else pipe_producer.resume())
        except BaseException as error:
            log.error("pipe_to_router: could not pipe producer %s: %s", producer.id, error)
            if pipe_consumer is not None:
                pipe_consumer.close()
            if pipe_producer is not None:
                pipe_producer.close()
            raise
        far = pipe_producer
        pipe_consumer.observer.on("close", far.close)
        pipe_consumer.observer.on("pause", lambda: self._spawn(far.pause()))
        pipe_consumer.observer.on("resume", lambda: self._spawn(far.resume()))
        far.observer.on("close", pipe_consumer.close)
        return PipeToRouterResult(pipe_consumer=pipe_consumer, pipe_producer=far)

    async def _pipe_data_producer(
        self, data_producer: DataProducer, local: PipeTransport, remote: PipeTransport, keep_id: bool
    ) -> PipeToRouterResult:
        pipe_data_consumer: DataConsumer | None = None
        pipe_data_producer: DataProducer | None = None
        try:
            pipe_data_consumer = await local.consume_data(data_producer.id)
            pipe_data_producer = await remote.produce_data(
                pipe_data_consumer.sctp_stream_parameters,
                data_producer_id=data_producer.id if keep_id else new_id(),
                label=pipe_data_consumer.label,
                protocol=pipe_data_consumer.protocol,
                app_data=data_producer.app_data,
            )
            if data_producer.closed:
                raise NotFoundError("original DataProducer closed")
        except BaseException as error:
            log.error("pipe_to_router: could not pipe data producer %s: %s", data_producer.id, error)
            if pipe_data_consumer is not None:
                pipe_data_consumer.close()
            if pipe_data_producer is not None:
                pipe_data_producer.close()
            raise
        far = pipe_data_producer
        pipe_data_consumer.observer.on("close", far.close)
        far.observer.on("close", pipe_data_consumer.close)
        return PipeToRouterResult(pipe_data_consumer=pipe_data_consumer, pipe_data_producer=far)

    def _spawn(self, request: Coroutine[Any, Any, None]) -> None:
        """Run a pipe's follow-up request (pause/resume); a closed far end is no error."""

        async def run() -> None:
            try:
                await request
            except InvalidStateError:
                pass
            except Exception as error:
                log.warning("pipe follow-up request failed: %s", error)

        task = asyncio.get_running_loop().create_task(run())
        self._pipe_tasks.add(task)
        task.add_done_callback(self._pipe_tasks.discard)

    # -- RTP observers ---------------------------------------------------------------------------

    def _adopt_observer(self, observer: RtpObserver) -> None:
        self.rtp_observers[observer.id] = observer
        observer.on("@close", lambda: self.rtp_observers.pop(observer.id, None))
        self.observer.emit("newrtpobserver", observer)

    async def create_active_speaker_observer(
        self, *, interval: int = 300, app_data: dict[str, Any] | None = None
    ) -> ActiveSpeakerObserver:
        """Emits 'dominantspeaker' with the producer that talks most (audio producers added to it)."""
        from sfuctl.server.media.active_speaker_observer import ActiveSpeakerObserver

        self._check_open()
        if not isinstance(interval, int) or isinstance(interval, bool):
            raise InvalidInputError("if given, interval must be a number")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        observer_id = new_id()
        request = {"rtpObserverId": observer_id, "options": {"interval": interval}}
        await self._request(
            Method.ROUTER_CREATE_ACTIVESPEAKEROBSERVER,
            RequestBody.Router_CreateActiveSpeakerObserverRequest,
            request,
            on_late=ActiveSpeakerObserver.closer(self, observer_id),
        )
        observer = ActiveSpeakerObserver(observer_id, self, app_data)
        self._adopt_observer(observer)
        return observer

    async def create_audio_level_observer(
        self,
        *,
        max_entries: int = 1,
        threshold: int = -80,
        interval: int = 1000,
        app_data: dict[str, Any] | None = None,
    ) -> AudioLevelObserver:
        """Emits 'volumes' with the loudest producers above ``threshold`` dBov, or 'silence'."""
        from sfuctl.server.media.audio_level_observer import AudioLevelObserver

        self._check_open()
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries <= 0:
            raise InvalidInputError("if given, max_entries must be a positive number")
        if not isinstance(threshold, int) or isinstance(threshold, bool) or not -127 <= threshold <= 0:
            raise InvalidInputError("if given, threshold must be a negative number greater than -127")
        if not isinstance(interval, int) or isinstance(interval, bool):
            raise InvalidInputError("if given, interval must be a number")
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        observer_id = new_id()
        options = {"maxEntries": max_entries, "threshold": threshold, "interval": interval}
        request = {"rtpObserverId": observer_id, "options": options}
        await self._request(
            Method.ROUTER_CREATE_AUDIOLEVELOBSERVER,
            RequestBody.Router_CreateAudioLevelObserverRequest,
            request,
            on_late=AudioLevelObserver.closer(self, observer_id),
        )
        observer = AudioLevelObserver(observer_id, self, app_data)
        self._adopt_observer(observer)
        return observer
