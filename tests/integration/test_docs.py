"""The API documents as served: valid against their official specifications, complete, self-hosted."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from openapi_spec_validator import validate as validate_openapi

from sfuctl.server.signaling import protocol
from tests.conftest import RunningServer

pytestmark = pytest.mark.worker

ASYNCAPI_SPECS = "@asyncapi/specs@6.11.1"
"""Pinned: the official AsyncAPI JSON Schemas, as the AsyncAPI parser and CLI use them."""
NPM_CACHE = Path.home() / ".cache" / "sfuctl" / "npm"


def fetch_npm_tarball(spec: str, into: Path) -> Path:
    """``npm pack`` once into the cache; later runs reuse the tarball (written atomically)."""
    name, _, version = spec.rpartition("@")
    tarball = into / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if tarball.exists():
        return tarball
    npm = shutil.which("npm")
    assert npm, "npm is needed to fetch the AsyncAPI JSON Schema (make setup installs it)"
    staging = into / f".staging-{version}"
    staging.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(staging), "--silent"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    (staging / tarball.name).replace(tarball)
    shutil.rmtree(staging, ignore_errors=True)
    return tarball


@pytest.fixture(scope="session")
def asyncapi_validator() -> Draft7Validator:
    tarball = fetch_npm_tarball(ASYNCAPI_SPECS, NPM_CACHE)
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/schemas/3.0.0.json")
        assert member is not None
        schema = json.load(member)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str, **headers: str) -> Any:
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.json()


class AssetLinks(HTMLParser):
    """Every URL an HTML page makes the browser load (scripts, styles, icons, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


# -- OpenAPI and Swagger UI --------------------------------------------------------------------


async def test_openapi_is_valid_3_1(server: RunningServer, http: aiohttp.ClientSession) -> None:
    doc = await get_json(http, server.url + "/openapi.json")
    assert doc["openapi"].startswith("3.1.")
    validate_openapi(doc)
    moderation = {
        "/rooms/{roomId}/peers/{userId}",
        "/rooms/{roomId}/producers/{producerId}",
        "/rooms/{roomId}/producers/{producerId}/mute",
        "/rooms/{roomId}/producers/{producerId}/unmute",
    }
    recording = {
        "/rooms/{roomId}/recordings",
        "/rooms/{roomId}/recordings/{recordingId}/stop",
        "/recordings",
        "/recordings/{recordingId}",
        "/recordings/{recordingId}/files/{name}",
    }
    rooms = {"/rooms", "/rooms/{roomId}", "/nodes"}
    assert set(doc["paths"]) == {"/login", "/health"} | rooms | moderation | recording
    assert set(doc["paths"]["/rooms/{roomId}"]) >= {"get", "delete"}
    # admin actions reach other nodes of a cluster: 503 when Redis or that node cannot answer
    for path in moderation | {"/rooms/{roomId}"}:
        for method, operation in doc["paths"][path].items():
            if method in ("delete", "post"):
                assert operation["responses"]["503"] == {"$ref": "#/components/responses/ClusterUnavailable"}
    bearer = doc["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")
    schemas = doc["components"]["schemas"]
    expected = {"LoginRequest", "LoginResponse", "ErrorResponse", "Health", "RoomList", "RoomDetail",
                "NodeList", "StartRecording", "RecordingStartResult", "RecordingList",
                "RecordingDetail"}  # fmt: skip
    assert expected <= set(schemas)
    assert "$defs" not in json.dumps(doc)
    hooks = doc["webhooks"]
    assert set(hooks) == {
        "room-started", "room-finished", "participant-joined", "participant-left",
        "track-published", "track-unpublished", "recording-started", "recording-finished",
    }  # fmt: skip
    body = hooks["track-published"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WebhookEvent"}
    assert hooks["room-started"]["post"]["parameters"][0]["name"] == "X-Sfuctl-Signature"
    assert {"WebhookRoom", "WebhookParticipant", "WebhookTrack", "WebhookRecording"} <= set(schemas)


async def test_openapi_health_schema_matches_the_live_answer(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    from sfuctl.server.http.models import Health

    Health.model_validate(await get_json(http, server.url + "/health"))


async def test_swagger_ui_loads_only_local_assets(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "/docs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    parser = AssetLinks()
    parser.feed(page)
    assert any(url.endswith("swagger-ui-bundle.js") for url in parser.urls)
    assert any(url.endswith("swagger-ui.css") for url in parser.urls)
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        async with http.get(server.url + url) as asset:
            assert asset.status == 200, url
            assert len(await asset.read()) > 0, url
    assert "/openapi.json" in page


# -- AsyncAPI ----------------------------------------------------------------------------------


async def test_asyncapi_is_valid_3_0_0(
    server: RunningServer, http: aiohttp.ClientSession, asyncapi_validator: Draft7Validator
) -> None:
    doc = await get_json(http, server.url + "/asyncapi")
    assert doc["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in asyncapi_validator.iter_errors(doc)]
    assert errors == []

    broken = copy.deepcopy(doc)
    broken["operations"]["join-room"]["action"] = "publish"  # 2.x wording: must be refused
    assert not asyncapi_validator.is_valid(broken)


async def test_asyncapi_documents_the_whole_protocol(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    doc = await get_json(http, server.url + "/asyncapi", Accept="application/json")
    messages = doc["channels"]["signaling"]["messages"]
    operations = doc["operations"]
    schemas = doc["components"]["schemas"]
    for kind, model in protocol.REQUESTS.items():
        assert operations[kind]["action"] == "receive"
        request = messages[f"{kind}.request"]["payload"]
        assert request["properties"]["type"] == {"const": kind}
        assert request["properties"]["data"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert model.__name__ in schemas
        reply = [m["$ref"].rsplit("/", 1)[1] for m in operations[kind]["reply"]["messages"]]
        assert reply == [f"{kind}.response", "error.response"]
        result = protocol.RESULTS.get(kind)
        if result is not None:
            data = messages[f"{kind}.response"]["payload"]["properties"]["data"]
            assert data == {"$ref": f"#/components/schemas/{result.__name__}"}
    for kind, event in protocol.EVENTS.items():
        assert operations[f"{kind}.event"]["action"] == "send"
        assert messages[f"{kind}.event"]["payload"]["properties"]["type"] == {"const": kind}
        assert event.__name__ in schemas
    codes = schemas["ErrorCode"]["enum"]
    assert sorted(codes) == sorted(code.value for code in protocol.ErrorCode)
    token = doc["components"]["securitySchemes"]["token"]
    assert (token["type"], token["in"], token["name"]) == ("httpApiKey", "query", "token")
    assert doc["channels"]["signaling"]["bindings"]["ws"]["query"]["required"] == ["token"]
    assert doc["servers"]["sfuctl"]["host"] == server.url.removeprefix("http://")
    assert "$defs" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html", True),
        ("application/json", False),
        ("*/*", False),
        ("application/json;q=0.5, text/html;q=0.4", False),
    ],
)
async def test_asyncapi_content_negotiation(
    server: RunningServer, http: aiohttp.ClientSession, accept: str, html: bool
) -> None:
    async with http.get(server.url + "/asyncapi", headers={"Accept": accept}) as resp:
        assert resp.status == 200
        assert resp.content_type == ("text/html" if html else "application/json")
        body = await resp.text()
    if html:
        parser = AssetLinks()
        parser.feed(body)
        assert all(url.startswith("#") or url.startswith("?") for url in parser.urls), parser.urls
        for kind in [*protocol.REQUESTS, *protocol.EVENTS]:
            assert f"<code>{kind}</code>" in body
    else:
        assert json.loads(body)["asyncapi"] == "3.0.0"


class VisibleText(HTMLParser):
    """The text a reader sees outside code blocks and collapsed schemas, and the page's structure."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.toc_links: list[str] = []
        self.in_toc = False
        self.details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "nav":
            self.in_toc = True
        if tag == "a" and self.in_toc:
            self.toc_links.append(str(found.get("href")))
        if tag == "details":
            self.details += 1
        if tag in ("pre", "details", "script", "style"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_toc = False
        if tag in ("pre", "details", "script", "style"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.text.append(data)


async def test_asyncapi_html_renders_markdown_with_a_table_of_contents(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.url + "/asyncapi", headers={"Accept": "text/html"}) as resp:
        body = await resp.text()
    page = VisibleText()
    page.feed(body)
    text = "".join(page.text)
    assert "`" not in text  # Markdown rendered: code spans are <code>, not backticks
    assert "<code>requestId</code>" in body and "<code>kicked</code>" in body
    expected = [f"#request-{kind}" for kind in protocol.REQUESTS] + [
        f"#event-{kind}" for kind in protocol.EVENTS
    ]
    assert page.toc_links[: len(expected)] == expected
    for link in page.toc_links:
        assert link.removeprefix("#") in page.ids, link  # every entry leads somewhere
    doc = await get_json(http, server.url + "/asyncapi?format=json")
    assert page.details == len(doc["components"]["schemas"])  # each schema collapsed in a <details>
    assert "`" in doc["info"]["description"]  # the JSON keeps its Markdown for tools
    assert (
        "chat" in protocol.REQUESTS and "#request-chat" in page.toc_links and "#event-chat" in page.toc_links
    )
