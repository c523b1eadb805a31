"""Where recordings live: one directory per recording under the recordings dir, holding its track
files and ``recording.json`` (its metadata), so the list survives a restart.

Ids and file names are checked against fixed patterns before any path is built from them, and a
file is served only if the recording lists it: nothing outside the recordings dir is reachable.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import orjson
import platformdirs

log = logging.getLogger("sfuctl.recorder")

RECORDING_ID_PATTERN = r"^rec-[0-9a-f]{16}$"
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
RECORDING_ID = re.compile(RECORDING_ID_PATTERN)
FILE_NAME = re.compile(FILE_NAME_PATTERN)
METADATA = "recording.json"


def default_recordings_dir() -> Path:
    """``recordings`` in sfuctl's state dir (``~/.local/state/sfuctl``; the unit sets its own)."""
    return Path(platformdirs.user_state_dir("sfuctl")) / "recordings"


def recordings_dir(configured: str | None) -> Path:
    return Path(configured).expanduser() if configured else default_recordings_dir()


def new_recording_id() -> str:
    return f"rec-{secrets.token_hex(8)}"


def valid_id(recording_id: str) -> bool:
    return bool(RECORDING_ID.fullmatch(recording_id))


def valid_file_name(name: str) -> bool:
    return bool(FILE_NAME.fullmatch(name)) and name != METADATA


class RecordingStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, recording_id: str) -> Path:
        if not valid_id(recording_id):
            raise ValueError(f"not a recording id: {recording_id!r}")
        return self.root / recording_id

    def create(self, recording_id: str) -> Path:
        """The recording's directory, made private (0700) with the root."""
        path = self.directory(recording_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
        return path

    def file_path(self, recording_id: str, name: str) -> Path:
        if not valid_file_name(name):
            raise ValueError(f"not a file name: {name!r}")
        return self.directory(recording_id) / name

    def save(self, recording_id: str, metadata: dict[str, Any]) -> None:
        """Write the metadata atomically (a crash leaves the old or the new file, never half)."""
        path = self.directory(recording_id) / METADATA
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_bytes(orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
            os.replace(temporary, path)
        except OSError as error:  # a full disk must not break the recording's state in memory
            log.warning("cannot write %s: %s", path, error)

    def load_all(self) -> list[dict[str, Any]]:
        """The metadata of every recording on disk (unreadable ones are skipped, with a log line)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
            if not valid_id(entry.name) or not (entry / METADATA).is_file():
                continue
            try:
                data = orjson.loads((entry / METADATA).read_bytes())
            except (OSError, orjson.JSONDecodeError) as error:
                log.warning("skipping recording %s: %s", entry.name, error)
                continue
            if isinstance(data, dict) and data.get("id") == entry.name:
                found.append(data)
        return found

    def delete(self, recording_id: str) -> None:
        path = self.directory(recording_id)
        shutil.rmtree(path, ignore_errors=True)

    def free_bytes(self) -> int:
        """Free space for an unprivileged writer where recordings go (its nearest existing parent)."""
        path = self.root
        while not path.exists() and path != path.parent:
            path = path.parent
        return shutil.disk_usage(path).free
