"""Access tokens: HS256 JWTs carrying who the peer is, its room and what it may do.

Only HS256 is accepted: ``none``, the other HMAC sizes and every public-key algorithm are
refused, which also closes the classic alg-confusion attack (an RS256 public key used as an
HMAC secret). The secret is resolved the same way by ``sfuctl serve`` and ``sfuctl token``.
"""

from __future__ import annotations

import os
import secrets
import shlex
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
REQUIRED_CLAIMS = ["sub", "name", "room", "exp"]
MAX_CLAIM_CHARS = 256
"""Longest sub, name and room a token may carry."""


USER_NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
"""Printable text with at least one non-space character: names end up in other peers' UIs."""

DisplayName = Annotated[
    str,
    Field(
        min_length=1, max_length=64, pattern=USER_NAME_PATTERN,
        description="Display name shown to the other peers: 1-64 printable characters.",
    ),
]  # fmt: skip
"""Checked wherever a name enters: /login bodies and token claims alike."""


class AuthError(Exception):
    """The token is missing or not acceptable; the message says why (safe to show)."""


class SecretError(AuthError):
    """The secret cannot be used as it is; ``hint`` is what to do (e.g. the chmod to run)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class SecretFileError(SecretError):
    """The secret file is not a file, not readable, not text, or open to group/others."""


class Grants(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    publish: bool = True
    subscribe: bool = True
    admin: bool = False


class Claims(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    sub: str = Field(min_length=1, max_length=MAX_CLAIM_CHARS)
    name: DisplayName
    room: str = Field(min_length=1, max_length=MAX_CLAIM_CHARS)
    exp: int
    iat: int | None = None
    nbf: int | None = None
    grants: Grants = Field(default_factory=Grants)


def verify_token(token: str | None, secret: str, leeway: float = 5.0) -> Claims:
    """Check signature, algorithm, expiry and claim shapes; raise AuthError otherwise."""
    if not token:
        raise AuthError("missing token")
    # One decode (it refuses any other algorithm before checking the signature); the header is
    # read apart only to name a refused algorithm: parsing every token twice cost each join ~50 µs.
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], leeway=leeway, options={"require": REQUIRED_CLAIMS}
        )
    except jwt.InvalidAlgorithmError:
        alg = jwt.get_unverified_header(token).get("alg")
        raise AuthError(f"algorithm {alg!r} not allowed (HS256 only)") from None
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthError("token not valid yet") from None
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature") from None
    except jwt.DecodeError as error:
        raise AuthError(f"malformed token: {error}") from None
    except jwt.InvalidTokenError as error:
        raise AuthError(f"invalid token: {error}") from None
    try:
        return Claims.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AuthError(f"invalid claim {where}: {first['msg']}") from None


def mint_token(
    secret: str,
    room: str,
    user: str,
    name: str | None = None,
    ttl: float = 3600,
    grants: Grants | None = None,
    now: float | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return (token, claims). The name defaults to the user id."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "name": name or user,
        "room": room,
        "iat": issued,
        "exp": issued + int(ttl),
        "grants": (grants or Grants()).model_dump(),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), claims


# -- the secret --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretKind:
    """Where one kind of secret comes from: its flag, variables and default file name."""

    what: str
    flag: str
    env: str
    file_flag: str
    file_env: str
    file_name: str


JWT_SECRET = SecretKind(
    "secret", "--secret", "SFUCTL_SECRET", "--secret-file", "SFUCTL_SECRET_FILE", "secret"
)
TURN_SECRET = SecretKind(
    "TURN secret", "--turn-secret", "SFUCTL_TURN_SECRET", "--turn-secret-file", "SFUCTL_TURN_SECRET_FILE",
    "turn-secret",
)  # fmt: skip
"""Shared with coturn (``static-auth-secret``): it mints the ephemeral TURN credentials."""
WEBHOOK_SECRET = SecretKind(
    "webhook secret", "--webhook-secret", "SFUCTL_WEBHOOK_SECRET", "--webhook-secret-file",
    "SFUCTL_WEBHOOK_SECRET_FILE", "webhook-secret",
)  # fmt: skip
"""Signs webhook deliveries; separate, so that receivers never hold the JWT secret."""


def default_secret_file(kind: SecretKind = JWT_SECRET) -> Path:
    return Path(platformdirs.user_config_dir("sfuctl")) / kind.file_name


@dataclass
class Secret:
    value: str
    source: str
    """Where it came from, for the banner and doctor: 'flag', 'env', or a file path."""


def resolve_secret(
    flag: str | None = None,
    secret_file: str | None = None,
    create: bool = False,
    kind: SecretKind = JWT_SECRET,
) -> Secret:
    """--secret, then SFUCTL_SECRET, then the secret file (SFUCTL_SECRET_FILE or the config dir).

    With ``create`` (the server's first run), a strong secret is generated into the file (0600).
    ``kind`` names the flags and variables of another secret kept the same way (TURN, webhooks).
    """
    if flag:
        return Secret(_checked(flag, kind.flag, kind), "flag")
    env = os.environ.get(kind.env)
    if env:
        return Secret(_checked(env, kind.env, kind), f"env {kind.env}")
    path = Path(secret_file or os.environ.get(kind.file_env) or default_secret_file(kind))
    if path.exists():
        return Secret(_checked(read_secret_file(path, kind), str(path), kind), str(path))
    if not create:
        raise AuthError(
            f"no {kind.what}: pass {kind.flag}, set {kind.env}, or run `sfuctl serve` once to create {path}"
        )
    return Secret(create_secret_file(path, kind), str(path))


def create_secret_file(path: Path, kind: SecretKind = JWT_SECRET) -> str:
    """A new strong secret written to ``path`` (0600, in a 0700 directory if it makes one)."""
    value = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise SecretFileError(
            f"cannot create the {kind.what} file {path}: {error.strerror or error}",
            f"point {kind.file_flag} ({kind.file_env}) at a writable place, or pass {kind.env}",
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def read_secret_file(path: Path, kind: SecretKind = JWT_SECRET) -> str:
    """The secret in ``path``, if the file is one only its owner can read; SecretFileError otherwise."""
    where = f"{kind.file_flag} ({kind.file_env})"
    what = f"the {kind.what} file"
    if path.is_dir():
        raise SecretFileError(f"{what} {path} is a directory", f"{where} must name a file")
    try:
        with path.open("rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            data = file.read(64 * 1024)
    except OSError as error:
        raise SecretFileError(
            f"cannot read {what} {path}: {error.strerror or error}",
            f"run as the user owning it, or point {where} elsewhere",
        ) from None
    if mode & 0o077:
        who = "readable by group/others" if mode & 0o044 else "writable by group/others"
        raise SecretFileError(
            f"{what} {path} is {who} (mode {mode:04o})", f"chmod 600 {shlex.quote(str(path))}"
        )
    try:
        return data.decode().strip()
    except UnicodeDecodeError:
        raise SecretFileError(
            f"{what} {path} is not text", "put a secret of 32+ printable bytes in it"
        ) from None


def _checked(value: str, where: str, kind: SecretKind = JWT_SECRET) -> str:
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the {kind.what} from {where} is too short: use at least {MIN_SECRET_BYTES} bytes",
            f"use a random secret of {MIN_SECRET_BYTES}+ bytes, e.g. `openssl rand -base64 48`",
        )
    return value
