"""Scalability mode parsing, as mediasoup reads webrtc-svc mode strings."""

from __future__ import annotations

import pytest

from sfuctl.server.media.scalability_modes import ScalabilityMode, parse_scalability_mode


@pytest.mark.parametrize(
    ("mode", "spatial", "temporal", "ksvc"),
    [
        ("L1T1", 1, 1, False),
        ("L1T3", 1, 3, False),
        ("L3T3", 3, 3, False),
        ("S3T3", 3, 3, False),
        ("L2T2_KEY", 2, 2, True),
        ("S3T3_KEY", 3, 3, True),
        ("L10T12", 10, 12, False),
        # Only the start is anchored: suffixed modes keep their layer counts.
        ("L3T3_KEY_SHIFT", 3, 3, True),
        ("S2T3h", 2, 3, False),
        ("L1T3 ", 1, 3, False),
        # Anything else is a single layer, never an error.
        (None, 1, 1, False),
        ("", 1, 1, False),
        ("L0T1", 1, 1, False),
        ("L1T0", 1, 1, False),
        ("l1t3", 1, 1, False),
        ("X1T3", 1, 1, False),
        (" L1T3", 1, 1, False),
        ("L100T1", 1, 1, False),
        ("L٣T1", 1, 1, False),  # non-ASCII digit
    ],
)
def test_parse_scalability_mode(mode: str | None, spatial: int, temporal: int, ksvc: bool) -> None:
    assert parse_scalability_mode(mode) == ScalabilityMode(
        spatial_layers=spatial, temporal_layers=temporal, ksvc=ksvc
    )
