"""Which recording formats this host's GStreamer can run: each pipeline's elements, asked once.

A host set up with the base and good plugins only (no ``h264parse``) records VP8, VP9 and Opus;
its H264 tracks are refused or skipped with what to install, instead of a recorder that fails to
start and takes the whole recording down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil

from sfuctl.server.recording import pipeline

GST_INSPECT = "gst-inspect-1.0"
INSPECT_SECONDS = 20.0
"""Bound on asking gst-inspect-1.0 about every element (it may build its registry first)."""
INSTALL_HINT = "apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"


def inspect_binary(launch_binary: str) -> str | None:
    """gst-inspect-1.0 beside the recorder's gst-launch-1.0, else on PATH; None without one."""
    beside = os.path.join(os.path.dirname(launch_binary), GST_INSPECT)
    if os.path.dirname(launch_binary) and os.access(beside, os.X_OK):
        return beside
    return shutil.which(GST_INSPECT)


async def _exists(inspect: str, element: str) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            inspect, "--exists", element,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return True  # unknown: let the recorder try (and say what is wrong)
    try:
        return await asyncio.wait_for(process.wait(), INSPECT_SECONDS) == 0
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return True  # unknown: let the recorder try (and say what is wrong)


async def missing_elements(launch_binary: str) -> dict[str, list[str]]:
    """For each recorded MIME type (lower case), the elements of its pipeline this host lacks.

    Empty lists when gst-inspect-1.0 cannot be found: the recorder is then left to try."""
    inspect = inspect_binary(launch_binary)
    if inspect is None:
        return {mime: [] for mime in pipeline.FORMATS}
    needed = sorted({e for fmt in pipeline.FORMATS.values() for e in pipeline.elements(fmt)})
    found = await asyncio.gather(*(_exists(inspect, element) for element in needed))
    absent = {element for element, ok in zip(needed, found, strict=True) if not ok}
    return {
        mime: [e for e in pipeline.elements(fmt) if e in absent] for mime, fmt in pipeline.FORMATS.items()
    }


def unavailable_reason(mime_type: str, missing: list[str]) -> str:
    return f"{mime_type} cannot be recorded here: GStreamer lacks {', '.join(missing)} ({INSTALL_HINT})"
