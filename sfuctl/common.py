"""What every command shares: the stderr console, exit codes, errors with hints, small parsers."""

from __future__ import annotations

import re
import sys
from enum import IntEnum
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, emoji=False)
"""People-facing output goes to stderr, so stdout stays clean for `$(...)` and `| jq`."""


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """Unhealthy server, failed check, or an answer of 'no' at a confirmation."""
    USAGE = 2
    """Bad flag, bad config file, no secret (click also uses 2 for usage errors)."""
    UNREACHABLE = 3
    """The server did not answer (refused, timeout, DNS)."""
    REFUSED = 4
    """The server refused the credentials (401/403)."""
    NOT_FOUND = 5
    """No such room."""
    BAD_REPLY = 6
    """The server answered with an error or something unexpected."""


EXIT_CODES_HELP = (
    "[b]Exit codes[/b]: 0 ok · 1 unhealthy / check failed / aborted · 2 usage or configuration error · "
    "3 server unreachable · 4 credentials refused · 5 not found · 6 unexpected server reply"
)


class CliError(Exception):
    """An error a person can act on: what went wrong, how to fix it, and the exit code."""

    def __init__(self, message: str, hint: str = "", code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def print_error(error: CliError) -> None:
    """One `error:` line and its `hint:` line on stderr (markup in the texts is shown, not applied)."""
    console.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
    if error.hint:
        console.print(f"[dim]hint:[/] {escape(error.hint)}", highlight=False, soft_wrap=True)


def fail(error: CliError) -> NoReturn:
    print_error(error)
    raise typer.Exit(int(error.code))


def print_json(data: Any) -> None:
    """Machine output on stdout: indented, keys as the API spells them."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """'1h', '30m', '90s', '1h30m', '2d' or plain seconds → seconds (> 0)."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = float(text)
    else:
        parts = DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise typer.BadParameter(f"{text!r} is not a duration: use e.g. 90s, 30m, 1h, 1h30m, 2d")
        seconds = sum(float(n) * UNIT_SECONDS[u] for n, u in parts)
    if seconds < 1:
        raise typer.BadParameter("must be at least 1s")
    return int(seconds)


def human_bitrate(bps: float) -> str:
    for unit, size in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} b/s"


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def human_kib(kib: float | None) -> str:
    if kib is None:
        return "-"
    if kib >= 1024 * 1024:
        return f"{kib / 1024 / 1024:.1f} GiB"
    if kib >= 1024:
        return f"{kib / 1024:.1f} MiB"
    return f"{kib:.0f} KiB"
