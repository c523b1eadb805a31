"""How long a finished track file plays, as ffprobe reads it from the file itself."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

PROBE_SECONDS = 10.0


async def duration_ms(path: Path) -> int | None:
    """The container's duration in ms; None without ffprobe, or for a file it cannot read."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    process = await asyncio.create_subprocess_exec(
        ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), PROBE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    try:
        return round(float(out.decode().strip()) * 1000)
    except ValueError:  # "N/A": a file cut short without its duration
        return None
