"""H264 profile-level-id parsing and answer generation (libwebrtc's rules)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from sfuctl.server.media.h264_profile_level_id import (
    DEFAULT_PROFILE_LEVEL_ID,
    Level,
    Profile,
    ProfileLevelId,
    generate_profile_level_id_string_for_answer,
    is_same_profile,
    parse_profile_level_id,
    parse_sdp_profile_level_id,
    profile_level_id_to_string,
)

CB = Profile.CONSTRAINED_BASELINE


@pytest.mark.parametrize(
    ("value", "profile", "level"),
    [
        ("42e01f", CB, Level.L3_1),
        ("42E01F", CB, Level.L3_1),
        ("42e00b", CB, Level.L1_1),
        ("42f00b", CB, Level.L1_B),
        ("42C02A", CB, Level.L4_2),
        ("4de01f", CB, Level.L3_1),
        ("58f01f", CB, Level.L3_1),
        ("42001f", Profile.BASELINE, Level.L3_1),
        ("42a01f", Profile.BASELINE, Level.L3_1),
        ("58A01E", Profile.BASELINE, Level.L3),
        ("42100b", Profile.BASELINE, Level.L1_B),
        ("4d001f", Profile.MAIN, Level.L3_1),
        ("4d0032", Profile.MAIN, Level.L5),
        ("4d100b", Profile.MAIN, Level.L1_B),
        ("64002a", Profile.HIGH, Level.L4_2),
        ("640034", Profile.HIGH, Level.L5_2),
        ("640c1f", Profile.CONSTRAINED_HIGH, Level.L3_1),
        ("640c0b", Profile.CONSTRAINED_HIGH, Level.L1_1),
        ("f4001f", Profile.PREDICTIVE_HIGH_444, Level.L3_1),
    ],
)
def test_parse_valid(value: str, profile: Profile, level: Level) -> None:
    assert parse_profile_level_id(value) == ProfileLevelId(profile, level)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "42e01",
        "42e01f0",
        "gggggg",
        "42e0zz",
        "0x42e0",
        " 42e01",
        "000000",
        "42e000",  # level_idc 0
        "42e00f",  # level_idc 15
        "42e0ff",
        "42e11f",  # reserved profile_iop bits set
        "64e01f",
        "58601f",
        "641c0b",  # level 1b flag in High
        "7a001f",  # High 4:2:2 is not supported
        640032,  # numbers (sdp-transform output) are not accepted, as in mediasoup
        None,
    ],
)
def test_parse_invalid(value: Any) -> None:
    assert parse_profile_level_id(value) is None


@pytest.mark.parametrize(
    ("profile", "level", "expected"),
    [
        (CB, Level.L3_1, "42e01f"),
        (Profile.BASELINE, Level.L1, "42000a"),
        (Profile.MAIN, Level.L5_2, "4d0034"),
        (Profile.CONSTRAINED_HIGH, Level.L4, "640c28"),
        (Profile.HIGH, Level.L3_1, "64001f"),
        (Profile.PREDICTIVE_HIGH_444, Level.L3_1, "f4001f"),
        (CB, Level.L1_B, "42f00b"),
        (Profile.BASELINE, Level.L1_B, "42100b"),
        (Profile.MAIN, Level.L1_B, "4d100b"),
        (Profile.HIGH, Level.L1_B, None),
        (Profile.CONSTRAINED_HIGH, Level.L1_B, None),
        (Profile.PREDICTIVE_HIGH_444, Level.L1_B, None),
    ],
)
def test_to_string(profile: Profile, level: Level, expected: str | None) -> None:
    assert profile_level_id_to_string(ProfileLevelId(profile, level)) == expected


@pytest.mark.parametrize(("profile", "level"), list(itertools.product(Profile, Level)))
def test_to_string_round_trips(profile: Profile, level: Level) -> None:
    text = profile_level_id_to_string(ProfileLevelId(profile, level))
    if text is not None:
        assert parse_profile_level_id(text) == ProfileLevelId(profile, level)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, DEFAULT_PROFILE_LEVEL_ID),
        ({"profile-level-id": ""}, DEFAULT_PROFILE_LEVEL_ID),
        ({"profile-level-id": None}, DEFAULT_PROFILE_LEVEL_ID),
        ({"profile-level-id": "640c1f"}, ProfileLevelId(Profile.CONSTRAINED_HIGH, Level.L3_1)),
        ({"profile-level-id": "bogus!"}, None),
    ],
)
def test_parse_sdp(params: dict[str, Any], expected: ProfileLevelId | None) -> None:
    assert parse_sdp_profile_level_id(params) == expected


def plid(value: str, **extra: Any) -> dict[str, Any]:
    return {"profile-level-id": value, **extra}


@pytest.mark.parametrize(
    ("params1", "params2", "expected"),
    [
        ({}, {}, True),
        ({}, plid("42e01f"), True),
        (plid("42e01f"), plid("42e034"), True),
        (plid("4de01f"), plid("42e01f"), True),
        (plid("42e01f"), plid("42001f"), False),
        (plid("640c1f"), plid("64001f"), False),
        (plid("f4001f"), plid("f40034"), True),
        (plid("zzzzzz"), plid("zzzzzz"), False),
        (plid("zzzzzz"), {}, False),
    ],
)
def test_is_same_profile(params1: dict[str, Any], params2: dict[str, Any], expected: bool) -> None:
    assert is_same_profile(params1, params2) is expected
    assert is_same_profile(params2, params1) is expected


ASYM = {"level-asymmetry-allowed": 1}


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        ({}, {}, None),
        (plid("42e01f"), {}, "42e01f"),
        ({}, plid("42e01f"), "42e01f"),
        (plid("42e01f", **ASYM), plid("42e015", **ASYM), "42e01f"),
        (plid("42e01f", **ASYM), plid("42e015"), "42e015"),
        (plid("42e01f"), plid("42e015", **ASYM), "42e015"),
        (plid("42e015", **ASYM), plid("42e01f", **ASYM), "42e015"),
        (plid("42e015"), plid("42e01f"), "42e015"),
        (plid("42e01f", **{"level-asymmetry-allowed": "1"}), plid("42e015", **ASYM), "42e01f"),
        (plid("42e01f", **{"level-asymmetry-allowed": True}), plid("42e015", **ASYM), "42e01f"),
        (plid("42e01f", **{"level-asymmetry-allowed": "true"}), plid("42e015", **ASYM), "42e015"),
        # The answer is canonical: Constrained Baseline is always written 42e0...
        (plid("4de01f"), plid("42e01f"), "42e01f"),
        # Level 1b sorts between 1 and 1.1.
        (plid("42f00b"), plid("42e00a"), "42e00a"),
        (plid("42e00a"), plid("42f00b"), "42e00a"),
        (plid("42e00b"), plid("42f00b"), "42f00b"),
        (plid("42f00b"), plid("42e01f"), "42f00b"),
    ],
)
def test_answer(local: dict[str, Any], remote: dict[str, Any], expected: str | None) -> None:
    assert generate_profile_level_id_string_for_answer(local, remote) == expected


@pytest.mark.parametrize(
    ("local", "remote", "message"),
    [
        (plid("zzzzzz"), plid("42e01f"), "invalid local"),
        (plid("42e01f"), plid("zzzzzz"), "invalid remote"),
        (plid("42e01f"), plid("64001f"), "profile mismatch"),
        ({}, plid("4d001f"), "profile mismatch"),
    ],
)
def test_answer_errors(local: dict[str, Any], remote: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_profile_level_id_string_for_answer(local, remote)
