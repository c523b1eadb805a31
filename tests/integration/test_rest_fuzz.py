"""Property-based fuzzing of the REST API from its own /openapi.json, against the live server.

Schemathesis generates valid (positive) and invalid (negative) requests for every operation and
runs its built-in checks on each answer: no 5xx, documented status codes, content types and
response schemas, auth really enforced. Bounded: a few dozen examples per operation, no deadline.
The HTTP client is synchronous, so each run happens in a thread while the server's loop serves it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

from tests.conftest import RunningServer

pytestmark = pytest.mark.worker

MAX_EXAMPLES = 30
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
RUNS = [
    ("POST", "/login", POSITIVE),
    ("POST", "/login", NEGATIVE),
    ("GET", "/health", POSITIVE),
    ("GET", "/rooms", POSITIVE),
    ("GET", "/nodes", POSITIVE),
    ("GET", "/rooms/{roomId}", POSITIVE),
    ("GET", "/rooms/{roomId}", NEGATIVE),
    ("DELETE", "/rooms/{roomId}", POSITIVE),
    ("DELETE", "/rooms/{roomId}", NEGATIVE),
]
"""Negative runs only where there is an input to break (the others take no parameters)."""


def fuzz(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, base_url: str, headers: dict[str, str]
) -> int:
    """Run the checks on generated cases; returns how many requests were made (never vacuous)."""
    calls = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        nonlocal calls
        calls += 1
        with requests.Session() as session:
            case.call_and_validate(base_url=base_url, session=session, headers=headers, timeout=10)

    run()
    return calls


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS])
async def test_rest_api_conforms_to_its_schema(
    server: RunningServer, method: str, path: str, mode: GenerationMode
) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/openapi.json") as resp:
        document = await resp.json()
    schema = schemathesis.openapi.from_dict(document)
    operation = schema[path][method]
    admin = {"Authorization": "Bearer " + server.token("fuzz", "admin", admin=True)}
    calls = await asyncio.wait_for(asyncio.to_thread(fuzz, operation, mode, server.url, admin), timeout=100)
    assert calls >= 1
