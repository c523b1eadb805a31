"""API documents, generated at startup from the models the server validates with.

``/openapi.json`` (OpenAPI 3.1) comes from ``server.http.models``, ``/asyncapi`` (AsyncAPI 3.0.0)
from ``server.signaling.protocol``, so the documents cannot drift from what the server checks.
``/docs`` is Swagger UI from the ``swagger-ui-py`` package's bundled assets, served by us: the
page works offline and loads nothing from a CDN.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib.resources
import inspect
import json
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from markdown_it import MarkdownIt
from pydantic import BaseModel, TypeAdapter

from sfuctl.server import __version__
from sfuctl.server.http import models as m
from sfuctl.server.http.app import json_response
from sfuctl.server.signaling import protocol as p
from sfuctl.server.signaling.connection import CLOSE_KICKED, CLOSE_REPLACED
from sfuctl.server.webhooks import models as hooks
from sfuctl.server.webhooks.signing import HEADER as SIGNATURE_HEADER

SCHEMA_REF = "#/components/schemas/{model}"
SchemaMode = Literal["validation", "serialization"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=name)}


def collect_schemas(models: list[tuple[type[BaseModel], SchemaMode]]) -> dict[str, Any]:
    """Each model's JSON Schema plus its ``$defs``, flattened into one components map."""
    schemas: dict[str, Any] = {}
    for model, mode in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return dict(sorted(schemas.items()))


# -- OpenAPI -----------------------------------------------------------------------------------

ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "BadRequest": ("400", "The body or a parameter is not valid."),
    "Unauthorized": ("401", "Missing or invalid credentials."),
    "Forbidden": ("403", "Valid token without the admin grant."),
    "NotFound": (
        "404",
        "No such room, peer, producer, recording or file (or, for /login, login is disabled).",
    ),
    "Conflict": ("409", "The recording is still running: stop it first."),
    "PayloadTooLarge": ("413", "The body is larger than the server accepts."),
    "TooManyRequests": (
        "429",
        "Too many logins from this client address (see the Retry-After header), "
        "or as many recordings running as the server allows (`max_recordings`).",
    ),
    "Unavailable": (
        "503",
        "The recorder (gst-launch-1.0) is not installed, did not start, or lacks the "
        "GStreamer plugin for a named producer's codec (h264parse for H264).",
    ),
    "ClusterUnavailable": (
        "503",
        "The cluster's Redis is unreachable (the node is degraded), or, for an admin action, the "
        "node holding its target did not answer: try again shortly.",
    ),
    "InsufficientStorage": ("507", "Less free space than `recording_min_free_bytes` where recordings go."),
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, model: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref(model))}


def errors(*names: str) -> dict[str, Any]:
    return {ERROR_RESPONSES[name][0]: {"$ref": f"#/components/responses/{name}"} for name in names}


def openapi_paths() -> dict[str, Any]:
    admin: list[dict[str, list[str]]] = [{"bearer": []}]
    room_id_schema = TypeAdapter(m.RoomId).json_schema()
    room_id = {"name": "roomId", "in": "path", "required": True, "schema": room_id_schema}
    return {
        "/login": {
            "post": {
                "operationId": "login",
                "summary": "Get a token for the WebSocket (self-service)",
                "description": "Login mode 'open': anyone. 'apikey': needs `Authorization: Bearer "
                "<api key>`. 'off': 404. The token may publish and subscribe in the room, not administer.",
                "security": [{}, {"apiKey": []}],
                "requestBody": {"required": True, "content": json_content(ref("LoginRequest"))},
                "responses": {
                    "200": ok("A token for the room.", "LoginResponse"),
                    **errors("BadRequest", "Unauthorized", "NotFound", "PayloadTooLarge", "TooManyRequests"),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness of the server and of each media worker",
                "security": [],
                "responses": {"200": ok("Health report.", "Health")},
            }
        },
        "/rooms": {
            "get": {
                "operationId": "listRooms",
                "summary": "List the rooms of this server (admin)",
                "security": admin,
                "responses": {"200": ok("The rooms.", "RoomList"), **errors("Unauthorized", "Forbidden")},
            }
        },
        "/nodes": {
            "get": {
                "operationId": "listNodes",
                "summary": "The cluster's live nodes and their load; on a single node, itself (admin)",
                "description": "In a cluster (`--redis`) each node's load is as of its last heartbeat "
                "(every TTL/3); a node that stops heart-beating leaves the list within the TTL.",
                "security": admin,
                "responses": {
                    "200": ok("The nodes, by id.", "NodeList"),
                    **errors("Unauthorized", "Forbidden", "ClusterUnavailable"),
                },
            }
        },
        "/rooms/{roomId}": {
            "parameters": [room_id],
            "get": {
                "operationId": "getRoom",
                "summary": "Peers, media and bitrates of one room (admin)",
                "security": admin,
                "responses": {
                    "200": ok("The room.", "RoomDetail"),
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
            "delete": {
                "operationId": "closeRoom",
                "summary": "Close a room on every node; its peers get `room-closed {reason: admin}` (admin)",
                "security": admin,
                "responses": {
                    "204": {"description": "Closed."},
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "ClusterUnavailable"),
                },
            },
        },
        **moderation_paths(admin, room_id),
        **recording_paths(admin, room_id),
    }


def recording_paths(admin: list[dict[str, list[str]]], room_id: dict[str, Any]) -> dict[str, Any]:
    recording_id = {"name": "recordingId", "in": "path", "required": True,
                    "schema": TypeAdapter(m.RecordingId).json_schema()}  # fmt: skip
    name = {"name": "name", "in": "path", "required": True, "schema": TypeAdapter(m.FileName).json_schema()}
    media = {"description": "The file (WebM, or Matroska for H264). `Range` requests are answered with "
                            "206 and `Content-Range`.",
             "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                         for kind in ("video/webm", "audio/webm", "video/x-matroska")}}  # fmt: skip
    return {
        "/rooms/{roomId}/recordings": {
            "parameters": [room_id],
            "post": {
                "operationId": "startRecording",
                "summary": "Start recording a room: one file per track (WebM: VP8, VP9, Opus; Matroska: "
                "H264); its peers "
                "get `recording-started` (admin). Without `producerIds`, producers that start later "
                "are recorded too.",
                "security": admin,
                "requestBody": {"required": False, "content": json_content(ref("StartRecording"))},
                "responses": {
                    "201": ok("Recording: the recorders take the media.", "RecordingStartResult"),
                    **errors(
                        "BadRequest",
                        "Unauthorized",
                        "Forbidden",
                        "NotFound",
                        "TooManyRequests",
                        "Unavailable",
                        "InsufficientStorage",
                    ),
                },
            },
        },
        "/rooms/{roomId}/recordings/{recordingId}/stop": {
            "parameters": [room_id, recording_id],
            "post": {
                "operationId": "stopRecording",
                "summary": "Stop a recording: each file is finalised; the peers get `recording-stopped` "
                "(admin). Stopping an ended recording answers its state.",
                "security": admin,
                "responses": {
                    "200": ok("The recording and its files.", "RecordingDetail"),
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
        },
        "/recordings": {
            "get": {
                "operationId": "listRecordings",
                "summary": "The recordings of this server, running and ended, oldest first (admin)",
                "security": admin,
                "responses": {
                    "200": ok("The recordings.", "RecordingList"),
                    **errors("Unauthorized", "Forbidden"),
                },
            },
        },
        "/recordings/{recordingId}": {
            "parameters": [recording_id],
            "get": {
                "operationId": "getRecording",
                "summary": "A recording: its state and its files (admin)",
                "security": admin,
                "responses": {
                    "200": ok("The recording.", "RecordingDetail"),
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
            "delete": {
                "operationId": "deleteRecording",
                "summary": "Delete an ended recording and its files (admin)",
                "security": admin,
                "responses": {
                    "204": {"description": "Deleted."},
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict"),
                },
            },
        },
        "/recordings/{recordingId}/files/{name}": {
            "parameters": [recording_id, name],
            "get": {
                "operationId": "getRecordingFile",
                "summary": "Download one file of a recording (admin); ranges supported",
                "security": admin,
                "parameters": [
                    {
                        "name": "Range",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "examples": ["bytes=0-1023"]},
                    }
                ],
                "responses": {
                    "200": media,
                    "206": {**media, "description": "The requested range."},
                    **errors("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
        },
    }


def moderation_paths(admin: list[dict[str, list[str]]], room_id: dict[str, Any]) -> dict[str, Any]:
    object_id = TypeAdapter(m.ObjectId).json_schema()
    user_id = {"name": "userId", "in": "path", "required": True, "schema": object_id}
    producer_id = {"name": "producerId", "in": "path", "required": True, "schema": object_id}
    # in a cluster the target may be on another node: it is asked (503 when it cannot be)
    failures = errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "ClusterUnavailable")

    def muting(operation: str, summary: str) -> dict[str, Any]:
        return {
            "parameters": [room_id, producer_id],
            "post": {
                "operationId": operation,
                "summary": summary,
                "security": admin,
                "responses": {"200": ok("The producer's state now.", "ProducerModeration"), **failures},
            },
        }

    return {
        "/rooms/{roomId}/peers/{userId}": {
            "parameters": [room_id, user_id],
            "delete": {
                "operationId": "kickPeer",
                "summary": "Kick a peer: it gets `room-closed {reason: kicked}` and is disconnected "
                "(close code 4003); the others get `peer-left` (admin). It may join again.",
                "security": admin,
                "responses": {"204": {"description": "Kicked."}, **failures},
            },
        },
        "/rooms/{roomId}/producers/{producerId}": {
            "parameters": [room_id, producer_id],
            "delete": {
                "operationId": "closeProducer",
                "summary": "Close a producer: its consumers get `consumer-closed`, the room "
                "(owner included) `producer-closed` (admin)",
                "security": admin,
                "responses": {"204": {"description": "Closed."}, **failures},
            },
        },
        "/rooms/{roomId}/producers/{producerId}/mute": muting(
            "muteProducer",
            "Pause a producer for every consumer; the owner gets `producer-muted` and its own "
            "`resume-producer` is refused (`forbidden`) until unmuted (admin). Idempotent.",
        ),
        "/rooms/{roomId}/producers/{producerId}/unmute": muting(
            "unmuteProducer",
            "Resume a muted producer; the owner gets `producer-unmuted` (admin). Idempotent.",
        ),
    }


WEBHOOK_SIGNATURE = (
    '`t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "<t>." + raw body)>`. Recompute it over the '
    "raw body, compare in constant time, and refuse a `t` older than 5 minutes (replays)."
)


def openapi_webhooks() -> dict[str, Any]:
    """What the server POSTs to each --webhook-url: one entry per event type."""
    signature = {
        "name": SIGNATURE_HEADER,
        "in": "header",
        "required": True,
        "description": WEBHOOK_SIGNATURE,
        "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
    }
    result: dict[str, Any] = {}
    for event, objects in hooks.EVENT_OBJECTS.items():
        carries = ", ".join(f"`{name}`" for name in objects)
        result[event] = {
            "post": {
                "operationId": "webhook" + "".join(word.capitalize() for word in event.split("-")),
                "summary": hooks.EVENT_SUMMARIES[event],
                "description": f"`event` is `{event}`; carries {carries}. Answer 2xx within the timeout: "
                "anything else is retried with exponential back-off (same body, same `id`), a few times, "
                "then dropped. Events of one endpoint arrive one at a time, in order.",
                "parameters": [signature],
                "requestBody": {"required": True, "content": json_content(ref("WebhookEvent"))},
                "responses": {
                    "2XX": {"description": "Taken."},
                    "default": {"description": "Not taken: retried."},
                },
            }
        }
    return result


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Built once: the models do not change while the server runs (treat the result as read-only)."""
    models: list[tuple[type[BaseModel], SchemaMode]] = [(model, "validation") for model in m.REQUEST_MODELS]
    models += [(model, "serialization") for model in m.RESPONSE_MODELS]
    models.append((hooks.WebhookEvent, "serialization"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sfuctl REST API",
            "version": __version__,
            "description": "Tokens for the WebSocket signaling (see /asyncapi) and the admin room API.",
        },
        "paths": openapi_paths(),
        "webhooks": openapi_webhooks(),
        "components": {
            "schemas": collect_schemas(models),
            "responses": {
                name: {"description": text, "content": json_content(ref("ErrorResponse"))}
                for name, (_, text) in ERROR_RESPONSES.items()
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A token with the admin grant (`sfuctl token --admin`).",
                },
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The server's login API key, when its login mode is 'apikey'.",
                },
            },
        },
    }


# -- Swagger UI --------------------------------------------------------------------------------

SWAGGER_STATIC = "/docs/static"

SWAGGER_HTML = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sfuctl REST API</title>
<link rel="stylesheet" href="{SWAGGER_STATIC}/swagger-ui.css">
<link rel="stylesheet" href="{SWAGGER_STATIC}/index.css">
<link rel="icon" type="image/png" href="{SWAGGER_STATIC}/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_STATIC}/swagger-ui-bundle.js"></script>
<script src="{SWAGGER_STATIC}/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  }});
}};
</script>
</body>
</html>
"""

DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'"
)
"""Enforces 'no CDN' in the browser too; Swagger UI needs inline styles and data: images."""


def swagger_static_dir() -> Path:
    return Path(str(importlib.resources.files("swagger_ui") / "static"))


# -- AsyncAPI ----------------------------------------------------------------------------------

CHANNEL = {"$ref": "#/channels/signaling"}
REQUEST_ID = {"type": "string", "minLength": 1, "maxLength": 128}


def message_ref(key: str) -> dict[str, str]:
    return {"$ref": f"#/channels/signaling/messages/{key}"}


def frame(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def summary(model: type[BaseModel]) -> dict[str, str]:
    """The model's own docstring, if it has one (``__doc__`` is not inherited)."""
    text = (model.__doc__ or "").strip()
    return {"summary": text} if text else {}


def request_message(kind: str, model: type[BaseModel]) -> dict[str, Any]:
    payload = frame(
        {"type": {"const": kind}, "requestId": REQUEST_ID, "data": ref(model.__name__)}, ["type", "requestId"]
    )
    payload["additionalProperties"] = False
    return {
        "name": kind,
        "title": f"{kind} request",
        **summary(model),
        "payload": payload,
        "correlationId": {"$ref": "#/components/correlationIds/requestId"},
    }


def response_message(kind: str) -> dict[str, Any]:
    result = p.RESULTS.get(kind)
    data = ref(result.__name__) if result else {"type": "object", "maxProperties": 0}
    return {
        "name": f"{kind} response",
        "title": f"{kind} ok response",
        "payload": frame(
            {"type": {"const": "response"}, "requestId": REQUEST_ID, "ok": {"const": True}, "data": data},
            ["type", "requestId", "ok", "data"],
        ),
        "correlationId": {"$ref": "#/components/correlationIds/requestId"},
    }


def event_message(kind: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "name": kind,
        "title": f"{kind} event",
        **summary(model),
        "payload": frame({"type": {"const": kind}, "data": ref(model.__name__)}, ["type", "data"]),
    }


def signaling_messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for kind, model in p.REQUESTS.items():
        messages[f"{kind}.request"] = request_message(kind, model)
        messages[f"{kind}.response"] = response_message(kind)
    messages["error.response"] = {
        "name": "error response",
        "title": "error response (any request)",
        "payload": ref("ErrorResponse"),
        "correlationId": {"$ref": "#/components/correlationIds/requestId"},
    }
    for kind, event in p.EVENTS.items():
        messages[f"{kind}.event"] = event_message(kind, event)
    return messages


def signaling_operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for kind in p.REQUESTS:
        operations[kind] = {
            "action": "receive",
            "channel": CHANNEL,
            "title": kind,
            "messages": [message_ref(f"{kind}.request")],
            "reply": {
                "channel": CHANNEL,
                "messages": [message_ref(f"{kind}.response"), message_ref("error.response")],
            },
        }
    for kind in p.EVENTS:
        operations[f"{kind}.event"] = {
            "action": "send",
            "channel": CHANNEL,
            "title": f"{kind} event",
            "messages": [message_ref(f"{kind}.event")],
        }
    return operations


def asyncapi_schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], SchemaMode]] = []
    models += [(model, "validation") for model in p.REQUESTS.values()]
    models += [(model, "serialization") for model in p.RESULTS.values()]
    models += [(model, "serialization") for model in p.EVENTS.values()]
    models += [(p.ErrorResponse, "serialization")]
    return collect_schemas(models)


ASYNCAPI_DESCRIPTION = f"""WebSocket signaling of sfuctl, from the server's point of view: it *receives*
requests and *sends* their responses and events.

Connect to `/?token=<JWT>` (from `POST /login` or `sfuctl token`); the token is checked before the
upgrade, and a missing or bad one is answered with HTTP 401 and a JSON error. Every frame is a JSON
text frame. A request `{{"type", "requestId", "data"}}` gets exactly one response with the same
`requestId`: `{{"ok": true, "data"}}` or `{{"ok": false, "error": {{"code", "message"}}}}`. Requests of
one connection are handled in order. Events are `{{"type", "data"}}`.

A second connection of the same user to the same room replaces the first, which is closed with code
{CLOSE_REPLACED}; a peer an admin kicks gets `room-closed {{"reason": "kicked"}}`, then is closed with
{CLOSE_KICKED}; a client that does not read its events is closed with 1008.

Error codes: {", ".join(f"`{code.value}`" for code in p.ErrorCode)}."""


def asyncapi_document(host: str, secure: bool) -> dict[str, Any]:
    token_query = {
        "type": "object",
        "properties": {"token": {"type": "string", "description": "HS256 JWT."}},
        "required": ["token"],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "sfuctl signaling", "version": __version__, "description": ASYNCAPI_DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "sfuctl": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "pathname": "/",
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            }
        },
        "channels": {
            "signaling": {
                "address": "/",
                "title": "Signaling connection",
                "description": "One WebSocket per peer; the room and the user come from the token.",
                "servers": [{"$ref": "#/servers/sfuctl"}],
                "messages": signaling_messages(),
                "bindings": {"ws": {"method": "GET", "query": token_query, "bindingVersion": "0.1.0"}},
            }
        },
        "operations": signaling_operations(),
        "components": {
            "schemas": asyncapi_schemas(),
            "securitySchemes": {
                "token": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The access token, as the `token` query parameter of the upgrade request.",
                }
            },
            "correlationIds": {
                "requestId": {
                    "description": "A response carries the requestId of its request.",
                    "location": "$message.payload#/requestId",
                }
            },
        },
    }


def accept_quality(accept: str, media_type: str) -> float:
    """The q the Accept header gives ``media_type``, by the most specific matching range."""
    major = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        parts = [part.strip() for part in item.split(";")]
        media = parts[0].lower()
        specificity = {media_type: 2, f"{major}/*": 1, "*/*": 0}.get(media)
        if specificity is None or specificity < best[0]:
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best = (specificity, quality)
    return best[1]


def prefers_html(request: web.Request) -> bool:
    """HTML for browsers; JSON for ``*/*``, for API clients and when no Accept is sent."""
    explicit = request.query.get("format")
    if explicit in ("html", "json"):
        return explicit == "html"
    accept = request.headers.get("Accept", "")
    return accept_quality(accept, "text/html") > accept_quality(accept, "application/json")


# -- AsyncAPI as HTML --------------------------------------------------------------------------

HTML_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f3f4f6;border-radius:4px}
code{padding:.05em .3em} pre{padding:.6em;overflow-x:auto} pre code{padding:0;background:none}
h2{border-bottom:1px solid #ddd;margin-top:2em} h3{margin:1.4em 0 .2em} h3 code{font-size:1.05em}
.intro{background:#fafafa;padding:.2em 1em;border-left:3px solid #ccc}
nav{columns:2;column-gap:2em;background:#f8f9fb;padding:.6em 1em;border:1px solid #e5e7eb;border-radius:6px}
nav h2{margin:0 0 .3em;border:0;font-size:1em;column-span:all} nav ul{margin:0 0 .6em;padding-left:1.2em}
nav h3{margin:.2em 0;font-size:.9em;color:#555;break-after:avoid}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
td p{margin:0} .tag{font-size:12px;padding:.1em .4em;border-radius:3px;background:#e8f0fe}
details{margin:.3em 0;border:1px solid #e5e7eb;border-radius:4px;padding:.2em .6em}
summary{cursor:pointer;font-family:ui-monospace,monospace} details pre{margin:.4em 0}
"""

MARKDOWN = MarkdownIt("commonmark", {"html": False})
"""CommonMark with raw HTML off: a docstring's ``<`` is shown, never interpreted."""


def markdown(text: str, inline: bool = False) -> str:
    """The docstrings and descriptions are Markdown (backticks, emphasis, paragraphs)."""
    text = inspect.cleandoc(text)
    rendered: str = MARKDOWN.renderInline(text) if inline else MARKDOWN.render(text)
    return rendered


def schema_link(schema: dict[str, Any]) -> str:
    if schema.get("maxProperties") == 0:
        return "<code>{}</code>"
    target = schema.get("$ref", "")
    if target.startswith("#/components/schemas/"):
        name = html.escape(target.rsplit("/", 1)[1])
        return f'<a href="#schema-{name}"><code>{name}</code></a>'
    return f"<code>{html.escape(json.dumps(schema))}</code>"


def html_toc(doc: dict[str, Any]) -> list[str]:
    def links(prefix: str, kinds: list[str]) -> str:
        items = "".join(
            f'<li><a href="#{prefix}-{html.escape(k)}"><code>{html.escape(k)}</code></a></li>' for k in kinds
        )
        return f"<ul>{items}</ul>"

    return [
        '<nav id="toc"><h2>Contents</h2>',
        f"<h3>Requests ({len(p.REQUESTS)})</h3>{links('request', list(p.REQUESTS))}",
        f"<h3>Events ({len(p.EVENTS)})</h3>{links('event', list(p.EVENTS))}",
        f'<h3>More</h3><ul><li><a href="#schemas">Schemas ({len(doc["components"]["schemas"])})</a>',
        "</li></ul>",
        "</nav>",
    ]


def html_requests(doc: dict[str, Any]) -> list[str]:
    messages = doc["channels"]["signaling"]["messages"]
    out = ['<h2 id="requests">Requests</h2>']
    for kind in p.REQUESTS:
        request = messages[f"{kind}.request"]
        response = messages[f"{kind}.response"]
        out.append(f'<h3 id="request-{html.escape(kind)}"><code>{html.escape(kind)}</code></h3>')
        out.append(markdown(request.get("summary", "")))
        request_data = schema_link(request["payload"]["properties"]["data"])
        response_data = schema_link(response["payload"]["properties"]["data"])
        out.append(f"<ul><li>request <code>data</code>: {request_data}</li>")
        out.append(f"<li>ok <code>data</code>: {response_data}</li>")
        out.append('<li>or an <a href="#schema-ErrorResponse">error response</a></li></ul>')
    return out


def html_events(doc: dict[str, Any]) -> list[str]:
    messages = doc["channels"]["signaling"]["messages"]
    out = ['<h2 id="events">Events</h2><table><tr><th>type</th><th>data</th><th></th></tr>']
    for kind in p.EVENTS:
        event = messages[f"{kind}.event"]
        out.append(
            f'<tr id="event-{html.escape(kind)}"><td><code>{html.escape(kind)}</code></td>'
            f"<td>{schema_link(event['payload']['properties']['data'])}</td>"
            f"<td>{markdown(event.get('summary', ''), inline=True)}</td></tr>"
        )
    out.append("</table>")
    return out


def html_schemas(doc: dict[str, Any]) -> list[str]:
    out = ['<h2 id="schemas">Schemas</h2><p>JSON Schema of each payload; open one to read it.</p>']
    for name, schema in doc["components"]["schemas"].items():
        text = html.escape(json.dumps(schema, indent=2))
        out.append(
            f'<details id="schema-{html.escape(name)}"><summary>{html.escape(name)}</summary>'
            f"<pre><code>{text}</code></pre></details>"
        )
    return out


OPEN_TARGET = (
    "addEventListener('hashchange',o);addEventListener('load',o);function o(){"
    "var e=document.getElementById(decodeURIComponent(location.hash.slice(1)));"
    "if(e&&e.tagName==='DETAILS'){e.open=true;e.scrollIntoView()}}"
)
"""A link to a schema opens its <details> (allowed by the page's CSP through its hash)."""


def asyncapi_html(doc: dict[str, Any]) -> str:
    info = doc["info"]
    server = doc["servers"]["sfuctl"]
    url = f"{server['protocol']}://{server['host']}{server['pathname']}?token=<JWT>"
    body = [
        f"<h1>{html.escape(info['title'])} <span class=tag>AsyncAPI {doc['asyncapi']}</span></h1>",
        f"<p>Version {html.escape(info['version'])}. Connect to <code>{html.escape(url, quote=False)}</code>."
        ' The same document as JSON: <a href="?format=json">/asyncapi?format=json</a>.</p>',
        f"<div class=intro>{markdown(info['description'])}</div>",
        *html_toc(doc),
        *html_requests(doc),
        *html_events(doc),
        *html_schemas(doc),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(info['title'])}</title><style>{HTML_STYLE}</style></head><body>"
        + "\n".join(body)
        + f"<script>{OPEN_TARGET}</script></body></html>"
    )


def asyncapi_html_csp() -> str:
    digest = base64.b64encode(hashlib.sha256(OPEN_TARGET.encode()).digest()).decode()
    return f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


# -- routes ------------------------------------------------------------------------------------


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


async def get_docs(request: web.Request) -> web.Response:
    response = web.Response(text=SWAGGER_HTML, content_type="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


async def get_asyncapi(request: web.Request) -> web.Response:
    doc = asyncapi_document(request.host, request.secure)
    if prefers_html(request):
        response = web.Response(text=asyncapi_html(doc), content_type="text/html")
        response.headers["Content-Security-Policy"] = asyncapi_html_csp()
    else:
        response = json_response(doc)
    response.headers["Vary"] = "Accept"
    return response


def setup_routes(app: web.Application) -> None:
    """Register /openapi.json, /docs (and its assets) and /asyncapi."""
    app.router.add_get("/openapi.json", get_openapi)
    app.router.add_get("/docs", get_docs)
    app.router.add_static(SWAGGER_STATIC, swagger_static_dir())
    app.router.add_get("/asyncapi", get_asyncapi)
