"""RtpObserver: what the active-speaker and audio-level observers share (producer set, pause)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfuctl.server.media.channel import LateAnswerHandler
from sfuctl.server.media.entity import Entity
from sfuctl.server.media.errors import NotFoundError
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method

if TYPE_CHECKING:
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.router import Router


class RtpObserver(Entity):
    """Watches the audio of the producers added to it. Events: ``routerclose``.
    Observer: ``close``, ``pause``, ``resume``, ``addproducer(Producer)``, ``removeproducer(Producer)``.
    """

    kind_name = "RTP observer"
    type = "base"

    def __init__(self, observer_id: str, router: Router, app_data: dict[str, Any] | None) -> None:
        super().__init__(observer_id, router.channel, app_data)
        self.router = router
        self.paused = False
        self._listen()

    @staticmethod
    def closer(router: Router, observer_id: str) -> LateAnswerHandler:
        """Closes ``observer_id`` in the worker, with no object here (a create's late answer)."""
        channel, router_id = router.channel, router.id
        return lambda: channel.fire(
            Method.ROUTER_CLOSE_RTPOBSERVER,
            router_id,
            RequestBody.Router_CloseRtpObserverRequest,
            {"rtpObserverId": observer_id},
        )

    def close(self) -> None:
        if not self._set_closed():
            return
        self.closer(self.router, self.id)()
        self.emit("@close")
        self.observer.emit("close")

    def router_closed(self) -> None:
        if not self._set_closed():
            return
        self.emit("routerclose")
        self.observer.emit("close")

    async def pause(self) -> None:
        was_paused = self.paused
        await self._request(Method.RTPOBSERVER_PAUSE)
        self.paused = True
        if not was_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        was_paused = self.paused
        await self._request(Method.RTPOBSERVER_RESUME)
        self.paused = False
        if was_paused:
            self.observer.emit("resume")

    async def add_producer(self, producer_id: str) -> None:
        producer = self._producer(producer_id)
        await self._request(
            Method.RTPOBSERVER_ADD_PRODUCER,
            RequestBody.RtpObserver_AddProducerRequest,
            {"producerId": producer.id},
        )
        self.observer.emit("addproducer", producer)

    async def remove_producer(self, producer_id: str) -> None:
        producer = self._producer(producer_id)
        await self._request(
            Method.RTPOBSERVER_REMOVE_PRODUCER,
            RequestBody.RtpObserver_RemoveProducerRequest,
            {"producerId": producer.id},
        )
        self.observer.emit("removeproducer", producer)

    def _producer(self, producer_id: str) -> Producer:
        """The router's producer, or NotFoundError naming the id (before any worker round trip)."""
        producer = self.router.producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f'Producer with id "{producer_id}" not found')
        return producer
