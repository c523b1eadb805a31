"""The recorder's command line: which codecs are recorded, into which container, and how.

GStreamer's ``gst-launch-1.0`` (Debian's gstreamer1.0-tools with the base, good and bad plugins):
``udpsrc`` with the RTP caps of the consumer -> ``rtpjitterbuffer`` (reorders, absorbs jitter)
-> the codec's depayloader -> ``webmmux`` (VP8, VP9, Opus) or ``matroskamux`` (H264) ->
``filesink``. Run with ``-e``, SIGINT makes it send EOS down the pipeline, so the muxer writes the
duration and cues and the file is complete. A second ``udpsrc`` takes the worker's RTCP (sender
reports) on its own port and drops it: RTP and RTCP on separate ports keep the RTCP out of the
depayloader.

The jitter buffer runs in mode ``synced``: a frame's time in the file is its RTP timestamp (the
sender's clock), counted from the first packet's arrival. Its default mode (``slave``) follows the
arrival times instead, so frames a busy sender or machine delivered in a burst were written
26-32 ms apart for 33 ms of picture; a file that states 30 frames/s (H264) then has two frames in
one frame slot for ffmpeg ("non monotonically increasing dts"). Not ``none``: after an RTP
timestamp jump of over 3 s (a paused producer resumed) it starts again from 0, back in time,
where ``synced`` takes the arrival time again. Without skew correction, a sender clock slower
than ours shortens the wait for a late packet by the drift (0.2 s after an hour at 50 ppm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GST_LAUNCH = "gst-launch-1.0"
JITTER_LATENCY_MS = 1000
"""How long the jitter buffer waits for a late or reordered packet. Nobody watches a recording
live, so it is generous: a sender, worker or recorder stalled by a busy machine for less than this
loses nothing (a packet later than this is counted lost and dropped). It costs nothing at a
stop (the end of stream flushes the buffer into the file), but a recorder that crashes loses
the last second it held."""


@dataclass(frozen=True)
class Format:
    mime_type: str
    """The RTP codec, as mediasoup names it (``video/VP8``)."""
    encoding_name: str
    depay: str
    """Depayloader and what follows it up to the muxer (gst-launch syntax, split on spaces)."""
    muxer: str
    extension: str
    content_type: str


FORMATS: dict[str, Format] = {
    "video/vp8": Format("video/VP8", "VP8", "rtpvp8depay wait-for-keyframe=true", "webmmux", "webm",
                        "video/webm"),
    "video/vp9": Format("video/VP9", "VP9", "rtpvp9depay wait-for-keyframe=true", "webmmux", "webm",
                        "video/webm"),
    # h264parse (the 'bad' plugins) gives the muxer the picture size and the parameter sets.
    # avc3 keeps SPS/PPS in the stream (before every key frame: config-interval=-1), so a sender
    # that changes its picture size mid-stream, as browsers do under load, is followed; with avc
    # (SPS/PPS only in the header) matroskamux refuses the new caps and the recorder stops.
    "video/h264": Format("video/H264", "H264",
                         "rtph264depay ! h264parse config-interval=-1 ! "
                         "video/x-h264,stream-format=avc3,alignment=au", "matroskamux", "mkv",
                         "video/x-matroska"),
    # rtpopusdepay leaves the rate out of its caps, which webmmux requires: Opus is always 48 kHz.
    "audio/opus": Format("audio/opus", "OPUS", "rtpopusdepay ! capssetter caps=audio/x-opus,rate=48000",
                         "webmmux", "webm", "audio/webm"),
}  # fmt: skip
"""What can be recorded: VP8, VP9 and Opus into WebM; H264, which WebM does not take, into
Matroska (readable up to its last complete cluster when the recorder is killed, unlike a
non-fragmented MP4)."""


RECORDED = "VP8, VP9, H264 and Opus"
"""The codecs :data:`FORMATS` records, as error messages name them."""


def content_type(file_name: str, kind: str) -> str:
    """What a track file is served as: ``video/webm``, ``audio/webm`` or ``video/x-matroska``."""
    extension = file_name.rsplit(".", 1)[-1]
    for fmt in FORMATS.values():
        if fmt.extension == extension and fmt.mime_type.startswith(f"{kind}/"):
            return fmt.content_type
    return "application/octet-stream"


ELEMENTS = ("udpsrc", "rtpjitterbuffer", "rtpvp8depay", "rtpvp9depay", "rtph264depay", "h264parse",
            "rtpopusdepay", "capssetter", "webmmux", "matroskamux", "filesink", "fakesink")  # fmt: skip
"""The GStreamer elements the pipelines use (what `sfuctl doctor` checks)."""


def elements(fmt: Format) -> list[str]:
    """The elements of a format's own part of the pipeline, depayloader to muxer (no caps)."""
    parts = [part.split()[0] for part in f"{fmt.depay} ! {fmt.muxer}".split("!")]
    return [name for name in parts if "/" not in name]


def format_of(mime_type: str) -> Format | None:
    return FORMATS.get(mime_type.lower())


def rtp_caps(codec: dict[str, Any], kind: str) -> str:
    """The ``application/x-rtp`` caps of one consumer codec (payload type, clock rate, name)."""
    fmt = format_of(str(codec["mimeType"]))
    if fmt is None:
        raise ValueError(f"cannot record {codec['mimeType']}")
    caps = (
        f"application/x-rtp,media={kind},clock-rate={int(codec['clockRate'])},"
        f"encoding-name={fmt.encoding_name},payload={int(codec['payloadType'])}"
    )
    if kind == "audio" and codec.get("channels"):
        caps += f",encoding-params=(string){int(codec['channels'])}"
    return caps


def command(
    codec: dict[str, Any], kind: str, ip: str, rtp_port: int, rtcp_port: int, path: str, binary: str
) -> list[str]:
    """argv of the recorder of one track: RTP on ``rtp_port``, RTCP dropped on ``rtcp_port``."""
    fmt = format_of(str(codec["mimeType"]))
    if fmt is None:
        raise ValueError(f"cannot record {codec['mimeType']}")
    return [
        binary, "-e",
        "udpsrc", f"address={ip}", f"port={rtp_port}", f"caps={rtp_caps(codec, kind)}",
        "!", "rtpjitterbuffer", f"latency={JITTER_LATENCY_MS}", "mode=synced",
        "!", *fmt.depay.split(), "!", fmt.muxer,
        "!", "filesink", f"location={path}",  # one argument: gst-launch escapes its spaces itself
        "udpsrc", f"address={ip}", f"port={rtcp_port}", "!", "fakesink", "sync=false", "async=false",
    ]  # fmt: skip
