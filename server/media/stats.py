"""RTP stream stats from the worker, in mediasoup's shape (type 'inbound-rtp'/'outbound-rtp')."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.fbs.RtpStream.StatsData import StatsData
from sfuctl.server.media.fbs_plain import to_plain
from sfuctl.server.media.rtp_fbs import kind_from_fbs


def rtp_stream_stats(stats: Any) -> dict[str, Any]:
    """Flatten one FBS RtpStream.Stats (base fields + recv/send counters)."""
    data = stats["data"]
    base = to_plain(data["base"]["data"], {"kind": kind_from_fbs})
    if base.get("rid") is None:
        base.pop("rid", None)
    if base.get("rtxSsrc") is None:
        base.pop("rtxSsrc", None)
    out = {
        **base,
        "type": "inbound-rtp" if stats["dataType"] == StatsData.RecvStats else "outbound-rtp",
        "byteCount": data["byteCount"],
        "packetCount": data["packetCount"],
        "bitrate": data["bitrate"],
    }
    if stats["dataType"] == StatsData.RecvStats:
        out["bitrateByLayer"] = {layer["layer"]: layer["bitrate"] for layer in data["bitrateByLayer"] or []}
    return out
