"""Recording's pure parts: the recorder's command line, the consumer's capabilities, names on disk."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from sfuctl.server.recording import pipeline
from sfuctl.server.recording.recorder import describe_exit
from sfuctl.server.recording.session import Recording
from sfuctl.server.recording.store import RecordingStore, new_recording_id, valid_file_name, valid_id
from sfuctl.server.recording.track import recorder_capabilities
from sfuctl.server.signaling.registry import DEFAULT_MEDIA_CODECS

VP8 = {"mimeType": "video/VP8", "clockRate": 90000, "payloadType": 101}
OPUS = {"mimeType": "audio/opus", "clockRate": 48000, "payloadType": 100, "channels": 2}


def test_the_vp8_pipeline_takes_rtp_and_rtcp_apart_and_writes_webm() -> None:
    argv = pipeline.command(
        VP8, "video", "127.0.0.1", 5000, 5001, "/rec/dir with space/v.webm", "/usr/bin/gst"
    )
    assert argv[:2] == ["/usr/bin/gst", "-e"]  # -e: SIGINT sends EOS, the muxer finalises the file
    text = " ".join(argv)
    assert "udpsrc address=127.0.0.1 port=5000 caps=application/x-rtp,media=video,clock-rate=90000," in text
    assert "encoding-name=VP8,payload=101" in text
    # mode=synced: frames keep the sender's RTP timestamps, not their arrival times
    assert "! rtpjitterbuffer latency=1000 mode=synced !" in text
    assert "! rtpvp8depay wait-for-keyframe=true ! webmmux" in text
    assert "location=/rec/dir with space/v.webm" in argv  # one argument, spaces and all
    assert "udpsrc address=127.0.0.1 port=5001 ! fakesink" in text


def test_opus_gets_its_rate_for_the_muxer() -> None:
    text = " ".join(pipeline.command(OPUS, "audio", "127.0.0.1", 1, 2, "/a.webm", "gst"))
    assert "encoding-name=OPUS,payload=100,encoding-params=(string)2" in text
    assert "rtpopusdepay ! capssetter caps=audio/x-opus,rate=48000 ! webmmux" in text


def test_h264_goes_into_matroska_with_its_parameter_sets_in_the_stream() -> None:
    h264 = {"mimeType": "video/H264", "clockRate": 90000, "payloadType": 107}
    fmt = pipeline.format_of("video/H264")
    assert fmt is not None and (fmt.extension, fmt.muxer) == ("mkv", "matroskamux")
    text = " ".join(pipeline.command(h264, "video", "127.0.0.1", 1, 2, "/v.mkv", "gst"))
    assert "encoding-name=H264,payload=107" in text
    assert (
        "! rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=avc3,alignment=au"
        " ! matroskamux ! filesink location=/v.mkv" in text
    )


def test_each_format_names_its_elements_for_the_plugin_check() -> None:
    h264 = pipeline.FORMATS["video/h264"]
    assert pipeline.elements(h264) == ["rtph264depay", "h264parse", "matroskamux"]
    opus = pipeline.FORMATS["audio/opus"]
    assert pipeline.elements(opus) == ["rtpopusdepay", "capssetter", "webmmux"]
    every = {e for fmt in pipeline.FORMATS.values() for e in pipeline.elements(fmt)}
    assert every <= set(pipeline.ELEMENTS)  # what sfuctl doctor checks


def test_a_codec_without_a_pipeline_is_refused() -> None:
    av1 = {"mimeType": "video/AV1", "clockRate": 90000, "payloadType": 109}
    assert pipeline.format_of("video/AV1") is None
    with pytest.raises(ValueError, match="AV1"):
        pipeline.command(av1, "video", "127.0.0.1", 1, 2, "/x", "gst")


def test_content_types() -> None:
    assert pipeline.content_type("video-x.webm", "video") == "video/webm"
    assert pipeline.content_type("audio-x.webm", "audio") == "audio/webm"
    assert pipeline.content_type("video-x.mkv", "video") == "video/x-matroska"
    assert pipeline.content_type("x.bin", "video") == "application/octet-stream"


def test_the_recorder_consumer_capabilities_leave_out_what_it_cannot_answer() -> None:
    router_caps = {
        "codecs": [
            {**c, "preferredPayloadType": 100 + i, "rtcpFeedback": [
                {"type": "nack"}, {"type": "nack", "parameter": "pli"}, {"type": "ccm", "parameter": "fir"},
                {"type": "transport-cc"}, {"type": "goog-remb"},
            ]}
            for i, c in enumerate(DEFAULT_MEDIA_CODECS)
        ] + [{"kind": "video", "mimeType": "video/rtx", "clockRate": 90000, "preferredPayloadType": 120}],
        "headerExtensions": [
            {"kind": "video", "uri": "urn:3gpp:video-orientation", "preferredId": 4},
            {"kind": "video", "uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
             "preferredId": 5},
            {"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "preferredId": 10},
        ],
    }  # fmt: skip
    caps = recorder_capabilities(router_caps)
    mime_types = [c["mimeType"] for c in caps["codecs"]]
    assert mime_types == ["audio/opus", "video/VP8", "video/VP9", "video/H264", "video/H264"]
    for codec in caps["codecs"]:
        kept = {(fb["type"], fb.get("parameter", "")) for fb in codec["rtcpFeedback"]}
        assert kept == {("nack", ""), ("nack", "pli"), ("ccm", "fir")}
    assert [e["uri"] for e in caps["headerExtensions"]] == ["urn:ietf:params:rtp-hdrext:ssrc-audio-level"]


def test_ids_and_names_cannot_leave_the_recordings_dir(tmp_path: Path) -> None:
    assert valid_id(new_recording_id())
    for bad in (
        "",
        "rec-",
        "rec-0123456789ABCDEF",
        "../rec-0123456789abcdef",
        "rec-0123456789abcdef/..",
        ".",
    ):
        assert not valid_id(bad), bad
    assert valid_file_name("video-6c1b0e7e-3f8a-4c1d-9a57-0d1c2b3a4f5e.webm")
    for bad in ("", ".", "..", "../x", "a/b", ".hidden", "recording.json", "x" * 129, "a\x00b", "a b"):
        assert not valid_file_name(bad), bad
    store = RecordingStore(tmp_path)
    with pytest.raises(ValueError):
        store.directory("../../etc")
    with pytest.raises(ValueError):
        store.file_path("rec-0123456789abcdef", "../recording.json")


def test_a_recording_found_running_on_disk_was_interrupted(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "recordings")
    assert store.load_all() == []  # no directory yet: nothing, and nothing made
    recording = Recording("rec-0123456789abcdef", "lobby", 1.0, whole_room=True)
    store.create(recording.id)
    store.save(recording.id, recording.metadata())
    (tmp_path / "recordings" / "rec-garbage").mkdir()
    (loaded,) = [Recording.from_metadata(data) for data in store.load_all()]
    assert (loaded.id, loaded.state, loaded.reason) == (recording.id, "failed", "interrupted")
    assert oct((tmp_path / "recordings").stat().st_mode & 0o777) == "0o700"


def test_exits_are_described() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exited with code 1"
