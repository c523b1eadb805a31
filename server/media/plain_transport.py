"""PlainTransport: plain RTP/RTCP (optionally SRTP) with no ICE or DTLS.

Used for ingest from tools such as ffmpeg/GStreamer, for recording, and for cheap load
generation: the remote address is given to :meth:`PlainTransport.connect`, or learnt from the
first packet received when the transport was created with ``comedia``.
"""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.SrtpParameters.SrtpCryptoSuite import SrtpCryptoSuite
from sfuctl.server.media.fbs_plain import enum_names
from sfuctl.server.media.transport import Transport, tuple_to_plain

SRTP_CRYPTO_SUITES: dict[str, int] = {
    name: value for name, value in vars(SrtpCryptoSuite).items() if not name.startswith("_")
}
srtp_crypto_suite_name = enum_names(SrtpCryptoSuite, lower=False)
MAX_PORT = 65535


def srtp_crypto_suite_to_fbs(name: str) -> int:
    """The worker's enum value for a crypto suite name such as ``AES_CM_128_HMAC_SHA1_80``."""
    value = SRTP_CRYPTO_SUITES.get(name) if isinstance(name, str) else None
    if value is None:
        raise InvalidInputError(f"invalid SrtpCryptoSuite: {name}")
    return value


def srtp_parameters_to_fbs(params: dict[str, Any]) -> dict[str, Any]:
    """``{"cryptoSuite": ..., "keyBase64": ...}`` for the worker (InvalidInputError if malformed)."""
    if not isinstance(params, dict):
        raise InvalidInputError("srtp_parameters must be a dict")
    suite = params.get("cryptoSuite")
    if not isinstance(suite, str):
        raise InvalidInputError("srtp_parameters.cryptoSuite must be a string")
    if not isinstance(params.get("keyBase64"), str):
        raise InvalidInputError("srtp_parameters.keyBase64 must be a string")
    return {"cryptoSuite": srtp_crypto_suite_to_fbs(suite), "keyBase64": params["keyBase64"]}


def srtp_parameters_to_plain(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"cryptoSuite": srtp_crypto_suite_name(p["cryptoSuite"]), "keyBase64": p["keyBase64"]}


def plain_transport_data(dump: Any) -> dict[str, Any]:
    """A PlainTransport DumpResponse as mediasoup's dump dict (absent fields left out)."""
    data = Transport.base_dump(dump["base"])
    data.update(
        rtcpMux=dump["rtcpMux"],
        comedia=dump["comedia"],
        tuple=tuple_to_plain(dump["tuple"]),
        rtcpTuple=tuple_to_plain(dump["rtcpTuple"]),
        srtpParameters=srtp_parameters_to_plain(dump["srtpParameters"]),
    )
    return {k: v for k, v in data.items() if v is not None}


def _optional_port(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PORT:
        raise InvalidInputError(f"if given, {name} must be a port number")
    return value


def connect_request(
    ip: str | None, port: int | None, rtcp_port: int | None, srtp_parameters: dict[str, Any] | None
) -> dict[str, Any]:
    """Type checks only; the worker decides what the transport's mode requires (ip, rtcpPort, SRTP)."""
    if ip is not None and not isinstance(ip, str):
        raise InvalidInputError("if given, ip must be a string")
    request: dict[str, Any] = {
        "ip": ip,
        "port": _optional_port(port, "port"),
        "rtcpPort": _optional_port(rtcp_port, "rtcp_port"),
    }
    if srtp_parameters is not None:
        request["srtpParameters"] = srtp_parameters_to_fbs(srtp_parameters)
    return request


class PlainTransport(Transport):
    """Events (also on observer): ``tuple(dict)``, ``rtcptuple(dict)`` when comedia learns the
    remote address, ``sctpstatechange(str)``, plus the base transport's.
    """

    kind_name = "plain transport"
    transport_type = "plain"

    @property
    def tuple(self) -> dict[str, Any]:
        local: dict[str, Any] = self.data["tuple"]
        return local

    @property
    def rtcp_tuple(self) -> dict[str, Any] | None:
        rtcp: dict[str, Any] | None = self.data.get("rtcpTuple")
        return rtcp

    @property
    def srtp_parameters(self) -> dict[str, Any] | None:
        params: dict[str, Any] | None = self.data.get("srtpParameters")
        return params

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.TRANSPORT_DUMP)
        return plain_transport_data(body)

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.TRANSPORT_GET_STATS)
        stats = self.base_stats(body["base"])
        stats.update(
            type="plain-rtp-transport",
            rtcpMux=body["rtcpMux"],
            comedia=body["comedia"],
            tuple=tuple_to_plain(body["tuple"]),
        )
        rtcp_tuple = tuple_to_plain(body["rtcpTuple"])
        if rtcp_tuple:
            stats["rtcpTuple"] = rtcp_tuple
        return [stats]

    async def connect(
        self,
        ip: str | None = None,
        port: int | None = None,
        rtcp_port: int | None = None,
        srtp_parameters: dict[str, Any] | None = None,
    ) -> None:
        """Set the remote RTP (and RTCP) address and/or the remote SRTP key; once only."""
        self._check_open()
        request = connect_request(ip, port, rtcp_port, srtp_parameters)
        body = await self._request(
            Method.PLAINTRANSPORT_CONNECT, RequestBody.PlainTransport_ConnectRequest, request
        )
        if body["tuple"] is not None:
            self.data["tuple"] = tuple_to_plain(body["tuple"])
        if body["rtcpTuple"] is not None:
            self.data["rtcpTuple"] = tuple_to_plain(body["rtcpTuple"])
        if body["srtpParameters"] is not None:
            self.data["srtpParameters"] = srtp_parameters_to_plain(body["srtpParameters"])

    def _on_own_notification(self, event: int, body: Any) -> None:
        if event == Event.PLAINTRANSPORT_TUPLE:
            self._set_tuple("tuple", "tuple", body["tuple"])
        elif event == Event.PLAINTRANSPORT_RTCP_TUPLE:
            self._set_tuple("rtcpTuple", "rtcptuple", body["tuple"])
        else:
            super()._on_own_notification(event, body)

    def _set_tuple(self, key: str, event: str, fbs_tuple: Any) -> None:
        value = tuple_to_plain(fbs_tuple)
        self.data[key] = value
        self._announce(event, value)
