"""H264 ``profile-level-id`` handling (RFC 6184 section 8.1), as libwebrtc negotiates it.

Written here rather than taken from the PyPI ``h264-profile-level-id`` 1.0.0
package, which lacks the Predictive High 4:4:4 profile that mediasoup matches,
raises on non-string values instead of treating them as invalid, and is untyped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final


class Profile(IntEnum):
    CONSTRAINED_BASELINE = 1
    BASELINE = 2
    MAIN = 3
    CONSTRAINED_HIGH = 4
    HIGH = 5
    PREDICTIVE_HIGH_444 = 6


class Level(IntEnum):
    """Ten times the level number, except 1b which has no number of its own."""

    L1_B = 0
    L1 = 10
    L1_1 = 11
    L1_2 = 12
    L1_3 = 13
    L2 = 20
    L2_1 = 21
    L2_2 = 22
    L3 = 30
    L3_1 = 31
    L3_2 = 32
    L4 = 40
    L4_1 = 41
    L4_2 = 42
    L5 = 50
    L5_1 = 51
    L5_2 = 52


@dataclass(frozen=True, slots=True)
class ProfileLevelId:
    profile: Profile
    level: Level


# libwebrtc's stand-in for an absent profile-level-id (the RFC says Baseline 1,
# but WebRTC endpoints have always assumed this).
DEFAULT_PROFILE_LEVEL_ID: Final = ProfileLevelId(Profile.CONSTRAINED_BASELINE, Level.L3_1)

# With level_idc 11 this profile_iop bit turns level 1.1 into level 1b.
_CONSTRAINT_SET3_FLAG: Final = 0x10

# 1b has no level_idc of its own: it is 1.1 plus the flag above.
_LEVELS_BY_IDC: Final = {level.value: level for level in Level if level != Level.L1_B}

_HEX6 = re.compile(r"[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class _ProfilePattern:
    """A profile_idc plus a profile_iop bit pattern where 'x' bits are ignored."""

    profile_idc: int
    iop_pattern: str
    profile: Profile

    def matches(self, profile_idc: int, profile_iop: int) -> bool:
        if profile_idc != self.profile_idc:
            return False
        for bit, expected in enumerate(self.iop_pattern):
            actual = (profile_iop >> (7 - bit)) & 1
            if expected != "x" and actual != int(expected):
                return False
        return True


# Order matters: the constrained patterns must win over the broader ones.
_PROFILE_PATTERNS: Final = (
    _ProfilePattern(0x42, "x1xx0000", Profile.CONSTRAINED_BASELINE),
    _ProfilePattern(0x4D, "1xxx0000", Profile.CONSTRAINED_BASELINE),
    _ProfilePattern(0x58, "11xx0000", Profile.CONSTRAINED_BASELINE),
    _ProfilePattern(0x42, "x0xx0000", Profile.BASELINE),
    _ProfilePattern(0x58, "10xx0000", Profile.BASELINE),
    _ProfilePattern(0x4D, "0x0x0000", Profile.MAIN),
    _ProfilePattern(0x64, "00000000", Profile.HIGH),
    _ProfilePattern(0x64, "00001100", Profile.CONSTRAINED_HIGH),
    _ProfilePattern(0xF4, "00000000", Profile.PREDICTIVE_HIGH_444),
)

_PROFILE_PREFIX: Final = {
    Profile.CONSTRAINED_BASELINE: "42e0",
    Profile.BASELINE: "4200",
    Profile.MAIN: "4d00",
    Profile.CONSTRAINED_HIGH: "640c",
    Profile.HIGH: "6400",
    Profile.PREDICTIVE_HIGH_444: "f400",
}

# Level 1b is signalled through the constraint-set-3 flag, and only these profiles allow it.
_LEVEL_1B_STRINGS: Final = {
    Profile.CONSTRAINED_BASELINE: "42f00b",
    Profile.BASELINE: "42100b",
    Profile.MAIN: "4d100b",
}


def parse_profile_level_id(value: object) -> ProfileLevelId | None:
    """Parse a 6-hex-digit profile-level-id; None if it is not a recognised profile and level."""
    if not isinstance(value, str) or not _HEX6.fullmatch(value):
        return None
    numeric = int(value, 16)
    level_idc = numeric & 0xFF
    profile_iop = (numeric >> 8) & 0xFF
    profile_idc = (numeric >> 16) & 0xFF

    if level_idc == Level.L1_1 and profile_iop & _CONSTRAINT_SET3_FLAG:
        level = Level.L1_B
    elif level_idc in _LEVELS_BY_IDC:
        level = _LEVELS_BY_IDC[level_idc]
    else:
        return None

    for pattern in _PROFILE_PATTERNS:
        if pattern.matches(profile_idc, profile_iop):
            return ProfileLevelId(pattern.profile, level)
    return None


def profile_level_id_to_string(profile_level_id: ProfileLevelId) -> str | None:
    """Canonical hex form; None for level 1b in a profile that cannot express it."""
    if profile_level_id.level == Level.L1_B:
        return _LEVEL_1B_STRINGS.get(profile_level_id.profile)
    return f"{_PROFILE_PREFIX[profile_level_id.profile]}{profile_level_id.level:02x}"


def parse_sdp_profile_level_id(params: Mapping[str, object]) -> ProfileLevelId | None:
    """Profile and level of codec parameters: the default when absent, None when invalid."""
    value = params.get("profile-level-id")
    if not value:
        return DEFAULT_PROFILE_LEVEL_ID
    return parse_profile_level_id(value)


def is_same_profile(params1: Mapping[str, object], params2: Mapping[str, object]) -> bool:
    """Whether both parameter sets are valid and share a profile (levels may differ)."""
    first = parse_sdp_profile_level_id(params1)
    second = parse_sdp_profile_level_id(params2)
    return first is not None and second is not None and first.profile == second.profile


def generate_profile_level_id_string_for_answer(
    local_supported_params: Mapping[str, object],
    remote_offered_params: Mapping[str, object],
) -> str | None:
    """profile-level-id to put in an answer, or None when neither side names one.

    Without level asymmetry on both sides the answer may not exceed the offered
    level. Raises ValueError if either side is invalid or the profiles differ.
    """
    if not local_supported_params.get("profile-level-id") and not remote_offered_params.get(
        "profile-level-id"
    ):
        return None
    local = parse_sdp_profile_level_id(local_supported_params)
    remote = parse_sdp_profile_level_id(remote_offered_params)
    if local is None:
        raise ValueError("invalid local profile-level-id")
    if remote is None:
        raise ValueError("invalid remote profile-level-id")
    if local.profile != remote.profile:
        raise ValueError("H264 profile mismatch")

    asymmetry_allowed = _level_asymmetry_allowed(local_supported_params) and (
        _level_asymmetry_allowed(remote_offered_params)
    )
    level = local.level if asymmetry_allowed else _min_level(local.level, remote.level)
    return profile_level_id_to_string(ProfileLevelId(local.profile, level))


def _is_less_level(a: Level, b: Level) -> bool:
    """Level order with 1b placed between 1 and 1.1."""
    if a == Level.L1_B:
        return b not in (Level.L1, Level.L1_B)
    if b == Level.L1_B:
        return a == Level.L1
    return a < b


def _min_level(a: Level, b: Level) -> Level:
    return a if _is_less_level(a, b) else b


def _level_asymmetry_allowed(params: Mapping[str, object]) -> bool:
    value = params.get("level-asymmetry-allowed")
    return value == 1 or value == "1"
