"""`sfuctl token`: mint an access token with the server's secret, for scripts and tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import typer
from pydantic import TypeAdapter, ValidationError

from sfuctl.api import DEFAULT_URL
from sfuctl.common import CliError, ExitCode, fail, parse_duration, print_json
from sfuctl.server.auth import (
    MAX_CLAIM_CHARS,
    AuthError,
    DisplayName,
    Grants,
    SecretError,
    mint_token,
    resolve_secret,
)
from sfuctl.server.http.models import ROOM_ID_PATTERN

NAME = "token"

EPILOG = """[b]Examples[/b]

  sfuctl token --room lobby --user ada

  TOKEN=$(sfuctl token --room lobby --user bob --name "Bob" --ttl 30m --no-publish)

  sfuctl token --room lobby --user ops --admin --json | jq .claims

  sfuctl token --room standup --user ada --name "Ada" --ttl 8h --link --url https://sfu.example.com:3001

Only the JWT goes to stdout. The secret is found as `sfuctl serve` finds it: --secret, SFUCTL_SECRET,
--secret-file / SFUCTL_SECRET_FILE, or the file in the config directory that `serve` created.
With --link, a URL that opens the conference page and joins as that user goes to stdout instead:
it is a personal link (whoever opens it joins as that user), so send it to that user only.
"""


DISPLAY_NAME: TypeAdapter[str] = TypeAdapter(DisplayName)


def bad_id(flag: str, value: str | None) -> CliError | None:
    """Why the server would refuse this room, user or name in a token (None: it would not)."""
    if value is None:
        return None
    if flag == "--room":
        if re.fullmatch(ROOM_ID_PATTERN, value):
            return None
        why = "must not be empty" if not value else f"{value!r} is not a room id"
        return CliError(f"--room {why}", "--room takes 1-64 of A-Z a-z 0-9 _ . -", ExitCode.USAGE)
    if flag == "--name":
        try:
            DISPLAY_NAME.validate_python(value)
        except ValidationError:
            return CliError(
                f"--name {value!r} is not a display name (the name defaults to --user)",
                "--name takes 1-64 printable characters, e.g. --name 'Ada Lovelace'", ExitCode.USAGE,
            )  # fmt: skip
        return None
    if not value.strip():
        why = "must not be empty"
    elif len(value) > MAX_CLAIM_CHARS:
        why = f"is longer than {MAX_CLAIM_CHARS} characters"
    else:
        return None
    return CliError(
        f"{flag} {why}", f"give {flag} 1-{MAX_CLAIM_CHARS} characters, e.g. {flag} ada", ExitCode.USAGE
    )


SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
"""The page is served where the WebSocket is: a ws(s):// server URL gives the http(s):// page."""


def page_link(url: str, jwt: str) -> str:
    """``<scheme>://<host:port>/?token=<jwt>``; the page reads the token, then drops it from the address."""
    parts = urlsplit(url.strip())
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        fail(
            CliError(
                f"--url {url!r} is not a server URL",
                "give the address the users open, e.g. --url https://sfu.example.com:3001",
                ExitCode.USAGE,
            )
        )
    base = parts.path.rstrip("/")
    return f"{scheme}://{parts.netloc}{base}/?token={quote(jwt, safe='')}"


def token(
    room: str = typer.Option(..., "--room", "-r", help="Room the token admits to.", show_default=False),
    user: str = typer.Option(..., "--user", "-u", help="User id (the JWT's sub).", show_default=False),
    name: str = typer.Option(
        None, "--name", "-n", help="Display name.  \\[default: the user id]", show_default=False
    ),
    ttl: str = typer.Option("1h", help="Lifetime: 90s, 30m, 1h, 1h30m, 2d or seconds."),
    publish: bool = typer.Option(True, "--publish/--no-publish", help="May send media."),
    subscribe: bool = typer.Option(True, "--subscribe/--no-subscribe", help="May receive media."),
    admin: bool = typer.Option(False, "--admin", help="May use the admin REST API."),
    as_json: bool = typer.Option(False, "--json", help="Print token, claims and expiry as JSON."),
    link: bool = typer.Option(
        False, "--link", help="Print a URL of the page that joins as this user (with --url)."
    ),
    url: str = typer.Option(
        DEFAULT_URL,
        "--url",
        envvar="SFUCTL_URL",
        help="The server's address, for --link (http:// or https://).",
    ),
    secret: str = typer.Option(None, help="JWT secret (else as `serve` finds it).", show_default=False),
    secret_file: str = typer.Option(
        None, envvar="SFUCTL_SECRET_FILE", help="File holding the JWT secret.", show_default=False
    ),
) -> None:
    """Mint an access token (HS256 JWT) for a room."""
    for flag, value in (("--room", room), ("--user", user), ("--name", user if name is None else name)):
        problem = bad_id(flag, value)
        if problem is not None:
            fail(problem)
    try:
        seconds = parse_duration(ttl)
    except typer.BadParameter as error:
        fail(
            CliError(
                f"--ttl {ttl!r}: {error.message}", "--ttl takes e.g. 90s, 30m, 1h, 1h30m, 2d", ExitCode.USAGE
            )
        )
    try:
        resolved = resolve_secret(secret, secret_file)
    except SecretError as error:
        fail(CliError(str(error), error.hint, ExitCode.USAGE))
    except AuthError as error:
        hint = (
            "use a secret of 32+ bytes"
            if "too short" in str(error)
            else "run `sfuctl serve` once here, or pass --secret"
        )
        fail(CliError(str(error), hint, ExitCode.USAGE))
    grants = Grants(publish=publish, subscribe=subscribe, admin=admin)
    jwt, claims = mint_token(resolved.value, room, user, name, ttl=seconds, grants=grants)
    address = page_link(url, jwt) if link else None
    if as_json:
        expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat()
        result = {"token": jwt, "claims": claims, "expiresAt": claims["exp"], "expires": expires}
        if address is not None:
            result["link"] = address
        print_json(result)
    else:
        typer.echo(address or jwt)


command = token
