"""The generated certificate's life cycle: made once, kept, made anew only when it must be."""

from __future__ import annotations

import datetime
from pathlib import Path

from sfuctl.server.tls.certificate import (
    CERT_NAME,
    KEY_NAME,
    RENEW_DAYS,
    ensure_generated,
    generate,
    inspect,
    load,
    wanted_names,
)


def test_generated_once_then_kept(tmp_path: Path) -> None:
    first, made = ensure_generated(tmp_path, ["127.0.0.1", "localhost"])
    assert made and (tmp_path / KEY_NAME).stat().st_mode & 0o777 == 0o600
    again, made_again = ensure_generated(tmp_path, ["127.0.0.1", "localhost"])
    assert not made_again and again.sha256 == first.sha256
    assert load(tmp_path / CERT_NAME, tmp_path / KEY_NAME).sha256 == first.sha256


def test_made_anew_for_a_new_announced_address(tmp_path: Path) -> None:
    first, _ = ensure_generated(tmp_path, ["127.0.0.1"])
    second, made = ensure_generated(tmp_path, ["198.18.0.10", "127.0.0.1"])
    assert made and second.sha256 != first.sha256 and "198.18.0.10" in second.names


def test_made_anew_near_expiry(tmp_path: Path) -> None:
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=340)
    old = generate(tmp_path / CERT_NAME, tmp_path / KEY_NAME, ["127.0.0.1"], valid_from=start)
    assert old.days_left() < RENEW_DAYS
    new, made = ensure_generated(tmp_path, ["127.0.0.1"])
    assert made and new.days_left() > 360


def test_wanted_names_skip_wildcards_and_repeat_nothing() -> None:
    names = wanted_names(None, "0.0.0.0")
    assert "0.0.0.0" not in names and {"localhost", "127.0.0.1"} <= set(names)
    assert len(names) == len(set(names))
    assert wanted_names("sfu.example.com", "::")[0] == "sfu.example.com"


def test_ip_and_dns_names_are_both_sans(tmp_path: Path) -> None:
    generate(tmp_path / "c.pem", tmp_path / "k.pem", ["sfu.example.com", "198.18.0.10", "::1"])
    info = inspect(tmp_path / "c.pem")
    assert set(info.names) == {"sfu.example.com", "198.18.0.10", "::1"}
    assert info.subject == "CN=sfu.example.com" and info.self_signed


def test_made_anew_when_one_file_was_deleted(tmp_path: Path) -> None:
    first, _ = ensure_generated(tmp_path, ["127.0.0.1"])
    (tmp_path / KEY_NAME).unlink()
    second, made = ensure_generated(tmp_path, ["127.0.0.1"])
    assert made and second.sha256 != first.sha256
    assert load(tmp_path / CERT_NAME, tmp_path / KEY_NAME).sha256 == second.sha256
