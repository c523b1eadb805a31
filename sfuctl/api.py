"""Client of the server's HTTP API (/health and the admin room API), shared by the CLI and `top`.

Every failure becomes a `CliError` with an exit code and a hint, so callers never see a raw
aiohttp or pydantic exception: the CLI prints it, the dashboard shows it in its banner.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
import typer
from pydantic import BaseModel, ValidationError

from sfuctl.client import TlsTrust
from sfuctl.common import CliError, ExitCode
from sfuctl.server.auth import AuthError, Grants, SecretError, mint_token, resolve_secret
from sfuctl.server.config import ServerConfig
from sfuctl.server.http.models import (
    Health,
    NodeList,
    ProducerModeration,
    RecordingDetail,
    RecordingList,
    RecordingStartResult,
    RoomDetail,
    RoomList,
)

DEFAULT_URL = f"http://127.0.0.1:{ServerConfig().port}"
"""Where `sfuctl serve` listens by default, seen from the same host."""
CACERT = typer.Option(
    None,
    "--cacert",
    envvar="SFUCTL_CACERT",
    help="PEM CA (or the self-signed tls-cert.pem itself) to trust for an https:// --url.",
    show_default=False,
)
FINGERPRINT = typer.Option(
    None,
    "--fingerprint",
    envvar="SFUCTL_FINGERPRINT",
    help="Trust the https:// server whose certificate has this SHA-256 (printed by `sfuctl serve`).",
    show_default=False,
)
ADMIN_TTL = 3600
SHOW_HINT = "`sfuctl rooms show ROOM` lists its peers and producers"
RECORDINGS_HINT = "`sfuctl recordings` lists the recordings"
NO_NODES_HINT = "is --url an sfuctl server of this version? (older ones have no /nodes)"
NODES_HINT = "the node cannot reach its Redis: `sfuctl health` there shows `cluster.redis`; ask another node"
DOWNLOAD_TIMEOUT = 3600.0
"""Bound on downloading one recording file (a long recording is large)."""
M = TypeVar("M", bound=BaseModel)

TokenSource = Callable[[], str]


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def tls_trust(cacert: str | None = None, fingerprint: str | None = None) -> TlsTrust:
    """How to check an HTTPS server: --cacert (a CA or the self-signed certificate itself, PEM),
    or --fingerprint (the SHA-256 sfuctl serve prints: the one certificate accepted, any issuer);
    neither: the system's CAs."""
    if cacert and fingerprint:
        raise CliError("--cacert and --fingerprint exclude each other", "give one of them", ExitCode.USAGE)
    if fingerprint:
        text = fingerprint.replace(":", "").strip().lower()
        try:
            digest = bytes.fromhex(text)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise CliError(
                f"--fingerprint {fingerprint!r} is not a SHA-256 fingerprint",
                "give the 64 hex digits `sfuctl serve` prints (colons optional)",
                ExitCode.USAGE,
            )
        return aiohttp.Fingerprint(digest)
    if cacert:
        try:
            return ssl.create_default_context(cafile=cacert)
        except FileNotFoundError:
            raise CliError(f"--cacert {cacert} does not exist", "give the server's PEM certificate or its CA",
                           ExitCode.USAGE) from None  # fmt: skip
        except (ssl.SSLError, OSError) as error:
            raise CliError(
                f"--cacert {cacert}: not a PEM certificate ({error})",
                "give the server's PEM certificate (tls-cert.pem) or its CA",
                ExitCode.USAGE,
            ) from None
    return True


def admin_token_source(token: str | None = None, secret_file: str | None = None) -> TokenSource:
    """An explicit --token, else admin tokens minted from the local secret (renewed before expiry)."""
    if token:
        return lambda: token
    cache: dict[str, Any] = {"token": "", "exp": 0.0}

    def mint() -> str:
        if cache["exp"] - time.time() < 60:
            try:
                secret = resolve_secret(None, secret_file).value
            except SecretError as error:
                raise CliError(f"cannot mint an admin token: {error}", error.hint, ExitCode.USAGE) from None
            except AuthError as error:
                raise CliError(
                    f"cannot mint an admin token: {error}",
                    "pass --token <admin JWT>, or run this on the server's host (same secret as `serve`)",
                    ExitCode.USAGE,
                ) from None
            cache["token"], claims = mint_token(
                secret, "*", "sfuctl-admin", "sfuctl", ttl=ADMIN_TTL, grants=Grants(admin=True)
            )
            cache["exp"] = float(claims["exp"])
        return str(cache["token"])

    return mint


class ApiClient:
    """One aiohttp session against one server; use as ``async with ApiClient(url, tokens) as api``."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        tokens: TokenSource | None = None,
        timeout: float = 5.0,
        trust: TlsTrust = True,
    ) -> None:
        self.url = normalize_url(url)
        self.tokens = tokens
        self.trust = trust
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def health(self) -> Health:
        return parse(Health, await self._request("GET", "/health", admin=False))

    async def rooms(self) -> RoomList:
        return parse(RoomList, await self._request("GET", "/rooms"))

    async def nodes(self) -> NodeList:
        data = await self._request("GET", "/nodes", hint=NO_NODES_HINT, refusal_hint=NODES_HINT)
        return parse(NodeList, data)

    async def room(self, room_id: str) -> RoomDetail:
        return parse(RoomDetail, await self._request("GET", f"/rooms/{room_id}"))

    async def close_room(self, room_id: str) -> None:
        await self._request("DELETE", f"/rooms/{room_id}")

    async def kick(self, room_id: str, user_id: str) -> None:
        await self._request("DELETE", f"/rooms/{room_id}/peers/{quote(user_id, safe='')}", hint=SHOW_HINT)

    async def mute(self, room_id: str, producer_id: str, muted: bool = True) -> ProducerModeration:
        action = "mute" if muted else "unmute"
        path = f"/rooms/{room_id}/producers/{quote(producer_id, safe='')}/{action}"
        return parse(ProducerModeration, await self._request("POST", path, hint=SHOW_HINT))

    async def close_producer(self, room_id: str, producer_id: str) -> None:
        path = f"/rooms/{room_id}/producers/{quote(producer_id, safe='')}"
        await self._request("DELETE", path, hint=SHOW_HINT)

    async def start_recording(
        self, room_id: str, producer_ids: list[str] | None = None
    ) -> RecordingStartResult:
        body = {"producerIds": producer_ids} if producer_ids else None
        data = await self._request("POST", f"/rooms/{quote(room_id, safe='')}/recordings", body=body)
        return parse(RecordingStartResult, data)

    async def stop_recording(self, room_id: str, recording_id: str) -> RecordingDetail:
        path = f"/rooms/{quote(room_id, safe='')}/recordings/{quote(recording_id, safe='')}/stop"
        return parse(RecordingDetail, await self._request("POST", path, hint=RECORDINGS_HINT))

    async def recordings(self) -> RecordingList:
        return parse(RecordingList, await self._request("GET", "/recordings"))

    async def recording(self, recording_id: str) -> RecordingDetail:
        path = f"/recordings/{quote(recording_id, safe='')}"
        return parse(RecordingDetail, await self._request("GET", path, hint=RECORDINGS_HINT))

    async def delete_recording(self, recording_id: str) -> None:
        await self._request("DELETE", f"/recordings/{quote(recording_id, safe='')}", hint=RECORDINGS_HINT)

    async def download(self, recording_id: str, name: str, target: Path) -> int:
        """Stream one file of a recording into ``target`` (replaced only once complete); its size."""
        path = f"/recordings/{quote(recording_id, safe='')}/files/{quote(name, safe='')}"
        partial = target.with_name(target.name + ".part")
        size = 0
        try:
            async with self._client().get(
                self.url + path, headers=self._auth(), ssl=self.trust,
                timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT, sock_read=self.timeout.total),
            ) as response:  # fmt: skip
                if response.status >= 400:
                    raise http_error(
                        response.status, decode(await response.read()), self.url, RECORDINGS_HINT
                    )
                with partial.open("wb") as out:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        out.write(chunk)
                        size += len(chunk)
        except (aiohttp.ClientError, TimeoutError) as error:
            partial.unlink(missing_ok=True)
            raise CliError(
                f"downloading {name} from {self.url} failed: {describe(error)}",
                "try again; `sfuctl health` checks the server",
                ExitCode.UNREACHABLE,
            ) from None
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CliError(
                f"cannot write {target}: {error.strerror or error}",
                "choose another -o directory",
                ExitCode.FAILED,
            ) from None
        partial.replace(target)
        return size

    def _auth(self) -> dict[str, str]:
        if self.tokens is None:
            raise CliError("this needs an admin token", "pass --token", ExitCode.USAGE)
        return {"Authorization": f"Bearer {self.tokens()}"}

    async def _request(
        self,
        method: str,
        path: str,
        admin: bool = True,
        hint: str | None = None,
        body: Any = None,
        refusal_hint: str | None = None,
    ) -> Any:
        headers = self._auth() if admin else {}
        try:
            async with self._client().request(
                method, self.url + path, headers=headers, ssl=self.trust, json=body
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ServerFingerprintMismatch, aiohttp.ClientConnectorCertificateError) as error:
            raise CliError(
                f"cannot trust {self.url}: {describe(error)}",
                "pass --cacert <the server's tls-cert.pem> or --fingerprint <SHA-256 from its banner>",
                ExitCode.UNREACHABLE,
            ) from None
        except aiohttp.ClientSSLError as error:
            raise CliError(
                f"TLS with {self.url} failed: {describe(error)}",
                "is it an HTTPS server (`sfuctl serve --tls`)? for plain HTTP use --url http://...",
                ExitCode.UNREACHABLE,
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise CliError(
                f"cannot reach {self.url}: {describe(error)}",
                "is `sfuctl serve` running there? choose another server with --url",
                ExitCode.UNREACHABLE,
            ) from None
        if status == 204:
            return None
        data = decode(body)
        if status >= 400:
            raise http_error(status, data, self.url, hint, refusal_hint)
        return data


def describe(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def decode(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def http_error(
    status: int, data: Any, url: str, not_found_hint: str | None = None, refusal_hint: str | None = None
) -> CliError:
    message = ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = str(data["error"].get("message", ""))
    message = message or f"HTTP {status}"
    if status in (401, 403):
        return CliError(
            f"the server refused the credentials: {message}",
            "the admin token must be signed with the server's secret and carry the admin grant "
            "(run on the server's host, or pass --token)",
            ExitCode.REFUSED,
        )
    if status == 404:
        return CliError(message, not_found_hint or "`sfuctl rooms` lists the rooms", ExitCode.NOT_FOUND)
    hint = refusal_hint or REFUSAL_HINTS.get(status, "see the server's log")
    return CliError(f"{url} answered {status}: {message}", hint, ExitCode.BAD_REPLY)


REFUSAL_HINTS = {
    409: "stop it first: `sfuctl record stop ROOM ID`",
    429: "wait for a recording to end, or raise the server's limit (`--limit max_recordings=N`)",
    503: "`sfuctl doctor` on the server checks the recorder (apt-get install gstreamer1.0-tools "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)",
    507: "free space where the server keeps recordings, or lower `--limit recording_min_free_bytes=N`",
}
"""What to do about the recording API's refusals."""


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise CliError(
            f"unexpected reply ({model.__name__} {where}: {first['msg']})",
            "is --url an sfuctl server of a matching version?",
            ExitCode.BAD_REPLY,
        ) from None


T = TypeVar("T")


def run_or_fail(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one API exchange from synchronous CLI code; print a CliError and exit with its code."""
    from sfuctl.common import fail

    try:
        return asyncio.run(coroutine)
    except CliError as error:
        fail(error)
