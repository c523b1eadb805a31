"""Parsing of webrtc-svc scalability modes ("L1T3", "S3T3_KEY", "L2T2_KEY_SHIFT", ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Deliberately anchored at the start only, as mediasoup does: suffixes such as
# "_SHIFT" or "h" still yield their layer counts.
_MODE = re.compile(r"[LS]([1-9][0-9]?)T([1-9][0-9]?)(_KEY)?")


@dataclass(frozen=True, slots=True)
class ScalabilityMode:
    spatial_layers: int
    temporal_layers: int
    ksvc: bool


_SINGLE_LAYER = ScalabilityMode(spatial_layers=1, temporal_layers=1, ksvc=False)


def parse_scalability_mode(mode: str | None) -> ScalabilityMode:
    """Layer counts of ``mode``; unknown or missing modes mean a single layer, never an error."""
    match = _MODE.match(mode or "")
    if match is None:
        return _SINGLE_LAYER
    return ScalabilityMode(
        spatial_layers=int(match[1]),
        temporal_layers=int(match[2]),
        ksvc=match[3] is not None,
    )
