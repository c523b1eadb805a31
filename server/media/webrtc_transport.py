"""WebRtcTransport: ICE + DTLS (+ SCTP) to a browser or another WebRTC endpoint."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.Transport.Protocol import Protocol
from sfuctl.server.media.fbs.WebRtcTransport.DtlsRole import DtlsRole
from sfuctl.server.media.fbs.WebRtcTransport.DtlsState import DtlsState
from sfuctl.server.media.fbs.WebRtcTransport.FingerprintAlgorithm import FingerprintAlgorithm
from sfuctl.server.media.fbs.WebRtcTransport.IceRole import IceRole
from sfuctl.server.media.fbs.WebRtcTransport.IceState import IceState
from sfuctl.server.media.fbs_plain import enum_names
from sfuctl.server.media.transport import Transport, tuple_to_plain

ice_state_name = enum_names(IceState)
ice_role_name = enum_names(IceRole)
dtls_state_name = enum_names(DtlsState)
dtls_role_name = enum_names(DtlsRole)
DTLS_ROLES = {"auto": DtlsRole.AUTO, "client": DtlsRole.CLIENT, "server": DtlsRole.SERVER}
FINGERPRINT_ALGORITHMS = {
    "sha-1": FingerprintAlgorithm.SHA1,
    "sha-224": FingerprintAlgorithm.SHA224,
    "sha-256": FingerprintAlgorithm.SHA256,
    "sha-384": FingerprintAlgorithm.SHA384,
    "sha-512": FingerprintAlgorithm.SHA512,
}
FINGERPRINT_NAMES = {v: k for k, v in FINGERPRINT_ALGORITHMS.items()}


def ice_parameters_to_plain(p: Any) -> dict[str, Any]:
    return {"usernameFragment": p["usernameFragment"], "password": p["password"], "iceLite": p["iceLite"]}


def ice_candidate_to_plain(c: Any) -> dict[str, Any]:
    """Both 'address' (mediasoup >= 3.13) and 'ip' (older clients, e.g. pymediasoup 1.5)."""
    address = c["address"]
    candidate = {
        "foundation": c["foundation"],
        "priority": c["priority"],
        "address": address,
        "ip": address,
        "protocol": "udp" if c["protocol"] == Protocol.UDP else "tcp",
        "port": c["port"],
        "type": "host",
    }
    if c["tcpType"] is not None:
        candidate["tcpType"] = "passive"
    return candidate


def dtls_parameters_to_plain(p: Any) -> dict[str, Any]:
    return {
        "fingerprints": [
            {"algorithm": FINGERPRINT_NAMES[f["algorithm"]], "value": f["value"]}
            for f in p["fingerprints"] or []
        ],
        "role": dtls_role_name(p["role"]),
    }


def dtls_parameters_to_fbs(params: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(params, dict) or not isinstance(params.get("fingerprints"), list):
        raise InvalidInputError("dtls_parameters must be a dict with a 'fingerprints' list")
    fingerprints = []
    for fingerprint in params["fingerprints"]:
        if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("value"), str):
            raise InvalidInputError("each fingerprint needs an 'algorithm' and a 'value'")
        name = fingerprint.get("algorithm", "")
        algorithm = FINGERPRINT_ALGORITHMS.get(name) if isinstance(name, str) else None
        if algorithm is None:
            raise InvalidInputError(f"invalid FingerprintAlgorithm: {fingerprint.get('algorithm')}")
        fingerprints.append({"algorithm": algorithm, "value": fingerprint["value"]})
    role = params.get("role", "auto")
    if not isinstance(role, str) or role not in DTLS_ROLES:
        raise InvalidInputError(f"invalid DtlsRole: {role}")
    return {"fingerprints": fingerprints, "role": DTLS_ROLES[role]}


def webrtc_transport_data(dump: Any) -> dict[str, Any]:
    data = Transport.base_dump(dump["base"])
    data.update(
        iceRole=ice_role_name(dump["iceRole"]),
        iceParameters=ice_parameters_to_plain(dump["iceParameters"]),
        iceCandidates=[ice_candidate_to_plain(c) for c in dump["iceCandidates"] or []],
        iceState=ice_state_name(dump["iceState"]),
        iceSelectedTuple=tuple_to_plain(dump["iceSelectedTuple"]),
        dtlsParameters=dtls_parameters_to_plain(dump["dtlsParameters"]),
        dtlsState=dtls_state_name(dump["dtlsState"]),
    )
    return data


class WebRtcTransport(Transport):
    """Events (also on observer): ``icestatechange(str)``, ``iceselectedtuplechange(dict)``,
    ``dtlsstatechange(str)``, ``sctpstatechange(str)``, plus the base transport's.
    """

    kind_name = "webrtc transport"
    transport_type = "webrtc"

    @property
    def ice_role(self) -> str:
        return str(self.data["iceRole"])

    @property
    def ice_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = self.data["iceParameters"]
        return params

    @property
    def ice_candidates(self) -> list[dict[str, Any]]:
        candidates: list[dict[str, Any]] = self.data["iceCandidates"]
        return candidates

    @property
    def ice_state(self) -> str:
        return str(self.data["iceState"])

    @property
    def ice_selected_tuple(self) -> dict[str, Any] | None:
        selected: dict[str, Any] | None = self.data.get("iceSelectedTuple")
        return selected

    @property
    def dtls_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = self.data["dtlsParameters"]
        return params

    @property
    def dtls_state(self) -> str:
        return str(self.data["dtlsState"])

    @property
    def dtls_remote_cert(self) -> str | None:
        cert: str | None = self.data.get("dtlsRemoteCert")
        return cert

    def _mark_closed_states(self) -> None:
        super()._mark_closed_states()
        self.data.update(iceState="closed", iceSelectedTuple=None, dtlsState="closed")

    async def dump(self) -> dict[str, Any]:
        body = await self._request(Method.TRANSPORT_DUMP)
        return webrtc_transport_data(body)

    async def get_stats(self) -> list[dict[str, Any]]:
        body = await self._request(Method.TRANSPORT_GET_STATS)
        stats = self.base_stats(body["base"])
        stats.update(
            type="webrtc-transport",
            iceRole=ice_role_name(body["iceRole"]),
            iceState=ice_state_name(body["iceState"]),
            dtlsState=dtls_state_name(body["dtlsState"]),
        )
        selected = tuple_to_plain(body["iceSelectedTuple"])
        if selected:
            stats["iceSelectedTuple"] = selected
        return [stats]

    async def connect(self, dtls_parameters: dict[str, Any]) -> None:
        """Give the remote DTLS parameters; the worker answers with its own (complementary) role."""
        request = {"dtlsParameters": dtls_parameters_to_fbs(dtls_parameters)}
        body = await self._request(
            Method.WEBRTCTRANSPORT_CONNECT, RequestBody.WebRtcTransport_ConnectRequest, request
        )
        self.data["dtlsParameters"]["role"] = dtls_role_name(body["dtlsLocalRole"])

    async def restart_ice(self) -> dict[str, Any]:
        body = await self._request(Method.TRANSPORT_RESTART_ICE)
        self.data["iceParameters"] = ice_parameters_to_plain(body)
        return dict(self.data["iceParameters"])

    def _on_own_notification(self, event: int, body: Any) -> None:
        if event == Event.WEBRTCTRANSPORT_ICE_STATE_CHANGE:
            state = ice_state_name(body["iceState"])
            self.data["iceState"] = state
            self._announce("icestatechange", state)
        elif event == Event.WEBRTCTRANSPORT_ICE_SELECTED_TUPLE_CHANGE:
            selected = tuple_to_plain(body["tuple"])
            self.data["iceSelectedTuple"] = selected
            self._announce("iceselectedtuplechange", selected)
        elif event == Event.WEBRTCTRANSPORT_DTLS_STATE_CHANGE:
            state = dtls_state_name(body["dtlsState"])
            self.data["dtlsState"] = state
            if state == "connected":
                self.data["dtlsRemoteCert"] = body["remoteCert"]
            self._announce("dtlsstatechange", state)
        else:
            super()._on_own_notification(event, body)
