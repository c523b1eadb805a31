"""The webhook signature: pure logic, checked against a plain HMAC computed here."""

from __future__ import annotations

import hashlib
import hmac

from sfuctl.server.webhooks.events import envelope
from sfuctl.server.webhooks.signing import sign, verify

SECRET = "s" * 40
BODY = b'{"event":"room-started"}'


def test_the_header_is_t_and_the_hex_hmac_of_t_dot_body() -> None:
    header = sign(SECRET, BODY, now=1_700_000_000.7)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_refuses_tampering_other_secrets_replays_and_garbage() -> None:
    header = sign(SECRET, BODY, now=1000)
    assert verify(SECRET, header, BODY, now=1000 + 299)
    assert not verify(SECRET, header, BODY + b" ", now=1000)
    assert not verify("t" * 40, header, BODY, now=1000)
    assert not verify(SECRET, header, BODY, now=1000 + 301)
    assert not verify(SECRET, header.replace("t=1000", "t=1001"), BODY, now=1000)
    for bad in ("", "t=x,v1=00", "v1=00", "nonsense"):
        assert not verify(SECRET, bad, BODY, now=1000)


def test_envelopes_have_unique_ids() -> None:
    ids = {envelope("room-started", {"room": {"id": "r"}})["id"] for _ in range(1000)}
    assert len(ids) == 1000


def test_the_readme_receiver_snippet_accepts_real_signatures_and_refuses_replays() -> None:
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify(secret" in b]
    scope: dict[str, object] = {}
    exec(snippet, scope)  # the README's own code, as a receiver would paste it
    readme_verify = scope["verify"]
    assert callable(readme_verify)
    now = time.time()
    assert readme_verify(SECRET.encode(), sign(SECRET, BODY, now=now), BODY)
    assert not readme_verify(SECRET.encode(), sign(SECRET, BODY, now=now - 301), BODY)
    assert not readme_verify(SECRET.encode(), sign(SECRET, BODY, now=now), BODY + b"x")
    assert not readme_verify(b"other" * 8, sign(SECRET, BODY, now=now), BODY)
    assert not readme_verify(SECRET.encode(), "garbage", BODY)
