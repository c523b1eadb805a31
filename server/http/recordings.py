"""The admin recording API: start and stop a room's recording, list, download and delete them.

Ids and file names are validated by the models' patterns here, at the edge; the manager serves
only files a recording lists, so no path is built from a client's text alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from sfuctl.server.http.app import json_response
from sfuctl.server.http.models import (
    ErrorCode,
    FileName,
    RecordingDetail,
    RecordingId,
    RecordingList,
    RecordingStartResult,
    RecordingSummary,
    StartRecording,
)
from sfuctl.server.http.rest import ApiError, read_body, room_id_param
from sfuctl.server.recording.errors import RecordingError

if TYPE_CHECKING:
    from sfuctl.server.http.rest import RestApi
    from sfuctl.server.recording.manager import RecordingManager

RECORDING_ID = TypeAdapter(RecordingId)
FILE_NAME = TypeAdapter(FileName)

ERRORS: dict[str, tuple[int, ErrorCode]] = {
    "not_found": (404, ErrorCode.NOT_FOUND),
    "bad_request": (400, ErrorCode.BAD_REQUEST),
    "conflict": (409, ErrorCode.CONFLICT),
    "limit_exceeded": (429, ErrorCode.TOO_MANY_REQUESTS),
    "insufficient_storage": (507, ErrorCode.INSUFFICIENT_STORAGE),
    "unavailable": (503, ErrorCode.UNAVAILABLE),
}


def api_error(error: RecordingError) -> ApiError:
    status, code = ERRORS.get(error.kind, (500, ErrorCode.INTERNAL))
    return ApiError(status, code, error.message)


def param(request: web.Request, name: str, adapter: TypeAdapter[str]) -> str:
    try:
        return adapter.validate_python(request.match_info[name])
    except ValidationError as error:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"{name}: {error.errors()[0]['msg']}") from None


class RecordingRoutes:
    def __init__(self, recordings: RecordingManager) -> None:
        self.recordings = recordings

    async def start(self, request: web.Request) -> web.Response:
        room_id = room_id_param(request)
        body = await read_body(request, StartRecording) if await request.read() else StartRecording()
        try:
            recording = await self.recordings.start(room_id, body.producerIds)
        except RecordingError as error:
            raise api_error(error) from None
        result = RecordingStartResult(
            id=recording.id, roomId=recording.room_id, state="recording", startedAt=recording.started_at
        )
        response = json_response(result.model_dump(), status=201)
        response.headers["Location"] = f"/recordings/{recording.id}"
        return response

    async def stop(self, request: web.Request) -> web.Response:
        room_id, recording_id = room_id_param(request), param(request, "recordingId", RECORDING_ID)
        try:
            recording = await self.recordings.stop(room_id, recording_id)
        except RecordingError as error:
            raise api_error(error) from None
        return json_response(RecordingDetail.model_validate(recording.detail()).model_dump())

    async def list(self, _request: web.Request) -> web.Response:
        summaries = [RecordingSummary.model_validate(r.summary()) for r in self.recordings.all()]
        return json_response(RecordingList(recordings=summaries).model_dump())

    async def get(self, request: web.Request) -> web.Response:
        try:
            recording = self.recordings.get(param(request, "recordingId", RECORDING_ID))
        except RecordingError as error:
            raise api_error(error) from None
        return json_response(RecordingDetail.model_validate(recording.detail()).model_dump())

    async def file(self, request: web.Request) -> web.StreamResponse:
        """The file itself, with ranges (seeking in a player, resumed downloads)."""
        recording_id = param(request, "recordingId", RECORDING_ID)
        name = param(request, "name", FILE_NAME)
        try:
            path, content_type = self.recordings.file_path(recording_id, name)
        except RecordingError as error:
            raise api_error(error) from None
        response = web.FileResponse(path, headers={
            "Content-Type": content_type, "Content-Disposition": f'attachment; filename="{name}"',
        })  # fmt: skip
        return response

    async def delete(self, request: web.Request) -> web.Response:
        try:
            self.recordings.delete(param(request, "recordingId", RECORDING_ID))
        except RecordingError as error:
            raise api_error(error) from None
        return web.Response(status=204)


def setup_routes(app: web.Application, api: RestApi) -> None:
    routes = RecordingRoutes(api.sfu.recordings)
    admin = api.require_admin
    app.router.add_post("/rooms/{roomId}/recordings", admin(routes.start))
    app.router.add_post("/rooms/{roomId}/recordings/{recordingId}/stop", admin(routes.stop))
    app.router.add_get("/recordings", admin(routes.list), allow_head=False)
    app.router.add_get("/recordings/{recordingId}", admin(routes.get), allow_head=False)
    app.router.add_get("/recordings/{recordingId}/files/{name}", admin(routes.file))
    app.router.add_delete("/recordings/{recordingId}", admin(routes.delete))
